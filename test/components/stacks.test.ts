// Both real stack files through the real program under mocks: what is declared, with which settings,
// composed how. Retention numbers are compared with the contracts' functions, never restated.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
    activeTiers,
    azureTierTransitions,
    lifecycleExpiryDays,
    lifecycleTransitions,
    ARCHIVE_TAG,
    readStackFile,
    storageOnlyTiers,
    storageRetention,
    validateStackConfig,
    type StackConfig,
} from "@supabase-backups/contracts";
import { ofType, one, stackRun } from "../support/components";
import { REHYDRATED_STAYS_DAYS } from "../../components/archive";
import { REPO_ROOT, type MockRunResult } from "../../scripts/lib/mockrun";

function configOf(stack: string): StackConfig {
    const r = validateStackConfig(readStackFile(join(REPO_ROOT, `Pulumi.${stack}.yaml`), { placeholderSecrets: true }));
    if (!r.ok) throw new Error("stack file invalid");
    return r.config.config;
}

// Both stack files have aws.breakGlass and aws.accessLogs on (issue 13).
// two RecordSigningKeys: verification records (the verifier's) and drill records (the drill identity's; both stack files schedule drills)
const COMPONENTS = ["SupabaseBackupStack", "BackupVault", "BackupIdentities", "BackupSchedule", "RecordSigningKey", "RecordSigningKey", "GrafanaDashboard", "SecurityAlerts", "BreakGlass", "AccessLogBucket"];

