// The stack config schema (what Pulumi.<stack>.yaml holds under the `supabase-backups:` namespace) and
// the job config schema (what the CronJobs mount: the same sections plus the resolved vault targets).
// Defaults live in the schema; ajv fills them in. Every object forbids unknown keys: a typo must fail
// the preview, not silently disable a backup.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { DrillsSchema } from "./drills";
import { BucketRetentionSchema } from "./bucket-retention";
import { AwsSchema } from "./aws-config";
import { AzureSchema } from "./azure-config";
import { Enum, strict } from "./schema-kit";

export const CONFIG_NAMESPACE = "supabase-backups";


const Cron = Type.String({
    minLength: 9,
    description: "cron expression, 5 fields, in schedules.timeZone (e.g. `30 3 * * *`)",
    format: "cron",
});
const Url = Type.String({ format: "uri", description: "absolute URL" });
const Labels = Type.Record(Type.String({ pattern: "^[a-zA-Z_][a-zA-Z0-9_]*$" }), Type.String());
const QualifiedTable = Type.String({
    pattern: "^[a-z_][a-z0-9_$]*\\.[a-z_][a-z0-9_$]*$",
    description: "schema-qualified table name, e.g. public.profiles",
});

export const RetentionSchema = Type.Object(
    {
        daily: Type.Integer({ minimum: 1, maximum: 3660, description: "daily runs kept, in days" }),
        weekly: Type.Integer({ minimum: 0, maximum: 520, default: 0, description: "weekly runs kept, in ISO weeks" }),
        monthly: Type.Integer({ minimum: 0, maximum: 240, default: 0, description: "monthly runs kept, in months" }),
        yearly: Type.Integer({ minimum: 0, maximum: 100, default: 0, description: "yearly runs kept, in years" }),
        objectLockMinDays: Type.Integer({
            minimum: 1,
            maximum: 36500,
            description: "bucket default Object Lock retention (COMPLIANCE) in days; must not exceed the shortest tier",
        }),
    },
    { ...strict, description: "how many periods of each tier are kept (docs/architecture.md, Retention)" },
);

export const SupabaseSchema = Type.Object(
    {
        projectRef: Type.String({ pattern: "^[a-z]{20}$", description: "project reference, 20 lowercase letters" }),
        apiUrl: Type.String({
            format: "uri",
            default: "https://api.supabase.com",
            description: "Management API base URL (receives the Management API token): https://api.supabase.com or a host in supabase.allowedHosts",
        }),
        url: Type.Optional(
            Type.String({
                format: "uri",
                description: "project URL (receives the service-role key); default https://<projectRef>.supabase.co; another host must be in supabase.allowedHosts",
            }),
        ),
        allowedHosts: Type.Array(Type.String({ pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", maxLength: 253 }), {
            default: [],
            description:
                "self-hosted Supabase only: host names (no scheme, no port) that apiUrl, url and storage.s3Endpoint may use besides Supabase's own; the jobs refuse to send a secret anywhere else",
        }),
        pitr: Type.Object(
            {
                required: Type.Boolean({ description: "manage the PITR add-on and alert when it is off" }),
                days: Type.Optional(Enum([7, 14, 28] as const, { description: "PITR window: 7, 14 or 28 days" })),
            },
            strict,
        ),
        backupMaxAgeHours: Type.Number({ minimum: 1, default: 26, description: "alert when Supabase's own newest backup is older" }),
        postgresVersion: Type.String({
            pattern: "^(15|17)\\.\\d+(\\.\\d+){0,2}$",
            description:
                "the project's Postgres version as Supabase reports it (Management API GET /v1/projects/{ref} → database.version, e.g. 17.4.1.054); picks the canary image; check-supabase alerts when the project moves off it",
        }),
    },
    strict,
);

export const SchedulesSchema = Type.Object(
    {
        timeZone: Type.String({ description: "IANA time zone the cron expressions are in", default: "Etc/UTC" }),
        dump: Cron,
        syncStorage: Cron,
        verify: Cron,
        checkSupabase: Type.String({ ...Cron, default: "15 * * * *" }),
        gc: Type.String({ ...Cron, default: "0 5 * * 0" }),
    },
    strict,
);

export const StorageBucketSchema = Type.Object(
    {
        name: Type.String({ pattern: "^[a-z0-9][a-z0-9._-]{0,99}$" }),
        include: Type.Array(Type.String(), { default: [], description: "only names starting with one of these prefixes" }),
        exclude: Type.Array(Type.String(), { default: [], description: "skip names starting with one of these prefixes" }),
        schedule: Type.Optional(Type.String({ ...Cron, description: "own schedule (e.g. weekly); default schedules.syncStorage" })),
        retention: Type.Optional(BucketRetentionSchema),
    },
    strict,
);

export const StorageSchema = Type.Object(
    {
        mode: Enum(["rest", "s3"] as const, { default: "rest", description: "download through the Storage REST API or its S3 protocol" }),
        s3Endpoint: Type.Optional(Url),
        buckets: Type.Optional(Type.Array(StorageBucketSchema, { description: "buckets to sync; absent: all buckets" })),
        concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 16 }),
        shards: Type.Integer({ minimum: 1, maximum: 256, default: 1, description: ">1 runs sync-storage as an Indexed Job" }),
        retries: Type.Integer({ minimum: 0, maximum: 10, default: 3 }),
        archive: Type.Boolean({ default: true, description: "also copy blobs and run manifests to the Azure archive (when azure.enabled); false keeps files in the S3 vault only" }),
    },
    strict,
);

