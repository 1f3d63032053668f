// A custom-format archive's table of contents (`pg_restore -l`), and the use-list (`pg_restore -L`) that
// leaves out what a canary cannot restore for reasons that say nothing about the backup. Two such
// reasons are known exactly (docs/architecture.md "The canary"):
//  - an extension the canary's server has but refuses in this database (pg_cron creates itself only in
//    cron.database_name): its EXTENSION and COMMENT entries and everything in its own schemas;
//  - an ACL on an object the archive never creates: an extension member made by an event trigger on
//    the source (Supabase's graphql_public.graphql, created inside CREATE EXTENSION pg_graphql), whose
//    definition pg_dump leaves out but whose grants it keeps.
// The restore runs as a NOSUPERUSER owner (canary-sandbox.ts), so what only a superuser may do is
// done before it by the verifier from the archive's names (extensions and their schemas), or left out
// and said: event triggers, other roles' default privileges, grants on objects an extension made.
// Whatever is left out is returned, so the verification record can say exactly what was not restored.

export interface TocEntry {
    /** the list line as pg_restore printed it (what -L reads back) */
    line: string;
    desc: string;
    /** "-" when the entry has no schema */
    schema: string;
    /** the rest: object name (with a function's arguments) */
    name: string;
    /** the owner ("" when the entry has none, e.g. EXTENSION) */
    owner: string;
}

/** pg_dump's entry kinds of more than one word, matched before the one-word ones. */
const MULTI_WORD = ["TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY", "DEFAULT ACL", "FK CONSTRAINT", "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "EVENT TRIGGER", "FOREIGN TABLE", "FOREIGN DATA WRAPPER", "FOREIGN SERVER", "USER MAPPING", "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "BLOB METADATA", "LARGE OBJECT", "PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA", "ROW SECURITY", "SHELL TYPE", "STATISTICS DATA", "TABLE ATTACH", "INDEX ATTACH", "ACCESS METHOD", "OPERATOR CLASS", "OPERATOR FAMILY", "PROCEDURAL LANGUAGE", "DATABASE PROPERTIES", "SEARCHPATH"];

/** `218; 1255 16391 FUNCTION public f() postgres` → { desc FUNCTION, schema public, name "f()" }. */
export function parseToc(text: string): TocEntry[] {
    const out: TocEntry[] = [];
    for (const line of text.split("\n")) {
        const m = /^\d+;\s+\d+\s+\d+\s+(.*)$/.exec(line);
        if (!m) continue;
        const rest = m[1];
        const desc = MULTI_WORD.find((d) => rest.startsWith(d + " ")) ?? rest.split(" ")[0];
        const after = rest.slice(desc.length + 1);
        const sp = after.indexOf(" ");
        const schema = sp < 0 ? after : after.slice(0, sp);
        // the owner is the last word; entries without one (EXTENSION) end in a space
        const tail = sp < 0 ? "" : after.slice(sp + 1);
        const owner = /\s(\S*)$/.exec(tail)?.[1] ?? "";
        const name = tail.replace(/\s+\S*$/, "").trim();
        out.push({ line, desc, schema, name, owner });
    }
    return out;
}

export interface Skipped {
    entry: string;
    why: string;
}

export interface UseList {
    /** the list for pg_restore -L */
    text: string;
    skipped: Skipped[];
}

/** What the verifier created as superuser before the owner's restore (canary-sandbox.ts). */
export interface Prepared {
    /** extensions created (their EXTENSION and COMMENT entries are not restored again) */
    extensions: Set<string>;
    /** schemas created for them, owned by the restore's owner (their SCHEMA entries would collide) */
    schemas: Set<string>;
}

/** Entry kinds that define an object another entry's ACL can name (`TABLE x` covers views too). */
const DEFINES: Record<string, string> = {
    FUNCTION: "FUNCTION",
    PROCEDURE: "PROCEDURE",
    AGGREGATE: "AGGREGATE",
    TABLE: "TABLE",
    VIEW: "TABLE",
    "MATERIALIZED VIEW": "TABLE",
    "FOREIGN TABLE": "TABLE",
    SEQUENCE: "SEQUENCE",
    TYPE: "TYPE",
    DOMAIN: "DOMAIN",
};

