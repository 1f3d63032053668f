// Postgres connections as the client tools take them: one URL parser for pg_dump's argv and the
// manifest, and one URL → libpq environment conversion for every child process, so a password never
// appears on a command line and the job's other secrets never reach a child.
import { JOB_ENV, SECRETS } from "@supabase-backups/contracts";
import { UsageError } from "../runtime/errors";

export interface PgTarget {
    /** the whole URL, password included: only for pgChildEnv */
    url: string;
    /** the URL without its password: safe for argv (still never logged as is) */
    dbnameArg: string;
    password?: string;
    user: string;
    host: string;
    port: string;
    database: string;
}

/** Split DATABASE_URL into what pg_dump gets on its command line and the password it gets in env. */
export function pgTarget(databaseUrl: string): PgTarget {
    let u: URL;
    try {
        u = new URL(databaseUrl);
    } catch {
        throw new UsageError("DATABASE_URL is not a URL (expected postgresql://user:password@host:port/database)");
    }
    if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new UsageError(`DATABASE_URL must be a postgresql:// URL, not ${u.protocol}//`);
    const url = u.toString();
    const password = u.password ? decodeURIComponent(u.password) : undefined;
    u.password = "";
    const user = decodeURIComponent(u.username || "postgres");
    const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || user;
    return { url, dbnameArg: u.toString(), password, user, host: u.hostname.replace(/^\[|\]$/g, ""), port: u.port || "5432", database };
}

/** The job's own secrets: none of a Postgres client tool's business, so never in its environment. */
const JOB_SECRET_ENV = [...Object.values(SECRETS).map((s) => s.env), JOB_ENV.azureConnectionString, JOB_ENV.canaryDatabaseUrl, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/**
 * The environment of a pg_dump/pg_dumpall/pg_restore/psql child: the parent's minus the job's secrets,
 * plus the connection as libpq variables (the password only in PGPASSWORD, never in argv).
 */
export function pgChildEnv(target: PgTarget | string, base: NodeJS.ProcessEnv = process.env, appName = "supabase-backups-dump"): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...base, PGCONNECT_TIMEOUT: base.PGCONNECT_TIMEOUT ?? "15" };
    for (const k of JOB_SECRET_ENV) delete env[k];
    return { ...env, ...libpqEnv(typeof target === "string" ? target : target.url), PGAPPNAME: appName };
}

/** libpq environment for a URL, so the password never appears on a command line. */
export function libpqEnv(url: string): Record<string, string> {
    const u = new URL(url);
    const env: Record<string, string> = {};
    if (u.hostname) env.PGHOST = u.hostname.replace(/^\[|\]$/g, "");
    if (u.port) env.PGPORT = u.port;
    if (u.username) env.PGUSER = decodeURIComponent(u.username);
    if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
    const db = decodeURIComponent(u.pathname.replace(/^\//, ""));
    if (db) env.PGDATABASE = db;
    const map: Record<string, string> = { sslmode: "PGSSLMODE", sslrootcert: "PGSSLROOTCERT", sslcert: "PGSSLCERT", sslkey: "PGSSLKEY", host: "PGHOST", application_name: "PGAPPNAME" };
    for (const [k, v] of u.searchParams) if (map[k]) env[map[k]] = v;
    return env;
}
