// Manifest and record schemas (docs/architecture.md "Vault layout"). A run is complete iff its
// manifest exists; each manifest carries the sha256 of the previous run's manifest bytes, so a missing
// or altered run breaks the chain visibly.
import { Type, type Static } from "@sinclair/typebox";
import { strict } from "./schema-kit";
import { TIERS } from "./retention";
import { SECRETS, secretsFor, type JobConfig } from "./config";
import { RecordSignatureSchema, signingPayload } from "./record-signature";

const Sha256 = Type.String({ pattern: "^[0-9a-f]{64}$" });
const IsoTime = Type.String({ format: "date-time" });
const RunIdT = Type.String({ pattern: "^\\d{8}T\\d{6}Z-[a-z0-9]{6}$" });
const TierT = Type.Unsafe<(typeof TIERS)[number]>({ type: "string", enum: [...TIERS] });

export const MANIFEST_SCHEMA_VERSION = 1;

/**
 * Storage run and shard manifests: 1 held every object inline (`objects`, read whole); 2 names a separate
 * object list (`objectList`: gzip NDJSON sorted by bucket and name, object-list.ts) that is written and
 * read as a stream. Readers take both.
 */
export const STORAGE_MANIFEST_SCHEMA_VERSION = 2;
const StorageSchemaVersionT = Type.Union([Type.Literal(MANIFEST_SCHEMA_VERSION), Type.Literal(STORAGE_MANIFEST_SCHEMA_VERSION)]);

/**
 * A store's version id (S3 VersionId, Azure versionId) of an object as written by the job. Optional: a
 * store without versioning returns none, and manifests written before version pinning lack it.
 */
const VersionIdT = Type.String({ minLength: 1, maxLength: 1024 });

export const ChainLinkSchema = Type.Object({ runId: RunIdT, sha256: Sha256, versionId: Type.Optional(VersionIdT) }, strict);

export const DbObjectSchema = Type.Object(
    {
        name: Type.Unsafe<"dump" | "schema.sql" | "roles.sql">({ type: "string", enum: ["dump", "schema.sql", "roles.sql"] }),
        key: Type.String(),
        bytes: Type.Integer({ minimum: 0 }),
        sha256: Sha256,
        contentType: Type.String(),
        /** the S3 VersionId the job's PutObject / CompleteMultipartUpload returned: readers read this version */
        versionId: Type.Optional(VersionIdT),
    },
    strict,
);

export const SecondaryCopySchema = Type.Object(
    {
        provider: Type.Literal("azure"),
        status: Type.Unsafe<"ok" | "failed" | "disabled">({ type: "string", enum: ["ok", "failed", "disabled"] }),
        container: Type.Optional(Type.String()),
        objects: Type.Array(
            Type.Object({ name: Type.String(), key: Type.String(), bytes: Type.Integer({ minimum: 0 }), sha256: Sha256, versionId: Type.Optional(VersionIdT) }, strict),
        ),
        error: Type.Optional(Type.String()),
    },
    strict,
);

/**
 * The job config the run used (it holds no secret: secrets reach the jobs only as environment
 * variables) and the names of the secrets it needed, never their values.
 */
export const ConfigSnapshotSchema = Type.Object(
    {
        job: Type.Record(Type.String(), Type.Unknown()),
        secrets: Type.Array(Type.Object({ name: Type.String(), env: Type.String() }, strict)),
    },
    strict,
);
export type ConfigSnapshot = Static<typeof ConfigSnapshotSchema>;

/** The snapshot a run records of its config: a deep copy of the job config and its secrets' names. */
export function configSnapshot(config: JobConfig): ConfigSnapshot {
    return {
        job: structuredClone(config) as Record<string, unknown>,
        secrets: secretsFor(config).map((name) => ({ name, env: SECRETS[name].env })),
    };
}

