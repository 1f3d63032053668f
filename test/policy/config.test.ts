// The pack config: validated with ajv against a schema assembled from the policies' own configSchemas,
// derived from the stack files (the committed files are exactly what the stack files imply), and every
// kind of mistake is a clear error naming the policy and the key.
import { strict as assert } from "node:assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv";
import { derivePackConfig, PackConfigError, readPackConfigFile, validatePackConfig, type PackConfig } from "../../policy/config";
import { evaluatePack } from "../../policy/evaluate";
import { PolicyConfigError } from "../../policy/lib/common";
import { policies } from "../../policy/policies";
import { ROOT, resourcesFor, stackConfig } from "../support/policy-fixtures";
import { JOB_IDENTITY, CLOUD_IDENTITIES, roleName } from "../../components/names";
import { DEFAULT_JOB_IDENTITIES } from "../../policy/policies/stack-backup-completeness";
import { classifyIdentity, DEFAULT_IDENTITIES } from "../../policy/lib/identities";

function problemsOf(raw: unknown): string[] {
    try {
        validatePackConfig(raw, "config.test.json");
    } catch (e) {
        assert.ok(e instanceof PackConfigError, String(e));
        assert.match(e.message, /^config.test.json: invalid policy pack config \(\d+ problems?\):/);
        return e.problems;
    }
    return [];
}

