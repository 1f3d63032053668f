// The canary: a throw-away database on the configured Postgres server (CANARY_DATABASE_URL; in
// Kubernetes a Postgres sidecar in the verify pod). Created per verification, restored into with
// pg_restore, checked, and always dropped — on success, on failure, and on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Client } from "pg";
import { registerSecret, type Logger } from "../runtime/log";
import { quoteIdent } from "./ident";
import { pgChildEnv, pgClientConfig, toolEnv } from "./connection";
import { RestoreErrorScanner, restoreSucceeded } from "./restore-errors";

/** Name prefix of canary databases: `sbv_<env>_<yyyymmddhhmmss>_<rand>`. */
export const CANARY_PREFIX = "sbv_";

export function canaryDatabaseName(env: string, now = new Date(), rand = randomBytes(3).toString("hex")): string {
    const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
    return `${CANARY_PREFIX}${env.replace(/[^a-z0-9]/g, "_")}_${stamp}_${rand}`;
}

/** The canary server was unreachable or refused to create a database: infrastructure, not the backup. */
export class CanaryUnavailable extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CanaryUnavailable";
    }
}

export function withDatabase(url: string, database: string): string {
    const u = new URL(url);
    u.pathname = "/" + encodeURIComponent(database);
    return u.toString();
}

function pgConfig(url: string) {
    // TLS as libpq would do it for the URL (connection.ts; the URL was secured by the command)
    return pgClientConfig(url, { connectionTimeoutMillis: 10_000, application_name: "supabase-backups-verify" });
}

export async function connect(url: string): Promise<Client> {
    const c = new Client(pgConfig(url));
    c.on("error", () => undefined); // a dropped connection surfaces on the next query
    await c.connect();
    return c;
}

