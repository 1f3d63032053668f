// Policy 1: vault buckets are write-once. Object Lock on, default retention COMPLIANCE (GOVERNANCE can be
// bypassed by anyone holding s3:BypassGovernanceRetention), at least the stack's objectLockMinDays.
import { type BackupPolicy, isSet, readPolicyConfig, show } from "../lib/common";
import { isBucket, isVaultResource, lockOf, VAULT_BUCKET_SCHEMA } from "../lib/bucket-state";

export interface ObjectLockConfig {
    /** retention.objectLockMinDays of the stack */
    minRetentionDays: number;
    bucketName?: string;
}

function retentionDays(d: { days?: number | null; years?: number | null }): number | undefined {
    if (isSet(d.days)) return d.days;
    if (isSet(d.years)) return d.years * 365;
    return undefined;
}

export const objectLockPolicy: BackupPolicy = {
    name: "vault-object-lock-compliance",
    description: "Vault buckets have Object Lock enabled with a default retention in COMPLIANCE mode of at least the stack's minimum (retention.objectLockMinDays).",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Create the bucket with objectLockEnabled: true (it cannot be turned on later without AWS support) and declare a " +
        "BucketObjectLockConfiguration with rule.defaultRetention { mode: \"COMPLIANCE\", days: <retention.objectLockMinDays> } " +
        "(BackupVault does this from the stack config). Do not lower retention.objectLockMinDays below the pack's floor in policy/config.<stack>.json.",
    configSchema: {
        properties: {
            minRetentionDays: { type: "integer", minimum: 1, maximum: 36500, description: "retention.objectLockMinDays of the stack" },
            bucketName: VAULT_BUCKET_SCHEMA,
        },
        required: ["minRetentionDays"],
    },
    configFromStack: (cfg) => ({ minRetentionDays: cfg.retention.objectLockMinDays, bucketName: cfg.aws.bucketName }),
    validateResource: (args, report) => {
        // Every spelling: BucketObjectLockConfiguration(V2) or objectLockConfiguration inline on the Bucket.
        const b = args.props as any;
        const cfg = readPolicyConfig<ObjectLockConfig>(objectLockPolicy, args);
        if (!isVaultResource(args.type, b, cfg.bucketName)) return;
        if (isBucket(args.type) && b.objectLockEnabled !== true) {
            report(`bucket "${b.bucket ?? args.name}" does not enable Object Lock (objectLockEnabled is ${show(b.objectLockEnabled)}); vault objects could be deleted or overwritten`);
        }
        const c = lockOf(args.type, args.props);
        if (!c) return;
        const at = isBucket(args.type) ? "inline objectLockConfiguration: " : "";
        const report0 = report;
        report = (m: string) => report0(at + m);
        if (isSet(c.objectLockEnabled) && c.objectLockEnabled !== "Enabled") {
            report(`objectLockEnabled is ${show(c.objectLockEnabled)}, expected "Enabled"`);
        }
        const d = c.rule?.defaultRetention;
        if (!d) {
            report(`no default retention (rule.defaultRetention): objects written without their own lock would be unprotected; expected COMPLIANCE for at least ${cfg.minRetentionDays} days`);
            return;
        }
        if (d.mode !== "COMPLIANCE") {
            report(`default retention mode is ${show(d.mode)}, expected "COMPLIANCE" (GOVERNANCE retention can be shortened or removed by anyone with s3:BypassGovernanceRetention)`);
        }
        const days = retentionDays(d);
        if (days === undefined) report(`default retention has neither days nor years; expected at least ${cfg.minRetentionDays} days`);
        else if (days < cfg.minRetentionDays) {
            report(`default retention is ${days} day(s), below the stack's minimum of ${cfg.minRetentionDays} days (retention.objectLockMinDays)`);
        }
    },
};
