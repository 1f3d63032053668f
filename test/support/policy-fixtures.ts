// Hand-built resources shaped exactly like the inputs of the classes the program declares (AWS v7,
// azure-native v3, kubernetes v4), for a validated stack config: a compliant baseline every policy
// passes, which the tests mutate one setting at a time. The real program is tested too (program.test.ts).
import { join } from "node:path";
import {
    accessLogBucketName,
    activeTiers,
    lifecycleExpiryDays,
    lifecycleTransitions,
    readStackFile,
    validateStackConfig,
    type StackConfig,
} from "@supabase-backups/contracts";
import type { DeclaredResource } from "../../policy/evaluate";
import { bucketPolicy, kmsKeyPolicy } from "../../components/resource-policies";
import { ACCESS_LOG_PREFIX, accessLogBucketPolicy, accessLogLifecycleRules } from "../../components/access-logs";
import { roleArn } from "../../components/names";
import { derivePackConfig, type PackConfig } from "../../policy/config";

export const ROOT = join(__dirname, "..", "..");

export function stackConfig(stack: string): StackConfig {
    const file = readStackFile(join(ROOT, `Pulumi.${stack}.yaml`), { placeholderSecrets: true });
    const v = validateStackConfig(file);
    if (!v.ok) throw new Error(`${stack}: ${JSON.stringify(v.issues)}`);
    return v.config.config;
}

export function packConfig(stack: string): PackConfig {
    return derivePackConfig(stackConfig(stack));
}

