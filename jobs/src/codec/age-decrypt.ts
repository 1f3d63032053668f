// Streaming age (v1, binary) decryption for the verifier. The header (recipient stanzas, MAC) is
// unwrapped by `age-encryption` with the verifier's identity; the payload — nearly all of the bytes —
// is decrypted here with Node's native ChaCha20-Poly1305 (OpenSSL), about 15× faster than the pure-JS
// STREAM of `age-encryption` (≈60 MB/s on the CI cores), which would otherwise dominate a verify.
//
// Payload format (age spec, "Payload"): 16-byte nonce, payload key = HKDF-SHA-256(file key, nonce,
// "payload"), then STREAM chunks of 64 KiB plaintext + 16-byte tag, each with a 12-byte nonce made of
// an 11-byte big-endian counter and a last-chunk flag byte. A truncation on a chunk boundary fails
// because the new last chunk was sealed with flag 0.
import { createDecipheriv, hkdfSync } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

const CHUNK = 64 * 1024;
const TAG = 16;
const CT_CHUNK = CHUNK + TAG;
const NONCE = 16;
const MAX_HEADER = 64 * 1024;

/** Thrown for anything wrong with the encrypted bytes or the identity; `kind` says which. */
export class AgeError extends Error {
    constructor(
        message: string,
        readonly kind: "identity" | "header" | "payload" | "truncated",
    ) {
        super(message);
        this.name = "AgeError";
    }
}

type AgeModule = typeof import("age-encryption");
let ageModule: Promise<AgeModule> | undefined;
/** `age-encryption` is ESM-only: loaded lazily. */
export function loadAge(): Promise<AgeModule> {
    ageModule ??= import("age-encryption");
    return ageModule;
}

/** The public key (`age1…`) of an identity (`AGE-SECRET-KEY-1…`), for messages. */
export async function recipientOf(identity: string): Promise<string> {
    const age = await loadAge();
    return age.identityToRecipient(identity.trim());
}

/** Unwrap the file key from a header (bytes up to and including the MAC line's newline). */
async function unwrapFileKey(header: Buffer, identity: string): Promise<Uint8Array> {
    const age = await loadAge();
    const d = new age.Decrypter();
    try {
        d.addIdentity(identity.trim());
    } catch (e) {
        throw new AgeError(`AGE_IDENTITY is not an age identity (${(e as Error).message})`, "identity");
    }
    try {
        return await d.decryptHeader(new Uint8Array(header.buffer, header.byteOffset, header.length));
    } catch (e) {
        const msg = (e as Error).message;
        if (/no identity matched/i.test(msg)) throw new AgeError("the verifier's age identity cannot decrypt it (no identity matched any of its recipients)", "identity");
        throw new AgeError(`age header invalid: ${msg}`, "header");
    }
}

function chunkNonce(counter: number, last: boolean): Buffer {
    const n = Buffer.alloc(12);
    // 11-byte big-endian counter; 48 bits are plenty (2^48 chunks of 64 KiB).
    n.writeUIntBE(counter, 5, 6);
    n[11] = last ? 1 : 0;
    return n;
}

/**
 * A Transform from age ciphertext to plaintext. Errors are AgeError. Output chunks are batched
 * (up to ~1 MiB) to keep downstream writes large.
 */
export class AgeDecryptStream extends Transform {
    private state: "header" | "nonce" | "payload" = "header";
    private buf: Buffer = Buffer.alloc(0);
    /** input not yet merged into `buf`: merged in ~1 MiB batches (fewer copies, fewer cipher setups per call) */
    private pending: Buffer[] = [];
    private pendingBytes = 0;
    private key?: Buffer;
    private fileKey?: Uint8Array;
    private counter = 0;
    private sawChunk = false;

    constructor(private readonly identity: string) {
        super({ readableHighWaterMark: 1 << 20 });
    }

    private merge(): void {
        if (!this.pendingBytes) return;
        this.buf = Buffer.concat(this.buf.length ? [this.buf, ...this.pending] : this.pending);
        this.pending = [];
        this.pendingBytes = 0;
    }

