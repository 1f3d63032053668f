// Policy 9: the Azure archive (secondary copy) is as hard to weaken as the S3 vault: HTTPS only, TLS 1.2+,
// no public blob access, no shared keys, infrastructure (double) encryption, versioning, version-level
// immutability of at least the Object Lock minimum, private containers, and lifecycle deletes that wait
// for the tier periods.
import type { Unwrap } from "@pulumi/pulumi";
import type { StorageAccountArgs, BlobServicePropertiesArgs, BlobContainerArgs, ManagementPolicyArgs } from "@pulumi/azure-native/storage";
import { RetentionSchema, longestExpiryDays, tierTagExpiryDays, type RetentionPolicy } from "@supabase-backups/contracts";
import { type BackupPolicy, asArray, isSet, lifecycleConfigFromStack, readPolicyConfig, show, STORAGE_RETENTION_SCHEMA, T } from "../lib/common";

export interface AzureConfig {
    retention: RetentionPolicy;
    /** storage runs' retention, when a bucket override lengthens a tier */
    storageRetention?: RetentionPolicy;
    requireLockedImmutability: boolean;
}

const TLS_OK = ["TLS1_2", "TLS1_3"];

export function storageAccountProblems(a: Unwrap<StorageAccountArgs>, cfg: AzureConfig): string[] {
    const out: string[] = [];
    if (a.enableHttpsTrafficOnly !== true) out.push(`enableHttpsTrafficOnly is ${show(a.enableHttpsTrafficOnly)}, expected true (HTTPS only)`);
    if (!TLS_OK.includes(String(a.minimumTlsVersion))) out.push(`minimumTlsVersion is ${show(a.minimumTlsVersion)}, expected "TLS1_2" or newer`);
    if (a.allowBlobPublicAccess !== false) out.push(`allowBlobPublicAccess is ${show(a.allowBlobPublicAccess)}, expected false`);
    const net = (a as any).networkRuleSet;
    if (asArray<any>(net?.ipRules).some((r) => /^(0\.0\.0\.0|::)\/0$|\/[0-7]$/.test(String(r?.iPAddressOrRange ?? r?.ipAddressOrRange ?? "")))) out.push("networkRuleSet opens the account to the whole internet (an IP rule of /0 or wider than /8)");
    if (net?.bypass && /AzureServices/.test(String(net.bypass)) && net?.defaultAction === "Allow") out.push("networkRuleSet allows every network and every Azure service");
    if (a.allowSharedKeyAccess !== false) out.push(`allowSharedKeyAccess is ${show(a.allowSharedKeyAccess)}, expected false (workload identity only; account keys bypass every role)`);
    if (a.encryption?.requireInfrastructureEncryption !== true) {
        out.push(`encryption.requireInfrastructureEncryption is ${show(a.encryption?.requireInfrastructureEncryption)}, expected true (it can only be set when the account is created)`);
    }
    const imm = a.immutableStorageWithVersioning;
    const min = cfg.retention.objectLockMinDays;
    if (imm?.enabled !== true) {
        out.push(`immutableStorageWithVersioning.enabled is ${show(imm?.enabled)}, expected true (version-level immutability)`);
    } else {
        const pol = imm.immutabilityPolicy;
        const days = pol?.immutabilityPeriodSinceCreationInDays;
        if (!pol) out.push(`no default immutability policy (immutableStorageWithVersioning.immutabilityPolicy): a blob written without its own policy is not protected at all; expected immutabilityPeriodSinceCreationInDays ≥ ${min} (retention.objectLockMinDays)`);
        else if (!isSet(days) || days < min) out.push(`immutability period is ${show(days)} day(s), expected at least ${min} (retention.objectLockMinDays)`);
        if (pol?.state === "Disabled") out.push("the account immutability policy is Disabled");
        if (pol && cfg.requireLockedImmutability && pol.state !== "Locked") out.push(`the account's default immutability policy state is ${show(pol?.state)}, expected "Locked" (an unlocked policy can be shortened or deleted, like S3 GOVERNANCE mode)`);
        if (pol?.allowProtectedAppendWrites === true) out.push("allowProtectedAppendWrites is true: locked blobs could still be appended to");
    }
    return out;
}

function deleteDays(actions: any): { where: string; days: number }[] {
    const out: { where: string; days: number }[] = [];
    const b = actions?.baseBlob?.delete;
    for (const k of ["daysAfterModificationGreaterThan", "daysAfterCreationGreaterThan", "daysAfterLastAccessTimeGreaterThan"]) {
        if (isSet(b?.[k])) out.push({ where: `baseBlob.delete.${k}`, days: b[k] });
    }
    const v = actions?.version?.delete;
    if (isSet(v?.daysAfterCreationGreaterThan)) out.push({ where: "version.delete.daysAfterCreationGreaterThan", days: v.daysAfterCreationGreaterThan, min: 1 } as any);
    // version.delete / snapshot.delete clean up previous versions, like S3's noncurrentVersionExpiration:
    // immutability (the account default, required above, and each version's own) refuses while locked.
    return out;
}