export const DbManifestSchema = Type.Object(
    {
        schemaVersion: Type.Literal(MANIFEST_SCHEMA_VERSION),
        kind: Type.Literal("db"),
        env: Type.String(),
        runId: RunIdT,
        startedAt: IsoTime,
        finishedAt: IsoTime,
        source: Type.Object(
            {
                serverVersion: Type.String(),
                /** host and database only: never user or password */
                host: Type.String(),
                database: Type.String(),
            },
            strict,
        ),
        pgDumpVersion: Type.String(),
        compression: Type.Object(
            {
                algorithm: Type.Unsafe<"zstd" | "lz4" | "gzip" | "none">({ type: "string", enum: ["zstd", "lz4", "gzip", "none"] }),
                level: Type.Integer(),
                /** pg_dump compressed (client ≥ 16) or the job did, around a -Z0 dump */
                by: Type.Unsafe<"pg_dump" | "job" | "none">({ type: "string", enum: ["pg_dump", "job", "none"] }),
            },
            strict,
        ),
        encryption: Type.Union([Type.Object({ tool: Type.Literal("age"), recipient: Type.String() }, strict), Type.Null()]),
        tier: TierT,
        retainUntil: IsoTime,
        objects: Type.Array(DbObjectSchema, { minItems: 1 }),
        secondary: SecondaryCopySchema,
        snapshot: Type.Object(
            {
                /** exact counts taken in the dump's own snapshot */
                rowCounts: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
                migrationVersion: Type.Union([Type.String(), Type.Null()]),
                rlsTables: Type.Array(Type.String()),
                extensions: Type.Array(Type.String()),
            },
            strict,
        ),
        previous: Type.Union([ChainLinkSchema, Type.Null()]),
        /** What a rebuild needs to recreate: optional, older manifests lack it. */
        config: Type.Optional(ConfigSnapshotSchema),
    },
    strict,
);
export type DbManifest = Static<typeof DbManifestSchema>;

/**
 * A storage blob's copy in the Azure archive: its versionId (absent where the store keeps none) and the
 * end of its Locked immutability policy as the job last set it (a lower bound), like `lockedUntil`.
 */
export const ArchiveBlobSchema = Type.Object({ versionId: Type.Optional(VersionIdT), lockedUntil: Type.Optional(IsoTime) }, strict);

/** The storage run's Azure copy: "degraded" when some referenced blobs (`missing`) are not known to be there. */
export const StorageArchiveSchema = Type.Object(
    {
        provider: Type.Literal("azure"),
        container: Type.String(),
        status: Type.Unsafe<"ok" | "degraded">({ type: "string", enum: ["ok", "degraded"] }),
        /** entries whose blob is not known to be in the archive (the next run copies them) */
        missing: Type.Integer({ minimum: 0 }),
        /** blobs this run copied there */
        copied: Type.Integer({ minimum: 0 }),
        error: Type.Optional(Type.String()),
    },
    strict,
);
export type StorageArchive = Static<typeof StorageArchiveSchema>;

export const StorageObjectSchema = Type.Object(
    {
        bucket: Type.String(),
        name: Type.String(),
        size: Type.Integer({ minimum: 0 }),
        sha256: Sha256,
        contentType: Type.Union([Type.String(), Type.Null()]),
        cacheControl: Type.Union([Type.String(), Type.Null()]),
        metadata: Type.Record(Type.String(), Type.Unknown()),
        updatedAt: Type.String(),
        eTag: Type.Union([Type.String(), Type.Null()]),
        blobKey: Type.String(),
        /**
         * The blob's Object Lock retain-until as the job last set it (upload or PutObjectRetention), or a
         * lower bound of it. Optional: older manifests lack it, and a blob without it counts as needing an
         * extension. Lets a run extend only blobs whose lock ends before its own retain-until.
         */
        lockedUntil: Type.Optional(IsoTime),
        /** the blob's S3 VersionId as uploaded (or as recorded by the run that uploaded it) */
        versionId: Type.Optional(VersionIdT),
        /** the blob's copy in the Azure archive (same key); absent: not there, or not known to be */
        archive: Type.Optional(ArchiveBlobSchema),
    },
    strict,
);
export type StorageObject = Static<typeof StorageObjectSchema>;

/**
 * Where a version-2 storage manifest keeps its objects: the list's key, the version the job wrote, the
 * sha256 and size of its stored (compressed) bytes and its entry count. The manifest's own sha256 (the
 * hash chain, the signed verification records) thereby covers the list.
 */
export const ObjectListRefSchema = Type.Object(
    {
        key: Type.String(),
        versionId: Type.Optional(VersionIdT),
        sha256: Sha256,
        bytes: Type.Integer({ minimum: 0 }),
        count: Type.Integer({ minimum: 0 }),
        encoding: Type.Literal("ndjson+gzip"),
    },
    strict,
);
export type ObjectListRef = Static<typeof ObjectListRefSchema>;

export const FailedObjectSchema = Type.Object({ bucket: Type.String(), name: Type.String(), error: Type.String() }, strict);

/** A source object listed by the run but deleted before it could be read: not a failure, recorded. */
export const VanishedObjectSchema = Type.Object({ bucket: Type.String(), name: Type.String() }, strict);

