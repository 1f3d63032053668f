// In-process pieces of the dump job: compression plan per pg_dump version, version parsing, the
// connection split that keeps the password out of argv, and the fan-out's backpressure / failure rules.
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { zstdDecompressSync } from "node:zlib";
import { createLogger } from "../../../jobs/src/runtime/log";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ageEncrypt, ageEncryptWithLibrary, nativeEncryptionAvailable } from "../../../jobs/src/codec/age-encrypt";
import { parsePgDumpVersion, planCompression } from "../../../jobs/src/postgres/client-tools";
import { pgChildEnv, pgTarget } from "../../../jobs/src/postgres/connection";
import { finishSinks, pump, type Sink } from "../../../jobs/src/commands/dump/sinks";

const log = createLogger({ test: "dump-unit" }, "silent");

/** A sink whose consumer reads `rate` bytes per tick (or nothing when rate = 0). */
function fakeSink(label: string, required: boolean, opts: { failAfter?: number; hang?: boolean } = {}): Sink & { received: number } {
    const input = new PassThrough({ highWaterMark: 64 * 1024 });
    input.on("error", () => undefined);
    let resolveSettled!: () => void;
    const settled = new Promise<void>((r) => (resolveSettled = r));
    const sink = {
        label,
        required,
        input,
        settled,
        committed: false,
        lastProgressAt: Date.now(),
        received: 0,
        failure: undefined as Error | undefined,
        async fail(e: Error) {
            sink.failure ??= e;
            input.destroy(e);
            resolveSettled();
        },
    };
    if (!opts.hang) {
        input.on("data", (d: Buffer) => {
            sink.received += d.length;
            sink.lastProgressAt = Date.now();
            if (opts.failAfter !== undefined && sink.received > opts.failAfter) void sink.fail(new Error(`${label} broke`));
        });
        input.on("end", () => {
            sink.committed = !sink.failure;
            resolveSettled();
        });
    }
    return sink;
}

function source(total: number, chunk = 64 * 1024): Readable {
    let sent = 0;
    return new Readable({
        read() {
            if (sent >= total) return this.push(null);
            const n = Math.min(chunk, total - sent);
            sent += n;
            this.push(Buffer.alloc(n, 7));
        },
    });
}

