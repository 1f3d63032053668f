// Policy 4: nothing in the vault is ever public, and ACLs are off (BucketOwnerEnforced).
import type { BucketOwnershipControlsArgs, BucketPublicAccessBlockArgs, BucketArgs } from "@pulumi/aws/s3";
import type { Unwrap } from "@pulumi/pulumi";
import { type BackupPolicy, show, T } from "../lib/common";

const PAB_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

export const publicAccessPolicy: BackupPolicy = {
    name: "vault-public-access-blocked",
    description: "Vault buckets block all public access (all four settings true) and disable ACLs (ownership BucketOwnerEnforced).",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Declare a BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets " +
        "all true, and BucketOwnershipControls with rule.objectOwnership \"BucketOwnerEnforced\" (BackupVault does). Do not set a canned ACL on the bucket.",
    validateResource: (args, report) => {
        if (args.type === T.publicAccessBlock) {
            const p = args.props as Unwrap<BucketPublicAccessBlockArgs>;
            const off = PAB_FLAGS.filter((f) => p[f] !== true);
            if (off.length) report(`public access block leaves ${off.map((f) => `${f}=${show(p[f])}`).join(", ")}; all four must be true`);
        } else if (args.type === T.ownership) {
            const o = args.props as Unwrap<BucketOwnershipControlsArgs>;
            if (o.rule?.objectOwnership !== "BucketOwnerEnforced") {
                report(`object ownership is ${show(o.rule?.objectOwnership)}, expected "BucketOwnerEnforced" (ACLs disabled)`);
            }
        } else if (args.type === T.bucket) {
            const b = args.props as Unwrap<BucketArgs>;
            if (b.acl && /public/i.test(String(b.acl))) report(`bucket "${b.bucket ?? args.name}" has the canned ACL ${show(b.acl)}`);
        }
    },
};
