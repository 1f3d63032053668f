// Vault layout (docs/architecture.md "Vault layout"). Every key the jobs write or read is built here,
// and only here, so the components' lifecycle filters, the IAM policies and the jobs cannot drift apart.
import { randomBytes } from "node:crypto";

export type DbObjectName = "dump" | "schema.sql" | "roles.sql" | "manifest.json";

const RUN_ID_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([a-z0-9]{6})$/;

function pad(n: number, width = 2): string {
    return String(n).padStart(width, "0");
}

/** `20261122T193000Z-k3x9qa`: UTC start time (sortable) plus a random suffix. */
export function newRunId(start: Date, suffix?: string): string {
    // the suffix starts with the start's milliseconds (base 36, 2 characters): two runs started in the same
    // second by different processes still sort in start order, so the later one chains after the earlier
    const s = suffix ?? start.getUTCMilliseconds().toString(36).padStart(2, "0") + randomBytes(3).toString("base64url").toLowerCase().replace(/[^a-z0-9]/g, "0").slice(0, 4);
    if (!/^[a-z0-9]{6}$/.test(s)) throw new Error(`run id suffix must be 6 of [a-z0-9], got "${s}"`);
    const d = start;
    const stamp =
        `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
        `T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
    return `${stamp}-${s}`;
}

export function isRunId(id: string): boolean {
    return RUN_ID_RE.test(id);
}

/** The UTC start time encoded in a run id. */
export function runIdTime(runId: string): Date {
    const m = RUN_ID_RE.exec(runId);
    if (!m) throw new Error(`not a run id: "${runId}" (expected e.g. 20261122T193000Z-k3x9qa)`);
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

function datePath(d: Date): string {
    return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}`;
}

export const prefixes = {
    db: (env: string) => `db/${env}/`,
    storage: (env: string) => `storage/${env}/`,
    storageBlobs: (env: string) => `storage/${env}/blobs/`,
    storageRuns: (env: string) => `storage/${env}/runs/`,
    verify: (env: string) => `verify/${env}/`,
    audit: (env: string) => `audit/${env}/`,
    drill: (env: string) => `drill/${env}/`,
};

/** `db/{env}/{yyyy}/{mm}/{dd}/{runId}/` */
export function dbRunPrefix(env: string, runId: string): string {
    return `${prefixes.db(env)}${datePath(runIdTime(runId))}/${runId}/`;
}

export function dbObjectKey(env: string, runId: string, name: DbObjectName): string {
    return dbRunPrefix(env, runId) + name;
}

/** `storage/{env}/blobs/{sha256[0:2]}/{sha256}` */
export function storageBlobKey(env: string, sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 hex digest: "${sha256}"`);
    return `${prefixes.storageBlobs(env)}${sha256.slice(0, 2)}/${sha256}`;
}

/** `storage/{env}/runs/{yyyy}/{mm}/{dd}/{runId}/` */
export function storageRunPrefix(env: string, runId: string): string {
    return `${prefixes.storageRuns(env)}${datePath(runIdTime(runId))}/${runId}/`;
}

export function storageRunManifestKey(env: string, runId: string): string {
    return storageRunPrefix(env, runId) + "manifest.json";
}

/** One shard's part of a sharded run; the run is complete only when the merged manifest exists. */
export function storageShardManifestKey(env: string, runId: string, index: number, count: number): string {
    return `${storageRunPrefix(env, runId)}shards/${pad(index, 4)}-of-${pad(count, 4)}.json`;
}

/** `verify/{env}/{runId}/{verifiedAt}.json`, verifiedAt as a compact UTC stamp. */
export function verifyRecordKey(env: string, runId: string, verifiedAt: Date): string {
    return `${prefixes.verify(env)}${runId}/${compactStamp(verifiedAt)}.json`;
}

/** `audit/{env}/{yyyy}/{mm}/{dd}/{eventId}.json` */
export function auditKey(env: string, at: Date, eventId: string): string {
    return `${prefixes.audit(env)}${datePath(at)}/${eventId}.json`;
}

/** `audit/{env}/{yyyy}/{mm}/{dd}/{eventId}.started.json`: written before the action (the other after it) */
export function auditStartedKey(env: string, at: Date, eventId: string): string {
    return `${prefixes.audit(env)}${datePath(at)}/${eventId}.started.json`;
}

/** `drill/{env}/{kind}/{yyyy}/{mm}/{dd}/{drillId}.json`; the drill id is a run id (its start, sortable). */
export function drillRecordKey(env: string, kind: string, drillId: string): string {
    return `${drillKindPrefix(env, kind)}${datePath(runIdTime(drillId))}/${drillId}.json`;
}

/** `drill/{env}/{kind}/`: every record of one kind of drill, oldest first when listed. */
export function drillKindPrefix(env: string, kind: string): string {
    if (!/^[a-z]+$/.test(kind)) throw new Error(`not a drill kind: "${kind}"`);
    return `${prefixes.drill(env)}${kind}/`;
}

export function compactStamp(d: Date): string {
    return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export type ParsedKey =
    | { kind: "db"; env: string; runId: string; name: string }
    | { kind: "storage-run"; env: string; runId: string; name: string }
    | { kind: "storage-blob"; env: string; sha256: string }
    | { kind: "verify"; env: string; runId: string; name: string }
    | { kind: "audit"; env: string; name: string }
    | { kind: "drill"; env: string; drill: string; drillId: string };

/** Parse a vault key back into what it is; undefined for keys outside the layout. */
export function parseVaultKey(key: string): ParsedKey | undefined {
    let m = /^db\/([^/]+)\/\d{4}\/\d{2}\/\d{2}\/([^/]+)\/(.+)$/.exec(key);
    if (m && isRunId(m[2])) return { kind: "db", env: m[1], runId: m[2], name: m[3] };
    m = /^storage\/([^/]+)\/runs\/\d{4}\/\d{2}\/\d{2}\/([^/]+)\/(.+)$/.exec(key);
    if (m && isRunId(m[2])) return { kind: "storage-run", env: m[1], runId: m[2], name: m[3] };
    m = /^storage\/([^/]+)\/blobs\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key);
    if (m) return { kind: "storage-blob", env: m[1], sha256: m[2] };
    m = /^verify\/([^/]+)\/([^/]+)\/(.+)$/.exec(key);
    if (m && isRunId(m[2])) return { kind: "verify", env: m[1], runId: m[2], name: m[3] };
    m = /^audit\/([^/]+)\/\d{4}\/\d{2}\/\d{2}\/(.+)$/.exec(key);
    if (m) return { kind: "audit", env: m[1], name: m[2] };
    m = /^drill\/([^/]+)\/([a-z]+)\/\d{4}\/\d{2}\/\d{2}\/([^/]+)\.json$/.exec(key);
    if (m && isRunId(m[3])) return { kind: "drill", env: m[1], drill: m[2], drillId: m[3] };
    return undefined;
}
