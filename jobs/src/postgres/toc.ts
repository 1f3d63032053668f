// A custom-format archive's table of contents (`pg_restore -l`), and the use-list (`pg_restore -L`) that
// leaves out what a canary cannot restore for reasons that say nothing about the backup. Two such
// reasons are known exactly (docs/architecture.md "The canary"):
//  - an extension the canary's server has but refuses in this database (pg_cron creates itself only in
//    cron.database_name): its EXTENSION and COMMENT entries and everything in its own schemas;
//  - an ACL on an object the archive never creates: an extension member made by an event trigger on
//    the source (Supabase's graphql_public.graphql, created inside CREATE EXTENSION pg_graphql), whose
//    definition pg_dump leaves out but whose grants it keeps.
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

/**
 * The use-list: every entry except those of `refused` extensions (name → their own schemas) and ACLs
 * on functions the archive does not define.
 */
export function planUseList(entries: TocEntry[], refused: Map<string, { schemas: string[]; why: string }>): UseList {
    const defined = new Set(entries.filter((e) => e.desc === "FUNCTION" || e.desc === "PROCEDURE").map((e) => `${e.schema}.${e.name}`));
    const skipped: Skipped[] = [];
    const keep: string[] = [];
    const refusedSchemas = new Map([...refused].flatMap(([ext, r]) => r.schemas.map((s) => [s, ext] as const)));
    for (const e of entries) {
        const why = skipReason(e, refused, refusedSchemas, defined);
        if (why) skipped.push({ entry: `${e.desc} ${e.schema === "-" ? "" : e.schema + " "}${e.name}`, why });
        else keep.push(e.line);
    }
    return { text: keep.join("\n") + "\n", skipped };
}

function skipReason(e: TocEntry, refused: Map<string, { why: string }>, refusedSchemas: Map<string, string>, defined: Set<string>): string | undefined {
    if (e.desc === "EXTENSION" && refused.has(e.name)) return refused.get(e.name)!.why;
    const commented = /^EXTENSION "?([^"]+)"?$/.exec(e.name);
    if (e.desc === "COMMENT" && commented && refused.has(commented[1])) return `extension ${commented[1]} not restored`;
    const ownSchema = refusedSchemas.get(e.schema) ?? refusedSchemas.get(/^SCHEMA (\S+)$/.exec(e.name)?.[1] ?? "");
    if (ownSchema) return `in schema of extension ${ownSchema}, not restored`;
    const fn = /^FUNCTION (.+)$/.exec(e.name);
    if (e.desc === "ACL" && fn && !defined.has(`${e.schema}.${fn[1]}`)) return "grants on a function the archive does not create (an extension member on the source)";
    return undefined;
}

/** Schemas that belong to an extension and nothing else, for the extensions a canary may refuse. */
export const EXTENSION_OWN_SCHEMAS: Record<string, string[]> = { pg_cron: ["cron"] };
