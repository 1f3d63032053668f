// Postgres connections, built one way (docs/security.md "Secrets in argv and child environments"): one
// URL parser, one URL → libpq environment conversion for every child process, one URL → node-pg config.
// Every connection parameter, the password above all, reaches a client tool through its environment
// (PGPASSWORD, PGSSLMODE, …), never its command line (`ps` and /proc/<pid>/cmdline show argv to every
// user of the machine); a child's environment holds only what it needs, never the job's other secrets.
// TLS: tls.ts (securePgUrl decides, the builders here implement and re-check it).
import type { ClientConfig } from "pg";
import { UsageError } from "../runtime/errors";
import { assertSecured, nodePgSsl, urlHosts } from "./tls";

export interface PgTarget {
    /** the whole URL, password included: only for pgChildEnv and pgClientConfig */
    url: string;
    /** pg_dump's --dbname: the database name alone (a conninfo string); everything else is in env */
    dbnameArg: string;
    password?: string;
    user: string;
    host: string;
    port: string;
    database: string;
}

/**
 * URL query parameters the jobs accept: libpq connection keywords that have an environment variable
 * (libpq "Environment Variables"), so each can reach a child through its env. Others are refused: a
 * keyword without one (sslpassword, keepalives…) would have to go on the command line.
 */
const PARAM_ENV: Record<string, string> = {
    host: "PGHOST",
    hostaddr: "PGHOSTADDR",
    port: "PGPORT",
    dbname: "PGDATABASE",
    user: "PGUSER",
    password: "PGPASSWORD",
    passfile: "PGPASSFILE",
    options: "PGOPTIONS",
    application_name: "PGAPPNAME",
    connect_timeout: "PGCONNECT_TIMEOUT",
    client_encoding: "PGCLIENTENCODING",
    target_session_attrs: "PGTARGETSESSIONATTRS",
    channel_binding: "PGCHANNELBINDING",
    require_auth: "PGREQUIREAUTH",
    sslmode: "PGSSLMODE",
    sslnegotiation: "PGSSLNEGOTIATION",
    sslrootcert: "PGSSLROOTCERT",
    sslcert: "PGSSLCERT",
    sslkey: "PGSSLKEY",
    sslcrl: "PGSSLCRL",
    sslcrldir: "PGSSLCRLDIR",
    sslsni: "PGSSLSNI",
    sslcertmode: "PGSSLCERTMODE",
    ssl_min_protocol_version: "PGSSLMINPROTOCOLVERSION",
    ssl_max_protocol_version: "PGSSLMAXPROTOCOLVERSION",
    gssencmode: "PGGSSENCMODE",
    krbsrvname: "PGKRBSRVNAME",
};

function parseUrl(url: string, what: string): URL {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        throw new UsageError(`${what} is not a URL (expected postgresql://user@host:port/database)`);
    }
    if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new UsageError(`${what} must be a postgresql:// URL, not ${u.protocol}//`);
    for (const k of u.searchParams.keys()) {
        if (!PARAM_ENV[k]) throw new UsageError(`${what}: unsupported parameter "${k}" (the jobs pass every parameter to the client tools as an environment variable; supported: ${Object.keys(PARAM_ENV).join(", ")})`);
    }
    return u;
}

/** The URL's password: the userinfo's or a `password=` parameter's. */
export function urlPassword(u: URL): string | undefined {
    if (u.password) return decodeURIComponent(u.password);
    return u.searchParams.get("password") ?? undefined;
}

