// SupabaseBackupStack: composes the vault, the archive, the identities and the schedule from one
// validated config, and exposes the stack outputs.
import * as pulumi from "@pulumi/pulumi";
import { SupabasePitr } from "./supabase/pitr";
import { Provider as AwsProvider } from "@pulumi/aws/provider";
import { accessLogBucketName, storageRetention, type JobConfig, type SecretName, type StackConfig } from "@supabase-backups/contracts";
import { AccessLogBucket } from "./access-logs";
import { ArchiveVault } from "./archive";
import { ArchiveRestoreOperators } from "./archive-restore-operators";
import { BreakGlass } from "./break-glass";
import { BackupIdentities } from "./identities";
import { dashboardEnabled, GrafanaDashboard } from "./grafana";
import { CLOUD_IDENTITIES, roleArn, type CloudIdentity } from "./names";
import { RECORD_SIGNERS, RecordSigningKey, type SignedRecords } from "./record-signing";
import { APP_LABEL, BackupSchedule } from "./schedule";
import { SecurityAlerts } from "./security-alerts";
import { BackupVault } from "./vault";

export interface SupabaseBackupStackArgs {
    config: StackConfig;
    secrets: Partial<Record<SecretName, string>>;
}

export interface StackOutputs {
    env: string;
    bucketName: pulumi.Output<string>;
    bucketArn: pulumi.Output<string>;
    kmsKeyArn: pulumi.Output<string>;
    kmsAlias: string;
    archiveContainerUrl: pulumi.Output<string> | undefined;
    roleArns: Record<CloudIdentity, pulumi.Output<string>>;
    restoreOperatorRoleArn: pulumi.Output<string> | undefined;
    /** the Azure restore-operator role's id (azure.restoreOperators), scoped to the archive container */
    archiveRestoreOperatorRoleId: pulumi.Output<string> | undefined;
    breakGlassRoleArn: string | undefined;
    securityAlertsTopicArn: pulumi.Output<string>;
    accessLogBucketName: pulumi.Output<string> | undefined;
    azureClientIds: Record<CloudIdentity, pulumi.Output<string>> | undefined;
    namespace: pulumi.Output<string>;
    schedules: Record<string, { kind: string; schedule: string; timeZone: string; periodSeconds: number }>;
    supabasePitr: pulumi.Output<unknown> | undefined;
}

export class SupabaseBackupStack extends pulumi.ComponentResource {
    readonly outputs: StackOutputs;

