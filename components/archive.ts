// ArchiveVault: the secondary copy in Azure Blob, write-once via version-level immutability
// (docs/architecture.md "Retention": same retain-until, blob index tag `tier`, lifecycle management
// by tag).
import * as pulumi from "@pulumi/pulumi";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import { ARCHIVE_TAG, activeTiers, azureTierTransitions, lifecycleExpiryDays, storageOnlyTiers, type RetentionPolicy } from "@supabase-backups/contracts";

export interface ArchiveVaultArgs {
    env: string;
    location: string;
    resourceGroupName: string;
    accountName: string;
    container: string;
    retention: RetentionPolicy;
    /** storage runs' retention (contracts storageRetention); default retention */
    storageRetention?: RetentionPolicy;
    protect: boolean;
    tags?: Record<string, string>;
}

/** Days a rehydrated blob stays online before the lifecycle may archive it again. */
export const REHYDRATED_STAYS_DAYS = 7;

/** Soft-delete windows: a deleted blob or container can be recovered this long (lock aside). */
export const ARCHIVE_SOFT_DELETE_DAYS = 14;

/**
 * Lifecycle management rules by blob index tag `tier`, from the same contracts as the S3 rules: delete
 * by `tier`; cool/archive only blobs that also carry ARCHIVE_TAG (an Archive-tier blob cannot be read
 * until rehydrated, hours later: manifests never go there). Storage manifests of a tier a bucket keeps
 * longer carry `tier=storage-<tier>` and are deleted with the storage retention, as in S3.
 */
export function archiveLifecycleRules(container: string, retention: RetentionPolicy, storage: RetentionPolicy = retention) {
    const storageRules = storageOnlyTiers(retention, storage).map((tier) => ({
        name: `tier-storage-${tier}`,
        enabled: true,
        type: "Lifecycle",
        definition: {
            filters: { blobTypes: ["blockBlob"], prefixMatch: [`${container}/`], blobIndexMatch: [{ name: "tier", op: "==", value: `storage-${tier}` }] },
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: lifecycleExpiryDays(tier, storage) } }, version: { delete: { daysAfterCreationGreaterThan: 1 } } },
        },
    }));
    return [...tierRules(container, retention), ...storageRules];
}

function tierRules(container: string, retention: RetentionPolicy) {
    return activeTiers(retention).flatMap((tier) => {
        const t = azureTierTransitions(tier, retention);
        const filters = (extra: Array<{ name: string; op: string; value: string }>) => ({
            blobTypes: ["blockBlob"],
            prefixMatch: [`${container}/`],
            blobIndexMatch: [{ name: "tier", op: "==", value: tier }, ...extra],
        });
        const colder = {
            ...(t.coolAfterDays !== undefined ? { tierToCool: { daysAfterModificationGreaterThan: t.coolAfterDays } } : {}),
            // A blob rehydrated for a restore (verify --run, issue 17) would go back to Archive at the next
            // daily policy run, before anyone reads it: only a week after its last tier change.
            ...(t.archiveAfterDays !== undefined ? { tierToArchive: { daysAfterModificationGreaterThan: t.archiveAfterDays, daysAfterLastTierChangeGreaterThan: REHYDRATED_STAYS_DAYS } } : {}),
        };
        return [
            {
                name: `tier-${tier}`,
                enabled: true,
                type: "Lifecycle",
                definition: {
                    filters: filters([]),
                    actions: {
                        baseBlob: { delete: { daysAfterModificationGreaterThan: lifecycleExpiryDays(tier, retention) } },
                        // Previous versions (left by a delete) go a day later; immutability refuses while locked.
                        version: { delete: { daysAfterCreationGreaterThan: 1 } },
                    },
                },
            },
            ...(Object.keys(colder).length
                ? [
                      {
                          name: `tier-${tier}-colder`,
                          enabled: true,
                          type: "Lifecycle",
                          definition: { filters: filters([{ name: ARCHIVE_TAG.key, op: "==", value: ARCHIVE_TAG.value }]), actions: { baseBlob: colder } },
                      },
                  ]
                : []),
        ];
    });
}

