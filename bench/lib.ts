// What every benchmark needs: flags, medians, and timing a child process on this machine.
import { spawn, type ChildProcess } from "node:child_process";

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
