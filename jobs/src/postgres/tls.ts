// TLS to Postgres (docs/security.md "Network to Postgres"). A connection to a host that is not loopback
// is `verify-full`: encrypted, the server's certificate checked against a configured CA and its name
// against the host we meant to reach, before a password or a byte of data is sent. Plain text only with
// an explicit switch (postgres.allowPlaintext in the stack file, or SUPABASE_BACKUPS_PG_ALLOW_PLAINTEXT
// for one operator command), and then loudly, at every connection.
//
// The policy is applied to the URL once, where a command takes it (securePgUrl): the URL then carries
// `sslmode` and `sslrootcert`, and both builders in connection.ts (libpq environment, node-pg config)
// implement exactly those, refusing a non-loopback URL that has not been secured.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkServerIdentity, type ConnectionOptions } from "node:tls";
import { readFileSync } from "node:fs";
import { JOB_ENV, type JobConfig } from "@supabase-backups/contracts";
import { UsageError } from "../runtime/errors";
import type { Logger } from "../runtime/log";

export interface PgTlsPolicy {
    /** PEM file of the CA(s) that sign the servers' certificates; "system": the OS store (libpq >= 16) */
    caFile?: string;
    /** plain text allowed to non-loopback hosts, and by which switch */
    plaintext?: "config" | "env";
}

/** Loopback: 127.0.0.0/8, ::1, localhost, or a Unix socket directory. Nothing to intercept there. */
export function isLoopbackHost(host: string): boolean {
    const h = host.replace(/^\[|\]$/g, "").toLowerCase();
    if (h === "" || h.startsWith("/") || h === "localhost" || h === "::1") return true;
    return isIP(h) === 4 && h.startsWith("127.");
}

/** The host a URL names, and where it connects (`hostaddr` connects to that IP but verifies `host`). */
export function urlHosts(u: URL): { host: string; hostaddr?: string } {
    const host = u.searchParams.get("host") ?? u.hostname.replace(/^\[|\]$/g, "");
    return { host, hostaddr: u.searchParams.get("hostaddr") ?? undefined };
}

/** Both the name and the address (when given) must be loopback for TLS to be optional. */
export function isLoopbackUrl(u: URL): boolean {
    const { host, hostaddr } = urlHosts(u);
    return isLoopbackHost(host) && (hostaddr === undefined || isLoopbackHost(hostaddr));
}

let writtenCa: { pem: string; file: string } | undefined;

/** The config's CA bundle as a file libpq can read (written once per process, readable by us only). */
function caBundleFile(pem: string): string {
    if (writtenCa?.pem === pem) return writtenCa.file;
    const dir = mkdtempSync(join(tmpdir(), "sb-pg-ca-"));
    const file = join(dir, "postgres-ca.pem");
    writeFileSync(file, pem.endsWith("\n") ? pem : pem + "\n", { mode: 0o600 });
    chmodSync(file, 0o600);
    writtenCa = { pem, file };
    return file;
}

/**
 * The policy of this process: the CA from PGSSLROOTCERT (the CronJobs get the mounted bundle this way),
 * else the config's postgres.caBundle; plain text from the config or the env switch.
 */
export function pgTlsPolicy(config: Pick<JobConfig, "postgres"> | undefined, env: NodeJS.ProcessEnv = process.env): PgTlsPolicy {
    const fromEnv = env[JOB_ENV.pgAllowPlaintext];
    if (fromEnv !== undefined && fromEnv !== "" && fromEnv !== "true" && fromEnv !== "false") {
        throw new UsageError(`${JOB_ENV.pgAllowPlaintext} must be true or false, not "${fromEnv}"`);
    }
    const plaintext = config?.postgres?.allowPlaintext ? "config" : fromEnv === "true" ? "env" : undefined;
    const bundle = config?.postgres?.caBundle;
    const caFile = env.PGSSLROOTCERT || (bundle ? caBundleFile(bundle) : undefined);
    return { caFile, plaintext };
}

const WEAK_MODES = new Set(["allow", "prefer", "require", "verify-ca"]);

/**
 * `url` as the jobs connect to it. Loopback: unchanged. Otherwise `sslmode=verify-full` with the CA
 * (the URL's own sslrootcert, else the policy's); a weaker sslmode in the URL is raised to verify-full;
 * `sslmode=disable`, or no CA, is refused unless plain text is switched on, which is logged as a warning
 * every time. `what` names the URL in messages (DATABASE_URL, --target-url).
 */
export function securePgUrl(url: string, policy: PgTlsPolicy, log: Logger | undefined, what: string): string {
    const u = new URL(url);
    if (isLoopbackUrl(u)) return url;
    const { host } = urlHosts(u);
    const mode = u.searchParams.get("sslmode");
    if (policy.plaintext) {
        u.searchParams.set("sslmode", "disable");
        u.searchParams.delete("sslrootcert");
        const by = policy.plaintext === "config" ? "postgres.allowPlaintext in the stack config" : `${JOB_ENV.pgAllowPlaintext}=true`;
        log?.warn({ host, tls: "off", switch: by }, `PLAIN TEXT to Postgres at ${host} (${what}): TLS is switched off by ${by}; the password and the data cross the network unencrypted`);
        return u.toString();
    }
    if (mode === "disable") {
        throw new UsageError(`${what} asks for sslmode=disable to ${host}: plain text to a non-loopback host needs postgres.allowPlaintext (or ${JOB_ENV.pgAllowPlaintext}=true); remove sslmode to use TLS`);
    }
    const ca = u.searchParams.get("sslrootcert") ?? policy.caFile;
    if (!ca) {
        throw new UsageError(
            `TLS to ${host} (${what}) needs the CA that signs its certificate: set postgres.caBundle in the stack config (Supabase: Database Settings → SSL Configuration → Download certificate) or PGSSLROOTCERT=<file>; plain text only with postgres.allowPlaintext`,
        );
    }
    if (mode && WEAK_MODES.has(mode)) log?.info({ host, asked: mode }, `${what} asks for sslmode=${mode}; connecting with verify-full (certificate and host name checked)`);
    u.searchParams.set("sslmode", "verify-full");
    u.searchParams.set("sslrootcert", ca);
    return u.toString();
}

/**
 * The safety net of both builders: a non-loopback URL must say verify-full (or disable, which only
 * securePgUrl writes when plain text is switched on). Anything else means a caller skipped securePgUrl.
 */
export function assertSecured(u: URL): void {
    if (isLoopbackUrl(u)) return;
    const mode = u.searchParams.get("sslmode");
    if (mode === "verify-full" || mode === "disable") return;
    throw new Error(`refusing to connect to ${urlHosts(u).host} with sslmode=${mode ?? "(none)"}: a connection to a non-loopback host must be verify-full (securePgUrl)`);
}

/**
 * node-pg's `ssl` for a secured URL: verify-full is the CA from sslrootcert, SNI and the certificate's
 * name checked against the host the URL names (also when `hostaddr` connects to an IP); verify-ca and
 * require only on loopback (as libpq: CA only / encryption only); otherwise no TLS.
 */
export function nodePgSsl(u: URL): false | ConnectionOptions {
    const mode = u.searchParams.get("sslmode");
    const root = u.searchParams.get("sslrootcert");
    const { host } = urlHosts(u);
    const ca = root && root !== "system" ? readFileSync(root, "utf8") : undefined;
    if (mode === "verify-full") {
        return {
            ca,
            rejectUnauthorized: true,
            ...(isIP(host) === 0 ? { servername: host } : {}),
            checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert),
        };
    }
    if (mode === "verify-ca") return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    if (mode === "require") return { rejectUnauthorized: false };
    return false;
}
