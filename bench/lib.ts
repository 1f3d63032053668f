// What every benchmark needs: flags, medians, and timing a child process on this machine.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { basename, join } from "node:path";

export const KiB = 1024;
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

/** `--name N` from the command line, else the default. */
export function arg(name: string, def: number): number {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : def;
}

export const flag = (name: string): boolean => process.argv.includes(`--${name}`);

export function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export interface Timed {
    seconds: number;
    code: number | null;
    stdout: string;
    /** the last `stderrTail` characters */
    stderr: string;
}

export interface TimedOptions {
    cwd?: string;
    stderrTail?: number;
    /** called with the started child (e.g. to sample /proc/<pid>); the returned function runs at exit */
    watch?: (child: ChildProcess) => () => void;
}

/** Run a child to completion and time it (wall clock). */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, o: TimedOptions = {}): Promise<Timed> {
    const tail = o.stderrTail ?? 20_000;
    return new Promise((resolve) => {
        const t0 = process.hrtime.bigint();
        const child = spawn(cmd, args, { env, cwd: o.cwd, stdio: ["ignore", "pipe", "pipe"] });
        const stop = o.watch?.(child);
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-tail)));
        child.on("close", (code) => {
            stop?.();
            resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, code, stdout, stderr });
        });
    });
}

export interface Usage {
    /** user + system CPU seconds of the child and every descendant it waited for (wait4 rusage) */
    cpuSeconds: number;
    userSeconds: number;
    sysSeconds: number;
    /** the largest resident set of any one process in that tree, KiB */
    maxRssKiB: number;
}

/**
 * Run a child under GNU time: wall clock plus the rusage of its whole process tree. wait4 adds a
 * reaped child's usage to its parent's children-usage, so the figure covers every process the tree
 * waited for (pg_dump under the job, gzip/sha256sum/aws under the seed's bash), and nothing that is
 * not a descendant: the loopback servers (PostgreSQL, s3rver, Azurite) are started by the bench.
 */
export async function timedUsage(cmd: string, args: string[], env: NodeJS.ProcessEnv, o: TimedOptions = {}): Promise<Timed & Usage> {
    const dir = mkdtempSync(join(tmpdir(), "sb-bench-time-"));
    const out = join(dir, "usage");
    try {
        const r = await timed("/usr/bin/time", ["-o", out, "-f", "%U %S %M", cmd, ...args], env, o);
        const line = readFileSync(out, "utf8").trim().split("\n").pop() ?? "";
        const m = /^([\d.]+) ([\d.]+) (\d+)$/.exec(line);
        if (!m) throw new Error(`cannot read GNU time's figures: ${JSON.stringify(line)}`);
        const [u, s, rss] = [Number(m[1]), Number(m[2]), Number(m[3])];
        return { ...r, userSeconds: u, sysSeconds: s, cpuSeconds: u + s, maxRssKiB: rss };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** `0.79 0.78 1.07`: the 1, 5 and 15 minute load averages, for every figure printed. */
export function load(): string {
    return loadavg()
        .map((x) => x.toFixed(2))
        .join(" ");
}

/** CPU seconds (user + sys) of one process and its live descendants, plus its reaped children's (cutime + cstime). */
function treeCpuSeconds(pid: number): number {
    let ticks = 0;
    try {
        // fields after the ")" of comm: state is 3rd, utime/stime/cutime/cstime are 14th-17th overall
        const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
        for (const task of readdirSync(`/proc/${pid}/task`)) {
            const kids = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
            for (const k of kids ? kids.split(" ") : []) ticks += treeCpuSeconds(Number(k)) * 100;
        }
    } catch {
        // gone between listing and reading: its time is in its parent's cutime once reaped
    }
    return ticks / 100; // USER_HZ is 100 on Linux
}

/** The process listening on a loopback port (a bench's server): its pid, from `ss`. */
export function listenerPid(port: number): number {
    const out = execFileSync("ss", ["-Hltnp", `sport = :${port}`], { encoding: "utf8" });
    const m = /pid=(\d+)/.exec(out);
    if (!m) throw new Error(`no process found listening on port ${port}`);
    return Number(m[1]);
}

/**
 * A meter of the loopback servers' CPU (PostgreSQL with its backends, s3rver, Azurite): `read()` gives
 * each server's CPU seconds since the meter was made. These run beside the contenders, not under them.
 */
export function serverCpuMeter(servers: Record<string, number>): { read(): Record<string, number> } {
    const pids = Object.fromEntries(Object.entries(servers).map(([name, port]) => [name, listenerPid(port)]));
    const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, treeCpuSeconds(pid)]));
    return { read: () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, treeCpuSeconds(pid) - start[name]])) };
}

/**
 * A wrapper for a tool (pg_dump) that runs it under GNU time and appends each run's "user sys" CPU
 * seconds to a log: the tool's own share of a process tree's CPU. Returns the wrapper's path and a reader.
 */
export function cpuLoggingWrapper(dir: string, bin: string): { path: string; take(): number } {
    const log = join(dir, `${basename(bin)}.cpu`);
    const path = join(dir, basename(bin));
    writeFileSync(path, `#!/bin/sh\nexec /usr/bin/time -a -o '${log}' -f '%U %S' '${bin}' "$@"\n`, { mode: 0o755 });
    return {
        path,
        take() {
            let s = 0;
            try {
                for (const l of readFileSync(log, "utf8").split("\n")) {
                    const m = /^([\d.]+) ([\d.]+)$/.exec(l.trim());
                    if (m) s += Number(m[1]) + Number(m[2]);
                }
                rmSync(log);
            } catch {
                // no run logged
            }
            return s;
        },
    };
}
