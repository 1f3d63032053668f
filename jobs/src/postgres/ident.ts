// SQL identifiers, quoted one way for every command. Table names from config, manifests and flags are
// always schema-qualified: an unqualified name would be resolved by the session's search_path, which
// differs between the source, the canary and a restore target, so it is refused rather than guessed.

/** `we"ird` → `"we""ird"` */
export function quoteIdent(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

/** (`public`, `profiles`) → `"public"."profiles"` */
export function quoteTable(schema: string, table: string): string {
    return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** `public.profiles` → { schema: "public", table: "profiles" }; the first dot separates them. */
export function splitQualified(name: string): { schema: string; table: string } {
    const i = name.indexOf(".");
    if (i <= 0 || i === name.length - 1) throw new Error(`table "${name}" is not schema-qualified (e.g. public.profiles)`);
    return { schema: name.slice(0, i), table: name.slice(i + 1) };
}

/** `public.profiles` → `"public"."profiles"`; throws for an unqualified name. */
export function quoteQualified(name: string): string {
    const { schema, table } = splitQualified(name);
    return quoteTable(schema, table);
}