    override _transform(data: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
        this.pending.push(data);
        this.pendingBytes += data.length;
        if (this.state === "payload" && this.pendingBytes < 1 << 20) return cb();
        this.merge();
        this.advance(false).then(() => cb(), (e) => cb(e));
    }

    override _flush(cb: TransformCallback): void {
        this.merge();
        this.advance(true).then(() => cb(), (e) => cb(e));
    }

    private async advance(ended: boolean): Promise<void> {
        if (this.state === "header") {
            const end = headerEnd(this.buf);
            if (end < 0) {
                if (this.buf.length > MAX_HEADER || ended) {
                    if (ended && this.buf.length === 0) throw new AgeError("empty file where an age file was expected", "truncated");
                    if (!this.buf.subarray(0, 22).toString("latin1").startsWith("age-encryption.org/v1")) {
                        throw new AgeError(
                            this.buf.subarray(0, 10).toString("latin1").startsWith("-----BEGIN")
                                ? "armored age files are not supported (the dump job writes binary age)"
                                : "not an age file (no age-encryption.org/v1 header)",
                            "header",
                        );
                    }
                    throw new AgeError(ended ? "age header is truncated" : "age header too long", ended ? "truncated" : "header");
                }
                return;
            }
            const header = this.buf.subarray(0, end);
            this.buf = this.buf.subarray(end);
            this.fileKey = await unwrapFileKey(header, this.identity);
            this.state = "nonce";
        }
        if (this.state === "nonce") {
            if (this.buf.length < NONCE) {
                if (ended) throw new AgeError("age payload is truncated (no nonce)", "truncated");
                return;
            }
            const nonce = this.buf.subarray(0, NONCE);
            this.key = Buffer.from(hkdfSync("sha256", this.fileKey!, nonce, "payload", 32));
            this.fileKey = undefined;
            this.buf = this.buf.subarray(NONCE);
            this.state = "payload";
        }
        // Keep at least one byte beyond a full chunk before deciding a chunk is not the last one.
        const out: Buffer[] = [];
        let outBytes = 0;
        let off = 0;
        while (this.buf.length - off > CT_CHUNK) {
            out.push(this.open(this.buf.subarray(off, off + CT_CHUNK), false));
            outBytes += CHUNK;
            off += CT_CHUNK;
            if (outBytes >= 1 << 20) {
                this.push(Buffer.concat(out));
                out.length = 0;
                outBytes = 0;
            }
        }
        if (ended) {
            const rest = this.buf.subarray(off);
            off = this.buf.length;
            if (rest.length < TAG || (rest.length === TAG && this.sawChunk)) {
                throw new AgeError(`age payload is truncated (${rest.length ? "short" : "no"} final chunk)`, "truncated");
            }
            out.push(this.open(rest, true));
        }
        if (out.length) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
        this.buf = off === 0 ? this.buf : Buffer.from(this.buf.subarray(off));
    }

    private open(chunk: Buffer, last: boolean): Buffer {
        const d = createDecipheriv("chacha20-poly1305", this.key!, chunkNonce(this.counter, last), { authTagLength: TAG });
        d.setAuthTag(chunk.subarray(chunk.length - TAG));
        const plain = d.update(chunk.subarray(0, chunk.length - TAG));
        try {
            d.final();
        } catch {
            throw new AgeError(
                last
                    ? `age payload chunk ${this.counter} failed authentication (corrupt, or truncated on a chunk boundary)`
                    : `age payload chunk ${this.counter} failed authentication (corrupt)`,
                "payload",
            );
        }
        this.counter++;
        this.sawChunk = true;
        return plain;
    }
}

/** Index just past the header's MAC line (`--- <mac>\n`), or -1 when not yet buffered. */
function headerEnd(buf: Buffer): number {
    let from = 0;
    for (;;) {
        const i = buf.indexOf("\n---", from, "latin1");
        if (i < 0) return -1;
        // a stanza body line never starts with "---"; the MAC line is "--- " + base64
        if (buf[i + 4] === 0x20) {
            const nl = buf.indexOf(0x0a, i + 5);
            return nl < 0 ? -1 : nl + 1;
        }
        if (i + 4 >= buf.length) return -1;
        from = i + 1;
    }
}
