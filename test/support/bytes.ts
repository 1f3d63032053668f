import { createHash } from "node:crypto";

/** Deterministic pseudo-random (incompressible) bytes: the same seed gives the same content. */
export function bytesOf(seed: string, n: number): Buffer {
    const out = Buffer.alloc(n);
    let block = createHash("sha256").update(seed).digest();
    for (let i = 0; i < n; i += 32) {
        block.copy(out, i, 0, Math.min(32, n - i));
        block = createHash("sha256").update(block).digest();
    }
    return out;
}
