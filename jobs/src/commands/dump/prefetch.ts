// The small objects (schema.sql, roles.sql) are produced while the data dump runs, not after it: their
// tools take seconds of catalog queries that need not add to the run's time. Their output is held in
// memory and stored only after the data dump has committed, so a failed dump still leaves no stored
// object behind. Output larger than the cap, or a tool that fails, is not kept: the caller runs the
// tool again at its turn, streaming, which reports the failure as before.
import { Readable } from "node:stream";
import type { DumpProcess } from "../../postgres/client-tools";
import type { Producer } from "./transfer";

/** schema.sql of a Supabase project is well under 1 MiB; beyond this, stream it at its turn instead. */
export const PREFETCH_CAP = 16 * 1024 * 1024;

/** A finished tool's output as a producer. */
export function heldOutput(data: Buffer): Producer {
    return { stdout: Readable.from([data]), exited: Promise.resolve(), child: { kill: () => true } };
}

/** Run a small dump tool to its end into memory. Undefined: it failed, or wrote more than `cap`. Never rejects. */
export async function prefetch(p: DumpProcess, cap = PREFETCH_CAP): Promise<Producer | undefined> {
    const chunks: Buffer[] = [];
    let n = 0;
    try {
        for await (const c of p.stdout) {
            const chunk = c as Buffer;
            n += chunk.length;
            if (n > cap) {
                p.child.kill("SIGTERM");
                return undefined;
            }
            chunks.push(chunk);
        }
        await p.exited;
        return heldOutput(Buffer.concat(chunks, n));
    } catch {
        return undefined;
    }
}
