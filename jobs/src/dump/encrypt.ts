// Streaming age encryption to a recipient (age-encryption, the reference TypeScript implementation):
// the output is a standard age file (`age -d -i key.txt`), produced chunk by chunk (64 KiB STREAM
// chunks), never held whole.
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

// age-encryption is ESM-only; load it lazily so commands that never encrypt never pay for it.
async function loadAge(): Promise<typeof import("age-encryption")> {
    return import("age-encryption");
}

export async function ageEncrypt(input: Readable, recipient: string): Promise<Readable> {
    const age = await loadAge();
    const e = new age.Encrypter();
    e.addRecipient(recipient);
    const web = Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>;
    const out = await e.encrypt(web);
    return Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>, { highWaterMark: 4 });
}

/** Validate a recipient early (a typo must be a usage error, not a failed night). */
export async function checkRecipient(recipient: string): Promise<void> {
    const age = await loadAge();
    const e = new age.Encrypter();
    e.addRecipient(recipient);
    await e.encrypt(new Uint8Array(0));
}
