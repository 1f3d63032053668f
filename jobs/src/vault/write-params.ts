// The one place that says how an object is written to the vault (docs/architecture.md "Vault layout",
// "Retention", "Security model"): write-once (`If-None-Match: *`), SHA256 checksum, Object Lock
// COMPLIANCE until the object's retain-until, the tags lifecycle rules and audits read, and SSE-KMS with
// the vault's key (the bucket policy denies any other). Every writer — dump, sync-storage, verify,
// audit — builds its PutObject/CreateMultipartUpload input here.
import type { PutObjectCommandInput, PutObjectRetentionCommandInput, PutObjectTaggingCommandInput } from "@aws-sdk/client-s3";
import type { ARCHIVE_TAG, JobConfig, TierTag } from "@supabase-backups/contracts";

/** What a vault object carries as tags: `kind` (which job wrote it), `env`, and `tier` when lifecycle
 * rules must expire it with its run. Blobs carry no tier (shared by runs of every tier; gc deletes them). */
export interface VaultTags {
    env: string;
    kind: "dump" | "sync-storage" | "verify" | "audit" | "drill";
    /** the tier, or `storage-<tier>` for storage runs a bucket override keeps longer (contracts/bucket-retention.ts) */
    tier?: TierTag;
    content?: "blob";
    /** bulk run data the lifecycle may move to colder classes (contracts ARCHIVE_TAG); never on records */
    archive?: typeof ARCHIVE_TAG.value;
}

export interface VaultWrite {
    key: string;
    tags: VaultTags;
    /** COMPLIANCE lock until then; absent: the bucket's default retention applies */
    retainUntil?: Date;
    contentType?: string;
    /** hex sha256 of the whole body, when known before sending (single PUT): S3 checks it */
    sha256?: string;
    size?: number;
}

/** The vault's bucket and KMS key: `config.vault` itself fits. */
export type VaultTarget = Pick<JobConfig["vault"], "bucket" | "kmsKeyArn">;

/** `tier=daily&env=prod&kind=dump` for the x-amz-tagging header. */
function tagging(tags: Record<string, string>): string {
    return new URLSearchParams(tags).toString();
}

export function vaultTags(t: VaultTags): Record<string, string> {
    return { ...(t.tier ? { tier: t.tier } : {}), env: t.env, kind: t.kind, ...(t.content ? { content: t.content } : {}), ...(t.archive ? { archive: t.archive } : {}) };
}

export function sseParams(vault: VaultTarget): Pick<PutObjectCommandInput, "ServerSideEncryption" | "SSEKMSKeyId" | "BucketKeyEnabled"> {
    return vault.kmsKeyArn ? { ServerSideEncryption: "aws:kms", SSEKMSKeyId: vault.kmsKeyArn, BucketKeyEnabled: true } : {};
}

/** The PutObject (or CreateMultipartUpload, via lib-storage) input for one vault object, without Body. */
export function writeParams(vault: VaultTarget, w: VaultWrite): PutObjectCommandInput {
    return {
        Bucket: vault.bucket,
        Key: w.key,
        ...(w.contentType ? { ContentType: w.contentType } : {}),
        ...(w.size !== undefined ? { ContentLength: w.size } : {}),
        ChecksumAlgorithm: "SHA256",
        ...(w.sha256 ? { ChecksumSHA256: Buffer.from(w.sha256, "hex").toString("base64") } : {}),
        ...(w.retainUntil ? { ObjectLockMode: "COMPLIANCE" as const, ObjectLockRetainUntilDate: w.retainUntil } : {}),
        Tagging: tagging(vaultTags(w.tags)),
        IfNoneMatch: "*",
        ...sseParams(vault),
    };
}

/** Extending an existing object's lock (never shortening: S3 refuses that under COMPLIANCE). */
export function retentionParams(vault: VaultTarget, key: string, retainUntil: Date): PutObjectRetentionCommandInput {
    return { Bucket: vault.bucket, Key: key, Retention: { Mode: "COMPLIANCE", RetainUntilDate: retainUntil } };
}

/** The object's tags on their own (sealUpload in s3.ts), the same set writeParams sends. */
export function taggingParams(vault: VaultTarget, key: string, tags: VaultTags): PutObjectTaggingCommandInput {
    return { Bucket: vault.bucket, Key: key, Tagging: { TagSet: Object.entries(vaultTags(tags)).map(([Key, Value]) => ({ Key, Value })) } };
}
