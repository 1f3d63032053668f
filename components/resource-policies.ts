// Resource policies of the vault: the S3 bucket policy and the KMS key policy, pure functions of plain
// strings like the identity policies beside them (iam-policies.ts), serialized by components/vault.ts.
// docs/architecture.md "Security model" is the source of truth for who may do what.
import { prefixes } from "@supabase-backups/contracts";
import { bucketArn } from "./names";
import { BUCKET_CONFIG_ACTIONS, KEY_DESTROY_ACTIONS, denyKeyDestructionExceptDeployers, type PolicyDocument, type PolicyStatement } from "./iam-policies";

export interface BucketPolicyContext {
    bucket: string;
    env: string;
    kmsKeyArn: string;
    deployerArns: string[];
    /** roles that write objects and so may set their retention */
    writerRoleArns: string[];
    gcRoleArn: string;
    /** the drill identity: the only principal that may put drill records (drill/{env}/) */
    drillRoleArn: string;
    /** the verifier: the only principal that may put verification records (verify/{env}/) */
    verifierRoleArn: string;
}

/**
 * Create-only, for every principal: a PutObject or CompleteMultipartUpload without `If-None-Match` is
 * refused, so nobody (a stolen writer, verifier or operator token included) can put a new current
 * version over an existing key; with the header S3 answers 412 when the key exists. The documented
 * form (S3 User Guide, "Enforce conditional writes"): `s3:ObjectCreationOperation` is true only for the
 * requests that create an object (PutObject, CopyObject, CompleteMultipartUpload), so
 * CreateMultipartUpload and UploadPart, which cannot carry the header, stay allowed. A copy into the
 * vault is refused too (S3 does not take conditional headers on CopyObject).
 */
export function createOnlyStatements(b: string): PolicyStatement[] {
    return [
        {
            Sid: "DenyOverwrites",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:PutObject",
            Resource: `${b}/*`,
            Condition: { Null: { "s3:if-none-match": "true" }, Bool: { "s3:ObjectCreationOperation": "true" } },
        },
    ];
}

/**
 * SSE-C (customer-provided keys): the object would be readable only with a key the writer chose, so a
 * stolen writer token could store backups nobody else can read. The SSE-KMS denies never see it (SSE-C
 * sends another header), hence its own deny on the header's presence; UploadPart carries it too.
 */
export function noCustomerKeyStatements(b: string): PolicyStatement[] {
    return [
        {
            Sid: "DenyCustomerProvidedKeys",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:PutObject",
            Resource: `${b}/*`,
            // "present with any value": what Null "false" says on AWS, but an S3-compatible store that
            // never fills in the key (Ceph RGW 16.2, whose Null operator matches every request) then
            // refuses nothing instead of every put.
            Condition: { StringLike: { "s3:x-amz-server-side-encryption-customer-algorithm": "*" } },
        },
    ];
}

/**
 * Bucket policy: applies to every principal, including account admins whose identity policies allow
 * `s3:*`. Denies non-TLS access; puts that ask for another encryption or another key (a put without
 * the header gets the bucket default, SSE-KMS with the vault key — denying a missing header would also
 * reject UploadPart, which never carries it, and break multipart uploads of large dumps; negated
 * operators are true for a missing key, so each deny also requires the header to be present);
 * configuration changes and retention bypass by anyone but the deployers; retention changes by anyone
 * but the roles that write; deletes by anyone but gc, and by gc outside the blob prefix; drill records
 * by anyone but the drill identity, verification records by anyone but the verifier (a record there says
 * whether the backups restore: a writer granted more by mistake, or an account admin, must not be able to
 * put a "passed" one; the records are also signed, docs/security.md "Tampering with the vault").
 */
