// Per-bucket retention through the real program and the pack (issue 15.5): prod with `public-assets` kept
// 24 monthly (the environment keeps 12) declares S3 and Azure lifecycle rules on tier=storage-monthly that
// expire with the storage retention; the pack, configured from that stack file, passes it, and fails the
// weakened stacks: the storage class rule shortened to the environment's monthly expiry (S3, Azure), and a
// rule on every object shorter than the longest storage tier.
import { strict as assert } from "node:assert";
import { lifecycleExpiryDays, storageRetention, validateStackConfig, type StackConfig } from "@supabase-backups/contracts";
import { loadStackFileForMocks, runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { toPolicyResources } from "../../scripts/policy";
import { evaluatePack, type DeclaredResource } from "../../policy/evaluate";
import { derivePackConfig, validatePackConfig } from "../../policy/config";

const LC = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration";
const MP = "azure-native:storage:ManagementPolicy";

function withOverride(file: { values: Record<string, any> }): void {
    file.values.storage.buckets = file.values.storage.buckets.map((b: any) => (b.name === "public-assets" ? { ...b, retention: { monthly: 24 } } : b));
}

describe("per-bucket retention: program and pack (prod, public-assets 24 monthly)", function () {
    this.timeout(300_000);
    let base: DeclaredResource[];
    let cfg: StackConfig;
    let pack: ReturnType<typeof derivePackConfig>;

    before(async () => {
        const file = loadStackFileForMocks("prod", { mutate: withOverride });
        const v = validateStackConfig(file);
        if (!v.ok) throw new Error(JSON.stringify(v.issues));
        cfg = v.config.config;
        pack = validatePackConfig(derivePackConfig(cfg), "derived");
        base = toPolicyResources((await runProgramUnderMocks("prod", { mutate: withOverride })).resources);
    });

    // the vault's lifecycle (the access-log bucket has one too)
    const rulesOf = (rs: DeclaredResource[]) => rs.find((r) => r.type === LC && r.name.endsWith("-vault-lifecycle"))!.props.rules as any[];
    const azureRulesOf = (rs: DeclaredResource[]) => rs.find((r) => r.type === MP)!.props.policy.rules as any[];
    const violations = async (rs: DeclaredResource[]) => (await evaluatePack(rs, pack, { stack: "prod" })).map((v) => `[${v.policy}] ${v.message}`);

    it("declares tier-storage-monthly in S3 and Azure, expiring after the storage retention's months; the env's tier-monthly is unchanged; the pack config carries storageRetention", async () => {
        const storage = storageRetention(cfg);
        assert.equal(storage.monthly, 24);
        const s3 = rulesOf(base).find((r) => r.id === "tier-storage-monthly");
        assert.deepEqual(s3.filter, { tag: { key: "tier", value: "storage-monthly" } });
        assert.equal(s3.expiration.days, lifecycleExpiryDays("monthly", storage));
        assert.equal(s3.expiration.days, 24 * 31 + 1);
        assert.equal(rulesOf(base).find((r) => r.id === "tier-monthly").expiration.days, lifecycleExpiryDays("monthly", cfg.retention));
        const az = azureRulesOf(base).find((r) => r.name === "tier-storage-monthly");
        assert.deepEqual(az.definition.filters.blobIndexMatch, [{ name: "tier", op: "==", value: "storage-monthly" }]);
        assert.equal(az.definition.actions.baseBlob.delete.daysAfterModificationGreaterThan, 24 * 31 + 1);
        assert.deepEqual((pack["vault-lifecycle-respects-retention"] as any).storageRetention, { ...storage });
        assert.deepEqual(await violations(base), []);
    });

    it("weakened: the S3 storage class rule expiring with the environment's 12 months fails vault-lifecycle-respects-retention", async () => {
        const rs = structuredClone(base);
        rulesOf(rs).find((r) => r.id === "tier-storage-monthly").expiration.days = lifecycleExpiryDays("monthly", cfg.retention);
        const v = await violations(rs);
        assert.ok(
            v.some((m) => /^\[vault-lifecycle-respects-retention\] rule "tier-storage-monthly" expires objects after 373 day\(s\), shorter than 745: tier "storage-monthly" keeps 24 period\(s\) \(the storage retention/.test(m)),
            v.join("\n"),
        );
    });

    it("weakened: the Azure storage class rule deleting after 12 months fails azure-archive-hardened", async () => {
        const rs = structuredClone(base);
        azureRulesOf(rs).find((r) => r.name === "tier-storage-monthly").definition.actions.baseBlob.delete.daysAfterModificationGreaterThan = 373;
        const v = await violations(rs);
        assert.ok(v.some((m) => /^\[azure-archive-hardened\] .*tier-storage-monthly.*deletes after 373 day\(s\).*shorter than 745/.test(m)), v.join("\n"));
    });

    it("weakened: the storage class tag moved onto the env's rule (storage manifests expiring after 12 months) fails", async () => {
        const rs = structuredClone(base);
        const rules = rulesOf(rs);
        const env = rules.find((r) => r.id === "tier-monthly");
        rules.push({ ...structuredClone(env), id: "sneaky", filter: { tag: { key: "tier", value: "storage-monthly" } } });
        const v = await violations(rs);
        assert.ok(v.some((m) => /rule "sneaky" expires objects after 373 day\(s\), shorter than 745/.test(m)), v.join("\n"));
    });

    it("without the override in the pack config (an old config), the storage class rule is still held to at least the environment's tier", async () => {
        const { storageRetention: _s, ...old } = pack["vault-lifecycle-respects-retention"] as any;
        const oldPack = { ...pack, "vault-lifecycle-respects-retention": old };
        const rs = structuredClone(base);
        rulesOf(rs).find((r) => r.id === "tier-storage-monthly").expiration.days = 30;
        const v = (await evaluatePack(rs, oldPack, { stack: "prod" })).map((x) => x.message);
        assert.ok(v.some((m) => /rule "tier-storage-monthly" expires objects after 30 day\(s\), shorter than 373/.test(m)), v.join("\n"));
    });
});
