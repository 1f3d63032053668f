// BackupVault: the primary, write-once vault in S3 (docs/architecture.md "Vault layout", "Retention",
// "Security model").
import * as pulumi from "@pulumi/pulumi";
import * as s3 from "@pulumi/aws/s3";
import * as kms from "@pulumi/aws/kms";
import {
    ARCHIVE_TAG,
    activeTiers,
    lifecycleExpiryDays,
    lifecycleTransitions,
    storageOnlyTiers,
    type RetentionPolicy,
} from "@supabase-backups/contracts";
import { bucketPolicy, kmsKeyPolicy } from "./resource-policies";
import { roleArn } from "./names";

export interface BackupVaultArgs {
    env: string;
    accountId: string;
    bucketName: string;
    kmsAlias: string;
    kmsDeletionWindowDays: number;
    retention: RetentionPolicy;
    /** storage runs' retention (contracts storageRetention: the longest of retention and the bucket overrides); default retention */
    storageRetention?: RetentionPolicy;
    /** principals allowed to change bucket configuration (the ones running `pulumi up`) */
    deployerArns: string[];
    /** Pulumi `protect` on the bucket and the key */
    protect: boolean;
    /** the break-glass role (components/break-glass.ts): the only one that may destroy the key */
    breakGlass?: { role: pulumi.Resource; roleArn: string; mfaMaxAgeSeconds: number; deployersMayChangeKeyPolicy: boolean };
    tags?: Record<string, string>;
}

/**
 * Lifecycle rules: per active tier, expiry by the `tier` tag, and the moves to colder classes only for
 * objects that also carry ARCHIVE_TAG (the run's data, never its manifest or a verification record,
 * which the nightly jobs must be able to read); per tier a bucket override keeps longer, one expiring the
 * storage run manifests of that tier (tag `tier=storage-<tier>`) with the storage retention; plus one for
 * versions and uploads.
 */
export function vaultLifecycleRules(retention: RetentionPolicy, storage: RetentionPolicy = retention): s3.BucketLifecycleConfigurationArgs["rules"] & object[] {
    const tierRules = activeTiers(retention).flatMap((tier) => {
        const transitions = lifecycleTransitions(tier, retention).map((t) => ({ days: t.days, storageClass: t.storageClass }));
        return [
            {
                id: `tier-${tier}`,
                status: "Enabled",
                filter: { tag: { key: "tier", value: tier } },
                // Expiry never precedes any retain-until this tier can produce (contracts: lifecycleExpiryDays).
                expiration: { days: lifecycleExpiryDays(tier, retention) },
            },
            ...(transitions.length
                ? [{ id: `tier-${tier}-colder`, status: "Enabled", filter: { and: { tags: { tier, [ARCHIVE_TAG.key]: ARCHIVE_TAG.value } } }, transitions }]
                : []),
        ];
    });
    // Storage manifests only (no archive tag: they never go cold); blobs carry no tier at all (gc removes them).
    const storageRules = storageOnlyTiers(retention, storage).map((tier) => ({
        id: `tier-storage-${tier}`,
        status: "Enabled",
        filter: { tag: { key: "tier", value: `storage-${tier}` } },
        expiration: { days: lifecycleExpiryDays(tier, storage) },
    }));
    return [
        ...tierRules,
        ...storageRules,
        {
            // Expiry on a versioned bucket leaves a delete marker and a noncurrent version: remove the
            // version a day later (Object Lock refuses while it is still locked; S3 retries), then the
            // marker. Abort uploads a crashed job left behind. Tag filters cannot carry these actions,
            // hence a rule over the whole bucket.
            id: "versions-and-uploads",
            status: "Enabled",
            filter: { prefix: "" },
            noncurrentVersionExpiration: { noncurrentDays: 1 },
            expiration: { expiredObjectDeleteMarker: true },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
        },
    ];
}

export class BackupVault extends pulumi.ComponentResource {
    readonly bucket: s3.Bucket;
    readonly bucketName: pulumi.Output<string>;
    readonly bucketArn: pulumi.Output<string>;
    readonly key: kms.Key;
    readonly keyArn: pulumi.Output<string>;
    readonly alias: kms.Alias;

