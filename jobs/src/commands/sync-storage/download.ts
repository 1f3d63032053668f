// Download one object, hashing sha256 (its blob key) and md5 (to check the eTag) on the way, and check
// the bytes against the row. The key is known only at the end, so the bytes are held until the upload:
// small objects in one buffer of the declared size, the rest spooled to a scratch file.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { finished } from "node:stream/promises";
import { SourceError, type SourceObject, type StorageSource } from "../../supabase/storage-source";

/** The verified bytes of one object: in `buffer`, or in `file` (the caller removes it). */
export interface Fetched {
    sha256: string;
    size: number;
    buffer?: Buffer;
    file?: string;
}

export interface FetchOptions {
    signal: AbortSignal;
    /** objects whose row declares at most this size are buffered in memory */
    memoryThreshold: number;
    /** abort (as transient) a download that sends no byte for this long */
    stallMs: number;
    /** a fresh scratch file path for a spooled object */
    spoolPath: () => string;
}

class IntegrityError extends Error {}

/** `"d41d8…"` / `W/"…"` → the md5 hex when the eTag is a plain single-part md5, else undefined. */
export function md5FromETag(eTag: string | null | undefined): string | undefined {
    if (!eTag) return undefined;
    const m = /^(?:W\/)?"?([0-9a-f]{32})"?$/i.exec(eTag.trim());
    return m ? m[1].toLowerCase() : undefined;
}

/** Both digests and the byte count, fed chunk by chunk. */
class Digests {
    readonly sha = createHash("sha256");
    readonly md5 = createHash("md5");
    size = 0;
    update(b: Buffer): void {
        this.sha.update(b);
        this.md5.update(b);
        this.size += b.length;
    }
}

type Body = AsyncIterable<Uint8Array>;

/** Re-armed on every chunk; fires by destroying the body with a transient error, so the attempt is retried. */
class StallTimer {
    private timer: NodeJS.Timeout | undefined;
    constructor(
        private readonly body: Body,
        private readonly ms: number,
        private readonly what: string,
    ) {}
    arm(): void {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => (this.body as any).destroy?.(new SourceError(`${this.what}: no data for ${this.ms / 1000} s`, "transient")), this.ms);
    }
    stop(): void {
        clearTimeout(this.timer);
    }
}

const asBuffer = (chunk: Uint8Array) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);

async function readInto(body: Body, buffer: Buffer, d: Digests, stall: StallTimer, o: SourceObject): Promise<void> {
    for await (const chunk of body) {
        stall.arm();
        const b = asBuffer(chunk);
        d.update(b);
        if (d.size > buffer.length) throw new IntegrityError(`${o.bucket}/${o.name}: got more bytes than the ${o.size} its row declares`);
        b.copy(buffer, d.size - b.length);
    }
}

async function spoolTo(body: Body, file: string, d: Digests, stall: StallTimer): Promise<void> {
    const out = createWriteStream(file);
    try {
        for await (const chunk of body) {
            stall.arm();
            const b = asBuffer(chunk);
            d.update(b);
            if (!out.write(b)) await new Promise<void>((r) => out.once("drain", () => r()));
        }
    } finally {
        out.end();
        await finished(out).catch(() => undefined);
    }
}

/** Download `o` and check it against its row (size) and its eTag (md5, when single-part). */
export async function fetchVerified(source: StorageSource, o: SourceObject, opts: FetchOptions): Promise<Fetched> {
    const d = await source.get(o.bucket, o.name, opts.signal);
    const stall = new StallTimer(d.body, opts.stallMs, `${o.bucket}/${o.name}`);
    stall.arm();
    const digests = new Digests();
    const inMemory = o.size !== null && o.size <= opts.memoryThreshold;
    // One allocation of the declared size; the bytes are copied in as they arrive.
    const buffer = inMemory ? Buffer.allocUnsafe(o.size!) : undefined;
    let file: string | undefined;
    try {
        if (buffer) await readInto(d.body, buffer, digests, stall, o);
        else await spoolTo(d.body, (file = opts.spoolPath()), digests, stall);
        stall.stop();
        const size = digests.size;
        if (o.size !== null && size !== o.size) throw new IntegrityError(`${o.bucket}/${o.name}: got ${size} bytes, its row declares ${o.size}`);
        const md5Hex = digests.md5.digest("hex");
        const promised = md5FromETag(o.eTag);
        if (promised && promised !== md5Hex) throw new IntegrityError(`${o.bucket}/${o.name}: bytes do not match the eTag ${o.eTag} (md5 ${md5Hex})`);
        return { sha256: digests.sha.digest("hex"), size, buffer, file };
    } catch (e) {
        stall.stop();
        if (file) await rm(file, { force: true });
        // Drain nothing further: destroy the source stream so the connection is released.
        (d.body as any).destroy?.();
        throw e;
    }
}