/**
 * A source object not synced because its name could address another object or path (object-names.ts):
 * recorded with its name made printable (escaped, cut at 200 characters), never copied.
 */
export const UnsafeObjectSchema = Type.Object({ bucket: Type.String(), name: Type.String(), reason: Type.String() }, strict);

export const StorageStatsSchema = Type.Object(
    {
        listed: Type.Integer({ minimum: 0 }),
        copied: Type.Integer({ minimum: 0 }),
        skipped: Type.Integer({ minimum: 0 }),
        deduplicated: Type.Integer({ minimum: 0 }),
        failed: Type.Integer({ minimum: 0 }),
        bytesUploaded: Type.Integer({ minimum: 0 }),
    },
    strict,
);

export const StorageShardManifestSchema = Type.Object(
    {
        schemaVersion: StorageSchemaVersionT,
        kind: Type.Literal("storage-shard"),
        env: Type.String(),
        runId: RunIdT,
        shard: Type.Object({ index: Type.Integer({ minimum: 0 }), count: Type.Integer({ minimum: 1 }) }, strict),
        startedAt: IsoTime,
        finishedAt: IsoTime,
        /** version 1: every entry inline */
        objects: Type.Optional(Type.Array(StorageObjectSchema)),
        /** version 2: the shard's entries as a separate sorted list */
        objectList: Type.Optional(ObjectListRefSchema),
        failed: Type.Array(FailedObjectSchema),
        vanished: Type.Optional(Type.Array(VanishedObjectSchema)),
        unsafe: Type.Optional(Type.Array(UnsafeObjectSchema)),
        stats: StorageStatsSchema,
        archive: Type.Optional(StorageArchiveSchema),
    },
    strict,
);
export type StorageShardManifest = Static<typeof StorageShardManifestSchema>;

/** A bucket's own settings (storage.buckets), so a rebuilt bucket is what it was (public-assets stays public). */
export const BucketSettingsSchema = Type.Object(
    {
        public: Type.Boolean(),
        fileSizeLimit: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
        allowedMimeTypes: Type.Union([Type.Array(Type.String()), Type.Null()]),
    },
    strict,
);
export type BucketSettings = Static<typeof BucketSettingsSchema>;

/** A row-level-security policy on storage.objects (pg_policies): who may read and write which bucket's objects. */
export const StoragePolicySchema = Type.Object(
    {
        name: Type.String(),
        command: Type.String(),
        permissive: Type.Boolean(),
        roles: Type.Array(Type.String()),
        using: Type.Union([Type.String(), Type.Null()]),
        withCheck: Type.Union([Type.String(), Type.Null()]),
    },
    strict,
);
export type StoragePolicy = Static<typeof StoragePolicySchema>;

export const StorageManifestSchema = Type.Object(
    {
        schemaVersion: StorageSchemaVersionT,
        kind: Type.Literal("storage"),
        env: Type.String(),
        runId: RunIdT,
        startedAt: IsoTime,
        finishedAt: IsoTime,
        mode: Type.Unsafe<"rest" | "s3">({ type: "string", enum: ["rest", "s3"] }),
        shards: Type.Integer({ minimum: 1 }),
        tier: TierT,
        retainUntil: IsoTime,
        buckets: Type.Array(
            Type.Object(
                {
                    name: Type.String(),
                    objects: Type.Integer({ minimum: 0 }),
                    bytes: Type.Integer({ minimum: 0 }),
                    /** optional: older manifests lack it */
                    settings: Type.Optional(BucketSettingsSchema),
                },
                strict,
            ),
        ),
        /** the RLS policies on storage.objects at the run (optional: older manifests lack them) */
        policies: Type.Optional(Type.Array(StoragePolicySchema)),
        /** version 1: every entry inline */
        objects: Type.Optional(Type.Array(StorageObjectSchema)),
        /** version 2: the entries as a separate list, sorted by bucket and name (object-list.ts) */
        objectList: Type.Optional(ObjectListRefSchema),
        failed: Type.Array(FailedObjectSchema),
        vanished: Type.Optional(Type.Array(VanishedObjectSchema)),
        unsafe: Type.Optional(Type.Array(UnsafeObjectSchema)),
        stats: StorageStatsSchema,
        /** the Azure archive copy (absent: no archive configured, or a manifest from before it) */
        archive: Type.Optional(StorageArchiveSchema),
        previous: Type.Union([ChainLinkSchema, Type.Null()]),
    },
    strict,
);
export type StorageManifest = Static<typeof StorageManifestSchema>;
/** A storage manifest with its entries in memory (version 1 as stored, version 2 with its list read). */
export type StorageManifestWithObjects = StorageManifest & { objects: StorageObject[] };

