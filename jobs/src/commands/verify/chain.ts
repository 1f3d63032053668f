// The hash chain from the last verified run to the target: each manifest links its predecessor's sha256,
// and the anchor's manifest must still have the bytes its passed record proved.
import type { DbManifest, VerifyRecord } from "@supabase-backups/contracts";
import { loadChain, type LoadedManifest, type RunRef } from "../../vault/runs";
import { check, short, type CheckResult } from "./checks";
import type { VerifySession } from "./session";

/** The chain check, and the target's manifest when the chain walk loaded it. */
export async function checkChain(s: VerifySession, target: RunRef): Promise<{ check: CheckResult; loaded?: LoadedManifest<DbManifest> }> {
    const t = Date.now();
    const anchor = await findAnchor(s, target);
    let chain;
    try {
        // With no anchor the whole listing is checked, open at its start (older runs expire by retention).
        // Each manifest at the version the job wrote: an overwrite (with a recomputed chain) cannot re-link it.
        chain = await loadChain<DbManifest>(s.s3, s.bucket, s.ctx.config.env, "db", { sinceRunId: anchor?.runId ?? "0", versions: s.versions });
    } catch (err) {
        if (err instanceof SyntaxError) return { check: check("chain", false, `a manifest in the chain is not valid JSON (${err.message})`, (Date.now() - t) / 1000) };
        throw err;
    }
    const loaded = chain.manifests.find((m) => m.ref.runId === target.runId);
    const problems = chain.breaks.filter((b) => b.runId <= target.runId).map((b) => `run ${b.runId} ${b.reason}`);
    if (anchor) {
        const a = chain.manifests.find((m) => m.ref.runId === anchor.runId);
        const proven = anchor.record.manifest?.sha256 ?? anchor.record.manifestSha256;
        if (a && proven && a.sha256 !== proven) {
            problems.unshift(`manifest of ${anchor.runId} changed since it was verified at ${anchor.record.verifiedAt} (sha256 ${short(a.sha256)} ≠ ${short(proven)})`);
        }
    }
    const span = chain.manifests.filter((m) => m.ref.runId <= target.runId).length;
    const detail = problems.length
        ? `hash chain broken: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`
        : `${span} run${span === 1 ? "" : "s"} linked${anchor ? ` back to ${anchor.runId}, verified ${anchor.record.verifiedAt}` : " back to the oldest run in the vault"}`;
    return { check: check("chain", problems.length === 0, detail, (Date.now() - t) / 1000), loaded };
}

/** The anchor: the newest earlier run with a passed record that still exists in the vault. */
async function findAnchor(s: VerifySession, target: RunRef): Promise<{ runId: string; record: VerifyRecord } | undefined> {
    for (const ref of [...s.complete].reverse()) {
        if (ref.runId >= target.runId) continue;
        const record = await s.records.passed(ref.runId);
        if (record) return { runId: ref.runId, record };
    }
    return undefined;
}