/** Split DATABASE_URL into the database name for pg_dump's command line and the rest for its env. */
export function pgTarget(databaseUrl: string, what = "DATABASE_URL"): PgTarget {
    const u = parseUrl(databaseUrl, what);
    const user = u.searchParams.get("user") ?? decodeURIComponent(u.username || "postgres");
    const database = u.searchParams.get("dbname") ?? (decodeURIComponent(u.pathname.replace(/^\//, "")) || user);
    return { url: u.toString(), dbnameArg: dbnameConninfo(database), password: urlPassword(u), user, host: urlHosts(u).host, port: u.searchParams.get("port") ?? (u.port || "5432"), database };
}

/** `dbname='a b'`: a conninfo string naming only the database (a bare name with `=` would be parsed as one). */
function dbnameConninfo(database: string): string {
    return `dbname='${database.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * What a Postgres client tool inherits from the job: nothing that could be a credential. The job's env
 * holds the database URL, the service-role key, Storage S3 keys, AGE_IDENTITY, cloud credentials (AWS,
 * Azure, web-identity token files); a child gets the locale, PATH, HOME (~/.pgpass, ~/.postgresql) and
 * temp dir, PGPASSFILE when the operator uses one, and the connection built from its URL.
 */
const INHERITED = new Set(["PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "PGPASSFILE", "PGCONNECT_TIMEOUT"]);

/**
 * The environment of a pg_dump/pg_dumpall/pg_restore/psql child: the inherited variables above plus
 * the connection as libpq variables (the password only in PGPASSWORD, never in argv).
 */
export function pgChildEnv(target: PgTarget | string, base: NodeJS.ProcessEnv = process.env, appName = "supabase-backups-dump"): NodeJS.ProcessEnv {
    const env = toolEnv(base);
    env.PGCONNECT_TIMEOUT ??= "15";
    return { ...env, ...libpqEnv(typeof target === "string" ? target : target.url), PGAPPNAME: appName };
}

/** The allow-listed part of the job's env: for a client tool that connects nowhere (`--version`). */
export function toolEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(base)) if (v !== undefined && (INHERITED.has(k) || k.startsWith("LC_"))) env[k] = v;
    return env;
}

/** libpq environment for a URL: every parameter as its variable (so none appears on a command line). */
export function libpqEnv(url: string): Record<string, string> {
    const u = parseUrl(url, "the connection URL");
    assertSecured(u);
    const env: Record<string, string> = {};
    if (u.hostname) env.PGHOST = u.hostname.replace(/^\[|\]$/g, "");
    if (u.port) env.PGPORT = u.port;
    if (u.username) env.PGUSER = decodeURIComponent(u.username);
    if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
    const db = decodeURIComponent(u.pathname.replace(/^\//, ""));
    if (db) env.PGDATABASE = db;
    for (const [k, v] of u.searchParams) env[PARAM_ENV[k]] = v;
    return env;
}

/**
 * node-pg's config for a URL, with the same meaning libpq gives it: `hostaddr` is where it connects,
 * `host` what the certificate must name; TLS per nodePgSsl. Built field by field: pg would let a
 * connectionString's own sslmode override the `ssl` given next to it.
 */
export function pgClientConfig(url: string, extra: Pick<ClientConfig, "application_name" | "connectionTimeoutMillis"> = {}): ClientConfig {
    const u = parseUrl(url, "the connection URL");
    assertSecured(u);
    const { host, hostaddr } = urlHosts(u);
    const p = (k: string) => u.searchParams.get(k) ?? undefined;
    return {
        host: hostaddr ?? host,
        port: Number(p("port") ?? (u.port || 5432)),
        user: p("user") ?? (decodeURIComponent(u.username) || undefined),
        password: urlPassword(u),
        database: p("dbname") ?? (decodeURIComponent(u.pathname.replace(/^\//, "")) || undefined),
        options: p("options"),
        application_name: p("application_name") ?? extra.application_name,
        connectionTimeoutMillis: extra.connectionTimeoutMillis ?? Number(p("connect_timeout") ?? 15) * 1000,
        ssl: nodePgSsl(u),
    };
}

/** The URL with this password (from an env var or a file, never a flag), for the builders above. */
export function urlWithPassword(url: string, password: string): string {
    const u = new URL(url);
    u.searchParams.delete("password");
    u.password = encodeURIComponent(password);
    return u.toString();
}
