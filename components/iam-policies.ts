// IAM documents as pure functions of plain strings: the components serialize them into resources, the
// tests evaluate exactly those serialized documents with an IAM simulator, and the policy pack can read
// them back. Paths come from the contracts module (`prefixes`), never restated here.
// docs/architecture.md "Security model" is the source of truth for who may do what.
import { prefixes } from "@supabase-backups/contracts";
import { bucketArn, oidcIssuerFromProviderArn } from "./names";

export interface PolicyStatement {
    Sid?: string;
    Effect: "Allow" | "Deny";
    Principal?: "*" | Record<string, string | string[]>;
    Action?: string | string[];
    NotAction?: string | string[];
    Resource?: string | string[];
    NotResource?: string | string[];
    Condition?: Record<string, Record<string, string | string[] | boolean | number>>;
}

export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: PolicyStatement[];
}

export interface VaultPolicyContext {
    bucket: string;
    env: string;
    region: string;
    accountId: string;
    kmsKeyArn: string;
}

/** Actions that change the bucket's protection. Only `aws.deployerArns` may call them (bucket policy). */
export const BUCKET_CONFIG_ACTIONS = [
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketAcl",
    "s3:PutReplicationConfiguration",
    "s3:PutInventoryConfiguration",
    "s3:PutBucketLogging",
    "s3:PutBucketCORS",
    "s3:PutBucketWebsite",
    "s3:DeleteBucketWebsite",
    // Event notifications would hand every object key (and, through a Lambda, the means to act on
    // them) to an endpoint of the caller's choice; tags and ABAC decide tag-based access elsewhere.
    "s3:PutBucketNotification",
    "s3:PutBucketTagging",
    "s3:TagResource",
    "s3:UntagResource",
    "s3:PutBucketAbac",
    "s3:PutAccelerateConfiguration",
    "s3:PutAnalyticsConfiguration",
    "s3:PutBucketRequestPayment",
    "s3:PutIntelligentTieringConfiguration",
    "s3:PutMetricsConfiguration",
    "s3:PauseReplication",
    "s3:CreateBucketMetadataTableConfiguration",
    "s3:DeleteBucketMetadataTableConfiguration",
    "s3:UpdateBucketMetadataInventoryTableConfiguration",
    "s3:UpdateBucketMetadataJournalTableConfiguration",
    "s3:DeleteBucket",
] as const;

/** Object actions that destroy or unprotect data. */
export const OBJECT_DESTROY_ACTIONS = [
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
] as const;

/** KMS actions that would make every backup unreadable. Only deployers may call them (key policy). */
export const KEY_DESTROY_ACTIONS = [
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:PutKeyPolicy",
] as const;

/** The key policy's guard: nobody but the deployers may destroy, disable or re-policy the key (vault and record-signing keys alike). */
export function denyKeyDestructionExceptDeployers(deployerArns: string[]): PolicyStatement {
    return {
        Sid: "DenyKeyDestructionExceptDeployers",
        Effect: "Deny",
        Principal: { AWS: "*" },
        Action: [...KEY_DESTROY_ACTIONS],
        Resource: "*",
        Condition: { ArnNotLike: { "aws:PrincipalArn": deployerArns } },
    };
}

const objects = (bucket: string, ...keyPatterns: string[]) => keyPatterns.map((p) => `${bucketArn(bucket)}/${p}`);

/** Every key pattern of one environment, as `s3:prefix` patterns for ListBucket. */
function listPrefixes(...ps: string[]): string[] {
    return ps.flatMap((p) => [p, `${p}*`]);
}

/**
 * The writer may read back only these: the previous db run's manifest (hash chain: each manifest records
 * the sha256 of the previous one, and the tier already taken this week/month/year decides the next run's
 * tier) and the storage run manifests (which blobs exist and their retain-until). Never a dump or a blob.
 */
export function writerReadableKeys(env: string): string[] {
    // One `*` per key segment (yyyy/mm/dd/runId): the same keys on AWS, and S3-compatible stores whose
    // `*` does not backtrack (Ceph RGW) match them too.
    return [`${prefixes.db(env)}*/*/*/*/manifest.json`, `${prefixes.storageRuns(env)}*`];
}

function kmsViaS3(c: VaultPolicyContext, sid: string, actions: string[]): PolicyStatement {
    return {
        Sid: sid,
        Effect: "Allow",
        Action: actions,
        Resource: c.kmsKeyArn,
        Condition: { StringEquals: { "kms:ViaService": `s3.${c.region}.amazonaws.com` } },
    };
}

