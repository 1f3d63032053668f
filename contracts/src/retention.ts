// Retention tiers: which tier a run takes, how long it is locked, and how lifecycle rules age it.
// Pure functions of dates and config, shared by the components (lifecycle), the jobs (retain-until,
// tags) and the policy pack (minimums). All calendar arithmetic is UTC.

export const TIERS = ["daily", "weekly", "monthly", "yearly"] as const;
export type Tier = (typeof TIERS)[number];

/** How many periods of each tier are kept. A tier that is absent (or 0) is not used. */
export interface RetentionPolicy {
    daily: number;
    weekly?: number;
    monthly?: number;
    yearly?: number;
    /** Bucket default Object Lock retention (COMPLIANCE), for objects written without their own. */
    objectLockMinDays: number;
}

export const TIER_RANK: Record<Tier, number> = { daily: 0, weekly: 1, monthly: 2, yearly: 3 };

export function tierKeep(policy: RetentionPolicy, tier: Tier): number {
    return policy[tier] ?? 0;
}

/** Tiers in use, lowest first. */
export function activeTiers(policy: RetentionPolicy): Tier[] {
    return TIERS.filter((t) => tierKeep(policy, t) > 0);
}

function pad(n: number, width = 2): string {
    return String(n).padStart(width, "0");
}

/** ISO-8601 week-numbering year and week of a UTC date. */
export function isoWeek(date: Date): { year: number; week: number } {
    const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
    const day = d.getUTCDay() || 7; // Monday=1 … Sunday=7
    d.setUTCDate(d.getUTCDate() + 4 - day); // Thursday of this week decides the year
    const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
    const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
    return { year: d.getUTCFullYear(), week };
}

/** The calendar period (UTC) a date falls in for a tier: `2026-11-22`, `2026-W47`, `2026-11`, `2026`. */
export function tierPeriod(tier: Tier, date: Date): string {
    switch (tier) {
        case "daily":
            return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
        case "weekly": {
            const { year, week } = isoWeek(date);
            return `${year}-W${pad(week)}`;
        }
        case "monthly":
            return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}`;
        case "yearly":
            return String(date.getUTCFullYear());
    }
}

export interface CompletedRun {
    tier: Tier;
    startedAt: Date | string;
}

/**
 * The tier a new run takes: the highest active tier whose current period has no complete run of that
 * tier or higher yet. A run that failed on the 1st leaves the month open, so the next complete run
 * takes `monthly` and the month is not lost. A higher-tier run also fills the lower tiers' periods
 * (a yearly run on 1 January is that day's, week's and month's run too).
 */
export function chooseTier(now: Date, completed: CompletedRun[], policy: RetentionPolicy): Tier {
    const tiers = activeTiers(policy).reverse();
    for (const tier of tiers) {
        const period = tierPeriod(tier, now);
        const filled = completed.some(
            (run) => TIER_RANK[run.tier] >= TIER_RANK[tier] && tierPeriod(tier, new Date(run.startedAt)) === period,
        );
        if (!filled) return tier;
    }
    return "daily";
}

function addUtc(date: Date, tier: Tier, count: number): Date {
    const d = new Date(date.getTime());
    switch (tier) {
        case "daily":
            d.setUTCDate(d.getUTCDate() + count);
            break;
        case "weekly":
            d.setUTCDate(d.getUTCDate() + 7 * count);
            break;
        case "monthly":
            d.setUTCMonth(d.getUTCMonth() + count);
            break;
        case "yearly":
            d.setUTCFullYear(d.getUTCFullYear() + count);
            break;
    }
    return d;
}

/** Object Lock retain-until for an object of a run: run time + the tier's keep period (calendar). */
export function retainUntil(runTime: Date, tier: Tier, policy: RetentionPolicy): Date {
    const keep = tierKeep(policy, tier);
    if (keep <= 0) throw new Error(`retention tier "${tier}" is not configured`);
    return addUtc(runTime, tier, keep);
}

const MAX_DAYS_PER: Record<Tier, number> = { daily: 1, weekly: 7, monthly: 31, yearly: 366 };
const MIN_DAYS_PER: Record<Tier, number> = { daily: 1, weekly: 7, monthly: 28, yearly: 365 };

/**
 * Lifecycle expiry in whole days for a tier: never earlier than any retain-until the tier can produce
 * (months count as 31 days, years as 366), plus one day so expiry never races the lock.
 */
export function lifecycleExpiryDays(tier: Tier, policy: RetentionPolicy): number {
    return tierKeep(policy, tier) * MAX_DAYS_PER[tier] + 1;
}

/** Shortest retention any tier gives, in days: the floor the bucket default lock must respect. */
export function shortestTierDays(policy: RetentionPolicy): number {
    return Math.min(...activeTiers(policy).map((t) => tierKeep(policy, t) * MIN_DAYS_PER[t]));
}

/**
 * The tag that makes an object eligible for the colder storage classes: only bulk run data (the dump,
 * schema.sql, roles.sql) carries it. Manifests and verification records never do: the nightly jobs read
 * them (tier choice, chain, gc, status), and an archived one (S3 GLACIER, Azure Archive) cannot be read
 * without a restore request taking hours. The lifecycle rules move only objects with both this tag and
 * their `tier` tag; expiry goes by `tier` alone.
 */
export const ARCHIVE_TAG = { key: "archive", value: "eligible" } as const;

export interface StorageTransition {
    days: number;
    storageClass: "STANDARD_IA" | "GLACIER";
}

/**
 * Colder storage classes where the period allows: infrequent access after 30 days (S3 bills IA for
 * 30 days at least, so only when the object lives ≥ 60), archive after 90 (billed 90 days: ≥ 180).
 */
export function lifecycleTransitions(tier: Tier, policy: RetentionPolicy): StorageTransition[] {
    const expiry = lifecycleExpiryDays(tier, policy);
    const out: StorageTransition[] = [];
    if (expiry >= 60) out.push({ days: 30, storageClass: "STANDARD_IA" });
    if (expiry >= 180) out.push({ days: 90, storageClass: "GLACIER" });
    return out;
}

/** Azure access tiers follow the same thresholds. */
export function azureTierTransitions(tier: Tier, policy: RetentionPolicy): { coolAfterDays?: number; archiveAfterDays?: number } {
    const t = lifecycleTransitions(tier, policy);
    return {
        coolAfterDays: t.find((x) => x.storageClass === "STANDARD_IA")?.days,
        archiveAfterDays: t.find((x) => x.storageClass === "GLACIER")?.days,
    };
}

/** Extend, never shorten: the later of two retain-until dates. */
export function laterRetainUntil(a: Date | undefined, b: Date): Date {
    return a && a.getTime() > b.getTime() ? a : b;
}