export const SqlCheckSchema = Type.Object(
    {
        name: Type.String({ pattern: "^[a-z0-9][a-z0-9_-]*$" }),
        sql: Type.String({ minLength: 1, description: "a query returning one row, one column" }),
        expect: Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
    },
    strict,
);

export const VerifySchema = Type.Object(
    {
        tables: Type.Array(QualifiedTable, { default: [], description: "tables whose exact row counts are recorded and checked" }),
        checks: Type.Array(SqlCheckSchema, { default: [] }),
        storageSampleRatio: Type.Number({ minimum: 0, maximum: 1, default: 0.01 }),
        storageSampleMin: Type.Integer({ minimum: 0, default: 20 }),
        canaryImage: Type.Optional(
            Type.String({ description: "image of the throw-away canary Postgres (its own pod, no egress); default Supabase's own image at supabase.postgresVersion (same major, same extensions)" }),
        ),
    },
    strict,
);

export const DumpSchema = Type.Object(
    {
        compression: Enum(["zstd", "lz4", "gzip", "none"] as const, { default: "zstd" }),
        // 1: smaller and about half the CPU of 3 on the benchmark data (docs/benchmarks.md "zstd levels")
        level: Type.Integer({ minimum: 1, maximum: 19, default: 1 }),
        excludeSchemas: Type.Array(Type.String(), { default: [] }),
    },
    strict,
);

export const KubernetesSchema = Type.Object(
    {
        namespace: Type.String({ pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 }),
        image: Type.String({
            // name, then a tag, a digest, or both (`repo:1.2.3@sha256:…`: the tag for people, the digest
            // for the kubelet, which pulls by digest and ignores the tag). A malformed digest is refused.
            pattern: "^[^\\s@]+((:[\\w][\\w.-]{0,127})(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$",
            description: "job image: `repo:tag`, or pinned by digest `repo:tag@sha256:<64 hex>` / `repo@sha256:<64 hex>` (pin by digest in prod: a tag can be moved to other bytes)",
        }),
        imagePullPolicy: Enum(["Always", "IfNotPresent", "Never"] as const, { default: "IfNotPresent" }),
        scratchSizeGi: Type.Integer({ minimum: 1, maximum: 2000, default: 20, description: "emptyDir scratch for verify spool" }),
        egressCidrs: Type.Array(Type.String(), {
            default: ["0.0.0.0/0"],
            description: "where jobs may connect (Postgres 5432/6543, HTTPS 443)",
        }),
    },
    strict,
);

export const CapacitySchema = Type.Object(
    {
        databaseBytes: Type.Optional(Type.Integer({ minimum: 1, description: "the project's database disk (bytes): alert when pg_database_size passes nearRatio of it" })),
        storageBytes: Type.Optional(Type.Integer({ minimum: 1, description: "the plan's Storage quota (bytes): alert when the buckets' objects pass nearRatio of it" })),
        nearRatio: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.8, description: "share of a quota that raises the near-quota alerts" }),
        weeklyGrowthRatio: Type.Number({ exclusiveMinimum: 0, default: 0.5, description: "alert when the database or Storage grew by more than this share within 7 days (0.5: +50 %)" }),
    },
    strict,
);

export const AlertsSchema = Type.Object(
    {
        rpoHours: Type.Number({
            exclusiveMinimum: 0,
            description: "recovery point objective in hours: the newest complete dump must be younger (status, SupabaseBackupRpoMissed); in a stack file more than the dump schedule's longest gap, which the dump's run time adds to",
        }),
        rtoMinutes: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, description: "recovery time objective of a full restore, minutes, for stacks without drills (with drills, drills.rtoMinutes.fullLoss is the target and this must be unset): `status` compares the newest verified run's measured canary restore time with it" }),
        ),
        graceMinutes: Type.Integer({ minimum: 0, default: 60, description: "slack added to a schedule's period before a run counts as missed" }),
        sizeAnomalyRatio: Type.Number({
            exclusiveMinimum: 0,
            maximum: 1,
            default: 0.5,
            description: "alert when a dump is smaller than this share of the last week's median, or larger than its inverse (0.5: under half or over twice)",
        }),
        capacity: Type.Optional(CapacitySchema),
        pushgatewayUrl: Type.Optional(Url),
        labels: Type.Optional(Labels),
    },
    strict,
);

