// Policy 2: versioning stays enabled (Object Lock requires it; suspended versioning lets a put replace the
// current version and lifecycle rules delete history).
import type { BucketArgs, BucketVersioningArgs } from "@pulumi/aws/s3";
import type { Unwrap } from "@pulumi/pulumi";
import { type BackupPolicy, show, T } from "../lib/common";

export const versioningPolicy: BackupPolicy = {
    name: "vault-versioning-enabled",
    description: "Vault buckets keep versioning Enabled (never Suspended or Disabled).",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Declare a BucketVersioning for the vault bucket with versioningConfiguration.status \"Enabled\" (BackupVault does). " +
        "Object Lock buckets cannot suspend versioning; a change that tries is a mistake, not a tuning.",
    validateResource: (args, report) => {
        if (args.type === T.versioning) {
            const v = args.props as Unwrap<BucketVersioningArgs>;
            const status = v.versioningConfiguration?.status;
            if (status !== "Enabled") report(`versioning status is ${show(status)}, expected "Enabled"`);
        } else if (args.type === T.bucket) {
            // The deprecated inline block, if someone uses it, must not switch versioning off either.
            const b = args.props as Unwrap<BucketArgs>;
            if (b.versioning && b.versioning.enabled === false) {
                report(`bucket "${b.bucket ?? args.name}" sets the inline versioning.enabled to false`);
            }
        }
    },
};
