// The checks run against the restored canary database. Each yields {name, ok, detail, seconds}; the
// comparisons are pure functions (unit-tested) and the queries are plain catalog SQL.
import type { Client } from "pg";
import type { DbManifest, JobConfig } from "@supabase-backups/contracts";
import { quoteQualified } from "../../postgres/ident";

export interface CheckResult {
    name: string;
    ok: boolean;
    detail: string;
    seconds?: number;
}

/** A check result; seconds kept to the millisecond. */
export function check(name: string, ok: boolean, detail: string, seconds?: number): CheckResult {
    return seconds === undefined ? { name, ok, detail } : { name, ok, detail, seconds: Math.round(seconds * 1000) / 1000 };
}

/** A sha256 shortened for a one-line detail. */
export function short(sha: string): string {
    return sha.slice(0, 12) + "…";
}

type SqlCheck = JobConfig["verify"]["checks"][number];

function oneLine(s: string, max = 300): string {
    const t = s.replace(/\s+/g, " ").trim();
    return t.length > max ? t.slice(0, max - 1) + "…" : t;
}

function show(v: unknown): string {
    if (v === null || v === undefined) return "null";
    if (typeof v === "string") return JSON.stringify(v);
    if (v instanceof Date) return v.toISOString();
    if (Buffer.isBuffer(v)) return `\\x${v.toString("hex").slice(0, 40)}`;
    return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/**
 * Compare a query's single value with a check's expected value. node-postgres returns bigint/numeric
 * as strings, booleans as booleans: a number expectation compares numerically, a boolean one accepts
 * true/false (and 't'/'f' text), a string compares with the value's text form, null expects SQL NULL.
 */
export function compareExpected(expect: SqlCheck["expect"], actual: unknown): { ok: boolean; detail: string } {
    const got = show(actual);
    if (expect === null) return { ok: actual === null || actual === undefined, detail: `expected null, got ${got}` };
    if (actual === null || actual === undefined) return { ok: false, detail: `expected ${show(expect)}, got null` };
    if (typeof expect === "number") {
        const n = typeof actual === "number" ? actual : typeof actual === "string" && actual.trim() !== "" ? Number(actual) : typeof actual === "bigint" ? Number(actual) : NaN;
        return { ok: Number.isFinite(n) && n === expect, detail: `expected ${expect}, got ${Number.isFinite(n) ? String(actual) : got}` };
    }
    if (typeof expect === "boolean") {
        const b = typeof actual === "boolean" ? actual : actual === "t" || actual === "true" ? true : actual === "f" || actual === "false" ? false : undefined;
        return { ok: b === expect, detail: `expected ${expect}, got ${got}` };
    }
    const text = actual instanceof Date ? actual.toISOString() : typeof actual === "object" && !Buffer.isBuffer(actual) ? JSON.stringify(actual) : String(actual);
    return { ok: text === expect, detail: `expected ${JSON.stringify(expect)}, got ${got}` };
}

/** Row-count differences between the dump's snapshot and the restored database. */
export function compareRowCounts(expected: Record<string, number>, actual: Record<string, number | Error>): { ok: boolean; detail: string } {
    const bad: string[] = [];
    const tables = Object.keys(expected).sort();
    for (const t of tables) {
        const a = actual[t];
        if (a instanceof Error) bad.push(`${t}: ${oneLine(a.message, 120)}`);
        else if (a !== expected[t]) bad.push(`${t} ${a ?? "missing"} ≠ ${expected[t]}`);
    }
    if (bad.length) return { ok: false, detail: `row counts differ from the dump's snapshot: ${bad.slice(0, 5).join("; ")}${bad.length > 5 ? `; … ${bad.length - 5} more` : ""}` };
    const total = tables.reduce((s, t) => s + expected[t], 0);
    return { ok: true, detail: `${tables.length} tables, ${total} rows, exact` };
}

/** Sets that must match exactly (extensions): what is missing, what is extra. */
export function compareSets(what: string, expected: string[], actual: string[]): { ok: boolean; detail: string } {
    const e = new Set(expected);
    const a = new Set(actual);
    const missing = [...e].filter((x) => !a.has(x)).sort();
    const extra = [...a].filter((x) => !e.has(x)).sort();
    if (!missing.length && !extra.length) return { ok: true, detail: `${e.size} ${what} match` };
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.join(", ")}`);
    if (extra.length) parts.push(`unexpected ${extra.join(", ")}`);
    return { ok: false, detail: `${what} differ: ${parts.join("; ")}` };
}

async function timed(name: string, fn: () => Promise<{ ok: boolean; detail: string }>): Promise<CheckResult> {
    const t = Date.now();
    try {
        const r = await fn();
        return { name, ...r, seconds: (Date.now() - t) / 1000 };
    } catch (e) {
        return { name, ok: false, detail: `errored: ${oneLine((e as Error).message)}`, seconds: (Date.now() - t) / 1000 };
    }
}

/** Exact counts, several tables at once on separate connections. */
export async function countRows(connectFn: () => Promise<Client>, tables: string[], concurrency: number): Promise<Record<string, number | Error>> {
    const out: Record<string, number | Error> = {};
    let next = 0;
    const workers = Array.from({ length: Math.max(1, Math.min(concurrency, tables.length)) }, async () => {
        const c = await connectFn();
        try {
            while (next < tables.length) {
                const t = tables[next++];
                try {
                    const r = await c.query(`select count(*)::text as n from ${quoteQualified(t)}`);
                    out[t] = Number(r.rows[0].n);
                } catch (e) {
                    out[t] = e as Error;
                }
            }
        } finally {
            await c.end().catch(() => undefined);
        }
    });
    await Promise.all(workers);
    return out;
}

/** Newest migration (Supabase CLI's table); null when the database has none. */
export const MIGRATION_SQL = `select case when to_regclass('supabase_migrations.schema_migrations') is null then null
  else (select max(version) from supabase_migrations.schema_migrations) end as v`;

async function migrationVersion(c: Client): Promise<string | null> {
    const r = await c.query(MIGRATION_SQL);
    return r.rows[0].v ?? null;
}

export interface CheckInput {
    manifest: DbManifest;
    /** connect to the canary database */
    connect: () => Promise<Client>;
    userChecks: SqlCheck[];
    concurrency: number;
    /** per-query statement timeout */
    statementTimeoutMs?: number;
    /** extensions left out of the restore on purpose, with their own schemas (canary-restore.ts) */
    leftOut?: { extensions: string[]; schemas: string[] };
}

/** The extension set, less the ones left out of the restore on purpose (and named). */
async function compareExtensions(c: Client, source: string[], leftOut: string[]): Promise<{ ok: boolean; detail: string }> {
    const r = await c.query(`select extname from pg_extension`);
    const cmp = compareSets("extensions", source.map(extName).filter((e) => !leftOut.includes(e)), r.rows.map((x) => x.extname as string));
    return leftOut.length ? { ...cmp, detail: `${cmp.detail} (${leftOut.join(", ")} left out of the restore)` } : cmp;
}

/** The snapshot's facts about what the restore holds: tables in schemas left out (and said so) go. */
function restoredSnapshot(snap: DbManifest["snapshot"], leftOutSchemas: string[]): DbManifest["snapshot"] {
    const kept = (t: string) => !leftOutSchemas.includes(t.slice(0, t.indexOf(".")));
    return { ...snap, rowCounts: Object.fromEntries(Object.entries(snap.rowCounts).filter(([t]) => kept(t))), rlsTables: snap.rlsTables.filter(kept) };
}

/** All checks of a restored database, in a fixed order. A check that cannot run fails (never skips silently). */
export async function runChecks(input: CheckInput): Promise<CheckResult[]> {
    const snap = restoredSnapshot(input.manifest.snapshot, input.leftOut?.schemas ?? []);
    const results: CheckResult[] = [];
    const tables = Object.keys(snap.rowCounts);
    results.push(
        await timed("row-counts", async () => {
            if (!tables.length) return { ok: true, detail: "no tables configured (verify.tables)" };
            return compareRowCounts(snap.rowCounts, await countRows(input.connect, tables, input.concurrency));
        }),
    );
    const c = await input.connect();
    try {
        if (input.statementTimeoutMs) await c.query(`set statement_timeout = ${Math.floor(input.statementTimeoutMs)}`);
        results.push(
            await timed("migration-version", async () => {
                const v = await migrationVersion(c);
                return { ok: v === snap.migrationVersion, detail: `newest migration ${v ?? "none"}${v === snap.migrationVersion ? "" : `, dump recorded ${snap.migrationVersion ?? "none"}`}` };
            }),
        );
        results.push(
            await timed("rls", async () => {
                const r = await c.query(
                    `select n.nspname || '.' || c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
                     where c.relrowsecurity and c.relkind in ('r','p')`,
                );
                const on = new Set(r.rows.map((x) => x.t as string));
                const off = snap.rlsTables.filter((t) => !on.has(t)).sort();
                return off.length
                    ? { ok: false, detail: `row level security is off on ${off.slice(0, 10).join(", ")}${off.length > 10 ? ` and ${off.length - 10} more` : ""}, on in the source` }
                    : { ok: true, detail: `row level security on for all ${snap.rlsTables.length} tables that had it` };
            }),
        );
        results.push(
            await timed("extensions", () => compareExtensions(c, snap.extensions, input.leftOut?.extensions ?? [])),
        );
        results.push(
            await timed("app-version", async () => {
                const r = await c.query(`select to_regclass('public.app_version') is not null as present`);
                if (!r.rows[0].present) return { ok: true, detail: "no public.app_version table in this database" };
                const v = await c.query(`select version::text as v from public.app_version order by 1 desc limit 1`);
                return v.rows.length ? { ok: true, detail: `app_version ${v.rows[0].v}` } : { ok: false, detail: "public.app_version is empty" };
            }),
        );
        results.push(
            await timed("health", async () => {
                const r = await c.query(
                    `select (select count(*) from pg_index where not indisvalid or not indisready)::int as invalid_indexes,
                            (select count(*) from pg_constraint where not convalidated and contype in ('f','c'))::int as unvalidated,
                            (select count(*) from pg_policy)::int as policies,
                            (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                              where c.relkind = 'r' and n.nspname not in ('pg_catalog','information_schema'))::int as tables`,
                );
                const h = r.rows[0];
                const problems = [];
                if (h.invalid_indexes) problems.push(`${h.invalid_indexes} invalid indexes`);
                if (h.unvalidated) problems.push(`${h.unvalidated} unvalidated constraints`);
                if (snap.rlsTables.length && !h.policies) problems.push("RLS tables but no policies restored");
                if (!h.tables) problems.push("no tables restored");
                return problems.length ? { ok: false, detail: problems.join("; ") } : { ok: true, detail: `${h.tables} tables, ${h.policies} policies, all indexes valid` };
            }),
        );
        for (const chk of input.userChecks) {
            results.push(
                await timed(`check:${chk.name}`, async () => {
                    const r = await c.query({ text: chk.sql, rowMode: "array" });
                    if (!r.rows.length) return { ok: false, detail: `returned no rows, expected ${show(chk.expect)}` };
                    return compareExpected(chk.expect, r.rows[0][0]);
                }),
            );
        }
    } finally {
        await c.end().catch(() => undefined);
    }
    return results;
}

/** Extension entries may be recorded as `name` or `name@version`/`name version`; compare by name. */
export function extName(e: string): string {
    return e.split(/[@\s=]/)[0];
}
