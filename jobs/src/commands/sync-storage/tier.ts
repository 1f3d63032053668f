// The run's retention tier, chosen from the complete runs of the widest active period (every shard
// derives the same answer from the run id's time), with the storage retention: per tier the longest of
// the environment and every bucket override (contracts/bucket-retention.ts), since one run holds every
// bucket.
import type { S3Client } from "@aws-sdk/client-s3";
import { activeTiers, chooseTier, retainUntil, runIdTime, storageRetention, storageTierTag, TIER_RANK, type JobConfig, type Tier, type TierTag } from "@supabase-backups/contracts";
import type { RunRef } from "../../vault/runs";
import { readRunHeader } from "../../vault/storage-runs";

/** Start (UTC) of the period of the widest active tier containing `d`: older runs cannot fill a period. */
export function widestPeriodStart(d: Date, tiers: readonly Tier[]): Date {
    const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
    const widest = [...tiers].sort((a, b) => TIER_RANK[b] - TIER_RANK[a])[0] ?? "daily";
    switch (widest) {
        case "yearly":
            return new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
        case "monthly":
            return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
        case "weekly":
            return new Date(day.getTime() - ((day.getUTCDay() + 6) % 7) * 86_400_000);
        default:
            return day;
    }
}

/** Tier of this run from the headers of the complete runs in the widest active period. */
export async function runTier(s3: S3Client, bucket: string, earlier: RunRef[], runTime: Date, cfg: JobConfig): Promise<Tier> {
    const policy = storageRetention(cfg);
    const since = widestPeriodStart(runTime, activeTiers(policy));
    const relevant = earlier.filter((r) => runIdTime(r.runId) >= since);
    const headers = [];
    for (let i = 0; i < relevant.length; i += 8) headers.push(...(await Promise.all(relevant.slice(i, i + 8).map((r) => readRunHeader(s3, bucket, r)))));
    // Periods are counted by run id time (what every shard agrees on), not by wall-clock start.
    // (an archived manifest without a readable tier tag gives no header: it fills no period)
    const known = headers.filter((x) => x !== undefined);
    return chooseTier(runTime, known.map((x) => ({ tier: x.tier, startedAt: runIdTime(x.runId) })), policy);
}

/** The run's retain-until: as long as its longest-kept bucket needs it for this tier. */
export function runRetainUntil(runTime: Date, tier: Tier, cfg: JobConfig): Date {
    return retainUntil(runTime, tier, storageRetention(cfg));
}

/** The `tier` tag of the run's manifests: `storage-<tier>` where a bucket keeps this tier longer than the environment. */
export function runTierTag(tier: Tier, cfg: JobConfig): TierTag {
    return storageTierTag(tier, cfg.retention, storageRetention(cfg));
}
