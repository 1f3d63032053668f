// Which run to restore: --run, or the newest complete run at or before --at, preferring runs the verify
// job proved (and never picking one it found wrong unless asked by id).
import type { S3Client } from "@aws-sdk/client-s3";
import { runIdTime, type DbManifest, type StorageManifest } from "@supabase-backups/contracts";
import { JobFailure, UsageError } from "../runtime/errors";
import { listCompleteRuns, loadManifest, type LoadedManifest, type RunKind, type RunRef } from "./runs";
import { parseInstant } from "../runtime/time";
import { loadVerifications, type Verification } from "./verifications";

export interface Chosen<T> {
    loaded: LoadedManifest<T>;
    verification: Verification | undefined;
    /** one line: why this run */
    note: string;
}

export function parseAt(at: string | undefined): Date | undefined {
    if (at === undefined) return undefined;
    if (at === "now") return new Date();
    return parseInstant(at, "--at");
}

export async function chooseRun<T extends DbManifest | StorageManifest>(
    s3: S3Client,
    bucket: string,
    env: string,
    kind: RunKind,
    opts: { run?: string; at?: string },
): Promise<Chosen<T>> {
    if (opts.run && opts.at) throw new UsageError("give --run or --at, not both");
    if (!opts.run && !opts.at) throw new UsageError("which run? give --run ID or --at TIME (--at now for the newest)");
    const runs = await listCompleteRuns(s3, bucket, env, kind);
    const verifications = kind === "db" ? await loadVerifications(s3, bucket, env) : new Map<string, Verification>();
    const what = kind === "db" ? "database" : "storage";
    if (opts.run) {
        const ref = runs.find((r) => r.runId === opts.run);
        if (!ref) throw new JobFailure(`${what} run ${opts.run} has no manifest in the vault for env ${env}: it is incomplete, expired or does not exist`);
        const v = verifications.get(ref.runId);
        const note =
            kind !== "db" ? `run ${ref.runId} (as asked)` : v?.result === "passed" ? `run ${ref.runId} (as asked), verified ${v.verifiedAt}` : v?.result === "failed" ? `run ${ref.runId} (as asked) — WARNING: its verification FAILED (${v.reason ?? "no reason"})` : `run ${ref.runId} (as asked), not verified`;
        return { loaded: await loadManifest<T>(s3, bucket, ref), verification: v, note };
    }
    const at = parseAt(opts.at)!;
    const candidates = runs.filter((r) => runIdTime(r.runId) <= at);
    if (candidates.length === 0) {
        throw new JobFailure(
            runs.length === 0 ? `no complete ${what} run in the vault for env ${env}` : `no complete ${what} run at or before ${at.toISOString()} (the oldest is ${runs[0].runId})`,
        );
    }
    const newest = candidates[candidates.length - 1];
    if (kind !== "db") return { loaded: await loadManifest<T>(s3, bucket, newest), verification: undefined, note: `newest complete run at or before ${at.toISOString()}: ${newest.runId}` };

    const state = (r: RunRef) => verifications.get(r.runId)?.result;
    const usable = candidates.filter((r) => state(r) !== "failed");
    const verified = usable.filter((r) => state(r) === "passed");
    let pick: RunRef;
    let note: string;
    const skippedFailed = candidates.filter((r) => state(r) === "failed" && r.runId > (verified.at(-1)?.runId ?? "")).map((r) => r.runId);
    const failedNote = skippedFailed.length ? `; skipped run(s) whose verification failed: ${skippedFailed.join(", ")}` : "";
    if (verified.length) {
        pick = verified[verified.length - 1];
        note =
            pick.runId === newest.runId
                ? `newest complete run at or before ${at.toISOString()}: ${pick.runId}, verified ${verifications.get(pick.runId)!.verifiedAt}`
                : `preferring verified run ${pick.runId} (verified ${verifications.get(pick.runId)!.verifiedAt}) over newer unverified run(s) ${usable
                      .filter((r) => r.runId > pick.runId)
                      .map((r) => r.runId)
                      .join(", ") || "-"}; pass --run to restore a newer one${failedNote}`;
    } else if (usable.length) {
        pick = usable[usable.length - 1];
        note = `no verified run at or before ${at.toISOString()}: using the newest complete run ${pick.runId}, NOT verified${failedNote}`;
    } else {
        throw new JobFailure(`every complete run at or before ${at.toISOString()} failed verification (${candidates.map((r) => r.runId).join(", ")}); pass --run ID to restore one anyway`);
    }
    return { loaded: await loadManifest<T>(s3, bucket, pick), verification: verifications.get(pick.runId), note };
}
