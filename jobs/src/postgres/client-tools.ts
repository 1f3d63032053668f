// pg_dump / pg_dumpall as child processes: version detection and the compression plan (pg_dump's own
// zstd/lz4/gzip where the client is >= 16, else `-Z0` and zstd in the job). Connection parameters come
// from connection.ts.
import { execFile, spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { Transform as NodeTransform, type Transform } from "node:stream";
import { constants as zc, createZstdCompress } from "node:zlib";
import type { Logger } from "../runtime/log";
import { toolEnv } from "./connection";

export type Algorithm = "zstd" | "lz4" | "gzip" | "none";

/** `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → { version: "15.20", major: 15 } */
export function parsePgDumpVersion(out: string): { version: string; major: number } {
    const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(out);
    if (!m) throw new Error(`cannot parse pg_dump version from "${out.trim()}"`);
    return { version: m[2] ? `${m[1]}.${m[2]}` : m[1], major: Number(m[1]) };
}

export function pgDumpVersion(bin: string): Promise<{ version: string; major: number }> {
    return new Promise((resolve, reject) => {
        execFile(bin, ["--version"], { timeout: 10_000, env: toolEnv() }, (err, stdout) => {
            if (err) return reject(new Error(`cannot run ${bin}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : err.message}`));
            try {
                resolve(parsePgDumpVersion(stdout));
            } catch (e) {
                reject(e);
            }
        });
    });
}

export interface CompressionPlan {
    algorithm: Algorithm;
    level: number;
    by: "pg_dump" | "job" | "none";
    /** pg_dump arguments that select its own compression */
    pgDumpArgs: string[];
    /** the job-side compressor stages, when by = job */
    transforms?: () => Transform[];
}

const LEVELS: Record<Exclude<Algorithm, "none">, [number, number]> = { zstd: [1, 19], lz4: [1, 12], gzip: [1, 9] };
const clamp = (a: Exclude<Algorithm, "none">, l: number) => Math.min(LEVELS[a][1], Math.max(LEVELS[a][0], Math.round(l)));

/**
 * How the dump gets compressed. pg_dump >= 16 compresses itself (zstd, lz4 or gzip: the archive stays
 * a plain custom-format file pg_restore reads directly). pg_dump <= 15 knows only gzip, which is slow:
 * for zstd it writes -Z0 and the job compresses the whole stream. lz4 needs pg_dump >= 16 (Node has no
 * lz4): older clients fall back to zstd in the job, with a warning.
 */
export function planCompression(pgDumpMajor: number, want: Algorithm, level: number, log?: Logger): CompressionPlan {
    if (want === "none") return { algorithm: "none", level: 0, by: "none", pgDumpArgs: ["--compress=0"] };
    if (pgDumpMajor >= 16) {
        const l = clamp(want, level);
        return { algorithm: want, level: l, by: "pg_dump", pgDumpArgs: [`--compress=${want}:${l}`] };
    }
    if (want === "gzip") {
        const l = clamp("gzip", level);
        return { algorithm: "gzip", level: l, by: "pg_dump", pgDumpArgs: [`--compress=${l}`] };
    }
    if (want === "lz4") log?.warn({ pgDumpMajor }, "lz4 needs pg_dump >= 16; compressing with zstd in the job instead");
    const l = clamp("zstd", want === "lz4" ? 1 : level);
    return {
        algorithm: "zstd",
        level: l,
        by: "job",
        pgDumpArgs: ["--compress=0"],
        transforms: () => [
            batcher(BATCH),
            createZstdCompress({ chunkSize: BATCH, params: { [zc.ZSTD_c_compressionLevel]: l, [zc.ZSTD_c_checksumFlag]: 1 } }),
        ],
    };
}

/** zlib's zstd runs each write on the thread pool and hands every output chunk back to the main thread. */
const BATCH = 512 * 1024;

/**
 * Gather pipe reads (64 KiB) into ~512 KiB writes: 8× fewer thread-pool round trips for zstd. On a busy
 * machine each round trip waits for a time slice; with 64 KiB writes and 16 KiB output chunks the
 * compressor spends most of its time waiting (measured: 1.5-2× slower than the zstd CLI; batched ≈ CLI).
 */
export function batcher(size: number): Transform {
    let parts: Buffer[] = [];
    let n = 0;
    return new NodeTransform({
        transform(data: Buffer, _enc, cb) {
            parts.push(data);
            n += data.length;
            if (n < size) return cb();
            const out = Buffer.concat(parts, n);
            parts = [];
            n = 0;
            cb(null, out);
        },
        flush(cb) {
            if (n) this.push(Buffer.concat(parts, n));
            parts = [];
            cb();
        },
    });
}

export interface DumpProcess {
    child: ChildProcessByStdio<null, Readable, Readable>;
    stdout: Readable;
    /** resolves when the process has exited: code 0 → ok; otherwise rejects with one line */
    exited: Promise<void>;
    /** last lines of stderr (for error messages and logs) */
    stderrTail(): string;
}

/** Spawn a pg_dump-like tool; stdout is the data, stderr is kept (tail) for the failure line. */
export function spawnDumpTool(bin: string, args: string[], env: NodeJS.ProcessEnv, what: string): DumpProcess {
    const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => (tail = (tail + d).slice(-4000)));
    const stderrTail = () =>
        tail
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean)
            .slice(-2)
            .join(" / ");
    const exited = new Promise<void>((resolve, reject) => {
        child.on("error", (e: NodeJS.ErrnoException) => reject(new Error(`${what}: cannot start ${bin}: ${e.code === "ENOENT" ? "not found" : e.message}`)));
        child.on("close", (code, signal) => {
            if (code === 0) return resolve();
            const why = signal ? `was killed (${signal})` : `exited with code ${code}`;
            const detail = stderrTail();
            reject(new Error(`${what} ${why}${detail ? `: ${detail}` : ""}`));
        });
    });
    exited.catch(() => undefined); // observed by the caller; never an unhandled rejection
    return { child, stdout: child.stdout, exited, stderrTail };
}
