// The hash chain over runs: each manifest records the sha256 of the previous run's manifest bytes.
// Pure: given manifests in run order, say where the chain holds and where it breaks.
import { createHash } from "node:crypto";

export interface ChainEntry {
    runId: string;
    /** sha256 of this manifest's stored bytes */
    sha256: string;
    /** what this manifest says the previous run was */
    previous: { runId: string; sha256: string } | null;
    /**
     * the manifest exists but is archived (S3 GLACIER, Azure Archive: unreadable until restored), so its
     * bytes and its own link are unknown: its link is not checked, and the next run's link to it is
     * checked by run id only (issue 17: never a break, never proof either)
     */
    archived?: boolean;
}

export interface ChainBreak {
    /** the run whose `previous` link does not hold */
    runId: string;
    reason: string;
    /** the run whose manifest bytes are proven altered (its successor links other bytes, or it claims another run) */
    altered?: string;
}

/**
 * Check links between consecutive complete runs (sorted by runId). The first run may have
 * `previous: null`, or point at a run older than the listing's window (`allowOpenStart`).
 */
export function checkChain(entries: ChainEntry[], opts: { allowOpenStart?: boolean } = {}): ChainBreak[] {
    const sorted = [...entries].sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
    const breaks: ChainBreak[] = [];
    const byId = new Map(sorted.map((e) => [e.runId, e]));
    sorted.forEach((e, i) => {
        const prev = i > 0 ? sorted[i - 1] : undefined;
        if (e.archived) return;
        if (!prev) {
            if (e.previous && !opts.allowOpenStart && !byId.has(e.previous.runId)) {
                breaks.push({ runId: e.runId, reason: `previous run ${e.previous.runId} is missing from the vault` });
            }
            return;
        }
        if (!e.previous) {
            breaks.push({ runId: e.runId, reason: `records no previous run, but ${prev.runId} precedes it` });
        } else if (e.previous.runId !== prev.runId) {
            const reason = byId.has(e.previous.runId)
                ? `links to ${e.previous.runId}, but ${prev.runId} precedes it (a run was inserted)`
                : `links to ${e.previous.runId}, which is missing from the vault`;
            breaks.push({ runId: e.runId, reason });
        } else if (!prev.archived && e.previous.sha256 !== prev.sha256) {
            breaks.push({ runId: e.runId, reason: `manifest of ${prev.runId} was altered (sha256 ${prev.sha256.slice(0, 12)}… ≠ recorded ${e.previous.sha256.slice(0, 12)}…)`, altered: prev.runId });
        }
    });
    return breaks;
}

/** The exact bytes a manifest or record is stored as: the hash chain is over these. */
export function serializeRecord(value: unknown): Buffer {
    return Buffer.from(JSON.stringify(value, null, 2) + "\n", "utf8");
}

export function sha256Hex(data: Buffer | string): string {
    return createHash("sha256").update(data).digest("hex");
}
