// Test certificate authorities and PostgreSQL servers with TLS, made with the openssl CLI: a CA, a server
// certificate it signs for a DNS name (e.g. `db.test`, reached through `hostaddr=127.0.0.1`), and the
// server settings that turn ssl on with it. As root the server runs as `postgres`, which must own its
// key (0600), so the files go to a directory it owns.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync as mkdtempRaw, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

const made: string[] = [];
function mkdtempSync(prefix: string): string {
    const d = mkdtempRaw(prefix);
    made.push(d);
    return d;
}

/** Remove every directory this module made (CAs, certificates, logs): call once the servers are stopped. */
export function removeTlsFiles(): void {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface TestCa {
    name: string;
    dir: string;
    cert: string;
    key: string;
    pem: string;
}

function openssl(args: string[]): void {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A self-signed root CA (EC P-256, valid 2 days). */
export function makeCa(name: string): TestCa {
    const dir = mkdtempSync(join(tmpdir(), "sb-ca-"));
    const key = join(dir, "ca.key");
    const cert = join(dir, "ca.pem");
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    return { name, dir, cert, key, pem: readFileSync(cert, "utf8") };
}

export interface ServerCert {
    dir: string;
    cert: string;
    key: string;
}

/** A server certificate for `dnsName` signed by `ca`, in a directory the server's user owns. */
export function issueServerCert(ca: TestCa, dnsName: string): ServerCert {
    const dir = mkdtempSync(join(tmpdir(), "sb-srv-cert-"));
    const key = join(dir, "server.key");
    const csr = join(dir, "server.csr");
    const cert = join(dir, "server.pem");
    const ext = join(dir, "ext.cnf");
    writeFileSync(ext, `subjectAltName=DNS:${dnsName}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${dnsName}`]);
    openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]);
    chmodSync(key, 0o600);
    chmodSync(dir, 0o755);
    if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    return { dir, cert, key };
}

/** startPostgres settings: TLS on with this certificate. */
export function tlsSettings(c: ServerCert): Record<string, string> {
    return { ssl: "on", ssl_cert_file: c.cert, ssl_key_file: c.key };
}

/**
 * startPostgres settings that make the server log every connection and authentication to a file, with
 * an hba file asking for the password in clear text over any connection (what a MITM would ask for):
 * what reached the server is then in the log.
 */
export function loggingSettings(method: "password" | "scram-sha-256" = "password"): { settings: Record<string, string>; log: () => string } {
    const dir = mkdtempSync(join(tmpdir(), "sb-pg-log-"));
    chmodSync(dir, 0o777);
    const hba = join(dir, "pg_hba.conf");
    writeFileSync(hba, `local all all trust\nhost all all 127.0.0.1/32 ${method}\n`);
    chmodSync(hba, 0o644);
    return {
        settings: { hba_file: hba, log_connections: "on", logging_collector: "on", log_directory: dir, log_filename: "pg.log", log_min_messages: "info" },
        log: () => {
            try {
                return readFileSync(join(dir, "pg.log"), "utf8");
            } catch {
                return "";
            }
        },
    };
}