describe("dump (unit)", () => {
    it("plans compression by pg_dump version: the job compresses around -Z0 for <= 15, pg_dump itself for >= 16", () => {
        const p15 = planCompression(15, "zstd", 3);
        assert.deepEqual([p15.algorithm, p15.level, p15.by, p15.pgDumpArgs], ["zstd", 3, "job", ["--compress=0"]]);
        const [batch, z] = p15.transforms!();
        batch.pipe(z);
        const out = new Promise<Buffer>((resolve) => {
            const parts: Buffer[] = [];
            z.on("data", (d) => parts.push(d));
            z.on("end", () => resolve(Buffer.concat(parts)));
        });
        for (let i = 0; i < 300; i++) batch.write(Buffer.from("PGDMP".repeat(1000) + i));
        batch.end();
        return out.then((b) => {
            assert.equal(zstdDecompressSync(b).toString(), Array.from({ length: 300 }, (_, i) => "PGDMP".repeat(1000) + i).join(""));
            const p17 = planCompression(17, "zstd", 7);
            assert.deepEqual([p17.by, p17.pgDumpArgs, p17.transforms], ["pg_dump", ["--compress=zstd:7"], undefined]);
            assert.deepEqual(planCompression(16, "lz4", 19).pgDumpArgs, ["--compress=lz4:12"], "lz4 level clamped");
            assert.deepEqual(planCompression(16, "gzip", 12).pgDumpArgs, ["--compress=gzip:9"]);
            const g15 = planCompression(15, "gzip", 6);
            assert.deepEqual([g15.by, g15.pgDumpArgs], ["pg_dump", ["--compress=6"]]);
            const l15 = planCompression(15, "lz4", 5);
            assert.deepEqual([l15.algorithm, l15.by, l15.level], ["zstd", "job", 1], "lz4 on an old client falls back to fast zstd in the job");
            assert.deepEqual(planCompression(17, "none", 3), { algorithm: "none", level: 0, by: "none", pgDumpArgs: ["--compress=0"] });
        });
    });

    it("parses pg_dump --version", () => {
        assert.deepEqual(parsePgDumpVersion("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n"), { version: "15.20", major: 15 });
        assert.deepEqual(parsePgDumpVersion("pg_dump (PostgreSQL) 17.6"), { version: "17.6", major: 17 });
        assert.throws(() => parsePgDumpVersion("nonsense"));
    });

    it("keeps the password out of pg_dump's argv and the manifest's host", () => {
        const t = pgTarget("postgresql://postgres.abcdefghijklmnopqrst:s%40cr%3At@aws-0-ap-southeast-1.pooler.supabase.com:5432/postgres?sslmode=verify-full&sslrootcert=/etc/supabase-backups/postgres-ca.pem");
        assert.ok(!t.dbnameArg.includes("s%40cr") && !t.dbnameArg.includes("s@cr"));
        assert.equal(t.dbnameArg, "dbname='postgres'", "only the database name on the command line; the rest goes in env");
        assert.equal(t.password, "s@cr:t");
        assert.equal(t.host, "aws-0-ap-southeast-1.pooler.supabase.com");
        assert.equal(t.database, "postgres");
        const env = pgChildEnv(t, { DATABASE_URL: "x", AWS_SECRET_ACCESS_KEY: "y", PATH: "/bin" });
        assert.equal(env.PGPASSWORD, "s@cr:t");
        assert.equal(env.DATABASE_URL, undefined);
        assert.equal(env.AWS_SECRET_ACCESS_KEY, undefined);
        assert.throws(() => pgTarget("mysql://x@y/z"), /postgresql/);
    });

    it("fan-out: the slower sink paces the source, both get every byte", async () => {
        const fast = fakeSink("fast", true);
        const slow = fakeSink("slow", false);
        // The slow sink reads only when the test lets it: backpressure must hold the source back.
        slow.input.pause();
        slow.input.removeAllListeners("data");
        let read = 0;
        const src = source(4 << 20);
        const pumping = pump(src, [fast, slow], { stallMs: 10_000, log, onChunk: (c) => (read += c.length) });
        await new Promise((r) => setTimeout(r, 200));
        assert.ok(read < 1 << 20, `source read ${read} bytes while the slow sink took none`);
        slow.input.on("data", (d: Buffer) => {
            slow.received += d.length;
            slow.lastProgressAt = Date.now();
        });
        slow.input.on("end", () => {
            slow.committed = true;
        });
        slow.input.resume();
        await pumping;
        await finishSinks([fast, slow], 10_000).catch(() => undefined);
        assert.equal(read, 4 << 20);
        assert.equal(fast.received, 4 << 20);
        assert.equal(slow.received, 4 << 20);
    });

    it("fan-out: an optional sink's failure detaches it; a required one's fails the pump", async () => {
        const main = fakeSink("S3", true);
        const extra = fakeSink("Azure", false, { failAfter: 256 * 1024 });
        await pump(source(2 << 20), [main, extra], { stallMs: 10_000, log, onChunk: () => undefined });
        assert.equal(main.received, 2 << 20);
        assert.ok(extra.failure);

        const broken = fakeSink("S3", true, { failAfter: 256 * 1024 });
        await assert.rejects(pump(source(8 << 20), [broken], { stallMs: 10_000, log, onChunk: () => undefined }), /S3 upload failed: S3 broke/);
    });

    it("fan-out: a sink that stops accepting data is failed after the stall timeout", async () => {
        const hung = fakeSink("S3", true, { hang: true });
        const t0 = Date.now();
        await assert.rejects(pump(source(8 << 20), [hung], { stallMs: 500, log, onChunk: () => undefined }), /stalled: no progress/);
        assert.ok(Date.now() - t0 < 3000);
    });

    it("age: the native STREAM encryption produces files the age CLI opens, at every chunk boundary", async () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-age-unit-"));
        execFileSync("age-keygen", ["-o", join(dir, "key.txt")], { stdio: "ignore" });
        const recipient = /public key: (age1\S+)/.exec(readFileSync(join(dir, "key.txt"), "utf8"))![1];
        assert.equal(await nativeEncryptionAvailable(recipient), true, "the native path derives the library's keys");
        const K = 64 * 1024;
        for (const size of [0, 1, K - 1, K, K + 1, 2 * K, 3 * K + 17, 1_000_003]) {
            const plain = randomBytes(size);
            // Feed in odd-sized pieces so chunk boundaries fall inside writes.
            const pieces: Buffer[] = [];
            for (let i = 0; i < size; i += 7919) pieces.push(plain.subarray(i, i + 7919));
            for (const enc of [ageEncrypt, ageEncryptWithLibrary]) {
                const out: Buffer[] = [];
                for await (const c of await enc(Readable.from(pieces), recipient)) out.push(Buffer.from(c));
                const file = join(dir, `f-${size}.age`);
                writeFileSync(file, Buffer.concat(out));
                const back = execFileSync("age", ["-d", "-i", join(dir, "key.txt"), file], { maxBuffer: 1 << 26 });
                assert.ok(back.equals(plain), `${enc.name} size ${size}`);
            }
        }
    });

    it("age: a source error propagates through the encryption", async () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-age-unit-"));
        execFileSync("age-keygen", ["-o", join(dir, "key.txt")], { stdio: "ignore" });
        const recipient = /public key: (age1\S+)/.exec(readFileSync(join(dir, "key.txt"), "utf8"))![1];
        const src = new Readable({ read() {} });
        const enc = await ageEncrypt(src, recipient);
        src.push(Buffer.alloc(100_000));
        setTimeout(() => src.destroy(new Error("pg_dump went away")), 10);
        await assert.rejects(async () => {
            for await (const _ of enc) void _;
        }, /pg_dump went away/);
    });
});
