// Which run to restore: --run, or the newest complete run at or before --at, preferring runs the verify
// job proved (and never picking one it found wrong unless asked by id). A run counts as verified only by
// a trusted record (verifications.ts: a valid signature once the stack signs records), and its manifest
// is read at the version that record pins — else at the version the job wrote (versions.ts), so an
// overwrite with a stolen writer token is never what a restore reads, only what it reports.
import type { S3Client } from "@aws-sdk/client-s3";
import { dbRunPrefix, runIdTime, storageRunPrefix, type DbManifest, type StorageManifest } from "@supabase-backups/contracts";
import { JobFailure, UsageError } from "../runtime/errors";
import { listCompleteRuns, loadManifest, type LoadedManifest, type RunKind, type RunRef } from "./runs";
import { parseInstant } from "../runtime/time";
import { loadVerifications, type Verification } from "./verifications";
import type { RecordTrust } from "./record-signing";
import { describeTampering, VersionIndex } from "./versions";

export interface Chosen<T> {
    loaded: LoadedManifest<T>;
    verification: Verification | undefined;
    /** one line: why this run */
    note: string;
    /** every version of the run's keys: `pin(key, recorded)` is the version to read */
    versions: VersionIndex;
    /** one line each: the run's keys overwritten since the job wrote them, its forged records */
    tampering: string[];
}

export function parseAt(at: string | undefined): Date | undefined {
    if (at === undefined) return undefined;
    if (at === "now") return new Date();
    return parseInstant(at, "--at");
}

/** Exactly one of --run and --at (a usage error before anything is read). */
export function requireRunOrAt(opts: { run?: string; at?: string }): void {
    if (opts.run && opts.at) throw new UsageError("give --run or --at, not both");
    if (!opts.run && !opts.at) throw new UsageError("which run? give --run ID or --at TIME (--at now for the newest)");
}

export async function chooseRun<T extends DbManifest | StorageManifest>(
    s3: S3Client,
    bucket: string,
    env: string,
    kind: RunKind,
    opts: { run?: string; at?: string; trust: RecordTrust },
): Promise<Chosen<T>> {
    requireRunOrAt(opts);
    const runs = await listCompleteRuns(s3, bucket, env, kind);
    const { byRun: verifications, forged } = kind === "db" ? await loadVerifications(s3, bucket, env, opts.trust) : { byRun: new Map<string, Verification>(), forged: [] };
    const { ref, note } = pickRun(runs, verifications, kind, env, opts);
    const pinned = await pinRun<T>(s3, bucket, env, kind, ref, verifications.get(ref.runId));
    const forgedHere = forged.filter((k) => k.includes(`/${ref.runId}/`)).map((k) => `${k}: verification record with an invalid signature (forged or altered): not trusted`);
    return { ...pinned, verification: verifications.get(ref.runId), note, tampering: [...pinned.tampering, ...forgedHere] };
}

/**
 * The run: as asked, or the newest at or before --at, verified ones first. `verifications` undefined: not
 * knowable where the runs are read (the Azure archive holds no verification records), said in the note.
 */