export const CheckResultSchema = Type.Object(
    { name: Type.String(), ok: Type.Boolean(), detail: Type.String(), seconds: Type.Optional(Type.Number()) },
    strict,
);

export const VerifyRecordSchema = Type.Object(
    {
        schemaVersion: Type.Literal(MANIFEST_SCHEMA_VERSION),
        kind: Type.Literal("verify"),
        env: Type.String(),
        runId: RunIdT,
        verifiedAt: IsoTime,
        result: Type.Unsafe<"passed" | "failed">({ type: "string", enum: ["passed", "failed"] }),
        /** one line: why it failed */
        reason: Type.Union([Type.String(), Type.Null()]),
        manifestSha256: Type.Union([Sha256, Type.Null()]),
        /**
         * The exact manifest this record proves: its key, the version read (null on a store without
         * versioning) and the sha256 of that version's bytes. Readers read this version, and a current
         * version that differs from it is tampering. Absent in records written before version pinning.
         */
        manifest: Type.Optional(Type.Object({ key: Type.String(), versionId: Type.Union([VersionIdT, Type.Null()]), sha256: Sha256 }, strict)),
        /** Ed25519 signature over recordSigningPayload(record), by the verifier's key (KMS or a secret) */
        signature: Type.Optional(RecordSignatureSchema),
        /** objects of the run whose current version is not the pinned one (found by this verification) */
        tampered: Type.Optional(Type.Array(Type.Object({ key: Type.String(), pinned: Type.Union([VersionIdT, Type.Null()]), current: Type.Union([VersionIdT, Type.Null()]) }, strict))),
        dumpBytes: Type.Integer({ minimum: 0 }),
        durations: Type.Object(
            {
                downloadSeconds: Type.Number(),
                restoreSeconds: Type.Number(),
                checksSeconds: Type.Number(),
                totalSeconds: Type.Number(),
            },
            strict,
        ),
        checks: Type.Array(CheckResultSchema),
        storage: Type.Optional(
            Type.Object(
                { runId: RunIdT, blobsReferenced: Type.Integer(), blobsMissing: Type.Integer(), sampled: Type.Integer(), sampleMismatches: Type.Integer() },
                strict,
            ),
        ),
    },
    strict,
);
export type VerifyRecord = Static<typeof VerifyRecordSchema>;

export const AuditRecordSchema = Type.Object(
    {
        schemaVersion: Type.Literal(MANIFEST_SCHEMA_VERSION),
        kind: Type.Literal("audit"),
        eventId: Type.String({ pattern: "^[A-Za-z0-9T_-]+$" }),
        env: Type.String(),
        action: Type.String(),
        /** who acted: the caller's cloud identity (STS GetCallerIdentity's ARN, or the store's access key) */
        actor: Type.String(),
        /** what `--actor` (or $SUPABASE_BACKUPS_ACTOR / $USER) claimed, beside the identity */
        actorClaim: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        reason: Type.Union([Type.String(), Type.Null()]),
        startedAt: IsoTime,
        /** null in the "started" record, written before any data action */
        finishedAt: Type.Union([IsoTime, Type.Null()]),
        runId: Type.Union([RunIdT, Type.Null()]),
        /** target with any credentials removed */
        target: Type.String(),
        options: Type.Record(Type.String(), Type.Unknown()),
        result: Type.Unsafe<"started" | "succeeded" | "failed" | "refused">({ type: "string", enum: ["started", "succeeded", "failed", "refused"] }),
        error: Type.Union([Type.String(), Type.Null()]),
        durations: Type.Record(Type.String(), Type.Number()),
    },
    strict,
);
export type AuditRecord = Static<typeof AuditRecordSchema>;

/**
 * The bytes a verification record's signature covers: what it proves (env, run, result, time) and the
 * exact manifest (key, version, sha256). A signed record for another run, result or manifest version
 * does not verify, so a writer cannot re-use one, and nobody without the key can make one.
 */
export function recordSigningPayload(r: Pick<VerifyRecord, "env" | "runId" | "verifiedAt" | "result"> & { manifest?: VerifyRecord["manifest"] }): Buffer {
    const m = r.manifest;
    return signingPayload("verify", [r.env, r.runId, r.verifiedAt, r.result, m?.key ?? null, m?.versionId ?? null, m?.sha256 ?? null]);
}
