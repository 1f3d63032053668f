// Per-bucket retention (storage.buckets[].retention): a bucket may keep some tiers longer than the
// environment (the runbooks' plan keeps `public-assets` 8 weekly where the environment keeps 4).
//
// A storage run is ONE manifest for every bucket (buckets a run did not sync are carried over from the
// previous run), and its blobs are locked to the run's retain-until. So a run is kept as long as its
// longest-kept bucket needs: the run's tier is chosen, locked and expired with the storage retention —
// per tier the longest of the environment and every bucket override. An override can therefore only
// lengthen: one below the environment's count (the pack's floor) or below the Object Lock minimum would
// promise less than the lock and the other buckets of the same run keep, and is refused.
//
// Lifecycle: where the storage retention keeps a tier longer than the environment, storage run objects of
// that tier are tagged `tier=storage-<tier>` (their own lifecycle rule, expiring with the storage
// retention) instead of `tier=<tier>`, whose rule expires the dumps of that tier with the environment's
// count. Where no override lengthens a tier, nothing changes: `tier=<tier>`.
import { Type, type Static } from "@sinclair/typebox";
import { activeTiers, lifecycleExpiryDays, tierKeep, TIERS, type RetentionPolicy, type Tier } from "./retention";

const count = (max: number, what: string) => Type.Optional(Type.Integer({ minimum: 0, maximum: max, description: `${what} kept for this bucket; default retention.${what.split(" ")[0]}` }));

export const BucketRetentionSchema = Type.Object(
    {
        daily: count(3660, "daily runs"),
        weekly: count(520, "weekly runs"),
        monthly: count(240, "monthly runs"),
        yearly: count(100, "yearly runs"),
    },
    {
        additionalProperties: false,
        description:
            "keep this bucket's tiers longer than retention.* (only longer: every bucket of a run shares its manifest and lock); each at least the environment's count and at least retention.objectLockMinDays long",
    },
);
export type BucketRetention = Static<typeof BucketRetentionSchema>;

/** What the storage retention is computed from: the environment's tiers and the configured buckets. */
export interface StorageRetentionSource {
    retention: RetentionPolicy;
    storage?: { buckets?: Array<{ name: string; retention?: BucketRetention }> | null } | null;
}

/** One bucket's tiers: the environment's, with the bucket's overrides. */
export function bucketRetention(env: RetentionPolicy, override: BucketRetention | undefined): RetentionPolicy {
    const out: RetentionPolicy = { ...env };
    for (const t of TIERS) if (override?.[t] !== undefined) out[t] = override[t];
    return out;
}

/** The retention of storage runs: per tier, the longest of the environment and every bucket's override. */
export function storageRetention(cfg: StorageRetentionSource): RetentionPolicy {
    const out: RetentionPolicy = { ...cfg.retention };
    for (const b of cfg.storage?.buckets ?? []) {
        for (const t of TIERS) {
            const n = b.retention?.[t];
            if (n !== undefined && n > tierKeep(out, t)) out[t] = n;
        }
    }
    return out;
}

/** Tiers the storage retention keeps longer than the environment: their own lifecycle class. */
export function storageOnlyTiers(env: RetentionPolicy, storage: RetentionPolicy): Tier[] {
    return activeTiers(storage).filter((t) => tierKeep(storage, t) > tierKeep(env, t));
}

export const STORAGE_TIER_PREFIX = "storage-";
export type TierTag = Tier | `storage-${Tier}`;

/** The `tier` tag of a storage run's objects (manifest, shard manifests): its lifecycle class. */
export function storageTierTag(tier: Tier, env: RetentionPolicy, storage: RetentionPolicy): TierTag {
    return storageOnlyTiers(env, storage).includes(tier) ? `${STORAGE_TIER_PREFIX}${tier}` : tier;
}

/** A `tier` tag value read back: the tier, and whether it is the storage class of it. */
export function parseTierTag(value: string | undefined): { tier: Tier; storage: boolean } | undefined {
    if (!value) return undefined;
    const storage = value.startsWith(STORAGE_TIER_PREFIX);
    const tier = storage ? value.slice(STORAGE_TIER_PREFIX.length) : value;
    return (TIERS as readonly string[]).includes(tier) ? { tier: tier as Tier, storage } : undefined;
}

const MIN_DAYS: Record<Tier, number> = { daily: 1, weekly: 7, monthly: 28, yearly: 365 };

/** Why one bucket override is refused (undefined: fine): below the environment's count, or below the lock minimum. */
export function bucketOverrideProblem(env: RetentionPolicy, tier: Tier, keep: number): string | undefined {
    const floor = tierKeep(env, tier);
    if (keep < floor) {
        return `at least ${floor} (retention.${tier}): a bucket may keep a tier longer than the environment, never shorter — every bucket of a storage run shares its manifest and its Object Lock, and retention.${tier} is the pack's floor`;
    }
    if (keep > 0 && keep * MIN_DAYS[tier] < env.objectLockMinDays) {
        return `at least ${Math.ceil(env.objectLockMinDays / MIN_DAYS[tier])} ${tier} period(s): ${keep} ${tier} is ${keep * MIN_DAYS[tier]} day(s), shorter than the Object Lock minimum (retention.objectLockMinDays ${env.objectLockMinDays}, COMPLIANCE), which would outlive the tier's lifecycle`;
    }
    return undefined;
}

/**
 * The shortest expiry a lifecycle rule filtered on `tier=<value>` may have: lifecycleExpiryDays of that
 * tier under the retention its class follows (`storage-<tier>`: the storage retention). Undefined for a
 * value no job writes, or a tier that is not in use. The S3 and Azure rules and the pack all use it.
 */
export function tierTagExpiryDays(value: string | undefined, env: RetentionPolicy, storage: RetentionPolicy = env): { days: number; why: string } | undefined {
    const p = parseTierTag(value);
    if (!p) return undefined;
    const policy = p.storage ? storageAtLeastEnv(env, storage) : env;
    if (!activeTiers(policy).includes(p.tier)) return undefined;
    const days = lifecycleExpiryDays(p.tier, policy);
    const whose = p.storage ? " (the storage retention: the longest of retention and storage.buckets[].retention)" : "";
    return { days, why: `tier "${value}" keeps ${tierKeep(policy, p.tier)} period(s)${whose}: lifecycleExpiryDays("${p.tier}") = ${days}` };
}

/** Every rule-relevant tier's longest expiry (for rules not limited to one tier). */
export function longestExpiryDays(env: RetentionPolicy, storage: RetentionPolicy = env): number {
    const s = storageAtLeastEnv(env, storage);
    return Math.max(...activeTiers(env).map((t) => lifecycleExpiryDays(t, env)), ...activeTiers(s).map((t) => lifecycleExpiryDays(t, s)));
}

/** A storage retention never keeps less than the environment (a config that says so is judged as the environment). */
function storageAtLeastEnv(env: RetentionPolicy, storage: RetentionPolicy): RetentionPolicy {
    const out: RetentionPolicy = { ...env };
    for (const t of TIERS) out[t] = Math.max(tierKeep(env, t), tierKeep(storage, t));
    return out;
}