export const GrafanaSchema = Type.Object(
    {
        dashboard: Type.Boolean({
            default: true,
            description:
                "declare the Grafana dashboard (generated from the metric contracts) as a ConfigMap labelled grafana_dashboard=\"1\" for Grafana's dashboard sidecar; on by default, like the PrometheusRule (the Prometheus Operator is a prerequisite)",
        }),
        namespace: Type.Optional(
            Type.String({ pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63, description: "namespace of the dashboard ConfigMap (one the sidecar watches); default kubernetes.namespace" }),
        ),
        folder: Type.Optional(
            Type.String({ minLength: 1, maxLength: 100, pattern: "^[^/]+$", description: "Grafana folder, as the annotation grafana_folder (read when the sidecar's folderAnnotation is set, as in kube-prometheus-stack)" }),
        ),
    },
    { ...strict, default: {}, description: "the Grafana dashboard (docs/operations.md, Dashboard)" },
);

export const EncryptionSchema = Type.Object(
    {
        ageRecipient: Type.Optional(Type.String({ pattern: "^age1[02-9ac-hj-np-z]{58}$", description: "age public key; dumps are encrypted to it" })),
    },
    strict,
);

export const MaskingRuleSchema = Type.Object(
    {
        table: QualifiedTable,
        column: Type.String({ pattern: "^[a-z_][a-z0-9_]*$" }),
        rule: Enum(["email", "null", "redact", "hash", "name", "phone"] as const),
    },
    strict,
);

export const MaskingSchema = Type.Object(
    {
        rules: Type.Array(MaskingRuleSchema, { default: [] }),
    },
    strict,
);

export const PostgresSchema = Type.Object(
    {
        caBundle: Type.Optional(
            Type.String({
                pattern: "-----BEGIN CERTIFICATE-----",
                description:
                    "PEM of the CA(s) that sign the database's server certificate (Supabase: Database Settings → SSL Configuration → Download certificate). Mounted into the jobs; connections to non-loopback hosts are sslmode=verify-full against it",
            }),
        ),
        allowPlaintext: Type.Boolean({
            default: false,
            description: "allow plain-text connections to non-loopback Postgres hosts (the password and data unencrypted on the network); logged as a warning at every connection",
        }),
    },
    { ...strict, description: "how the jobs reach Postgres (docs/security.md, Network to Postgres)" },
);

export const StackConfigSchema = Type.Object(
    {
        env: Type.String({ pattern: "^[a-z][a-z0-9-]{1,19}$", description: "environment name: staging, prod, …" }),
        supabase: SupabaseSchema,
        aws: AwsSchema,
        azure: Type.Optional(AzureSchema),
        retention: RetentionSchema,
        schedules: SchedulesSchema,
        storage: StorageSchema,
        verify: VerifySchema,
        dump: Type.Optional(DumpSchema),
        kubernetes: KubernetesSchema,
        alerts: AlertsSchema,
        grafana: Type.Optional(GrafanaSchema),
        encryption: Type.Optional(EncryptionSchema),
        masking: Type.Optional(MaskingSchema),
        postgres: Type.Optional(PostgresSchema),
        drills: Type.Optional(DrillsSchema),
    },
    strict,
);
export type StackConfig = Static<typeof StackConfigSchema>;

/** Secrets: top-level keys that must be Pulumi secrets, and the env var each reaches the jobs as. */
export const SECRETS = {
    databaseUrl: { env: "DATABASE_URL", required: true, description: "Postgres URL of the Supabase database (session pooler or direct)" },
    serviceRoleKey: { env: "SUPABASE_SERVICE_ROLE_KEY", required: true, description: "service-role key for Storage downloads" },
    managementApiToken: { env: "SUPABASE_ACCESS_TOKEN", required: true, description: "Management API token (PITR, backups)" },
    ageIdentity: { env: "AGE_IDENTITY", required: false, description: "age secret key; only the verifier gets it" },
    storageS3AccessKeyId: { env: "SUPABASE_S3_ACCESS_KEY_ID", required: false, description: "Storage S3 protocol access key id (needed when storage.mode is s3)" },
    storageS3SecretAccessKey: { env: "SUPABASE_S3_SECRET_ACCESS_KEY", required: false, description: "Storage S3 protocol secret key (needed when storage.mode is s3)" },
    drillScratchPassword: { env: "SUPABASE_BACKUPS_DRILL_PASSWORD", required: false, description: "password of drills.scratchDatabaseUrl's user; only the drill CronJobs get it (needed with drills)" },
} as const;
export type SecretName = keyof typeof SECRETS;
export const SECRET_NAMES = Object.keys(SECRETS) as SecretName[];

