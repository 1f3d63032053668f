// Resource policies of the vault: the S3 bucket policy and the KMS key policy, pure functions of plain
// strings like the identity policies beside them (iam-policies.ts), serialized by components/vault.ts.
// docs/architecture.md "Security model" is the source of truth for who may do what.
import { prefixes } from "@supabase-backups/contracts";
import { bucketArn } from "./names";
import { BUCKET_CONFIG_ACTIONS, KEY_DESTROY_ACTIONS, type PolicyDocument } from "./iam-policies";

export interface BucketPolicyContext {
    bucket: string;
    env: string;
    kmsKeyArn: string;
    deployerArns: string[];
    /** roles that write objects and so may set their retention */
    writerRoleArns: string[];
    gcRoleArn: string;
}

/**
 * Bucket policy: applies to every principal, including account admins whose identity policies allow
 * `s3:*`. Denies non-TLS access; puts that ask for another encryption or another key (a put without
 * the header gets the bucket default, SSE-KMS with the vault key — denying a missing header would also
 * reject UploadPart, which never carries it, and break multipart uploads of large dumps; negated
 * operators are true for a missing key, so each deny also requires the header to be present);
 * configuration changes and retention bypass by anyone but the deployers; retention changes by anyone
 * but the roles that write; deletes by anyone but gc, and by gc outside the blob prefix.
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
                Condition: { ArnNotLike: { "aws:PrincipalArn": [...c.deployerArns, ...c.writerRoleArns] } },
            },
            {
                Sid: "DenyDeleteExceptGc",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                Resource: `${b}/*`,
                Condition: { ArnNotLike: { "aws:PrincipalArn": c.gcRoleArn } },
            },
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

/** Key policy: IAM policies decide use (account root delegation); only deployers can destroy the key. */
export function kmsKeyPolicy(accountId: string, deployerArns: string[]): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "EnableIamPolicies",
                Effect: "Allow",
                Principal: { AWS: `arn:aws:iam::${accountId}:root` },
                Action: "kms:*",
                Resource: "*",
            },
            {
                Sid: "DenyKeyDestructionExceptDeployers",
                Effect: "Deny",
                Principal: { AWS: "*" },
                Action: [...KEY_DESTROY_ACTIONS],
                Resource: "*",
                Condition: { ArnNotLike: { "aws:PrincipalArn": deployerArns } },
            },
        ],
    };
}
