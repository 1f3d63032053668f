// Policy 2: versioning stays enabled (Object Lock requires it; suspended versioning lets a put replace the
// current version and lifecycle rules delete history).
import { type BackupPolicy, show } from "../lib/common";
import { isBucket, versioningOf } from "../lib/bucket-state";

export const versioningPolicy: BackupPolicy = {
    name: "vault-versioning-enabled",
    description: "Vault buckets keep versioning Enabled (never Suspended or Disabled).",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Declare a BucketVersioning for the vault bucket with versioningConfiguration.status \"Enabled\" (BackupVault does). " +
        "Object Lock buckets cannot suspend versioning; a change that tries is a mistake, not a tuning.",
    validateResource: (args, report) => {
        // Every spelling: BucketVersioning(V2) or the inline versioning block of the Bucket.
        const v = versioningOf(args.type, args.props);
        if (!v) return;
        if (v.status !== "Enabled") {
            report(isBucket(args.type) ? `bucket "${(args.props as any).bucket ?? args.name}" sets the inline versioning to ${show(v.status)}, expected "Enabled"` : `versioning status is ${show(v.status)}, expected "Enabled"`);
        }
    },
};