export function managementPolicyProblems(p: Unwrap<ManagementPolicyArgs>, cfg: AzureConfig): string[] {
    const out: string[] = [];
    const storage = cfg.storageRetention ?? cfg.retention;
    const longest = longestExpiryDays(cfg.retention, storage);
    for (const r of asArray<any>(p.policy?.rules)) {
        if (r?.enabled === false) continue;
        const tierMatch = asArray<any>(r?.definition?.filters?.blobIndexMatch).find((m) => m?.name === "tier" && m?.op === "==");
        const tier = tierMatch?.value as string | undefined;
        let min: number;
        let why: string;
        const byTag = tierTagExpiryDays(tier, cfg.retention, storage);
        if (byTag) {
            min = byTag.days;
            why = byTag.why;
        } else if (tier !== undefined) {
            min = cfg.retention.objectLockMinDays;
            why = "retention.objectLockMinDays";
        } else {
            min = longest;
            why = "the rule is not limited to one tier, so it must outlast the longest";
        }
        for (const d of deleteDays(r?.definition?.actions)) {
            // Previous versions go a day after they stop being current (the program's value); never at once.
            if ((d as any).min !== undefined) {
                if (d.days < (d as any).min) out.push(`rule ${show(r?.name)} deletes previous versions after ${d.days} day(s) (${d.where}), expected at least ${(d as any).min}`);
                continue;
            }
            if (d.days < min) out.push(`rule ${show(r?.name)} deletes after ${d.days} day(s) (${d.where}), shorter than ${min}: ${why}`);
        }
    }
    return out;
}

export const azurePolicy: BackupPolicy = {
    name: "azure-archive-hardened",
    description:
        "The Azure archive account is HTTPS-only with TLS 1.2+, no public blob access, no shared keys, infrastructure encryption, blob versioning, " +
        "version-level immutability of at least retention.objectLockMinDays, private containers and lifecycle deletes no shorter than the tiers.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "In ArchiveVault set enableHttpsTrafficOnly: true, minimumTlsVersion: \"TLS1_2\", allowBlobPublicAccess: false, allowSharedKeyAccess: false, " +
        "encryption.requireInfrastructureEncryption: true, immutableStorageWithVersioning { enabled: true, immutabilityPolicy " +
        "{ immutabilityPeriodSinceCreationInDays: <retention.objectLockMinDays> } }; BlobServiceProperties isVersioningEnabled: true; " +
        "containers with publicAccess \"None\"; ManagementPolicy deletes by tag tier=<tier> after lifecycleExpiryDays(tier).",
    configSchema: {
        properties: {
            retention: { ...(RetentionSchema as object), description: "the stack's retention" } as any,
            storageRetention: STORAGE_RETENTION_SCHEMA,
            requireLockedImmutability: {
                type: "boolean",
                default: false,
                description:
                    "require the account's default immutability policy to be Locked (the counterpart of S3 COMPLIANCE mode). Azure creates policies Unlocked only, " +
                    "so turn this on once the first deploy has locked it (pulumi up with state: \"Locked\")",
            },
        },
        required: ["retention"],
    },
    configFromStack: (cfg) => lifecycleConfigFromStack(cfg),
    validateResource: (args, report) => {
        const types = [T.storageAccount, T.blobService, T.blobContainer, T.managementPolicy] as string[];
        if (!types.includes(args.type)) return;
        const cfg = readPolicyConfig<AzureConfig>(azurePolicy, args);
        if (args.type === T.storageAccount) {
            for (const m of storageAccountProblems(args.props as Unwrap<StorageAccountArgs>, cfg)) report(m);
        } else if (args.type === T.blobService) {
            const s = args.props as Unwrap<BlobServicePropertiesArgs>;
            if (s.isVersioningEnabled !== true) report(`isVersioningEnabled is ${show(s.isVersioningEnabled)}, expected true`);
            // Soft delete: the last resort after a delete that immutability did not stop (container or unlocked blob).
            for (const k of ["deleteRetentionPolicy", "containerDeleteRetentionPolicy"] as const) {
                const d = (s as any)[k];
                if (d?.enabled !== true || !(d?.days >= 7)) report(`${k} is ${show(d)}, expected { enabled: true, days: ≥ 7 }`);
            }
        } else if (args.type === T.blobContainer) {
            const c = args.props as Unwrap<BlobContainerArgs>;
            if (isSet(c.publicAccess) && c.publicAccess !== "None") report(`container publicAccess is ${show(c.publicAccess)}, expected "None" (private)`);
            if (c.immutableStorageWithVersioning?.enabled === false) report("container disables version-level immutability");
        } else if (args.type === T.managementPolicy) {
            for (const m of managementPolicyProblems(args.props as Unwrap<ManagementPolicyArgs>, cfg)) report(m);
        }
    },
};
