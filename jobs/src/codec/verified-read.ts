// Verify's download path: one streaming pass over a vault object that (1) hashes the stored bytes for
// the manifest's sha256 and (2) decodes them — age decryption when the run is encrypted, zstd when the
// job (not pg_dump) compressed — into a spool file or memory. The hash always sees every byte even when
// decoding fails half-way, so a corrupt object is reported as "sha256 mismatch", the most specific
// reason, rather than as whatever decoding error the corruption happened to cause.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { PassThrough, Writable, type Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createZstdDecompress, createGunzip } from "node:zlib";
import type { DbManifest } from "@supabase-backups/contracts";
import { AgeDecryptStream, AgeError } from "./age-decrypt";

export interface DecodeSpec {
    /** decrypt with this age identity (manifest.encryption set) */
    ageIdentity?: string;
    /** the job compressed around a -Z0 dump: undo it; pg_dump-internal compression is pg_restore's business */
    decompress?: "zstd" | "gzip";
}

/** How to turn a stored db object back into what pg_dump/pg_dumpall wrote. */
export function decodeSpecFor(manifest: Pick<DbManifest, "compression" | "encryption">, name: string, ageIdentity: string | undefined): DecodeSpec {
    const spec: DecodeSpec = {};
    if (manifest.encryption) spec.ageIdentity = ageIdentity;
    // Only the dump itself is compressed by the job; schema.sql / roles.sql are plain SQL text
    // (encrypted like the dump when encryption is on).
    if (name === "dump" && manifest.compression.by === "job") {
        const a = manifest.compression.algorithm;
        if (a === "zstd" || a === "gzip") spec.decompress = a;
        else if (a !== "none") throw new Error(`compression ${a} by the job is not supported by verify`);
    }
    return spec;
}

export interface FetchResult {
    /** sha256 of the stored (encrypted/compressed) bytes */
    sha256: string;
    /** stored bytes read */
    bytes: number;
    /** bytes after decoding */
    decodedBytes: number;
    /** the decoding error, if decoding failed (the hash is still complete) */
    decodeError?: Error;
    /** decoded bytes when `to` was "memory" */
    data?: Buffer;
    seconds: number;
}

/**
 * Writes every chunk to the spool file and to a second consumer (pg_restore's stdin), with backpressure
 * from both. The second consumer may go away early (pg_restore failed): from then on only the file is
 * written — the download, hash and spool still complete, and the restore's own exit reports why.
 */
class TeeSink extends Writable {
    private otherGone = false;
    constructor(
        private readonly file: Writable,
        private readonly other: Writable,
    ) {
        super({ highWaterMark: 1 << 20 });
        const gone = () => {
            this.otherGone = true;
            this.other.emit("tee-gone");
        };
        other.on("error", gone);
        other.on("close", gone);
        file.on("error", (e) => this.destroy(e));
    }

    private static drained(w: Writable, alsoOn?: string): Promise<void> {
        return new Promise((resolve) => {
            const done = () => {
                w.off("drain", done);
                if (alsoOn) w.off(alsoOn, done);
                resolve();
            };
            w.on("drain", done);
            if (alsoOn) w.on(alsoOn, done);
        });
    }

    override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
        const waits: Promise<void>[] = [];
        if (!this.file.write(chunk)) waits.push(TeeSink.drained(this.file));
        if (!this.otherGone) {
            try {
                if (!this.other.write(chunk)) waits.push(TeeSink.drained(this.other, "tee-gone"));
            } catch {
                this.otherGone = true;
            }
        }
        if (!waits.length) return cb();
        Promise.all(waits).then(() => cb(), cb);
    }

    override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
        // decoding failed: close pg_restore's input so it ends instead of waiting for more. After a
        // normal end (err null) the other side was ended in _final and may still be flushing.
        if (err && !this.otherGone) this.other.destroy();
        this.file.destroy();
        cb(err);
    }

    override _final(cb: (e?: Error | null) => void): void {
        if (!this.otherGone) this.other.end();
        this.file.end();
        this.file.once("finish", () => cb());
        this.file.once("error", cb);
    }
}

function decoders(spec: DecodeSpec): Transform[] {
    const out: Transform[] = [];
    if (spec.ageIdentity !== undefined) out.push(new AgeDecryptStream(spec.ageIdentity));
    if (spec.decompress === "zstd") out.push(createZstdDecompress({ chunkSize: 1 << 20 }));
    if (spec.decompress === "gzip") out.push(createGunzip({ chunkSize: 1 << 20 }));
    return out;
}

