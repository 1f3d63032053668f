// Streaming age encryption to a recipient. The header (X25519 recipient stanza, header MAC) comes from
// `age-encryption`, the reference TypeScript implementation; the payload — the STREAM construction,
// 64 KiB ChaCha20-Poly1305 chunks — is encrypted with Node's native cipher, several times faster than the
// library's pure-JS one. The output is a standard age file (`age -d -i key.txt`), produced chunk by
// chunk, never held whole. Before use, the native path proves it derives the library's own keys: it
// re-encrypts the library's (empty) payload and must get the same bytes; otherwise it falls back to the
// library's streaming encryption.
import { createCipheriv, hkdfSync, timingSafeEqual } from "node:crypto";
import { Readable, Transform, type TransformCallback } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

// age-encryption is ESM-only; load it lazily so commands that never encrypt never pay for it.
async function loadAge(): Promise<typeof import("age-encryption")> {
    return import("age-encryption");
}

const CHUNK = 64 * 1024;
const TAG = 16;

function chunkNonce(counter: bigint, last: boolean): Buffer {
    const n = Buffer.alloc(12);
    let c = counter;
    for (let i = 10; i >= 0; i--) {
        n[i] = Number(c & 0xffn);
        c >>= 8n;
    }
    n[11] = last ? 1 : 0;
    return n;
}

function sealChunk(key: Buffer, counter: bigint, last: boolean, plain: Buffer): Buffer {
    const c = createCipheriv("chacha20-poly1305", key, chunkNonce(counter, last), { authTagLength: TAG });
    const body = c.update(plain);
    c.final();
    return Buffer.concat([body, c.getAuthTag()]);
}

/** The age STREAM payload encryption as a Transform: holds one chunk back to know which one is last. */
class StreamSeal extends Transform {
    private counter = 0n;
    private pending: Buffer[] = [];
    private pendingBytes = 0;
    private held?: Buffer;

    constructor(
        private readonly key: Buffer,
        private readonly prefix: Buffer,
    ) {
        super({ readableHighWaterMark: 4 * CHUNK });
        this.push(prefix);
    }

    private takeBytes(n: number): Buffer {
        const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
        const out = all.subarray(0, n);
        const rest = all.subarray(n);
        this.pending = rest.length ? [rest] : [];
        this.pendingBytes = rest.length;
        return out;
    }

    _transform(data: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
        this.pending.push(data);
        this.pendingBytes += data.length;
        // A full chunk is sealed (as not-last) only once a byte after it is known to exist.
        while (this.pendingBytes > CHUNK || (this.held && this.pendingBytes > 0)) {
            if (this.held) {
                this.push(sealChunk(this.key, this.counter++, false, this.held));
                this.held = undefined;
            }
            if (this.pendingBytes >= CHUNK) this.held = Buffer.from(this.takeBytes(CHUNK));
            else break;
        }
        cb();
    }

    _flush(cb: TransformCallback): void {
        if (this.held && this.pendingBytes > 0) {
            this.push(sealChunk(this.key, this.counter++, false, this.held));
            this.held = undefined;
        }
        const last = this.held ?? this.takeBytes(this.pendingBytes);
        this.push(sealChunk(this.key, this.counter++, true, Buffer.from(last)));
        cb();
    }
}

interface NativeSetup {
    key: Buffer;
    prefix: Buffer;
}

/** Header and payload key for one file, or undefined when the library's internals are not as expected. */
async function nativeSetup(recipient: string): Promise<NativeSetup | undefined> {
    const age = await loadAge();
    const e = new age.Encrypter();
    e.addRecipient(recipient);
    const list = (e as unknown as { recipients?: Array<{ wrapFileKey(k: Uint8Array): unknown }> }).recipients;
    if (!Array.isArray(list) || list.length !== 1 || typeof list[0]?.wrapFileKey !== "function") return undefined;
    const inner = list[0];
    let fileKey: Uint8Array | undefined;
    list[0] = {
        wrapFileKey(k: Uint8Array) {
            fileKey = new Uint8Array(k);
            return inner.wrapFileKey(k);
        },
    };
    // An empty file: header ‖ 16-byte nonce ‖ the sealed empty last chunk (16 bytes of tag).
    const empty = Buffer.from(await e.encrypt(new Uint8Array(0)));
    if (!fileKey || fileKey.length !== 16 || empty.length < 48) return undefined;
    const prefix = empty.subarray(0, empty.length - TAG);
    const nonce = prefix.subarray(prefix.length - 16);
    const key = Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
    const check = sealChunk(key, 0n, true, Buffer.alloc(0));
    if (!timingSafeEqual(check, empty.subarray(empty.length - TAG))) return undefined;
    return { key, prefix: Buffer.from(prefix) };
}

export async function ageEncrypt(input: Readable, recipient: string): Promise<Readable> {
    const native = await nativeSetup(recipient);
    if (native) {
        const seal = new StreamSeal(native.key, native.prefix);
        input.on("error", (e) => seal.destroy(e));
        return input.pipe(seal);
    }
    const age = await loadAge();
    const e = new age.Encrypter();
    e.addRecipient(recipient);
    const web = Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>;
    const out = await e.encrypt(web);
    return Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>, { highWaterMark: 4 });
}

/** The library's own streaming encryption (the fallback), for tests. */
export async function ageEncryptWithLibrary(input: Readable, recipient: string): Promise<Readable> {
    const age = await loadAge();
    const e = new age.Encrypter();
    e.addRecipient(recipient);
    const out = await e.encrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
    return Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>, { highWaterMark: 4 });
}

/** Is the native path in use for this recipient (false: the library's pure-JS STREAM)? */
export async function nativeEncryptionAvailable(recipient: string): Promise<boolean> {
    return !!(await nativeSetup(recipient));
}

/** Validate a recipient early (a typo must be a usage error, not a failed night). */
export async function checkRecipient(recipient: string): Promise<void> {
    const age = await loadAge();
    const e = new age.Encrypter();
    e.addRecipient(recipient);
    await e.encrypt(new Uint8Array(0));
}