describe("policy pack config", () => {
    for (const stack of ["staging", "prod"]) {
        it(`policy/config.${stack}.json is valid and is exactly what Pulumi.${stack}.yaml implies`, () => {
            const committed = readPackConfigFile(join(ROOT, "policy", `config.${stack}.json`));
            const cfg = stackConfig(stack);
            assert.deepEqual(committed, derivePackConfig(cfg), `regenerate with: npm run policy -- --stack ${stack} --write-config`);
            // Spot-check that the floors are the stack's own numbers, not restated ones.
            assert.equal((committed["vault-object-lock-compliance"] as any).minRetentionDays, cfg.retention.objectLockMinDays);
            assert.equal((committed["k8s-cronjob-hardened"] as any).rpoHours, cfg.alerts.rpoHours);
            assert.equal((committed["vault-lifecycle-respects-retention"] as any).retention.daily, cfg.retention.daily);
        });
    }

    it("prod must keep the secondary archive, staging (Azure off) need not", () => {
        assert.equal((derivePackConfig(stackConfig("prod"))["stack-backup-completeness"] as any).requireSecondaryArchive, true);
        assert.equal((derivePackConfig(stackConfig("staging"))["stack-backup-completeness"] as any).requireSecondaryArchive, false);
    });

    it("the pack's defaults name the identities the way the components do (job kind → identity, role names)", () => {
        assert.deepEqual(DEFAULT_JOB_IDENTITIES, JOB_IDENTITY);
        for (const env of ["staging", "prod"]) {
            for (const id of CLOUD_IDENTITIES) assert.equal(classifyIdentity([roleName(env, id)], DEFAULT_IDENTITIES), id);
            assert.equal(classifyIdentity([roleName(env, "restore-operator")], DEFAULT_IDENTITIES), "restoreOperator");
        }
    });

    it("every policy's configSchema survives the JSON trip to the engine and compiles", () => {
        for (const p of policies) {
            if (!p.configSchema) continue;
            const wire = JSON.parse(JSON.stringify(p.configSchema));
            assert.deepEqual(Object.keys(wire.properties).sort(), Object.keys(p.configSchema.properties).sort(), p.name);
            new Ajv({ strict: false }).compile({ type: "object", ...wire });
        }
    });

    const good = () => structuredClone(derivePackConfig(stackConfig("staging"))) as Record<string, any>;
    const cases: [string, (c: Record<string, any>) => unknown, RegExp][] = [
        ["an unknown policy name", (c) => ((c["vault-object-lok"] = {}), c), /unknown policy "vault-object-lok" \(known: vault-object-lock-compliance, /],
        ["an unknown key", (c) => ((c["vault-object-lock-compliance"].minDays = 7), c), /vault-object-lock-compliance: unknown key "minDays" \(known: minRetentionDays, bucketName, enforcementLevel\)/],
        ["a string for a number", (c) => ((c["vault-object-lock-compliance"].minRetentionDays = "seven"), c), /vault-object-lock-compliance.minRetentionDays: must be integer; found "seven"/],
        ["a floor below its minimum", (c) => ((c["vault-object-lock-compliance"].minRetentionDays = 0), c), /vault-object-lock-compliance.minRetentionDays: must be >= 1; found 0/],
        ["a typo in the retention", (c) => ((c["vault-lifecycle-respects-retention"].retention.dialy = 7), c), /vault-lifecycle-respects-retention.retention: unknown key "dialy"/],
        ["a missing policy config", (c) => (delete c["iam-backup-identities-least-privilege"], c), /missing the config of policy "iam-backup-identities-least-privilege"/],
        ["a missing required key", (c) => (delete c["k8s-cronjob-hardened"].rpoHours, c), /k8s-cronjob-hardened: missing required key "rpoHours"/],
        ["a policy relaxed to advisory", (c) => ((c["vault-versioning-enabled"] = "advisory"), c), /vault-versioning-enabled: enforcement level "advisory" is not allowed/],
        ["a policy disabled in its object", (c) => ((c["vault-object-lock-compliance"].enforcementLevel = "disabled"), c), /vault-object-lock-compliance.enforcementLevel: must be one of "mandatory"; found "disabled"/],
        ["everything disabled", (c) => ((c.all = "disabled"), c), /all: must be one of "mandatory"; found "disabled"/],
        ["a bad RPO", (c) => ((c["k8s-cronjob-hardened"].rpoHours = -1), c), /k8s-cronjob-hardened.rpoHours: must be > 0; found -1/],
        ["a bad identity pattern type", (c) => ((c["iam-backup-identities-least-privilege"].identities = { writer: 3 }), c), /identities.writer: must be string; found 3/],
        ["an array", () => [], /expected a JSON object keyed by policy name; found an array/],
    ];
    for (const [what, make, re] of cases) {
        it(`rejects ${what} with a clear message`, () => {
            const problems = problemsOf(make(good()));
            assert.ok(problems.some((p) => re.test(p)), `expected a problem ~ ${re}; got:\n${problems.join("\n") || "(none: accepted)"}`);
        });
    }

    it("accepts the committed files and a bare \"mandatory\" for a policy without settings", () => {
        assert.deepEqual(problemsOf(good()), []);
        assert.deepEqual(problemsOf({ ...good(), "vault-versioning-enabled": "mandatory", all: "mandatory" }), []);
    });

    it("a file that is not JSON is a clear error", () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-policy-config-"));
        writeFileSync(join(dir, "config.x.json"), "{ not json");
        assert.throws(() => readPackConfigFile(join(dir, "config.x.json")), /config.x.json: invalid policy pack config \(1 problem\):\n {2}- not valid JSON/);
    });

    it("the policies themselves refuse bad config at run time (what `pulumi preview --policy-pack-config` hands them)", async () => {
        const rs = resourcesFor(stackConfig("staging"));
        const bad: PackConfig = { ...good(), "vault-object-lock-compliance": { minRetentionDays: "7" } };
        await assert.rejects(evaluatePack(rs, bad), (e: unknown) => {
            assert.ok(e instanceof PolicyConfigError);
            assert.match(e.message, /policy config for "vault-object-lock-compliance" is invalid:\n {2}- vault-object-lock-compliance.minRetentionDays: must be integer; found "7"/);
            return true;
        });
        const missing: PackConfig = { ...good() };
        delete missing["k8s-cronjob-hardened"];
        await assert.rejects(evaluatePack(rs, missing), /policy config for "k8s-cronjob-hardened" is invalid:\n {2}- k8s-cronjob-hardened: missing required key "rpoHours"/);
    });
});