    constructor(name: string, args: BackupVaultArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:BackupVault", name, {}, opts);
        const tags = { project: "supabase-backups", env: args.env, ...args.tags };
        const child = { parent: this };
        const kept = { parent: this, protect: args.protect };

        this.key = new kms.Key(
            `${name}-key`,
            {
                description: `supabase-backups ${args.env}: SSE-KMS key of the backup vault`,
                enableKeyRotation: true,
                rotationPeriodInDays: 365,
                deletionWindowInDays: args.kmsDeletionWindowDays,
                keyUsage: "ENCRYPT_DECRYPT",
                customerMasterKeySpec: "SYMMETRIC_DEFAULT",
                policy: JSON.stringify(kmsKeyPolicy({ accountId: args.accountId, deployerArns: args.deployerArns, breakGlass: args.breakGlass })),
                // KMS refuses a policy that stops the caller (the deployer) from changing it later unless
                // this is set: that is the point when only the break-glass role may (its statement in
                // the policy keeps the key manageable, with MFA).
                bypassPolicyLockoutSafetyCheck: args.breakGlass && !args.breakGlass.deployersMayChangeKeyPolicy ? true : undefined,
                tags,
            },
            // KMS refuses a policy naming a role that does not exist yet.
            { ...kept, dependsOn: args.breakGlass ? [args.breakGlass.role] : [] },
        );
        this.keyArn = this.key.arn;
        this.alias = new kms.Alias(`${name}-alias`, { name: args.kmsAlias, targetKeyId: this.key.keyId }, child);

        this.bucket = new s3.Bucket(
            `${name}-bucket`,
            { bucket: args.bucketName, objectLockEnabled: true, forceDestroy: false, tags },
            kept,
        );
        const bucketId = this.bucket.id;
        this.bucketName = this.bucket.bucket;
        this.bucketArn = this.bucket.arn;

        const ownership = new s3.BucketOwnershipControls(
            `${name}-ownership`,
            { bucket: bucketId, rule: { objectOwnership: "BucketOwnerEnforced" } },
            child,
        );
        const publicAccess = new s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            { bucket: bucketId, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
            child,
        );
        const versioning = new s3.BucketVersioning(
            `${name}-versioning`,
            { bucket: bucketId, versioningConfiguration: { status: "Enabled" } },
            child,
        );
        const encryption = new s3.BucketServerSideEncryptionConfiguration(
            `${name}-sse`,
            {
                bucket: bucketId,
                rules: [
                    {
                        applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: this.key.arn },
                        bucketKeyEnabled: true,
                    },
                ],
            },
            child,
        );
        new s3.BucketObjectLockConfiguration(
            `${name}-object-lock`,
            {
                bucket: bucketId,
                objectLockEnabled: "Enabled",
                rule: { defaultRetention: { mode: "COMPLIANCE", days: args.retention.objectLockMinDays } },
            },
            { parent: this, dependsOn: [versioning] },
        );
        new s3.BucketLifecycleConfiguration(
            `${name}-lifecycle`,
            { bucket: bucketId, rules: vaultLifecycleRules(args.retention, args.storageRetention) },
            { parent: this, dependsOn: [versioning] },
        );
        new s3.BucketPolicy(
            `${name}-policy`,
            {
                bucket: bucketId,
                policy: this.key.arn.apply((kmsKeyArn) =>
                    JSON.stringify(
                        bucketPolicy({
                            bucket: args.bucketName,
                            env: args.env,
                            kmsKeyArn,
                            deployerArns: args.deployerArns,
                            writerRoleArns: [
                                roleArn(args.accountId, args.env, "writer"),
                                roleArn(args.accountId, args.env, "verifier"),
                                roleArn(args.accountId, args.env, "restore-operator"),
                                roleArn(args.accountId, args.env, "drill"),
                            ],
                            gcRoleArn: roleArn(args.accountId, args.env, "gc"),
                            drillRoleArn: roleArn(args.accountId, args.env, "drill"),
                            verifierRoleArn: roleArn(args.accountId, args.env, "verifier"),
                        }),
                    ),
                ),
            },
            // The public access block must exist first (a policy is never public here, but order it anyway).
            { parent: this, dependsOn: [publicAccess, ownership, encryption] },
        );

        this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn, keyArn: this.keyArn, alias: this.alias.name });
    }
}