export function bucketPolicy(c: BucketPolicyContext): PolicyDocument {
    const b = bucketArn(c.bucket);
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [b, `${b}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
            {
                Sid: "DenyNonKmsEncryption",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: `${b}/*`,
                Condition: {
                    StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" },
                    Null: { "s3:x-amz-server-side-encryption": "false" },
                },
            },
            {
                Sid: "DenyWrongKmsKey",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: `${b}/*`,
                Condition: {
                    StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": c.kmsKeyArn },
                    Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" },
                },
            },
            ...noCustomerKeyStatements(b),
            ...createOnlyStatements(b),
            {
                Sid: "DenyConfigChangesExceptDeployers",
                Effect: "Deny",
                Principal: "*",
                Action: [...BUCKET_CONFIG_ACTIONS],
                Resource: b,
                Condition: { ArnNotLike: { "aws:PrincipalArn": c.deployerArns } },
            },
            {
                Sid: "DenyRetentionBypass",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:BypassGovernanceRetention"],
                Resource: `${b}/*`,
                Condition: { ArnNotLike: { "aws:PrincipalArn": c.deployerArns } },
            },
            {
                Sid: "DenyRetentionChangesExceptWriters",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:PutObjectRetention", "s3:PutObjectLegalHold"],
                Resource: `${b}/*`,
                // gc too: its audit records are put with their own lock (its identity document allows puts
                // and retention only under audit/<env>/; COMPLIANCE can only be extended anyway)
                Condition: { ArnNotLike: { "aws:PrincipalArn": [...c.deployerArns, ...c.writerRoleArns, c.gcRoleArn] } },
            },
            {
                Sid: "DenyDeleteExceptGc",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                Resource: `${b}/*`,
                Condition: { ArnNotLike: { "aws:PrincipalArn": c.gcRoleArn } },
            },
            recordsOnlyBy("DenyDrillRecordsExceptDrill", `${b}/${prefixes.drill(c.env)}*`, c.drillRoleArn),
            recordsOnlyBy("DenyVerifyRecordsExceptVerifier", `${b}/${prefixes.verify(c.env)}*`, c.verifierRoleArn),
            {
                Sid: "DenyDeleteOutsideBlobs",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                NotResource: `${b}/${prefixes.storageBlobs(c.env)}*`,
            },
        ],
    };
}

/** Puts under a records prefix denied to every principal but the one that signs those records. */
function recordsOnlyBy(sid: string, resource: string, signerArn: string): PolicyStatement {
    return { Sid: sid, Effect: "Deny", Principal: "*", Action: ["s3:PutObject"], Resource: resource, Condition: { ArnNotLike: { "aws:PrincipalArn": signerArn } } };
}

/** The break-glass role as a key policy needs it (components/break-glass.ts, config aws.breakGlass). */
export interface BreakGlassKeyAccess {
    roleArn: string;
    mfaMaxAgeSeconds: number;
    deployersMayChangeKeyPolicy: boolean;
}

export interface KeyPolicyContext {
    accountId: string;
    deployerArns: string[];
    /** the break-glass role (components/break-glass.ts); absent: the deployers keep the key */
    breakGlass?: BreakGlassKeyAccess;
}

/** What the break-glass role may do to a key (besides using nothing: it never encrypts, decrypts or signs). */
export const BREAK_GLASS_KEY_ACTIONS = [
    ...KEY_DESTROY_ACTIONS,
    "kms:CancelKeyDeletion",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
] as const;

/**
 * Key policy: IAM policies decide use (account root delegation); keyAdministrationStatements decide who
 * may destroy the key.
 */
export function kmsKeyPolicy(c: KeyPolicyContext): PolicyDocument {
    const root: PolicyStatement = {
        Sid: "EnableIamPolicies",
        Effect: "Allow",
        Principal: { AWS: `arn:aws:iam::${c.accountId}:root` },
        Action: "kms:*",
        Resource: "*",
    };
    return { Version: "2012-10-17", Statement: [root, ...keyAdministrationStatements(c.deployerArns, c.breakGlass)] };
}

/**
 * Who may destroy a key (the vault key and the record-signing key alike): deleting it, disabling it,
 * stopping its rotation and changing its policy. With a break-glass role: only that role, only with a
 * recent MFA sign-in, granted here in the key policy itself (the role carries no IAM policy);
 * `deployersMayChangeKeyPolicy` keeps kms:PutKeyPolicy with the deployers too. Without one: the deployers.
 */
export function keyAdministrationStatements(deployerArns: string[], bg: BreakGlassKeyAccess | undefined): PolicyStatement[] {
    if (!bg) return [denyKeyDestructionExceptDeployers(deployerArns)];
    const policyChange = "kms:PutKeyPolicy";
    const destroy = KEY_DESTROY_ACTIONS.filter((a) => !bg.deployersMayChangeKeyPolicy || a !== policyChange);
    const out: PolicyStatement[] = [
        {
            Sid: "BreakGlassAdministersKey",
            Effect: "Allow",
            Principal: { AWS: bg.roleArn },
            Action: [...BREAK_GLASS_KEY_ACTIONS],
            Resource: "*",
            Condition: { Bool: { "aws:MultiFactorAuthPresent": "true" } },
        },
        {
            Sid: "DenyKeyDestructionExceptBreakGlass",
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: destroy,
            Resource: "*",
            Condition: { ArnNotLike: { "aws:PrincipalArn": bg.roleArn } },
        },
        // Two statements: conditions in one statement are ANDed, and either one missing must deny.
        {
            Sid: "DenyKeyDestructionWithoutMfa",
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: destroy,
            Resource: "*",
            Condition: { BoolIfExists: { "aws:MultiFactorAuthPresent": "false" } },
        },
        {
            Sid: "DenyKeyDestructionWithStaleMfa",
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: destroy,
            Resource: "*",
            Condition: { NumericGreaterThanIfExists: { "aws:MultiFactorAuthAge": String(bg.mfaMaxAgeSeconds) } },
        },
    ];
    if (bg.deployersMayChangeKeyPolicy) {
        out.push({
            Sid: "DenyKeyPolicyChangesExceptDeployersAndBreakGlass",
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: policyChange,
            Resource: "*",
            Condition: { ArnNotLike: { "aws:PrincipalArn": [...deployerArns, bg.roleArn] } },
        });
    }
    return out;
}
