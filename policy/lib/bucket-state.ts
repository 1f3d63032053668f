// The S3 vault's settings, whatever spelling declares them: the separate resources in every type version
// of the AWS provider (BucketObjectLockConfiguration and …V2, BucketVersioning and …V2, …), and the same
// settings written inline on the Bucket (or BucketV2). Each normaliser returns the canonical form of
// the separate resource's inputs, or undefined when this resource does not declare that setting, so the
// policies judge the setting once, in one shape, and a weakening cannot hide in another spelling.
import { asArray, isSet } from "./common";

const S3 = (name: string) => `aws:s3/${name[0].toLowerCase()}${name.slice(1)}:${name}`;

/** Type tokens per setting: every version the provider has. */
export const BUCKET_TYPES = [S3("Bucket"), S3("BucketV2")];
export const LOCK_TYPES = [S3("BucketObjectLockConfiguration"), S3("BucketObjectLockConfigurationV2")];
export const VERSIONING_TYPES = [S3("BucketVersioning"), S3("BucketVersioningV2")];
export const SSE_TYPES = [S3("BucketServerSideEncryptionConfiguration"), S3("BucketServerSideEncryptionConfigurationV2")];
export const LIFECYCLE_TYPES = [S3("BucketLifecycleConfiguration"), S3("BucketLifecycleConfigurationV2")];
export const POLICY_TYPES = [S3("BucketPolicy")];
export const ACL_TYPES = [S3("BucketAcl"), S3("BucketAclV2")];

export const isBucket = (type: string) => BUCKET_TYPES.includes(type);

export interface LockState {
    objectLockEnabled?: string;
    rule?: { defaultRetention?: { mode?: string; days?: number; years?: number } };
}

/** Object Lock configuration (the separate resource's shape). */
export function lockOf(type: string, props: any): LockState | undefined {
    if (LOCK_TYPES.includes(type)) return props as LockState;
    if (isBucket(type) && props?.objectLockConfiguration) return props.objectLockConfiguration as LockState;
    return undefined;
}

/** Versioning status: "Enabled", "Suspended", "Disabled" or undefined when not declared here. */
export function versioningOf(type: string, props: any): { status: unknown } | undefined {
    if (VERSIONING_TYPES.includes(type)) return { status: props?.versioningConfiguration?.status };
    if (isBucket(type) && props?.versioning) {
        const v = props.versioning.enabled;
        return { status: v === true ? "Enabled" : v === false ? "Suspended" : v };
    }
    return undefined;
}

export interface SseRule {
    applyServerSideEncryptionByDefault?: { sseAlgorithm?: string; kmsMasterKeyId?: string };
    bucketKeyEnabled?: boolean;
}

/** Default-encryption rules. */
export function sseRulesOf(type: string, props: any): SseRule[] | undefined {
    if (SSE_TYPES.includes(type)) return asArray<SseRule>(props?.rules);
    if (isBucket(type) && props?.serverSideEncryptionConfiguration) return asArray<SseRule>(props.serverSideEncryptionConfiguration.rule ?? props.serverSideEncryptionConfiguration.rules);
    return undefined;
}

export interface LifecycleRule {
    id?: string;
    status?: string;
    prefix?: string;
    filter?: { prefix?: string; tag?: { key: string; value: string }; and?: { prefix?: string; tags?: Record<string, string> } };
    expiration?: { days?: number; date?: string; expiredObjectDeleteMarker?: boolean };
    noncurrentVersionExpiration?: { noncurrentDays?: number };
    abortIncompleteMultipartUpload?: { daysAfterInitiation?: number };
}

/** The inline (BucketV1-style) rule in the separate resource's shape. */
function fromInlineRule(r: any): LifecycleRule {
    const tags = r?.tags && Object.keys(r.tags).length ? r.tags : undefined;
    return {
        id: r?.id,
        status: r?.enabled === false ? "Disabled" : "Enabled",
        filter: tags ? { and: { prefix: r?.prefix ?? "", tags } } : { prefix: r?.prefix ?? "" },
        expiration: r?.expiration ? { days: r.expiration.days, date: r.expiration.date, expiredObjectDeleteMarker: r.expiration.expiredObjectDeleteMarker } : undefined,
        noncurrentVersionExpiration: isSet(r?.noncurrentVersionExpiration?.days) ? { noncurrentDays: r.noncurrentVersionExpiration.days } : undefined,
        abortIncompleteMultipartUpload: isSet(r?.abortIncompleteMultipartUploadDays) ? { daysAfterInitiation: r.abortIncompleteMultipartUploadDays } : undefined,
    };
}

/** Lifecycle rules. */
export function lifecycleRulesOf(type: string, props: any): LifecycleRule[] | undefined {
    if (LIFECYCLE_TYPES.includes(type)) return asArray<LifecycleRule>(props?.rules);
    if (isBucket(type) && asArray(props?.lifecycleRules).length) return asArray<any>(props.lifecycleRules).map(fromInlineRule);
    return undefined;
}

/** The bucket policy document (string or object), from BucketPolicy or the inline `policy`. */
export function bucketPolicyOf(type: string, props: any): unknown {
    if (POLICY_TYPES.includes(type)) return props?.policy;
    if (isBucket(type) && isSet(props?.policy)) return props.policy;
    return undefined;
}

/** Which settings a resource declares, for matching companions to buckets. */
export const SETTINGS = {
    "Object Lock configuration": lockOf,
    versioning: versioningOf,
    "default encryption": sseRulesOf,
    lifecycle: lifecycleRulesOf,
    "bucket policy": bucketPolicyOf,
} as const;

/** The bucket a companion belongs to (its `bucket` input), or the bucket's own name. */
export function bucketNameOf(type: string, props: any): unknown {
    return props?.bucket;
}

/**
 * Is this resource about the vault bucket? The vault's own rules (lock, lifecycle floors, SSE-KMS, the
 * protective bucket-policy denies) apply to it; another bucket of the stack (an access-log bucket) has
 * its own needs (S3 log delivery takes SSE-S3 only, logs expire on their own schedule). A bucket that is
 * not known yet (preview of a new stack) is judged as the vault.
 */
export function isVaultResource(type: string, props: any, vaultBucket: string | undefined): boolean {
    if (vaultBucket === undefined) return true;
    const b = props?.bucket;
    return b === undefined || b === null || b === vaultBucket;
}

/** The config property every vault-scoped policy carries: aws.bucketName. */
export const VAULT_BUCKET_SCHEMA = { type: "string", minLength: 3, description: "the vault bucket (aws.bucketName); other buckets of the stack are not held to the vault's rules" } as const;
