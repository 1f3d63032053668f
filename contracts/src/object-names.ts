// Which Supabase Storage object names the jobs handle (docs/security.md "Hostile object names"). Names
// come from `storage.objects` (anyone who can upload chooses them) or from a manifest in the vault (a
// writer token can forge one). A name is only ever used as an S3 key, a URL path or a file path, and
// each of those treats some names as *other* names: `fetch` and most HTTP servers collapse `.`/`..`
// segments (`uid/../../user-media/x` → `/user-media/x`), servers decode `%2e%2e` and `\`, file systems
// resolve `..` and stop at NUL. So the jobs never guess what a name will become: a name that could
// become another one is not synced (recorded and alerted) and not restored (refused before any
// request). One implementation, shared by sync-storage, the Storage source and restore storage.

/** Storage's own limit on key length is 1024 bytes (S3's too); anything longer is not a real object. */
export const MAX_OBJECT_NAME_BYTES = 1024;

export type UnsafeNameReason = "empty" | "too-long" | "leading-slash" | "dot-segment" | "control-character" | "encoded";

export interface UnsafeName {
    reason: UnsafeNameReason;
    /** one line for logs and errors (never the raw name: see printableName) */
    detail: string;
}

// C0 controls, DEL and the C1 controls: terminal escapes, header splitting, NUL truncation.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** `.` or `..` as a segment, with `/` or `\` as the separator (servers and Windows treat both as one). */
function hasDotSegment(name: string): boolean {
    return name.split(/[/\\]/).some((s) => s === "." || s === "..");
}

/** What a server that decodes percent-escapes (once, or once more) or folds Unicode (NFKC) would see. */
function decodedForms(name: string): string[] {
    const forms: string[] = [];
    let cur = name;
    for (let i = 0; i < 2 && cur.includes("%"); i++) {
        try {
            cur = decodeURIComponent(cur);
        } catch {
            // not valid percent-encoding: decode the escapes that are valid, one by one
            cur = cur.replace(/%[0-9a-fA-F]{2}/g, (e) => String.fromCharCode(parseInt(e.slice(1), 16)));
        }
        forms.push(cur);
    }
    const nfkc = name.normalize("NFKC");
    if (nfkc !== name) forms.push(nfkc);
    return forms;
}

/** Why `name` is not safe to sync or restore, or undefined when it is. Pure. */
export function unsafeObjectName(name: string): UnsafeName | undefined {
    if (name.length === 0) return { reason: "empty", detail: "the name is empty" };
    const bytes = Buffer.byteLength(name, "utf8");
    if (bytes > MAX_OBJECT_NAME_BYTES) return { reason: "too-long", detail: `the name is ${bytes} bytes long (more than ${MAX_OBJECT_NAME_BYTES})` };
    if (CONTROL.test(name)) return { reason: "control-character", detail: "the name contains a control character" };
    if (name.startsWith("/") || name.startsWith("\\")) return { reason: "leading-slash", detail: "the name starts with a slash" };
    if (hasDotSegment(name)) return { reason: "dot-segment", detail: "the name has a '.' or '..' path segment" };
    for (const f of decodedForms(name)) {
        if (hasDotSegment(f) || f.startsWith("/") || f.startsWith("\\") || CONTROL.test(f)) {
            return { reason: "encoded", detail: "the name becomes a path with '.'/'..' segments, a leading slash or a control character once percent-decoded or Unicode-normalised" };
        }
    }
    return undefined;
}

/** Throws (one line, printable name) when the name is unsafe: the last guard before a request. */
export function assertSafeObjectName(bucket: string, name: string): void {
    const bad = unsafeObjectName(name);
    if (bad) throw new Error(`refusing object ${bucket}/${printableName(name)}: ${bad.detail}`);
}

const PRINTABLE_MAX = 200;

/**
 * The name as it may appear in a log line, an error, the terminal or a manifest field meant for people:
 * control and non-ASCII-space characters escaped (\u0000, \n), at most 200 characters, with the byte
 * length when cut. Never used to address an object.
 */
export function printableName(name: string): string {
    // eslint-disable-next-line no-control-regex
    const escaped = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\\]/g, (c) => (c === "\\" ? "\\\\" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
    if (escaped.length <= PRINTABLE_MAX) return escaped;
    return `${escaped.slice(0, PRINTABLE_MAX)}…(${Buffer.byteLength(name, "utf8")} bytes)`;
}