/** The secrets a config needs: the required ones, the age identity with encryption, the Storage S3 keys in s3 mode. */
export function secretsFor(cfg: { encryption?: { ageRecipient?: string } | null; storage?: { mode?: string } | null; drills?: object | null }): SecretName[] {
    return SECRET_NAMES.filter((name) => {
        if (SECRETS[name].required) return true;
        if (name === "ageIdentity") return Boolean(cfg.encryption?.ageRecipient);
        if (name === "drillScratchPassword") return Boolean(cfg.drills);
        return cfg.storage?.mode === "s3";
    });
}

/** Other environment variables the jobs read. */
export const JOB_ENV = {
    canaryDatabaseUrl: "CANARY_DATABASE_URL",
    /** verify: the canary superuser's password when CANARY_DATABASE_URL carries none (Kubernetes: from the canary's Secret) */
    canaryDatabasePassword: "CANARY_DATABASE_PASSWORD",
    azureConnectionString: "AZURE_STORAGE_CONNECTION_STRING",
    jobCompletionIndex: "JOB_COMPLETION_INDEX",
    jobCompletions: "JOB_COMPLETIONS",
    config: "SUPABASE_BACKUPS_CONFIG",
    /**
     * Name of the CronJob that started the run. When a kind has several CronJobs (sync-storage with
     * per-bucket schedules), the jobs add it as the metric label METRIC_LABELS.cronJob (and to the
     * Pushgateway grouping key) so each schedule keeps its own series and its own dead man's switch.
     */
    cronJob: "SUPABASE_BACKUPS_CRONJOB",
    /**
     * Ed25519 private key (PKCS#8 PEM) that signs verification records where no KMS key does (tests,
     * S3-compatible vaults); a secret only the verifier gets, never logged
     */
    recordSigningKey: "VERIFY_SIGNING_KEY",
    /** The same for drill records: a secret only the drill identity gets, never logged */
    drillSigningKey: "DRILL_SIGNING_KEY",
    /** "true": plain text to non-loopback Postgres hosts for this process (an operator's one-off; logged loudly) */
    pgAllowPlaintext: "SUPABASE_BACKUPS_PG_ALLOW_PLAINTEXT",
    /** restore db: the target's password (never on the command line) */
    targetPassword: "SUPABASE_BACKUPS_TARGET_PASSWORD",
} as const;

/** A signing key as readers and the signer see it (vault.recordSigning, vault.drillRecordSigning). */
const RecordSigningSchema = (signer: string) =>
    Type.Object(
        {
            /** the Ed25519 public key (SPKI PEM) that checks records; the stack reads it from KMS */
            publicKeyPem: Type.String({ minLength: 1 }),
            kmsKeyArn: Type.Optional(Type.String({ minLength: 1, description: `the KMS key (ECC_NIST_EDWARDS25519, SIGN_VERIFY) ${signer}` })),
        },
        strict,
    );

export const VaultTargetSchema = Type.Object(
    {
        bucket: Type.String({ minLength: 3 }),
        region: Type.String({ minLength: 1 }),
        kmsKeyArn: Type.Optional(Type.String()),
        endpoint: Type.Optional(Type.String({ format: "uri", description: "S3 endpoint override (tests, S3-compatible stores)" })),
        forcePathStyle: Type.Boolean({ default: false }),
        /**
         * How verification records are signed and checked (docs/security.md "Tampering with the vault").
         * With it, restore, status and verify trust a record only with a valid signature.
         */
        recordSigning: Type.Optional(RecordSigningSchema("verify signs with; without it, the secret in JOB_ENV.recordSigningKey")),
        /**
         * How drill records are signed and checked: the same, with the drill identity's own key (it never
         * signs verification records, nor the verifier drill records). With it, status trusts a drill
         * record only with a valid signature.
         */
        drillRecordSigning: Type.Optional(RecordSigningSchema("drill signs with; without it, the secret in JOB_ENV.drillSigningKey")),
    },
    strict,
);

export const ArchiveTargetSchema = Type.Object(
    {
        accountUrl: Type.String({ format: "uri", description: "https://<account>.blob.core.windows.net" }),
        container: Type.String({ minLength: 3 }),
    },
    strict,
);

/** What the CronJobs mount (ConfigMap `job-config.json`): the stack config plus resolved targets. */
export const JobConfigSchema = Type.Object(
    {
        ...StackConfigSchema.properties,
        vault: VaultTargetSchema,
        archive: Type.Optional(ArchiveTargetSchema),
    },
    strict,
);
export type JobConfig = Static<typeof JobConfigSchema>;

export function schemaOf(name: "stack" | "job"): TSchema {
    return name === "stack" ? StackConfigSchema : JobConfigSchema;
}
