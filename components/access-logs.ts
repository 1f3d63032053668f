// AccessLogBucket: S3 server access logs of the vault, in a bucket of their own that nobody can empty
// early (docs/security.md "Vault and key policies"; docs/operations.md asks for a monthly audit of who
// read which backup). What S3 allows for a log destination decides the shape: no Object Lock *default*
// retention (log delivery refuses such a bucket) and no SSE-KMS default encryption (SSE-S3 only). So:
// Object Lock is enabled (versioning can never be suspended, and an investigator can put a legal hold on
// any log), every version is kept, deletes are denied to every principal (lifecycle expiry is S3 itself,
// after `retentionDays`), only the S3 logging service may write, and only for the vault bucket.
import * as pulumi from "@pulumi/pulumi";
import * as s3 from "@pulumi/aws/s3";
import { BUCKET_CONFIG_ACTIONS, type PolicyDocument } from "./iam-policies";
import { bucketArn } from "./names";

export const ACCESS_LOG_PREFIX = "s3-access/";

export interface AccessLogPolicyContext {
    logBucket: string;
    sourceBucket: string;
    accountId: string;
    deployerArns: string[];
    /** may set a legal hold on a log (an incident); absent: the deployers only */
    breakGlassRoleArn?: string;
}

export function accessLogBucketPolicy(c: AccessLogPolicyContext): PolicyDocument {
    const b = bucketArn(c.logBucket);
    const holders = [...c.deployerArns, ...(c.breakGlassRoleArn ? [c.breakGlassRoleArn] : [])];
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [b, `${b}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } },
            {
                Sid: "S3LogDeliveryForTheVaultOnly",
                Effect: "Allow",
                Principal: { Service: "logging.s3.amazonaws.com" },
                Action: "s3:PutObject",
                Resource: `${b}/${ACCESS_LOG_PREFIX}*`,
                Condition: { ArnLike: { "aws:SourceArn": bucketArn(c.sourceBucket) }, StringEquals: { "aws:SourceAccount": c.accountId } },
            },
            {
                // Only the logging service writes: an IAM principal has no aws:PrincipalServiceName.
                Sid: "DenyWritesExceptLogDelivery",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: `${b}/*`,
                Condition: { StringNotEqualsIfExists: { "aws:PrincipalServiceName": "logging.s3.amazonaws.com" } },
            },
            { Sid: "DenyDeletes", Effect: "Deny", Principal: "*", Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"], Resource: `${b}/*` },
            {
                Sid: "DenyRetentionChangesExceptHolders",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention"],
                Resource: `${b}/*`,
                Condition: { ArnNotLike: { "aws:PrincipalArn": holders } },
            },
            {
                Sid: "DenyConfigChangesExceptDeployers",
                Effect: "Deny",
                Principal: "*",
                Action: [...BUCKET_CONFIG_ACTIONS],
                Resource: b,
                Condition: { ArnNotLike: { "aws:PrincipalArn": c.deployerArns } },
            },
        ],
    };
}

/** Expire log versions after the retention; nothing else removes them (the bucket policy denies deletes). */
export function accessLogLifecycleRules(retentionDays: number): s3.BucketLifecycleConfigurationArgs["rules"] & object[] {
    return [
        {
            id: "access-log-retention",
            status: "Enabled",
            filter: { prefix: "" },
            expiration: { days: retentionDays },
            noncurrentVersionExpiration: { noncurrentDays: 1 },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
        },
    ];
}

export interface AccessLogBucketArgs extends Omit<AccessLogPolicyContext, "logBucket" | "sourceBucket"> {
    env: string;
    bucketName: string;
    sourceBucketName: string;
    /** the vault bucket's id (BucketLogging attaches there) */
    sourceBucketId: pulumi.Input<string>;
    retentionDays: number;
    protect: boolean;
    tags?: Record<string, string>;
}

export class AccessLogBucket extends pulumi.ComponentResource {
    readonly bucket: s3.Bucket;

    constructor(name: string, args: AccessLogBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:AccessLogBucket", name, {}, opts);
        const tags = { project: "supabase-backups", env: args.env, "supabase-backups/purpose": "access-logs", ...args.tags };
        const child = { parent: this };
        this.bucket = new s3.Bucket(`${name}-bucket`, { bucket: args.bucketName, objectLockEnabled: true, forceDestroy: false, tags }, { parent: this, protect: args.protect });
        const id = this.bucket.id;
        const ownership = new s3.BucketOwnershipControls(`${name}-ownership`, { bucket: id, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
        const publicAccess = new s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            { bucket: id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
            child,
        );
        const versioning = new s3.BucketVersioning(`${name}-versioning`, { bucket: id, versioningConfiguration: { status: "Enabled" } }, child);
        // SSE-S3: server access log delivery does not support an SSE-KMS default.
        const encryption = new s3.BucketServerSideEncryptionConfiguration(`${name}-sse`, { bucket: id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }, child);
        new s3.BucketLifecycleConfiguration(`${name}-lifecycle`, { bucket: id, rules: accessLogLifecycleRules(args.retentionDays) }, { parent: this, dependsOn: [versioning] });
        const policy = new s3.BucketPolicy(
            `${name}-policy`,
            {
                bucket: id,
                policy: JSON.stringify(
                    accessLogBucketPolicy({ logBucket: args.bucketName, sourceBucket: args.sourceBucketName, accountId: args.accountId, deployerArns: args.deployerArns, breakGlassRoleArn: args.breakGlassRoleArn }),
                ),
            },
            { parent: this, dependsOn: [publicAccess, ownership, encryption] },
        );
        new s3.BucketLogging(
            `${name}-vault-logging`,
            {
                bucket: args.sourceBucketId,
                targetBucket: id,
                targetPrefix: ACCESS_LOG_PREFIX,
                // Partitioned by the day of the request: a month's audit reads one prefix per day.
                targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } },
            },
            { parent: this, dependsOn: [policy, versioning] },
        );
        this.registerOutputs({ bucketName: this.bucket.bucket });
    }
}
