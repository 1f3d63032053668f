// The S3 vault's settings, whatever spelling declares them: the separate resources in every type version
// of the AWS provider (BucketObjectLockConfiguration and …V2, BucketVersioning and …V2, …), and the same
// settings written inline on the Bucket (or BucketV2). Each normaliser returns the canonical form of
// the separate resource's inputs, or undefined when this resource does not declare that setting, so the
// policies judge the setting once, in one shape, and a weakening cannot hide in another spelling.
import type { PolicyResource } from "@pulumi/policy";
import { asArray, BUCKET_COMPANIONS, isSet, T } from "./common";

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

/** Read a property that may be unknown during preview (the policy SDK throws on unknowns). */
export function safe<T>(f: () => T): T | undefined {
    try {
        return f();
    } catch {
        return undefined;
    }
}

/**
 * A bucket's companion resources (BUCKET_COMPANIONS, every type version), matched by their `bucket`
 * property or by what that property depends on (unknown until the bucket exists), plus the settings
 * written inline on the bucket, which count as (and compete with) the separate resource.
 */
export function companionsOf(bucket: PolicyResource, all: PolicyResource[]): Map<string, PolicyResource[]> {
    const ids = new Set([safe(() => bucket.props.bucket), safe(() => bucket.props.id), safe(() => bucket.props.arn)].filter((v) => typeof v === "string" && v !== ""));
    const out = new Map<string, PolicyResource[]>();
    for (const r of all) {
        // …V2 spellings are the same companion; two of them (V1 and V2) fight over one setting.
        const type = r.type.replace(/V2:(\w+)V2$/, ":$1").replace(/V2$/, "");
        if (!(type in BUCKET_COMPANIONS)) continue;
        const byValue = ids.has(safe(() => r.props.bucket));
        const byDependency = (r.propertyDependencies?.bucket ?? []).some((d) => d.urn === bucket.urn);
        if (byValue || byDependency) out.set(type, [...(out.get(type) ?? []), r]);
    }
    // Settings written inline on the bucket count as (and compete with) the separate resource.
    const inline: [string, unknown][] = [
        [T.objectLock, lockOf(bucket.type, bucket.props)],
        [T.versioning, versioningOf(bucket.type, bucket.props)],
        [T.sse, sseRulesOf(bucket.type, bucket.props)],
        [T.lifecycle, lifecycleRulesOf(bucket.type, bucket.props)],
        [T.bucketPolicy, bucketPolicyOf(bucket.type, bucket.props)],
    ];
    for (const [t, v] of inline) if (v !== undefined) out.set(t, [...(out.get(t) ?? []), bucket]);
    return out;
}

