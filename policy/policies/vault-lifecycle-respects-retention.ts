// Policy 6: lifecycle never deletes (or hides behind a delete marker) what retention promises to keep,
// and incomplete multipart uploads (a dump interrupted mid-stream) are aborted. The minimums are the
// contracts' own lifecycle arithmetic over the stack's retention, not numbers restated here.
import type { BucketLifecycleConfigurationArgs } from "@pulumi/aws/s3";
import type { Unwrap } from "@pulumi/pulumi";
import { RetentionSchema, activeTiers, longestExpiryDays, tierTagExpiryDays, type RetentionPolicy } from "@supabase-backups/contracts";
import { type BackupPolicy, isSet, lifecycleConfigFromStack, readPolicyConfig, show, STORAGE_RETENTION_SCHEMA } from "../lib/common";
import { sampleKeys } from "../lib/identities";
import { isBucket, isVaultResource, lifecycleRulesOf, VAULT_BUCKET_SCHEMA } from "../lib/bucket-state";

export interface LifecycleConfig {
    retention: RetentionPolicy;
    /** storage runs' retention, when a bucket override keeps a tier longer (rules on tier=storage-<tier>) */
    storageRetention?: RetentionPolicy;
    maxAbortIncompleteUploadDays: number;
    bucketName?: string;
}

type Rule = NonNullable<Unwrap<BucketLifecycleConfigurationArgs>["rules"]>[number];

function ruleTier(r: Rule): string | undefined {
    const f = r.filter;
    if (f?.tag?.key === "tier") return f.tag.value;
    const tags = f?.and?.tags as Record<string, string> | undefined;
    if (tags && "tier" in tags) return tags.tier;
    return undefined;
}

function rulePrefix(r: Rule): string {
    return r.filter?.prefix ?? r.filter?.and?.prefix ?? r.prefix ?? "";
}

function hasTagFilter(r: Rule): boolean {
    return !!r.filter?.tag || !!(r.filter?.and?.tags && Object.keys(r.filter.and.tags).length);
}

/** The shortest expiry a rule may have, and why (`storage`: the storage runs' retention, default `retention`). */
export function minimumExpiry(r: Rule, retention: RetentionPolicy, env?: string, storage: RetentionPolicy = retention): { days: number; why: string } {
    const tier = ruleTier(r);
    const active = activeTiers(retention);
    if (tier !== undefined) {
        const byTag = tierTagExpiryDays(tier, retention, storage);
        if (byTag) return byTag;
        return { days: retention.objectLockMinDays, why: `the bucket default lock (retention.objectLockMinDays ${retention.objectLockMinDays})` };
    }
    const prefix = rulePrefix(r);
    const tiered = env ? [sampleKeys(env).dbDump, sampleKeys(env).storageBlob] : ["db/", "storage/"];
    const touchesTiered = tiered.some((k) => k.startsWith(prefix)) || /^(db|storage)(\/|$)/.test(prefix) || prefix === "";
    if (!touchesTiered) return { days: retention.objectLockMinDays, why: `the bucket default lock (retention.objectLockMinDays ${retention.objectLockMinDays})` };
    const longest = longestExpiryDays(retention, storage);
    return { days: longest, why: `the rule is not limited to one tier, so it must outlast the longest (${active[active.length - 1]}: ${longest} days)` };
}

export function lifecycleProblems(rules: Rule[] | undefined, cfg: LifecycleConfig, env?: string): string[] {
    const out: string[] = [];
    const enabled = (rules ?? []).filter((r) => r.status === "Enabled");
    for (const r of enabled) {
        const exp = r.expiration;
        if (!exp) continue;
        if (isSet(exp.date)) out.push(`rule ${show(r.id)} expires objects on a fixed date (${exp.date}); expiry must follow the tier periods`);
        if (isSet(exp.days)) {
            const min = minimumExpiry(r, cfg.retention, env, cfg.storageRetention);
            if (exp.days < min.days) {
                out.push(`rule ${show(r.id)} expires objects after ${exp.days} day(s), shorter than ${min.days}: ${min.why}. A shorter expiry puts a delete marker over locked backups`);
            }
        }
    }
    const abortRules = enabled.filter((r) => isSet(r.abortIncompleteMultipartUpload?.daysAfterInitiation) && !hasTagFilter(r));
    const areas = env ? [sampleKeys(env).dbDump, sampleKeys(env).storageBlob] : ["db/", "storage/"];
    const uncovered = areas.filter((k) => !abortRules.some((r) => k.startsWith(rulePrefix(r))));
    if (uncovered.length) {
        out.push(`no enabled rule aborts incomplete multipart uploads for ${uncovered.map((k) => k.split("/").slice(0, 2).join("/") + "/").join(" and ")}: interrupted dumps would be billed forever (expected abortIncompleteMultipartUpload.daysAfterInitiation ≤ ${cfg.maxAbortIncompleteUploadDays} on a rule without tag filter)`);
    }
    for (const r of abortRules) {
        const d = r.abortIncompleteMultipartUpload!.daysAfterInitiation!;
        if (d > cfg.maxAbortIncompleteUploadDays) out.push(`rule ${show(r.id)} aborts incomplete multipart uploads only after ${d} days (at most ${cfg.maxAbortIncompleteUploadDays})`);
    }
    return out;
}

export const lifecyclePolicy: BackupPolicy = {
    name: "vault-lifecycle-respects-retention",
    description:
        "Lifecycle rules never expire objects before the tier period or the Object Lock minimum (contracts' lifecycleExpiryDays over the stack's retention), and abort incomplete multipart uploads.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Derive lifecycle rules from the contracts (BackupVault does): one rule per active tier filtered by tag tier=<tier> with " +
        "expiration.days = lifecycleExpiryDays(tier, retention), and a rule without filter that aborts incomplete multipart uploads after 1 day. " +
        "To keep backups shorter, change retention in the stack file and policy/config.<stack>.json together, in review.",
    configSchema: {
        properties: {
            retention: { ...(RetentionSchema as object), description: "the stack's retention (Pulumi.<stack>.yaml supabase-backups:retention)" } as any,
            storageRetention: STORAGE_RETENTION_SCHEMA,
            maxAbortIncompleteUploadDays: { type: "integer", minimum: 1, maximum: 30, default: 7 },
            bucketName: VAULT_BUCKET_SCHEMA,
        },
        required: ["retention"],
    },
    configFromStack: (cfg) => ({ ...lifecycleConfigFromStack(cfg), bucketName: cfg.aws.bucketName }),
    validateResource: (args, report) => {
        // Every spelling: BucketLifecycleConfiguration(V2) or lifecycleRules inline on the Bucket.
        const rules = lifecycleRulesOf(args.type, args.props);
        if (!rules) return;
        const cfg = readPolicyConfig<LifecycleConfig>(lifecyclePolicy, args);
        if (!isVaultResource(args.type, args.props, cfg.bucketName)) return;
        for (const m of lifecycleProblems(rules as Rule[], cfg)) report(isBucket(args.type) ? `inline lifecycleRules: ${m}` : m);
    },
};