    constructor(name: string, args: SupabaseBackupStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:SupabaseBackupStack", name, {}, opts);
        const cfg = args.config;
        const env = cfg.env;
        const tags = { "supabase-backups/env": env };

        // Explicit provider: the region and the account come from this stack's config, never from
        // whatever profile the deployer's shell happens to have.
        const aws = new AwsProvider(
            `${name}-aws`,
            { region: cfg.aws.region as any, allowedAccountIds: [cfg.aws.accountId], defaultTags: { tags: { project: "supabase-backups", env } } },
            { parent: this },
        );
        const withAws = { parent: this, providers: { aws } };

        const bg = cfg.aws.breakGlass;
        const breakGlass = bg
            ? new BreakGlass(`${name}-break-glass`, { env, accountId: cfg.aws.accountId, principalArns: bg.principalArns, mfaMaxAgeSeconds: bg.mfaMaxAgeSeconds, tags }, withAws)
            : undefined;

        const vault = new BackupVault(
            `${name}-vault`,
            {
                env,
                accountId: cfg.aws.accountId,
                bucketName: cfg.aws.bucketName,
                kmsAlias: cfg.aws.kms.alias,
                kmsDeletionWindowDays: cfg.aws.kms.deletionWindowDays,
                retention: cfg.retention,
                storageRetention: storageRetention(cfg),
                deployerArns: cfg.aws.deployerArns,
                protect: cfg.aws.protect,
                breakGlass:
                    breakGlass && bg
                        ? { role: breakGlass.role, roleArn: breakGlass.roleArn, mfaMaxAgeSeconds: bg.mfaMaxAgeSeconds, deployersMayChangeKeyPolicy: bg.deployersMayChangeKeyPolicy }
                        : undefined,
                tags,
            },
            withAws,
        );

        const archive = cfg.azure?.enabled
            ? new ArchiveVault(
                  `${name}-archive`,
                  {
                      env,
                      location: cfg.azure.location,
                      resourceGroupName: cfg.azure.resourceGroupName,
                      accountName: cfg.azure.accountName,
                      container: cfg.azure.container,
                      retention: cfg.retention,
                      storageRetention: storageRetention(cfg),
                      protect: cfg.aws.protect,
                      tags,
                  },
                  { parent: this },
              )
            : undefined;

        // People restoring from the archive when the AWS account is lost: read the container, create audit records.
        const operators = cfg.azure?.restoreOperators ?? [];
        const archiveRestoreOperators =
            archive && cfg.azure && operators.length
                ? new ArchiveRestoreOperators(
                      `${name}-archive-restore-operators`,
                      { env, storageAccountId: archive.accountId, container: cfg.azure.container, operators },
                      { parent: this, dependsOn: [archive.container] },
                  )
                : undefined;

        const signing = this.recordSigningKey(name, cfg, breakGlass, withAws, "verify");
        // drill records get their own key, for the drill identity alone (docs/security.md "Tampering with the vault")
        const drillSigning = cfg.drills ? this.recordSigningKey(name, cfg, breakGlass, withAws, "drill") : undefined;
        const { accessLogs, securityAlerts } = this.vaultWatch(name, cfg, vault, [signing, ...(drillSigning ? [drillSigning] : [])], breakGlass, withAws);
        const identities = new BackupIdentities(
            `${name}-identities`,
            {
                env,
                accountId: cfg.aws.accountId,
                region: cfg.aws.region,
                bucketName: cfg.aws.bucketName,
                kmsKeyArn: vault.keyArn,
                oidcProviderArn: cfg.aws.oidcProviderArn,
                namespace: cfg.kubernetes.namespace,
                restoreOperatorArns: cfg.aws.restoreOperatorArns,
                recordSigningKeyArn: signing.keyArn,
                drillSigningKeyArn: drillSigning?.keyArn,
                azure:
                    archive && cfg.azure
                        ? {
                              resourceGroupName: archive.resourceGroup.name,
                              location: cfg.azure.location,
                              storageAccountId: archive.accountId,
                              oidcIssuerUrl: cfg.azure.oidcIssuerUrl,
                          }
                        : undefined,
                tags,
            },
            withAws,
        );

        const jobConfig = pulumi
            .all([vault.keyArn, archive?.accountUrl, signing.keyArn, signing.publicKeyPem, drillSigning?.keyArn, drillSigning?.publicKeyPem])
            .apply(([kmsKeyArn, accountUrl, signingKeyArn, publicKeyPem, drillKeyArn, drillPublicKeyPem]) =>
                JSON.stringify(
                    jobConfigOf(cfg, kmsKeyArn, accountUrl, { kmsKeyArn: signingKeyArn, publicKeyPem }, drillKeyArn && drillPublicKeyPem ? { kmsKeyArn: drillKeyArn, publicKeyPem: drillPublicKeyPem } : undefined),
                    null,
                    2,
                ),
            );

        const azureClientIds = identities.azure
            ? (Object.fromEntries(CLOUD_IDENTITIES.map((id) => [id, identities.azure![id].clientId])) as Record<CloudIdentity, pulumi.Output<string>>)
            : undefined;
        const schedule = new BackupSchedule(
            `${name}-schedule`,
            { config: cfg, secrets: args.secrets, jobConfig, roleArns: identities.roleArns, azureClientIds },
            { parent: this },
        );

        if (dashboardEnabled(cfg)) {
            new GrafanaDashboard(
                `${name}-dashboard`,
                { config: cfg, namespace: cfg.grafana?.namespace ?? schedule.namespace, labels: { ...APP_LABEL, "supabase-backups/env": env } },
                { parent: this },
            );
        }

        // The Supabase PITR add-on through the Management API (a dynamic provider: no Supabase provider
        // is published). The token reaches the provider process from its config or the environment,
        // never as an input. Retained on delete: tearing down the backup stack must not switch off the
        // project's own point-in-time recovery.
        const pitr = new SupabasePitr(
            `${name}-supabase-pitr`,
            {
                projectRef: cfg.supabase.projectRef,
                apiUrl: cfg.supabase.apiUrl,
                required: cfg.supabase.pitr.required,
                days: cfg.supabase.pitr.days,
            },
            { parent: this, retainOnDelete: true },
        );
        const supabasePitr: pulumi.Output<unknown> = pitr.outputs;

        this.outputs = {
            env,
            bucketName: vault.bucketName,
            bucketArn: vault.bucketArn,
            kmsKeyArn: vault.keyArn,
            kmsAlias: cfg.aws.kms.alias,
            archiveContainerUrl: archive?.containerUrl,
            roleArns: identities.roleArns,
            restoreOperatorRoleArn: identities.restoreOperatorRole?.arn,
            archiveRestoreOperatorRoleId: archiveRestoreOperators?.roleDefinition.id,
            breakGlassRoleArn: breakGlass?.roleArn,
            securityAlertsTopicArn: securityAlerts.topicArn,
            accessLogBucketName: accessLogs?.bucket.bucket,
            azureClientIds,
            namespace: schedule.namespace,
            schedules: Object.fromEntries(
                schedule.jobs.map((j) => [j.name, { kind: j.kind, schedule: j.schedule, timeZone: j.timeZone, periodSeconds: j.periodSeconds }]),
            ),
            supabasePitr,
        };
        this.registerOutputs({ ...this.outputs });
    }