export class ArchiveVault extends pulumi.ComponentResource {
    readonly resourceGroup: resources.ResourceGroup;
    readonly account: storage.StorageAccount;
    readonly container: storage.BlobContainer;
    readonly accountId: pulumi.Output<string>;
    readonly accountUrl: pulumi.Output<string>;
    readonly containerUrl: pulumi.Output<string>;
    readonly containerName: string;

    constructor(name: string, args: ArchiveVaultArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:ArchiveVault", name, {}, opts);
        const tags = { project: "supabase-backups", env: args.env, ...args.tags };
        this.containerName = args.container;

        this.resourceGroup = new resources.ResourceGroup(
            `${name}-rg`,
            { resourceGroupName: args.resourceGroupName, location: args.location, tags },
            { parent: this },
        );
        const resourceGroupName = this.resourceGroup.name;

        this.account = new storage.StorageAccount(
            `${name}-account`,
            {
                accountName: args.accountName,
                resourceGroupName,
                location: args.location,
                kind: "StorageV2",
                sku: { name: "Standard_GRS" },
                accessTier: "Hot",
                enableHttpsTrafficOnly: true,
                minimumTlsVersion: "TLS1_2",
                allowBlobPublicAccess: false,
                // Workload identity only: no account keys, no SAS signed with them.
                allowSharedKeyAccess: false,
                defaultToOAuthAuthentication: true,
                allowCrossTenantReplication: false,
                encryption: {
                    keySource: "Microsoft.Storage",
                    requireInfrastructureEncryption: true,
                    services: { blob: { enabled: true, keyType: "Account" } },
                },
                immutableStorageWithVersioning: {
                    enabled: true,
                    // The Azure twin of the bucket's default Object Lock retention: versions written
                    // without their own policy are kept `objectLockMinDays`. Unlocked, like the S3
                    // default (deployers may change it); the jobs set a Locked per-version policy with the
                    // run's retain-until, which nobody can shorten.
                    immutabilityPolicy: {
                        immutabilityPeriodSinceCreationInDays: args.retention.objectLockMinDays,
                        state: "Unlocked",
                        allowProtectedAppendWrites: false,
                    },
                },
                tags,
            },
            { parent: this, protect: args.protect },
        );
        this.accountId = this.account.id;
        this.accountUrl = this.account.primaryEndpoints.apply((e) => e.blob.replace(/\/$/, ""));

        const blobService = new storage.BlobServiceProperties(
            `${name}-blob-service`,
            {
                accountName: this.account.name,
                resourceGroupName,
                blobServicesName: "default",
                isVersioningEnabled: true,
                deleteRetentionPolicy: { enabled: true, days: ARCHIVE_SOFT_DELETE_DAYS },
                containerDeleteRetentionPolicy: { enabled: true, days: ARCHIVE_SOFT_DELETE_DAYS },
                changeFeed: { enabled: true },
            },
            { parent: this },
        );

        this.container = new storage.BlobContainer(
            `${name}-container`,
            {
                accountName: this.account.name,
                resourceGroupName,
                containerName: args.container,
                publicAccess: "None",
                immutableStorageWithVersioning: { enabled: true },
            },
            { parent: this, dependsOn: [blobService], protect: args.protect },
        );
        this.containerUrl = pulumi.interpolate`${this.accountUrl}/${args.container}`;

        new storage.ManagementPolicy(
            `${name}-lifecycle`,
            {
                accountName: this.account.name,
                resourceGroupName,
                managementPolicyName: "default",
                policy: { rules: archiveLifecycleRules(args.container, args.retention, args.storageRetention) },
            },
            { parent: this, dependsOn: [this.container] },
        );

        this.registerOutputs({ accountId: this.accountId, accountUrl: this.accountUrl, containerUrl: this.containerUrl });
    }
}