function definedObjects(entries: TocEntry[]): Set<string> {
    const out = new Set<string>(["SCHEMA public"]); // every database has it; its owner is the database's
    for (const e of entries) {
        if (e.desc === "SCHEMA") out.add(`SCHEMA ${e.name}`);
        else if (DEFINES[e.desc]) {
            out.add(`${e.schema}.${DEFINES[e.desc]} ${e.name}`);
            if (e.desc === "SEQUENCE" || e.desc === "VIEW" || e.desc === "MATERIALIZED VIEW" || e.desc === "FOREIGN TABLE") out.add(`${e.schema}.TABLE ${e.name}`);
        }
    }
    return out;
}

/**
 * The use-list: every entry except those of `refused` extensions (name → their own schemas), what the
 * verifier `prepared` as superuser, and what a NOSUPERUSER owner cannot restore (said in `skipped`).
 */
export function planUseList(entries: TocEntry[], refused: Map<string, { schemas: string[]; why: string }>, prepared: Prepared = { extensions: new Set(), schemas: new Set() }): UseList {
    const defined = definedObjects(entries);
    const skipped: Skipped[] = [];
    const keep: string[] = [];
    const refusedSchemas = new Map([...refused].flatMap(([ext, r]) => r.schemas.map((s) => [s, ext] as const)));
    for (const e of entries) {
        if (isPrepared(e, prepared)) continue;
        const why = skipReason(e, refused, refusedSchemas, defined);
        if (why) skipped.push({ entry: `${e.desc} ${e.schema === "-" ? "" : e.schema + " "}${e.name}`, why });
        else keep.push(e.line);
    }
    return { text: keep.join("\n") + "\n", skipped };
}

/** The extension name an `EXTENSION x` / `COMMENT - EXTENSION "x"` entry is about. */
function extensionOf(e: TocEntry): string | undefined {
    if (e.desc === "EXTENSION") return e.name.replace(/^"(.*)"$/, "$1");
    return e.desc === "COMMENT" ? /^EXTENSION "?([^"]+)"?$/.exec(e.name)?.[1] : undefined;
}

function isPrepared(e: TocEntry, p: Prepared): boolean {
    const ext = extensionOf(e);
    if (ext !== undefined) return p.extensions.has(ext);
    return e.desc === "SCHEMA" && p.schemas.has(e.name);
}

function skipReason(e: TocEntry, refused: Map<string, { why: string }>, refusedSchemas: Map<string, string>, defined: Set<string>): string | undefined {
    if (e.desc === "EXTENSION" && refused.has(e.name)) return refused.get(e.name)!.why;
    const commented = /^EXTENSION "?([^"]+)"?$/.exec(e.name);
    if (e.desc === "COMMENT" && commented && refused.has(commented[1])) return `extension ${commented[1]} not restored`;
    const ownSchema = refusedSchemas.get(e.schema) ?? refusedSchemas.get(/^SCHEMA (\S+)$/.exec(e.name)?.[1] ?? "");
    if (ownSchema) return `in schema of extension ${ownSchema}, not restored`;
    if (e.desc === "EVENT TRIGGER" || (e.desc === "COMMENT" && e.name.startsWith("EVENT TRIGGER "))) return "event triggers need a superuser: not restored into the canary";
    if (e.desc === "DEFAULT ACL") return `default privileges of role ${e.owner || "?"}: the restore's owner may not set another role's`;
    if (e.desc === "ACL" && /^(SCHEMA|TABLE|SEQUENCE|FUNCTION|PROCEDURE|AGGREGATE|TYPE|DOMAIN) /.test(e.name)) {
        const key = e.name.startsWith("SCHEMA ") ? e.name : `${e.schema}.${e.name}`;
        if (!defined.has(key)) return "grants on an object the archive does not create (an extension member on the source)";
    }
    return undefined;
}

/** Schemas that belong to an extension and nothing else, for the extensions a canary may refuse. */
export const EXTENSION_OWN_SCHEMAS: Record<string, string[]> = { pg_cron: ["cron"] };