for (const stack of ["staging", "prod"] as const) {
    describe(`program (${stack}): the real stack file under mocks`, () => {
        let r: MockRunResult;
        let cfg: StackConfig;
        before(async () => {
            r = await stackRun(stack);
            cfg = configOf(stack);
        });

        it("composes the components, every resource parented inside them", () => {
            const stackRes = r.resources.filter((x) => x.type === "pulumi:pulumi:Stack");
            assert.equal(stackRes.length, 1);
            const byUrn = new Map(r.resources.map((x) => [x.urn, x]));
            const components = r.resources.filter((x) => !x.custom && x.type.startsWith("supabase-backups:"));
            const expected = stack === "prod" ? [...COMPONENTS, "ArchiveVault", "ArchiveRestoreOperators"] : COMPONENTS;
            assert.deepEqual(components.map((c) => c.type.split(":")[2]).sort(), [...expected].sort());
            for (const x of r.resources) {
                if (x === stackRes[0]) continue;
                assert.ok(x.parent && byUrn.has(x.parent), `${x.type} ${x.name} has a declared parent`);
                if (x.type === "supabase-backups:index:SupabaseBackupStack") continue;
                // everything else sits inside one of our components
                assert.match(byUrn.get(x.parent)!.type, /^supabase-backups:index:/, `${x.type} ${x.name}`);
            }
            // children of each component are the right clouds
            const parentType = (x: { parent?: string }) => byUrn.get(x.parent!)!.type.split(":")[2];
            for (const x of r.resources.filter((y) => y.type.startsWith("aws:s3/") || y.type.startsWith("aws:kms/")))
                assert.equal(parentType(x), /(record|drill)-signing/.test(x.name) ? "RecordSigningKey" : /access-logs/.test(x.name) ? "AccessLogBucket" : "BackupVault", x.name);
            for (const x of r.resources.filter((y) => y.type.startsWith("aws:iam/"))) assert.ok(["BackupIdentities", "BreakGlass"].includes(parentType(x)), `${x.name} in ${parentType(x)}`);
            for (const x of r.resources.filter((y) => y.type.startsWith("aws:sns/") || y.type.startsWith("aws:cloudwatch/"))) assert.equal(parentType(x), "SecurityAlerts");
            for (const x of r.resources.filter((y) => y.type.startsWith("kubernetes:"))) assert.equal(parentType(x), x.inputs.metadata?.labels?.grafana_dashboard ? "GrafanaDashboard" : "BackupSchedule");
        });

        it("every AWS resource uses the explicit provider built from aws.region and the account", () => {
            const provider = one(r, "pulumi:providers:aws");
            assert.equal(provider.inputs.region, cfg.aws.region);
            // provider inputs of non-string type reach the engine JSON-encoded
            const allowed = provider.inputs.allowedAccountIds;
            assert.deepEqual(typeof allowed === "string" ? JSON.parse(allowed) : allowed, [cfg.aws.accountId]);
            for (const x of r.resources.filter((y) => y.custom && y.type.startsWith("aws:")))
                assert.ok(x.provider?.startsWith(provider.urn + "::"), `${x.type} ${x.name} uses ${x.provider}`);
        });

        it("BackupVault: KMS key with rotation and alias, Object Lock COMPLIANCE, SSE-KMS with bucket key, all four public blocks", () => {
            const key = one(r, "aws:kms/key:Key", "-vault-key").inputs;
            assert.equal(key.enableKeyRotation, true);
            assert.equal(key.deletionWindowInDays, cfg.aws.kms.deletionWindowDays);
            assert.equal(one(r, "aws:kms/alias:Alias").inputs.name, cfg.aws.kms.alias);
            const bucket = one(r, "aws:s3/bucket:Bucket", "-vault-bucket");
            assert.equal(bucket.inputs.bucket, cfg.aws.bucketName);
            assert.equal(bucket.inputs.objectLockEnabled, true);
            assert.equal(bucket.protect, cfg.aws.protect);
            assert.equal(one(r, "aws:kms/key:Key", "-vault-key").protect, cfg.aws.protect);
            const lock = one(r, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration");
            assert.deepEqual(lock.inputs.rule.defaultRetention, { mode: "COMPLIANCE", days: cfg.retention.objectLockMinDays });
            assert.ok(lock.dependencies.includes(one(r, "aws:s3/bucketVersioning:BucketVersioning", "-vault-versioning").urn), "lock after versioning");
            assert.equal(one(r, "aws:s3/bucketVersioning:BucketVersioning", "-vault-versioning").inputs.versioningConfiguration.status, "Enabled");
            const sse = one(r, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "-vault-sse").inputs.rules;
            assert.deepEqual(sse, [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: r.outputs.kmsKeyArn }, bucketKeyEnabled: true }]);
            const pab = one(r, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "-vault-public-access").inputs;
            for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.equal(pab[k], true, k);
            assert.equal(one(r, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "-vault-ownership").inputs.rule.objectOwnership, "BucketOwnerEnforced");
            // v7 resource classes only, never the deprecated *V2 ones
            assert.ok(!r.resources.some((x) => /V2$/.test(x.type)), "no *V2 classes");
        });

        it("BackupVault lifecycle: per tier, expiry by tag and colder classes only with the archive tag (never manifests), plus versions and aborted uploads", () => {
            const rules = one(r, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "-vault-lifecycle").inputs.rules;
            const tiers = activeTiers(cfg.retention);
            assert.deepEqual(tiers, stack === "prod" ? ["daily", "weekly", "monthly", "yearly"] : ["daily", "weekly", "monthly"]);
            for (const tier of tiers) {
                const rule = rules.find((x: any) => x.id === `tier-${tier}`);
                assert.ok(rule, tier);
                assert.equal(rule.status, "Enabled");
                assert.deepEqual(rule.filter, { tag: { key: "tier", value: tier } });
                assert.equal(rule.expiration.days, lifecycleExpiryDays(tier, cfg.retention));
                // Nothing with only a tier tag (manifests, verification records) ever goes cold (issue 17)
                assert.equal(rule.transitions, undefined);
                const colder = rules.find((x: any) => x.id === `tier-${tier}-colder`);
                if (lifecycleTransitions(tier, cfg.retention).length) {
                    assert.deepEqual(colder.filter, { and: { tags: { tier, [ARCHIVE_TAG.key]: ARCHIVE_TAG.value } } });
                    assert.deepEqual(colder.transitions, lifecycleTransitions(tier, cfg.retention));
                    assert.equal(colder.expiration, undefined);
                } else assert.equal(colder, undefined);
                // expiry is never before the lock could end (calendar arithmetic, months of 31 days)
                assert.ok(rule.expiration.days > cfg.retention.objectLockMinDays);
            }
            const other = rules.find((x: any) => !x.filter.tag && !x.filter.and);
            assert.deepEqual(other.abortIncompleteMultipartUpload, { daysAfterInitiation: 1 });
            assert.ok(other.noncurrentVersionExpiration.noncurrentDays >= 1);
            assert.equal(other.expiration.expiredObjectDeleteMarker, true);
            // a tier a bucket keeps longer (staging: public-assets 8 weekly) has its storage class rule
            const longer = storageOnlyTiers(cfg.retention, storageRetention(cfg));
            assert.deepEqual(longer, stack === "staging" ? ["weekly"] : []);
            for (const tier of longer) {
                const rule = rules.find((x: any) => x.id === `tier-storage-${tier}`);
                assert.deepEqual(rule.filter, { tag: { key: "tier", value: `storage-${tier}` } });
                assert.equal(rule.expiration.days, lifecycleExpiryDays(tier, storageRetention(cfg)));
                assert.ok(rule.expiration.days > lifecycleExpiryDays(tier, cfg.retention));
                assert.equal(rule.transitions, undefined, "manifests never go cold");
            }
            assert.equal(rules.length, tiers.length + tiers.filter((t) => lifecycleTransitions(t, cfg.retention).length).length + longer.length + 1);
        });

        if (stack === "prod") {
            it("ArchiveVault: HTTPS-only TLS 1.2 StorageV2, no public or shared-key access, infrastructure encryption, immutability", () => {
                const a = one(r, "azure-native:storage:StorageAccount").inputs;
                assert.equal(a.kind, "StorageV2");
                assert.equal(a.accountName, cfg.azure!.accountName);
                assert.equal(a.enableHttpsTrafficOnly, true);
                assert.equal(a.minimumTlsVersion, "TLS1_2");
                assert.equal(a.allowBlobPublicAccess, false);
                assert.equal(a.allowSharedKeyAccess, false);
                assert.equal(a.encryption.requireInfrastructureEncryption, true);
                assert.equal(a.immutableStorageWithVersioning.enabled, true);
                assert.equal(a.immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays, cfg.retention.objectLockMinDays);
                const svc = one(r, "azure-native:storage:BlobServiceProperties").inputs;
                assert.equal(svc.isVersioningEnabled, true);
                assert.equal(svc.deleteRetentionPolicy.enabled, true);
                const c = one(r, "azure-native:storage:BlobContainer").inputs;
                assert.equal(c.publicAccess, "None");
                assert.equal(c.immutableStorageWithVersioning.enabled, true);
                assert.equal(c.containerName, cfg.azure!.container);
                assert.equal(one(r, "azure-native:resources:ResourceGroup").inputs.resourceGroupName, cfg.azure!.resourceGroupName);
                assert.equal(r.outputs.archiveContainerUrl, `https://${cfg.azure!.accountName}.blob.core.windows.net/${cfg.azure!.container}`);
            });

            it("ArchiveVault lifecycle: by blob index tag `tier`, same periods as S3", () => {
                const rules = one(r, "azure-native:storage:ManagementPolicy").inputs.policy.rules;
                for (const tier of activeTiers(cfg.retention)) {
                    const rule = rules.find((x: any) => x.name === `tier-${tier}`);
                    assert.deepEqual(rule.definition.filters.blobIndexMatch, [{ name: "tier", op: "==", value: tier }]);
                    assert.equal(rule.definition.actions.baseBlob.delete.daysAfterModificationGreaterThan, lifecycleExpiryDays(tier, cfg.retention));
                    assert.deepEqual(Object.keys(rule.definition.actions.baseBlob), ["delete"], "a tier-only blob (a manifest) is never cooled or archived");
                    const t = azureTierTransitions(tier, cfg.retention);
                    const colder = rules.find((x: any) => x.name === `tier-${tier}-colder`);
                    if (t.coolAfterDays === undefined && t.archiveAfterDays === undefined) {
                        assert.equal(colder, undefined, tier);
                        continue;
                    }
                    assert.deepEqual(colder?.definition.filters.blobIndexMatch, [{ name: "tier", op: "==", value: tier }, { name: ARCHIVE_TAG.key, op: "==", value: ARCHIVE_TAG.value }]);
                    assert.equal(colder?.definition.actions.baseBlob.tierToCool?.daysAfterModificationGreaterThan, t.coolAfterDays);
                    assert.equal(colder?.definition.actions.baseBlob.tierToArchive?.daysAfterModificationGreaterThan, t.archiveAfterDays);
                    // a blob rehydrated for a restore is not archived again at the next policy run
                    if (t.archiveAfterDays !== undefined) assert.equal(colder?.definition.actions.baseBlob.tierToArchive?.daysAfterLastTierChangeGreaterThan, REHYDRATED_STAYS_DAYS);
                    assert.equal(colder?.definition.actions.baseBlob.delete, undefined);
                }
            });

            it("Azure identities: federated to each service account, custom roles with only the data actions needed", () => {
                const ns = cfg.kubernetes.namespace;
                const creds = ofType(r, "azure-native:managedidentity:FederatedIdentityCredential").map((x) => x.inputs);
                assert.deepEqual(creds.map((c) => c.subject).sort(), ["drill", "gc", "verifier", "writer"].map((id) => `system:serviceaccount:${ns}:supabase-backups-${id}`));
                for (const c of creds) {
                    assert.equal(c.issuer, cfg.azure!.oidcIssuerUrl);
                    assert.deepEqual(c.audiences, ["api://AzureADTokenExchange"]);
                }
                // the workload roles (the people's restore-operator role: archive-restore-operators.test.ts)
                const workload = ofType(r, "azure-native:authorization:RoleDefinition").filter((x) => !x.name.includes("-archive-restore-operators-"));
                const roles = Object.fromEntries(workload.map((x) => [x.inputs.roleName.split("-").pop(), x.inputs]));
                assert.deepEqual(Object.keys(roles).sort(), ["drill", "gc", "verifier", "writer"]);
                const writer = roles.writer.permissions[0];
                assert.deepEqual(writer.actions, [], "no control-plane actions");
                assert.ok(!writer.dataActions.some((a: string) => /delete|\/read$/i.test(a)), `writer may not delete or read: ${writer.dataActions}`);
                assert.ok(writer.dataActions.some((a: string) => a.endsWith("/blobs/write")));
                assert.ok(!roles.verifier.permissions[0].dataActions.some((a: string) => /delete|write/i.test(a)));
                // gc collects the archive's storage blobs (jobs/src/commands/gc/archive.ts): read, delete and delete
                // versions; never permanently, never past an immutability policy (no runAsSuperUser), never write
                assert.deepEqual(roles.gc.permissions[0].dataActions, ["read", "delete", "deleteBlobVersion/action", "tags/read"].map((a) => `Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${a}`));
                // drills restore from the S3 vault only: tags read, nothing else on the archive
                assert.deepEqual(roles.drill.permissions[0].dataActions, ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/read"]);
                const account = one(r, "azure-native:storage:StorageAccount").state;
                for (const role of Object.values(roles) as any[]) {
                    // scoped to the archive account, assignable nowhere else
                    assert.match(role.scope, new RegExp(`/storageAccounts/${account.accountName}$`));
                    assert.deepEqual(role.assignableScopes, [role.scope]);
                }
                assert.equal(ofType(r, "azure-native:authorization:RoleAssignment").filter((x) => x.inputs.principalType === "ServicePrincipal").length, 4);
            });
        } else {
            it("declares no Azure resources when the archive is off", () => {
                assert.deepEqual(r.resources.filter((x) => x.type.startsWith("azure-native:")), []);
                assert.equal(r.outputs.archiveContainerUrl, undefined);
            });
        }

        it("stack outputs: bucket, key, roles, namespace, schedules", () => {
            const o = r.outputs;
            assert.equal(o.bucketName, cfg.aws.bucketName);
            assert.match(o.kmsKeyArn, /^arn:aws:kms:/);
            for (const id of ["writer", "verifier", "gc", "drill"]) assert.equal(o.roleArns[id], `arn:aws:iam::${cfg.aws.accountId}:role/supabase-backups-${stack}-${id}`);
            assert.equal(o.restoreOperatorRoleArn, `arn:aws:iam::${cfg.aws.accountId}:role/supabase-backups-${stack}-restore-operator`);
            assert.equal(o.namespace, cfg.kubernetes.namespace);
            assert.deepEqual(Object.keys(o.schedules).sort(), ["check-supabase", "drill-full", "drill-storage", "drill-table", "dump", "gc", "sync-storage", "sync-storage-public-assets", "verify"]);
            assert.equal(o.schedules.dump.schedule, cfg.schedules.dump);
            assert.equal(o.schedules.dump.periodSeconds, 86400);
        });

        it("secrets reach only Kubernetes Secrets, always as Pulumi secrets", () => {
            const placeholders = r.placeholders.map((p) => (p === "databaseUrl" ? "placeholder@db.example.invalid" : `placeholder-${p}`));
            for (const x of r.resources) {
                const text = JSON.stringify(x.inputs);
                for (const p of placeholders) {
                    if (!text.includes(p)) continue;
                    assert.equal(x.type, "kubernetes:core/v1:Secret", `${x.type} ${x.name} holds a secret`);
                    assert.ok(x.secretPaths.length > 0);
                }
            }
            assert.doesNotMatch(JSON.stringify(r.outputs), /placeholder/);
        });
    });
}

describe("program: source rules", () => {
    it("imports only submodules of the big SDKs", () => {
        const files = ["index.ts", ...readdirSync(join(REPO_ROOT, "components")).filter((f) => f.endsWith(".ts")).map((f) => `components/${f}`)];
        const offenders: string[] = [];
        for (const f of files) {
            const src = readFileSync(join(REPO_ROOT, f), "utf8");
            for (const m of src.matchAll(/from\s+"(@pulumi\/(?:aws|azure-native|kubernetes))"/g)) offenders.push(`${f}: ${m[1]}`);
            for (const m of src.matchAll(/require\("(@pulumi\/(?:aws|azure-native|kubernetes))"\)/g)) offenders.push(`${f}: ${m[1]}`);
        }
        assert.deepEqual(offenders, []);
    });

    it("every ComponentResource registers its outputs and parents its children", () => {
        for (const f of readdirSync(join(REPO_ROOT, "components")).filter((x) => x.endsWith(".ts"))) {
            const src = readFileSync(join(REPO_ROOT, "components", f), "utf8");
            if (!/extends pulumi\.ComponentResource/.test(src)) continue;
            assert.match(src, /this\.registerOutputs\(/, f);
        }
    });
});