/**
 * Hash and decode a stream. `to`: a file path (the spool) or "memory"; with `tee`, the decoded bytes
 * also go to that stream (pg_restore's stdin) as they arrive.
 */
export async function hashAndDecode(
    body: Readable | AsyncIterable<Uint8Array>,
    spec: DecodeSpec,
    to: string | "memory",
    signal?: AbortSignal,
    tee?: Writable,
): Promise<FetchResult> {
    const started = Date.now();
    const hash = createHash("sha256");
    let bytes = 0;
    let decodedBytes = 0;
    const mem: Buffer[] = [];
    const input = new PassThrough({ highWaterMark: 4 << 20 });
    const counter = new PassThrough({ highWaterMark: 1 << 20 });
    counter.on("data", (c: Buffer) => (decodedBytes += c.length));
    const sink: Writable =
        to === "memory"
            ? new Writable({
                  write(c: Buffer, _e, cb) {
                      mem.push(c);
                      cb();
                  },
              })
            : tee
              ? new TeeSink(createWriteStream(to, { highWaterMark: 1 << 20 }), tee)
              : createWriteStream(to, { highWaterMark: 1 << 20 });
    let decodeError: Error | undefined;
    const decoding = pipeline([input, ...decoders(spec), counter, sink] as any, { signal }).catch((e: Error) => {
        decodeError = e;
    });
    let failed = false;
    try {
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
            signal?.throwIfAborted();
            hash.update(chunk);
            bytes += chunk.length;
            if (failed || decodeError || input.destroyed) {
                failed = true;
                continue; // keep hashing: the reason must be about the bytes if they are wrong
            }
            if (!input.write(chunk)) {
                await new Promise<void>((resolve) => {
                    const done = () => {
                        input.off("drain", done);
                        resolve();
                    };
                    input.on("drain", done);
                    decoding.then(done);
                });
            }
        }
    } catch (e) {
        input.destroy();
        await decoding;
        throw e;
    }
    signal?.throwIfAborted();
    input.end();
    await decoding;
    signal?.throwIfAborted();
    return {
        sha256: hash.digest("hex"),
        bytes,
        decodedBytes,
        decodeError,
        data: to === "memory" && !decodeError ? Buffer.concat(mem) : undefined,
        seconds: (Date.now() - started) / 1000,
    };
}

/** sha256 and length of a stream (the Azure copy). */
export async function hashStream(body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
    const hash = createHash("sha256");
    let bytes = 0;
    for await (const chunk of body) {
        signal?.throwIfAborted();
        hash.update(chunk);
        bytes += chunk.length;
    }
    return { sha256: hash.digest("hex"), bytes };
}

/**
 * Stream a vault object through hashAndDecode. `open` is the vault's one reader at the object's pinned
 * version (vault/versions.ts openVersion); a missing object throws from it with `missing = true`.
 */
export async function fetchVaultObject(
    open: () => Promise<{ body: Readable; contentLength?: number }>,
    spec: DecodeSpec,
    to: string | "memory",
    signal?: AbortSignal,
    tee?: Writable,
): Promise<FetchResult & { contentLength?: number }> {
    const r = await open();
    const res = await hashAndDecode(r.body, spec, to, signal, tee);
    return { ...res, contentLength: r.contentLength };
}

/** A one-line description of a decode failure, for the verification reason. */
export function describeDecodeError(e: Error): string {
    if (e instanceof AgeError) return e.message;
    const code = (e as any).code as string | undefined;
    if (code?.startsWith("ERR_ZSTD") || code?.startsWith("ZSTD_") || /zstd/i.test(e.message)) return `zstd decompression failed (${e.message})`;
    if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR" || /unexpected end of file|incorrect header/i.test(e.message)) return `gzip decompression failed (${e.message})`;
    if (code === "ENOSPC") return `scratch space full while spooling (${e.message})`;
    return e.message;
}

/** Decoding errors that are about the bytes (a backup fault) rather than the verifier's machine. */
export function isDataDecodeError(e: Error): boolean {
    const code = (e as any).code as string | undefined;
    if (e instanceof AgeError) return true;
    if (code && /^(ERR_ZSTD|ZSTD_|Z_)/.test(code)) return true;
    return /zstd|unexpected end of file|incorrect header|invalid/i.test(e.message) && !/ENOSPC|EACCES|EIO/.test(code ?? "");
}