function commonDenies(c: VaultPolicyContext, opts: { allowDelete?: boolean } = {}): PolicyStatement[] {
    const out: PolicyStatement[] = [
        { Sid: "NeverChangeBucketConfig", Effect: "Deny", Action: [...BUCKET_CONFIG_ACTIONS], Resource: bucketArn(c.bucket) },
        { Sid: "NeverBypassRetention", Effect: "Deny", Action: ["s3:BypassGovernanceRetention"], Resource: objects(c.bucket, "*") },
        { Sid: "NeverDestroyTheKey", Effect: "Deny", Action: [...KEY_DESTROY_ACTIONS], Resource: "*" },
        // Object ACLs: with a store's object ACLs live (S3 without BucketOwnerEnforced, Ceph RGW), an
        // uploader could grant another principal read of a dump. Nobody here needs them.
        { Sid: "NeverShareObjects", Effect: "Deny", Action: ["s3:PutObjectAcl", "s3:PutObjectVersionAcl"], Resource: objects(c.bucket, "*") },
    ];
    if (opts.allowDelete) {
        out.push({
            Sid: "DeleteOnlyBlobs",
            Effect: "Deny",
            Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            NotResource: objects(c.bucket, `${prefixes.storageBlobs(c.env)}*`),
        });
    } else {
        out.push({ Sid: "NeverDelete", Effect: "Deny", Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"], Resource: objects(c.bucket, "*") });
    }
    return out;
}

/** New objects may only be locked in COMPLIANCE mode (a GOVERNANCE lock could be bypassed). */
function complianceOnly(c: VaultPolicyContext): PolicyStatement {
    return {
        Sid: "LockModeComplianceOnly",
        Effect: "Deny",
        Action: ["s3:PutObject", "s3:PutObjectRetention"],
        Resource: objects(c.bucket, "*"),
        // Only when the header is present: an UploadPart (authorized as s3:PutObject) never carries it,
        // and objects written without it get the bucket default, COMPLIANCE. Negated operators are true
        // for a missing key, hence the Null test.
        Condition: { StringNotEquals: { "s3:object-lock-mode": "COMPLIANCE" }, Null: { "s3:object-lock-mode": "false" } },
    };
}

/** dump and sync-storage: write db and storage runs with lock and tags; never read data, delete or reconfigure. */
export function writerPolicy(c: VaultPolicyContext): PolicyDocument {
    const { env, bucket } = c;
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WriteRuns",
                Effect: "Allow",
                // PutObjectRetention: set retain-until on new objects and extend it on reused blobs
                // (COMPLIANCE can only be extended). PutObjectTagging: the `tier` tag lifecycle rules use.
                // AbortMultipartUpload: a failed dump discards its own uncommitted parts at once; it never
                // touches a stored object (nothing is an object until CompleteMultipartUpload).
                Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectTagging", "s3:AbortMultipartUpload"],
                Resource: objects(bucket, `${prefixes.db(env)}*`, `${prefixes.storage(env)}*`),
            },
            {
                Sid: "ListOwnPrefixes",
                Effect: "Allow",
                Action: ["s3:ListBucket"],
                Resource: bucketArn(bucket),
                Condition: { StringLike: { "s3:prefix": listPrefixes(prefixes.db(env), prefixes.storage(env)) } },
            },
            {
                // Needed for the hash chain (previous db manifest's sha256) and the tier choice (which
                // tiers this period already has), and for dedup of storage blobs (run manifests).
                Sid: "ReadManifestsOnly",
                Effect: "Allow",
                Action: ["s3:GetObject"],
                Resource: objects(bucket, ...writerReadableKeys(env)),
            },
            // SSE-KMS puts need GenerateDataKey; multipart uploads and the manifest reads above need
            // Decrypt. Only through S3, so the writer cannot use the key directly.
            kmsViaS3(c, "KmsThroughS3", ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]),
            {
                Sid: "NeverReadData",
                Effect: "Deny",
                Action: ["s3:GetObject", "s3:GetObjectVersion"],
                NotResource: objects(bucket, ...writerReadableKeys(env)),
            },
            complianceOnly(c),
            ...commonDenies(c),
        ],
    };
}

/**
 * Read everything of the env, write records under one prefix only; never delete or reconfigure. The
 * verifier (verification records) and the restore operator (audit records) differ only in that prefix.
 */
function readEnvWriteRecords(c: VaultPolicyContext, sid: string, writable: string[]): PolicyDocument {
    const { env, bucket } = c;
    const own = [prefixes.db(env), prefixes.storage(env), prefixes.verify(env), prefixes.audit(env), prefixes.drill(env)];
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadEnv",
                Effect: "Allow",
                Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectRetention"],
                Resource: objects(bucket, ...own.map((p) => `${p}*`)),
            },
            {
                Sid: "ListEnv",
                Effect: "Allow",
                // ListBucketVersions: reads are pinned to the versions the jobs wrote, and newer ones are tampering; the audit log
                // is read at each record's first (locked) version.
                Action: ["s3:ListBucket", "s3:ListBucketVersions"],
                Resource: bucketArn(bucket),
                Condition: { StringLike: { "s3:prefix": listPrefixes(...own) } },
            },
            {
                Sid: sid,
                Effect: "Allow",
                Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectTagging"],
                Resource: objects(bucket, ...writable.map((p) => `${p}*`)),
            },
            {
                // An archived dump (GLACIER after 90 days) is read only after a restore request (issue 17):
                // restore db and verify --run ask for it, on the env's database runs only.
                Sid: "RestoreArchivedRuns",
                Effect: "Allow",
                Action: ["s3:RestoreObject"],
                Resource: objects(bucket, `${prefixes.db(env)}*`),
            },
            kmsViaS3(c, "KmsThroughS3", ["kms:Decrypt", "kms:GenerateDataKey"]),
            complianceOnly(c),
            ...commonDenies(c),
        ],
    };
}