function oneLine(e: unknown): string {
    return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

export interface CanaryDatabase {
    name: string;
    /** the canary server's superuser, in this database: the pre-step (extensions) and the checks */
    url: string;
    /**
     * The database's owner, a NOSUPERUSER login role made for this restore: pg_restore connects as it
     * (docs/security.md "The canary runs hostile code"), so the source's code (CHECK constraints, index
     * expressions, SECURITY DEFINER functions, which --no-owner makes its own) runs without superuser.
     */
    owner: string;
    ownerUrl: string;
    serverVersion: string;
    /** roles created on the canary server for this restore (dropped again with the database) */
    createdRoles: string[];
}

/** The owner role's URL: the admin URL's host and port, the owner's name and password. */
export function ownerUrlFor(adminUrl: string, database: string, owner: string, password: string): string {
    const u = new URL(withDatabase(adminUrl, database));
    u.username = encodeURIComponent(owner);
    u.password = encodeURIComponent(password);
    return u.toString();
}

/**
 * Create the throw-away database (TEMPLATE template0: nothing a template1 customisation added), owned
 * by a new NOSUPERUSER login role with a random password, which the restore runs as.
 */
export async function createCanary(adminUrl: string, env: string): Promise<CanaryDatabase> {
    let c: Client;
    try {
        c = await connect(adminUrl);
    } catch (e) {
        throw new CanaryUnavailable(`canary server unreachable: ${oneLine(e)}`);
    }
    const name = canaryDatabaseName(env);
    const owner = `${name}_owner`;
    const password = randomBytes(24).toString("hex");
    registerSecret(password);
    let roleMade = false;
    try {
        const v = await c.query("show server_version");
        // INHERIT (the default): on 15 the public schema belongs to pg_database_owner, whose rights
        // reach the database's owner only by inheritance.
        await c.query(`create role ${quoteIdent(owner)} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password '${password}'`);
        roleMade = true;
        await c.query(`create database ${quoteIdent(name)} owner ${quoteIdent(owner)} template template0 encoding 'UTF8'`);
        return { name, url: withDatabase(adminUrl, name), owner, ownerUrl: ownerUrlFor(adminUrl, name, owner, password), serverVersion: v.rows[0].server_version, createdRoles: [owner] };
    } catch (e) {
        if (roleMade) await c.query(`drop role if exists ${quoteIdent(owner)}`).catch(() => undefined);
        throw new CanaryUnavailable(`canary server refused to create a database: ${oneLine(e)}`);
    } finally {
        await c.end().catch(() => undefined);
    }
}

/**
 * Drop the canary database (terminating pg_restore's and our own sessions) and the roles created for
 * it. Retries briefly; never throws — the caller logs what is left.
 */
export async function dropCanary(adminUrl: string, db: CanaryDatabase, log: Logger): Promise<boolean> {
    for (let attempt = 1; attempt <= 5; attempt++) {
        let c: Client | undefined;
        try {
            c = await connect(adminUrl);
            await c.query(`drop database if exists ${quoteIdent(db.name)} with (force)`);
            for (const role of db.createdRoles) {
                // best effort: a role still owning something elsewhere stays
                await c.query(`drop role if exists ${quoteIdent(role)}`).catch(() => undefined);
            }
            log.info({ database: db.name }, "canary database dropped");
            return true;
        } catch (e) {
            log.warn({ database: db.name, attempt, err: oneLine(e) }, "could not drop the canary database yet");
            await new Promise((r) => setTimeout(r, 500 * attempt));
        } finally {
            await c?.end().catch(() => undefined);
        }
    }
    log.error({ database: db.name }, "canary database NOT dropped: drop it by hand");
    return false;
}

/**
 * Role names from a `pg_dumpall --roles-only` script: every `CREATE ROLE name;` (quoted or not).
 * Passwords and attributes are deliberately ignored: the canary only needs the roles to exist so that
 * ownership, grants and policies (`to authenticated`) restore; copying password hashes or SUPERUSER to
 * the canary server would be a needless leak and could lock the verifier out of its own server.
 */
export function rolesFromScript(sql: string): string[] {
    const out: string[] = [];
    const re = /^CREATE ROLE ("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s*;/gm;
    for (let m; (m = re.exec(sql)); ) {
        const raw = m[1];
        const name = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase();
        if (!out.includes(name)) out.push(name);
    }
    return out;
}

/** The roles every Supabase database grants to: pre-created when the run has no roles.sql. */
export const SUPABASE_DEFAULT_ROLES = ["anon", "authenticated", "service_role"];

/** Create the roles missing on the canary server (NOLOGIN); returns the ones it created. */
export async function ensureRoles(adminUrl: string, roles: string[]): Promise<string[]> {
    const c = await connect(adminUrl);
    const created: string[] = [];
    try {
        const existing = new Set((await c.query("select rolname from pg_roles")).rows.map((r) => r.rolname as string));
        for (const r of roles) {
            if (existing.has(r) || r.startsWith("pg_")) continue;
            try {
                await c.query(`create role ${quoteIdent(r)} nologin`);
                created.push(r);
            } catch (e: any) {
                if (e?.code !== "42710") throw e; // duplicate_object: created concurrently
            }
        }
    } finally {
        await c.end().catch(() => undefined);
    }
    return created;
}

export interface RestoreResult {
    ok: boolean;
    seconds: number;
    exitCode: number | null;
    /** pg_restore's error lines (`pg_restore: error: …`), first ones */
    errors: string[];
    errorCount: number;
    /** known-harmless errors set apart (restore-errors.ts), e.g. `SET transaction_timeout` on a server < 17 */
    tolerated: string[];
}

/** Major version of a `pg_restore --version` / `pg_dump (PostgreSQL) 15.8` string. */
export function majorOf(version: string): number | undefined {
    const m = /(\d+)(?:\.(\d+))?/.exec(version);
    return m ? Number(m[1]) : undefined;
}

export async function pgRestoreVersion(bin = "pg_restore"): Promise<string> {
    return new Promise((resolve, reject) => {
        const p = spawn(bin, ["--version"], { env: toolEnv(), stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        p.stdout.on("data", (d) => (out += d));
        p.on("error", (e) => reject(new Error(`${bin} not found: ${e.message}`)));
        p.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${bin} --version exited ${code}`))));
    });
}

/**
 * pg_restore into the canary database. Ownership and grants are restored (the roles exist); any error
 * fails the restore (a backup that restores "with errors ignored" is not proven).
 *   - `file`: `pg_restore -j <jobs>` from a custom-format file;
 *   - no `file`: reads the archive from stdin (`onChild` gets the child to write to), sequentially —
 *     verify streams pre-data + data this way while the dump is still downloading, then runs post-data
 *     (indexes, constraints: the parallel part) with -j from the finished spool.
 */
export function runPgRestore(opts: {
    file?: string;
    db: CanaryDatabase;
    jobs: number;
    sections?: Array<"pre-data" | "data" | "post-data">;
    /** pg_restore -L: restore only the entries of this list file (toc.ts) */
    useList?: string;
    bin?: string;
    signal?: AbortSignal;
    /** base environment of the child (verify passes one without the source's secrets) */
    env?: NodeJS.ProcessEnv;
    onChild?: (c: ChildProcess) => void;
}): Promise<RestoreResult> {
    const started = Date.now();
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    // As the database's NOSUPERUSER owner, and --no-owner: every object (SECURITY DEFINER functions
    // included) belongs to that role, so nothing the archive holds runs with a superuser's rights.
    const args = ["--no-password", "--no-owner", "--dbname", opts.db.name, ...(opts.sections ?? []).map((s) => `--section=${s}`), ...(opts.useList ? ["--use-list", opts.useList] : [])];
    if (opts.file) args.push("--jobs", String(Math.max(1, opts.jobs)), opts.file);
    // pg_restore's own messages in English whatever the locale: the scanner reads its words.
    const env = { ...pgChildEnv(opts.db.ownerUrl, opts.env ?? process.env, "supabase-backups-verify"), LC_MESSAGES: "C", LC_ALL: "C" };
    delete (env as any).PGSERVICE;
    return new Promise((resolve, reject) => {
        const child = spawn(opts.bin ?? "pg_restore", args, { env, stdio: [opts.file ? "ignore" : "pipe", "ignore", "pipe"] });
        opts.onChild?.(child);
        const scanner = new RestoreErrorScanner();
        child.stderr!.on("data", (d: Buffer) => scanner.feed(d.toString("utf8")));
        const onAbort = () => child.kill("SIGTERM");
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        child.on("error", (e) => reject(new Error(`cannot run pg_restore: ${e.message}`)));
        child.on("close", (code) => {
            opts.signal?.removeEventListener("abort", onAbort);
            const r = scanner.finish();
            const errors = [...r.errors];
            if (code !== 0 && errors.length === 0 && r.tolerated.length === 0 && r.tail.trim()) errors.push(r.tail.trim().split("\n").pop()!);
            const ok = restoreSucceeded(code, r);
            resolve({ ok, seconds: (Date.now() - started) / 1000, exitCode: code, errors, errorCount: r.errorCount, tolerated: r.tolerated });
        });
    });
}

/** Extensions the canary server can create (its image's extension directory), by name. */
export async function availableExtensions(adminUrl: string): Promise<Set<string>> {
    const c = await connect(adminUrl);
    try {
        return new Set((await c.query("select name from pg_available_extensions")).rows.map((r) => r.name as string));
    } finally {
        await c.end().catch(() => undefined);
    }
}

/**
 * Which of these extensions the canary database refuses to create, and why: each is tried in a
 * transaction that is rolled back, so nothing stays. An extension the server lacks fails with "is not
 * available"; one it has may still refuse the database (pg_cron outside cron.database_name).
 */
export async function probeExtensions(dbUrl: string, names: string[]): Promise<Map<string, string>> {
    const c = await connect(dbUrl);
    const refused = new Map<string, string>();
    try {
        await c.query("begin");
        for (const name of names) {
            await c.query("savepoint probe");
            try {
                await c.query(`create extension if not exists ${quoteIdent(name)} cascade`);
            } catch (e) {
                refused.set(name, oneLine(e));
            }
            await c.query("rollback to savepoint probe");
        }
    } finally {
        await c.query("rollback").catch(() => undefined);
        await c.end().catch(() => undefined);
    }
    return refused;
}
