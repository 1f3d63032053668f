// Policy 3: SSE-KMS with a customer-managed key and S3 bucket keys. AES256 (SSE-S3) and the AWS-managed
// key `aws/s3` cannot be rotated, audited or revoked by the team, and their key policy cannot be narrowed.
import { type BackupPolicy, isSet, readPolicyConfig, show } from "../lib/common";
import { isBucket, isVaultResource, type SseRule, sseRulesOf, VAULT_BUCKET_SCHEMA } from "../lib/bucket-state";

const KMS_ALGORITHMS = ["aws:kms", "aws:kms:dsse"];

/** The AWS-managed S3 key, by alias or ARN (`arn:aws:kms:…:alias/aws/s3`). */
export function isAwsManagedKeyRef(keyId: string): boolean {
    return /(^|:)alias\/aws\//.test(keyId);
}


export function sseRuleProblems(rules: SseRule[] | undefined): string[] {
    const out: string[] = [];
    if (!rules || rules.length === 0) return ["no encryption rule: objects would get SSE-S3 (AES256) by default"];
    rules.forEach((r, i) => {
        const at = rules.length > 1 ? `rule ${i}: ` : "";
        const d = r.applyServerSideEncryptionByDefault;
        if (!d) {
            out.push(`${at}no applyServerSideEncryptionByDefault; expected sseAlgorithm "aws:kms" with a customer-managed key`);
            return;
        }
        if (!KMS_ALGORITHMS.includes(String(d.sseAlgorithm))) {
            out.push(`${at}sseAlgorithm is ${show(d.sseAlgorithm)}, expected "aws:kms" with a customer-managed key (AES256 is SSE-S3: no key policy, no rotation control, no audit of use)`);
        } else if (!isSet(d.kmsMasterKeyId) || d.kmsMasterKeyId === "") {
            out.push(`${at}sseAlgorithm is ${show(d.sseAlgorithm)} but kmsMasterKeyId is unset, which means the AWS-managed key aws/s3; expected the vault's customer-managed key`);
        } else if (isAwsManagedKeyRef(d.kmsMasterKeyId)) {
            out.push(`${at}kmsMasterKeyId ${show(d.kmsMasterKeyId)} is the AWS-managed key; expected the vault's customer-managed key`);
        }
        if (r.bucketKeyEnabled !== true) {
            out.push(`${at}bucketKeyEnabled is ${show(r.bucketKeyEnabled)}, expected true (S3 bucket keys cut KMS requests and cost by orders of magnitude)`);
        }
    });
    return out;
}

export const encryptionPolicy: BackupPolicy = {
    name: "vault-sse-kms-customer-key",
    description: "Vault buckets encrypt by default with SSE-KMS under a customer-managed key (not AES256, not aws/s3) with bucket keys on.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Declare a BucketServerSideEncryptionConfiguration with one rule: applyServerSideEncryptionByDefault " +
        "{ sseAlgorithm: \"aws:kms\", kmsMasterKeyId: <the vault key's ARN> } and bucketKeyEnabled: true (BackupVault does).",
    configSchema: { properties: { bucketName: VAULT_BUCKET_SCHEMA } },
    configFromStack: (cfg) => ({ bucketName: cfg.aws.bucketName }),
    validateResource: (args, report) => {
        // Every spelling: BucketServerSideEncryptionConfiguration(V2) or the Bucket's inline block.
        const rules = sseRulesOf(args.type, args.props);
        if (!rules) return;
        if (!isVaultResource(args.type, args.props, readPolicyConfig<{ bucketName?: string }>(encryptionPolicy, args).bucketName)) return;
        for (const p of sseRuleProblems(rules)) report(isBucket(args.type) ? `inline serverSideEncryptionConfiguration: ${p}` : p);
    },
};