/** verify: read everything of its env, write verification records; never delete or reconfigure. */
export function verifierPolicy(c: VaultPolicyContext): PolicyDocument {
    return readEnvWriteRecords(c, "WriteVerificationRecords", [prefixes.verify(c.env)]);
}

/** gc: list and read storage manifests, delete unreferenced blobs (Object Lock still applies), write its audit records. */
export function gcPolicy(c: VaultPolicyContext): PolicyDocument {
    const { env, bucket } = c;
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ListStorage",
                Effect: "Allow",
                Action: ["s3:ListBucket", "s3:ListBucketVersions"],
                Resource: bucketArn(bucket),
                Condition: { StringLike: { "s3:prefix": listPrefixes(prefixes.storage(env)) } },
            },
            {
                // Which blobs are still referenced: every retained run manifest.
                Sid: "ReadRunManifests",
                Effect: "Allow",
                // GetObjectVersion: every version of a manifest counts (an overwrite may only add references).
                Action: ["s3:GetObject", "s3:GetObjectVersion"],
                Resource: objects(bucket, `${prefixes.storageRuns(env)}*`),
            },
            {
                Sid: "InspectAndDeleteBlobs",
                Effect: "Allow",
                Action: ["s3:GetObjectRetention", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                Resource: objects(bucket, `${prefixes.storageBlobs(env)}*`),
            },
            {
                // Its own audit records (vault/audit.ts): create-only, COMPLIANCE-locked, before anything is deleted.
                Sid: "WriteAuditRecords",
                Effect: "Allow",
                Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectTagging"],
                Resource: objects(bucket, `${prefixes.audit(env)}*`),
            },
            // Decrypt: run manifests; GenerateDataKey: the audit records it writes (SSE-KMS).
            kmsViaS3(c, "KmsThroughS3", ["kms:Decrypt", "kms:GenerateDataKey"]),
            { Sid: "NeverWriteElsewhere", Effect: "Deny", Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectTagging"], NotResource: objects(bucket, `${prefixes.audit(env)}*`) },
            complianceOnly(c),
            ...commonDenies(c, { allowDelete: true }),
        ],
    };
}

/** A person restoring: read the env, write audit records; MFA is required by the role's trust policy. */
export function restoreOperatorPolicy(c: VaultPolicyContext): PolicyDocument {
    return readEnvWriteRecords(c, "WriteAuditRecords", [prefixes.audit(c.env)]);
}

/**
 * drill: read the env (a drill restores a run like an operator does), write its drill record and the
 * audit records of the drill and of the restores it runs; never delete, reconfigure or write data.
 */
export function drillPolicy(c: VaultPolicyContext): PolicyDocument {
    return readEnvWriteRecords(c, "WriteDrillAndAuditRecords", [prefixes.drill(c.env), prefixes.audit(c.env)]);
}

/** IRSA: only this service account of this namespace, only with the STS audience. */
export function irsaTrustPolicy(oidcProviderArn: string, namespace: string, serviceAccount: string): PolicyDocument {
    const issuer = oidcIssuerFromProviderArn(oidcProviderArn);
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ServiceAccountWebIdentity",
                Effect: "Allow",
                Principal: { Federated: oidcProviderArn },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                    StringEquals: {
                        [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`,
                        [`${issuer}:aud`]: "sts.amazonaws.com",
                    },
                },
            },
        ],
    };
}

export const RESTORE_MFA_MAX_AGE_SECONDS = 3600;

/** People assume the restore-operator role only with a recent MFA sign-in. */
export function restoreOperatorTrustPolicy(operatorArns: string[]): PolicyDocument {
    return peopleWithMfaTrustPolicy(operatorArns, RESTORE_MFA_MAX_AGE_SECONDS);
}

/** A role for people: these principals, only with an MFA sign-in younger than `maxAgeSeconds`. */
export function peopleWithMfaTrustPolicy(principalArns: string[], maxAgeSeconds: number): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "PeopleWithMfa",
                Effect: "Allow",
                Principal: { AWS: principalArns },
                Action: "sts:AssumeRole",
                Condition: {
                    Bool: { "aws:MultiFactorAuthPresent": "true" },
                    NumericLessThan: { "aws:MultiFactorAuthAge": String(maxAgeSeconds) },
                },
            },
        ],
    };
}
