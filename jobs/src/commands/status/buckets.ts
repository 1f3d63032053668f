// The buckets of the newest storage run as `status` shows them (issue 15.2, 15.5): the settings the run
// recorded (public, file size limit, MIME types), the RLS policies on storage.objects that name the bucket,
// and the retention the bucket is kept with (the environment's tiers, or its own longer ones). status does
// not connect to the database, so these are the recorded settings, not the live ones.
import { bucketRetention, TIERS, type JobConfig, type StorageManifest, type StoragePolicy } from "@supabase-backups/contracts";
import { formatBytes } from "../../runtime/progress";
import { renderTable } from "../../cli/output";

export interface BucketStatus {
    name: string;
    objects: number;
    bytes: number;
    /** null: the run recorded no settings (a manifest from before they were recorded, or unreadable then) */
    public: boolean | null;
    fileSizeLimit: number | null;
    allowedMimeTypes: string[] | null;
    settingsRecorded: boolean;
    /** names of the storage.objects policies whose expressions name this bucket */
    policies: string[];
    /** periods kept per tier for this bucket (config), and whether the bucket overrides the environment */
    retention: { daily: number; weekly: number; monthly: number; yearly: number; override: boolean };
}

export interface BucketsStatus {
    runId: string;
    buckets: BucketStatus[];
    /** policies on storage.objects naming no bucket of the run (they apply to every bucket, or to others); null: none recorded */
    otherPolicies: string[] | null;
}

/** The SQL literal `'name'` in a policy's expressions: the policy is about that bucket. */
function namesBucket(p: StoragePolicy, bucket: string): boolean {
    const lit = `'${bucket.replace(/'/g, "''")}'`;
    return [p.using, p.withCheck].some((e) => e !== null && e.includes(lit));
}

export function bucketsStatus(m: StorageManifest | undefined, cfg: Pick<JobConfig, "retention" | "storage">): BucketsStatus | null {
    if (!m) return null;
    const policies = m.policies;
    const configured = new Map((cfg.storage.buckets ?? []).map((b) => [b.name, b]));
    const buckets = m.buckets.map((b): BucketStatus => {
        const override = configured.get(b.name)?.retention;
        const kept = bucketRetention(cfg.retention, override);
        return {
            name: b.name,
            objects: b.objects,
            bytes: b.bytes,
            public: b.settings?.public ?? null,
            fileSizeLimit: b.settings?.fileSizeLimit ?? null,
            allowedMimeTypes: b.settings?.allowedMimeTypes ?? null,
            settingsRecorded: !!b.settings,
            policies: (policies ?? []).filter((p) => namesBucket(p, b.name)).map((p) => p.name),
            retention: { daily: kept.daily, weekly: kept.weekly ?? 0, monthly: kept.monthly ?? 0, yearly: kept.yearly ?? 0, override: !!override && TIERS.some((t) => override[t] !== undefined) },
        };
    });
    const other = policies ? policies.filter((p) => !m.buckets.some((b) => namesBucket(p, b.name))).map((p) => p.name) : null;
    return { runId: m.runId, buckets, otherPolicies: other };
}

function retentionText(r: BucketStatus["retention"]): string {
    const parts = [`${r.daily}d`, r.weekly ? `${r.weekly}w` : "", r.monthly ? `${r.monthly}m` : "", r.yearly ? `${r.yearly}y` : ""].filter(Boolean);
    return parts.join(" ") + (r.override ? " (own)" : "");
}

/** The human table: one row per bucket, then the policies that name no bucket. */
export function renderBuckets(s: BucketsStatus): string {
    const rows = s.buckets.map((b) => [
        b.name,
        b.objects,
        formatBytes(b.bytes),
        b.settingsRecorded ? (b.public ? "PUBLIC" : "private") : "not recorded",
        b.settingsRecorded ? (b.fileSizeLimit === null ? "none" : formatBytes(b.fileSizeLimit)) : "-",
        b.settingsRecorded ? (b.allowedMimeTypes?.join(", ") ?? "any") : "-",
        b.policies.length ? b.policies.join(", ") : s.otherPolicies === null ? "not recorded" : "none naming it",
        retentionText(b.retention),
    ]);
    const other = s.otherPolicies?.length ? `policies on storage.objects naming no bucket above: ${s.otherPolicies.join(", ")}\n` : "";
    return (
        `\nBuckets of the newest storage run ${s.runId} (settings as recorded by that run; retention from the config):\n` +
        renderTable(["bucket", "objects", "size", "access", "size limit", "MIME types", "RLS policies", "retention"], rows) +
        other
    );
}