    /**
     * A key that signs records (components/record-signing.ts): verification records, kms:Sign for the
     * verifier alone (`-record-signing`), or drill records, for the drill identity alone (`-drill-signing`).
     */
    private recordSigningKey(name: string, cfg: StackConfig, breakGlass: BreakGlass | undefined, opts: pulumi.ComponentResourceOptions, signs: SignedRecords): RecordSigningKey {
        const bg = cfg.aws.breakGlass;
        return new RecordSigningKey(
            `${name}-${signs === "verify" ? "record" : "drill"}-signing`,
            {
                env: cfg.env,
                accountId: cfg.aws.accountId,
                deployerArns: cfg.aws.deployerArns,
                signs,
                signerRoleArn: roleArn(cfg.aws.accountId, cfg.env, RECORD_SIGNERS[signs].identity),
                breakGlass: breakGlass && bg ? { roleArn: breakGlass.roleArn, mfaMaxAgeSeconds: bg.mfaMaxAgeSeconds, deployersMayChangeKeyPolicy: bg.deployersMayChangeKeyPolicy } : undefined,
                breakGlassRole: breakGlass?.role,
                deletionWindowDays: cfg.aws.kms.deletionWindowDays,
                protect: cfg.aws.protect,
            },
            opts,
        );
    }

    /** Who watches the vault: its access-log bucket (aws.accessLogs) and the key/bucket change alerts (both keys). */
    private vaultWatch(name: string, cfg: StackConfig, vault: BackupVault, signing: RecordSigningKey[], breakGlass: BreakGlass | undefined, opts: pulumi.ComponentResourceOptions) {
        const env = cfg.env;
        const tags = { "supabase-backups/env": env };
        const logs = cfg.aws.accessLogs;
        const accessLogs = logs?.enabled
            ? new AccessLogBucket(
                  `${name}-access-logs`,
                  {
                      env,
                      bucketName: accessLogBucketName(cfg),
                      sourceBucketName: cfg.aws.bucketName,
                      sourceBucketId: vault.bucket.id,
                      accountId: cfg.aws.accountId,
                      deployerArns: cfg.aws.deployerArns,
                      breakGlassRoleArn: breakGlass?.roleArn,
                      retentionDays: logs.retentionDays,
                      protect: cfg.aws.protect,
                      tags,
                  },
                  opts,
              )
            : undefined;
        const securityAlerts = new SecurityAlerts(
            `${name}-security-alerts`,
            {
                env,
                keyArns: [vault.keyArn, ...signing.map((k) => k.keyArn)],
                bucketNames: [cfg.aws.bucketName, ...(accessLogs ? [accessLogBucketName(cfg)] : [])],
                subscriptions: cfg.aws.securityAlerts?.subscriptions ?? [],
                tags,
            },
            opts,
        );
        return { accessLogs, securityAlerts };
    }
}

/**
 * The ConfigMap the CronJobs mount: the validated stack config plus the resolved vault targets (and the
 * record-signing keys: their public keys check records, verify and drill sign with their KMS keys).
 */
export function jobConfigOf(
    cfg: StackConfig,
    kmsKeyArn: string,
    archiveAccountUrl?: string,
    recordSigning?: { kmsKeyArn: string; publicKeyPem: string },
    drillRecordSigning?: { kmsKeyArn: string; publicKeyPem: string },
): JobConfig {
    return {
        ...cfg,
        vault: {
            bucket: cfg.aws.bucketName,
            region: cfg.aws.region,
            kmsKeyArn,
            forcePathStyle: false,
            ...(recordSigning ? { recordSigning } : {}),
            ...(drillRecordSigning ? { drillRecordSigning } : {}),
        },
        ...(cfg.azure?.enabled && archiveAccountUrl ? { archive: { accountUrl: archiveAccountUrl, container: cfg.azure.container } } : {}),
    };
}