export function pickRun(
    runs: RunRef[],
    verifications: Map<string, Verification> | undefined,
    kind: RunKind,
    env: string,
    opts: { run?: string; at?: string },
    where = "the vault",
): { ref: RunRef; note: string } {
    const what = kind === "db" ? "database" : "storage";
    const unknown = kind === "db" && !verifications ? `, verification unknown (its records are in the vault)` : "";
    if (opts.run) {
        const ref = runs.find((r) => r.runId === opts.run);
        if (!ref) throw new JobFailure(`${what} run ${opts.run} has no manifest in ${where} for env ${env}: it is incomplete, expired or does not exist`);
        const v = verifications?.get(ref.runId);
        const note =
            kind !== "db" || !verifications ? `run ${ref.runId} (as asked)${unknown}` : v?.result === "passed" ? `run ${ref.runId} (as asked), verified ${v.verifiedAt}` : v?.result === "failed" ? `run ${ref.runId} (as asked) — WARNING: its verification FAILED (${v.reason ?? "no reason"})` : `run ${ref.runId} (as asked), not verified`;
        return { ref, note };
    }
    const at = parseAt(opts.at)!;
    const candidates = runs.filter((r) => runIdTime(r.runId) <= at);
    if (candidates.length === 0) {
        throw new JobFailure(
            runs.length === 0 ? `no complete ${what} run in ${where} for env ${env}` : `no complete ${what} run at or before ${at.toISOString()} (the oldest is ${runs[0].runId})`,
        );
    }
    const newest = candidates[candidates.length - 1];
    if (kind !== "db" || !verifications) return { ref: newest, note: `newest complete run at or before ${at.toISOString()}: ${newest.runId}${unknown}` };

    const state = (r: RunRef) => verifications.get(r.runId)?.result;
    const usable = candidates.filter((r) => state(r) !== "failed");
    const verified = usable.filter((r) => state(r) === "passed");
    const skippedFailed = candidates.filter((r) => state(r) === "failed" && r.runId > (verified.at(-1)?.runId ?? "")).map((r) => r.runId);
    const failedNote = skippedFailed.length ? `; skipped run(s) whose verification failed: ${skippedFailed.join(", ")}` : "";
    if (verified.length) {
        const pick = verified[verified.length - 1];
        const note =
            pick.runId === newest.runId
                ? `newest complete run at or before ${at.toISOString()}: ${pick.runId}, verified ${verifications.get(pick.runId)!.verifiedAt}`
                : `preferring verified run ${pick.runId} (verified ${verifications.get(pick.runId)!.verifiedAt}) over newer unverified run(s) ${usable
                      .filter((r) => r.runId > pick.runId)
                      .map((r) => r.runId)
                      .join(", ") || "-"}; pass --run to restore a newer one${failedNote}`;
        return { ref: pick, note };
    }
    if (usable.length) {
        const pick = usable[usable.length - 1];
        return { ref: pick, note: `no verified run at or before ${at.toISOString()}: using the newest complete run ${pick.runId}, NOT verified${failedNote}` };
    }
    throw new JobFailure(`every complete run at or before ${at.toISOString()} failed verification (${candidates.map((r) => r.runId).join(", ")}); pass --run ID to restore one anyway`);
}

/**
 * The run's manifest at the version its trusted record pins (else the one the job wrote), checked
 * against the record's sha256; and which of the run's keys were overwritten since.
 */
async function pinRun<T extends DbManifest | StorageManifest>(
    s3: S3Client,
    bucket: string,
    env: string,
    kind: RunKind,
    ref: RunRef,
    v: Verification | undefined,
): Promise<Omit<Chosen<T>, "verification" | "note">> {
    const versions = await VersionIndex.load(s3, bucket, kind === "db" ? dbRunPrefix(env, ref.runId) : storageRunPrefix(env, ref.runId));
    const recorded = v?.manifest?.key === ref.manifestKey ? v.manifest.versionId : undefined;
    const loaded = await loadManifest<T>(s3, bucket, ref, versions.pin(ref.manifestKey, recorded).versionId);
    const provenSha = v?.manifest?.sha256 ?? v?.manifestSha256;
    if (v && provenSha && loaded.sha256 !== provenSha) {
        throw new JobFailure(
            `the manifest of ${ref.runId} read from the vault (sha256 ${loaded.sha256.slice(0, 12)}…) is not the one verified ${v.verifiedAt} (${provenSha.slice(0, 12)}…): refusing to restore it; the vault does not keep the verified version`,
        );
    }
    const keys: Array<[string, string | null | undefined]> = [[ref.manifestKey, recorded]];
    if (kind === "db") for (const o of (loaded.manifest as DbManifest).objects ?? []) keys.push([o.key, o.versionId]);
    const tampering = keys.map(([k, rec]) => versions.tampering(k, rec)).filter((t) => !!t).map((t) => describeTampering(t!));
    return { loaded, versions, tampering };
}