function doc(statements: object[]): string {
    return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

export function writerDocument(cfg: StackConfig, bucketArn: string, keyArn: string): string {
    return doc([
        { Sid: "Put", Effect: "Allow", Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectTagging", "s3:AbortMultipartUpload"], Resource: [`${bucketArn}/db/${cfg.env}/*`, `${bucketArn}/storage/${cfg.env}/*`] },
        { Sid: "List", Effect: "Allow", Action: ["s3:ListBucket"], Resource: [bucketArn] },
        { Sid: "ReadRunManifests", Effect: "Allow", Action: ["s3:GetObject"], Resource: [`${bucketArn}/storage/${cfg.env}/runs/*`] },
        { Sid: "Kms", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"], Resource: [keyArn] },
    ]);
}

/** aws.breakGlass as the key policies take it (components/stack.ts). */
function breakGlassOf(cfg: StackConfig) {
    const bg = cfg.aws.breakGlass;
    return bg ? { roleArn: roleArn(cfg.aws.accountId, cfg.env, "break-glass"), mfaMaxAgeSeconds: bg.mfaMaxAgeSeconds, deployersMayChangeKeyPolicy: bg.deployersMayChangeKeyPolicy } : undefined;
}

/** The access-log bucket and the vault's logging into it (components/access-logs.ts), where aws.accessLogs is on. */
function accessLogResources(cfg: StackConfig): DeclaredResource[] {
    if (!cfg.aws.accessLogs?.enabled) return [];
    const bucket = accessLogBucketName(cfg);
    const policy = accessLogBucketPolicy({ logBucket: bucket, sourceBucket: cfg.aws.bucketName, accountId: cfg.aws.accountId, deployerArns: cfg.aws.deployerArns, breakGlassRoleArn: breakGlassOf(cfg)?.roleArn });
    return [
        { type: "aws:s3/bucket:Bucket", name: "logs", props: { bucket, objectLockEnabled: true, forceDestroy: false } },
        { type: "aws:s3/bucketVersioning:BucketVersioning", name: "logs-versioning", props: { bucket, versioningConfiguration: { status: "Enabled" } } },
        { type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name: "logs-pab", props: { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true } },
        { type: "aws:s3/bucketOwnershipControls:BucketOwnershipControls", name: "logs-ownership", props: { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } } },
        { type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", name: "logs-sse", props: { bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] } },
        { type: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", name: "logs-lifecycle", props: { bucket, rules: accessLogLifecycleRules(cfg.aws.accessLogs.retentionDays) } },
        { type: "aws:s3/bucketPolicy:BucketPolicy", name: "logs-policy", props: { bucket, policy: JSON.stringify(policy) } },
        { type: "aws:s3/bucketLogging:BucketLogging", name: "vault-logging", props: { bucket: cfg.aws.bucketName, targetBucket: bucket, targetPrefix: ACCESS_LOG_PREFIX } },
    ];
}

export function resourcesFor(cfg: StackConfig): DeclaredResource[] {
    const env = cfg.env;
    const bucket = cfg.aws.bucketName;
    const bucketArn = `arn:aws:s3:::${bucket}`;
    const keyArn = `arn:aws:kms:${cfg.aws.region}:${cfg.aws.accountId}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    const r = cfg.retention;
    const out: DeclaredResource[] = [
        { type: "aws:kms/key:Key", name: "vault-key", props: { description: "vault", enableKeyRotation: true, deletionWindowInDays: 30, policy: JSON.stringify(kmsKeyPolicy({ accountId: cfg.aws.accountId, deployerArns: cfg.aws.deployerArns, breakGlass: breakGlassOf(cfg) })), bypassPolicyLockoutSafetyCheck: breakGlassOf(cfg) && !breakGlassOf(cfg)!.deployersMayChangeKeyPolicy ? true : undefined }, outputs: { arn: keyArn, keyId: "1234abcd-12ab-34cd-56ef-1234567890ab" } },
        { type: "aws:kms/alias:Alias", name: "vault-key-alias", props: { name: cfg.aws.kms.alias, targetKeyId: keyArn } },
        { type: "aws:s3/bucket:Bucket", name: "vault", props: { bucket, objectLockEnabled: true, forceDestroy: false }, outputs: { arn: bucketArn } },
        { type: "aws:s3/bucketVersioning:BucketVersioning", name: "vault-versioning", props: { bucket, versioningConfiguration: { status: "Enabled" } } },
        {
            type: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            name: "vault-lock",
            props: { bucket, objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: "COMPLIANCE", days: r.objectLockMinDays } } },
        },
        {
            type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            name: "vault-sse",
            props: { bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: keyArn }, bucketKeyEnabled: true }] },
        },
        {
            type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            name: "vault-pab",
            props: { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
        },
        { type: "aws:s3/bucketOwnershipControls:BucketOwnershipControls", name: "vault-ownership", props: { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } } },
        {
            type: "aws:s3/bucketPolicy:BucketPolicy",
            name: "vault-policy",
            props: {
                bucket,
                // The program's own document (components/resource-policies.ts), so the fixture keeps every deny.
                policy: JSON.stringify(
                    bucketPolicy({
                        bucket,
                        env,
                        kmsKeyArn: keyArn,
                        deployerArns: cfg.aws.deployerArns,
                        writerRoleArns: (["writer", "verifier", "restore-operator"] as const).map((id) => roleArn(cfg.aws.accountId, env, id)),
                        gcRoleArn: roleArn(cfg.aws.accountId, env, "gc"),
                        drillRoleArn: roleArn(cfg.aws.accountId, env, "drill"),
                        verifierRoleArn: roleArn(cfg.aws.accountId, env, "verifier"),
                    }),
                ),
            },
        },
        {
            type: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            name: "vault-lifecycle",
            props: {
                bucket,
                rules: [
                    ...activeTiers(r).map((t) => ({
                        id: `tier-${t}`,
                        status: "Enabled",
                        filter: { tag: { key: "tier", value: t } },
                        expiration: { days: lifecycleExpiryDays(t, r) },
                        transitions: lifecycleTransitions(t, r),
                    })),
                    { id: "abort-incomplete-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
                ],
            },
        },
    ];
    out.push(...accessLogResources(cfg));
    const ns = cfg.kubernetes.namespace;
    const oidc = cfg.aws.oidcProviderArn.split(":oidc-provider/")[1];
    for (const id of ["writer", "verifier", "gc"]) {
        const roleName = `supabase-backups-${env}-${id}`;
        out.push({
            type: "aws:iam/role:Role",
            name: `${id}-role`,
            props: {
                name: roleName,
                assumeRolePolicy: doc([
                    {
                        Effect: "Allow",
                        Principal: { Federated: cfg.aws.oidcProviderArn },
                        Action: "sts:AssumeRoleWithWebIdentity",
                        Condition: { StringEquals: { [`${oidc}:sub`]: `system:serviceaccount:${ns}:supabase-backups-${id}`, [`${oidc}:aud`]: "sts.amazonaws.com" } },
                    },
                ]),
            },
        });
        out.push({ type: "kubernetes:core/v1:ServiceAccount", name: `${id}-sa`, props: { metadata: { name: `supabase-backups-${id}`, namespace: ns, annotations: { "eks.amazonaws.com/role-arn": `arn:aws:iam::${cfg.aws.accountId}:role/${roleName}` } } } });
    }
    out.push({ type: "kubernetes:core/v1:ServiceAccount", name: "check-sa", props: { metadata: { name: "supabase-backups-check", namespace: ns } } });
    out.push({ type: "aws:iam/rolePolicy:RolePolicy", name: "writer-policy", props: { role: `supabase-backups-${env}-writer`, policy: writerDocument(cfg, bucketArn, keyArn) } });
    out.push({
        type: "aws:iam/rolePolicy:RolePolicy",
        name: "verifier-policy",
        props: {
            role: `supabase-backups-${env}-verifier`,
            policy: doc([
                { Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectRetention"], Resource: `${bucketArn}/*` },
                { Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucketArn },
                { Effect: "Allow", Action: ["s3:PutObject", "s3:PutObjectRetention"], Resource: `${bucketArn}/verify/${env}/*` },
                { Effect: "Allow", Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: keyArn },
            ]),
        },
    });
    out.push({
        type: "aws:iam/rolePolicy:RolePolicy",
        name: "gc-policy",
        props: {
            role: `supabase-backups-${env}-gc`,
            policy: doc([
                { Effect: "Allow", Action: ["s3:GetObject"], Resource: `${bucketArn}/storage/${env}/runs/*` },
                { Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucketArn },
                { Effect: "Allow", Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"], Resource: `${bucketArn}/storage/${env}/blobs/*` },
            ]),
        },
    });
    const container = (name: string) => ({
        name,
        image: cfg.kubernetes.image,
        args: [name],
        env: [
            { name: "SUPABASE_BACKUPS_CONFIG", value: "/etc/supabase-backups/job-config.json" },
            { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "supabase-backups", key: "databaseUrl" } } },
        ],
        resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } },
        securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    });
    const jobs: [string, string, string][] = [
        ["dump", cfg.schedules.dump, "writer"],
        ["sync-storage", cfg.schedules.syncStorage, "writer"],
        ["verify", cfg.schedules.verify, "verifier"],
        ["check-supabase", cfg.schedules.checkSupabase, "check"],
        ["gc", cfg.schedules.gc, "gc"],
    ];
    for (const b of cfg.storage.buckets ?? []) if (b.schedule) jobs.push([`sync-storage-${b.name}`, b.schedule, "writer"]);
    for (const [name, schedule, sa] of jobs) {
        out.push({
            type: "kubernetes:batch/v1:CronJob",
            name,
            props: {
                metadata: { name, namespace: ns, labels: { "app.kubernetes.io/name": "supabase-backups" } },
                spec: {
                    schedule,
                    timeZone: cfg.schedules.timeZone,
                    concurrencyPolicy: "Forbid",
                    startingDeadlineSeconds: 600,
                    jobTemplate: {
                        spec: {
                            backoffLimit: 1,
                            activeDeadlineSeconds: 6 * 3600,
                            template: {
                                spec: {
                                    serviceAccountName: `supabase-backups-${sa}`,
                                    restartPolicy: "Never",
                                    securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
                                    containers: [container(name)],
                                },
                            },
                        },
                    },
                },
            },
        });
    }
    if (cfg.azure?.enabled) {
        const a = cfg.azure;
        out.push(
            {
                type: "azure-native:storage:StorageAccount",
                name: "archive",
                props: {
                    accountName: a.accountName,
                    resourceGroupName: a.resourceGroupName,
                    kind: "StorageV2",
                    sku: { name: "Standard_GRS" },
                    enableHttpsTrafficOnly: true,
                    minimumTlsVersion: "TLS1_2",
                    allowBlobPublicAccess: false,
                    allowSharedKeyAccess: false,
                    encryption: { requireInfrastructureEncryption: true, keySource: "Microsoft.Storage" },
                    immutableStorageWithVersioning: {
                        enabled: true,
                        immutabilityPolicy: { immutabilityPeriodSinceCreationInDays: r.objectLockMinDays, state: "Locked", allowProtectedAppendWrites: false },
                    },
                },
            },
            { type: "azure-native:storage:BlobServiceProperties", name: "archive-blob", props: { accountName: a.accountName, resourceGroupName: a.resourceGroupName, isVersioningEnabled: true, deleteRetentionPolicy: { enabled: true, days: 14 }, containerDeleteRetentionPolicy: { enabled: true, days: 14 } } },
            {
                type: "azure-native:storage:BlobContainer",
                name: "archive-container",
                props: { accountName: a.accountName, resourceGroupName: a.resourceGroupName, containerName: a.container, publicAccess: "None", immutableStorageWithVersioning: { enabled: true } },
            },
            {
                type: "azure-native:storage:ManagementPolicy",
                name: "archive-lifecycle",
                props: {
                    accountName: a.accountName,
                    resourceGroupName: a.resourceGroupName,
                    managementPolicyName: "default",
                    policy: {
                        rules: activeTiers(r).map((t) => ({
                            name: `tier-${t}`,
                            type: "Lifecycle",
                            enabled: true,
                            definition: {
                                filters: { blobTypes: ["blockBlob"], blobIndexMatch: [{ name: "tier", op: "==", value: t }] },
                                actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: lifecycleExpiryDays(t, r) } }, version: { delete: { daysAfterCreationGreaterThan: lifecycleExpiryDays(t, r) } } },
                            },
                        })),
                    },
                },
            },
        );
    }
    return out;
}

/** A deep copy of the resources with one resource (by name) changed. */
export function mutate(rs: DeclaredResource[], name: string, change: (props: any, r: DeclaredResource) => void): DeclaredResource[] {
    const copy = structuredClone(rs);
    const r = copy.find((x) => x.name === name);
    if (!r) throw new Error(`no resource named ${name} (have: ${copy.map((x) => x.name).join(", ")})`);
    change(r.props, r);
    return copy;
}
