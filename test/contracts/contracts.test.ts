import { strict as assert } from "node:assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
    configSnapshot,
    secretsFor,
    stackFileFromSnapshot,
    type JobConfig,
    chooseTier,
    dbObjectKey,
    isoWeek,
    lifecycleExpiryDays,
    lifecycleTransitions,
    maxIntervalSeconds,
    newRunId,
    parseVaultKey,
    readStackFile,
    redactUrl,
    retainUntil,
    runIdTime,
    scrub,
    storageBlobKey,
    tierPeriod,
    validateStackConfig,
    type CompletedRun,
    type RetentionPolicy,
} from "@supabase-backups/contracts";

const root = join(__dirname, "..", "..");
const prod: RetentionPolicy = { daily: 30, weekly: 12, monthly: 12, yearly: 7, objectLockMinDays: 30 };

describe("contracts: retention tiers", () => {
    it("uses ISO weeks (2027-01-01 is in 2026-W53)", () => {
        assert.deepEqual(isoWeek(new Date("2027-01-01T12:00:00Z")), { year: 2026, week: 53 });
        assert.equal(tierPeriod("weekly", new Date("2026-11-22T19:30:00Z")), "2026-W47");
    });
    it("takes the highest tier whose period has no complete run", () => {
        const now = new Date("2026-11-22T19:30:00Z");
        assert.equal(chooseTier(now, [], prod), "yearly");
        const runs: CompletedRun[] = [{ tier: "yearly" as const, startedAt: "2026-01-01T19:30:00Z" }];
        assert.equal(chooseTier(now, runs, prod), "monthly");
        runs.push({ tier: "monthly" as const, startedAt: "2026-11-01T19:30:00Z" });
        assert.equal(chooseTier(now, runs, prod), "weekly");
        runs.push({ tier: "weekly" as const, startedAt: "2026-11-16T19:30:00Z" });
        assert.equal(chooseTier(now, runs, prod), "daily");
    });
    it("a failed run on the 1st does not lose the month", () => {
        const runs = [
            { tier: "yearly" as const, startedAt: "2026-01-01T19:30:00Z" },
            { tier: "monthly" as const, startedAt: "2026-10-01T19:30:00Z" },
            { tier: "weekly" as const, startedAt: "2026-10-26T19:30:00Z" },
        ];
        // no complete run on 2026-11-01: the run on the 2nd takes the month
        assert.equal(chooseTier(new Date("2026-11-02T19:30:00Z"), runs, prod), "monthly");
    });
    it("retain-until is calendar arithmetic and lifecycle expiry never precedes it", () => {
        const t = new Date("2026-01-31T19:30:00Z");
        assert.equal(retainUntil(t, "monthly", prod).toISOString(), "2027-01-31T19:30:00.000Z");
        assert.equal(retainUntil(t, "yearly", prod).toISOString(), "2033-01-31T19:30:00.000Z");
        for (const tier of ["daily", "weekly", "monthly", "yearly"] as const) {
            const days = (retainUntil(t, tier, prod).getTime() - t.getTime()) / 86_400_000;
            assert.ok(lifecycleExpiryDays(tier, prod) > days, `${tier}: expiry after lock`);
        }
    });
    it("transitions only where the period allows", () => {
        assert.deepEqual(lifecycleTransitions("daily", { daily: 7, objectLockMinDays: 7 }), []);
        assert.deepEqual(lifecycleTransitions("yearly", prod).map((x) => x.storageClass), ["STANDARD_IA", "GLACIER"]);
    });
});

describe("contracts: vault paths", () => {
    it("builds and parses the layout", () => {
        const id = newRunId(new Date("2026-11-22T19:30:00Z"), "k3x9qa");
        assert.equal(id, "20261122T193000Z-k3x9qa");
        assert.equal(runIdTime(id).toISOString(), "2026-11-22T19:30:00.000Z");
        const key = dbObjectKey("prod", id, "manifest.json");
        assert.equal(key, "db/prod/2026/11/22/20261122T193000Z-k3x9qa/manifest.json");
        assert.deepEqual(parseVaultKey(key), { kind: "db", env: "prod", runId: id, name: "manifest.json" });
        const sha = "ab".repeat(32);
        assert.equal(storageBlobKey("prod", sha), `storage/prod/blobs/ab/${sha}`);
        assert.throws(() => storageBlobKey("prod", "nothex"), /sha256/);
        assert.match(newRunId(new Date()), /^\d{8}T\d{6}Z-[a-z0-9]{6}$/);
    });
});

describe("contracts: cron", () => {
    it("measures the longest gap between firings", () => {
        assert.equal(maxIntervalSeconds("30 3 * * *", "Asia/Manila"), 86400);
        assert.equal(maxIntervalSeconds("0 4 * * 0", "Asia/Manila"), 7 * 86400);
    });
});

describe("contracts: stack config validation", () => {
    for (const stack of ["staging", "prod"]) {
        it(`Pulumi.${stack}.yaml is valid (secrets as placeholders)`, () => {
            const f = readStackFile(join(root, `Pulumi.${stack}.yaml`), { placeholderSecrets: true });
            const r = validateStackConfig(f);
            assert.ok(r.ok, JSON.stringify(r.issues, null, 2));
            assert.equal(r.config.config.env, stack);
        });
    }
    it("names file, key, expectation and finding; never echoes a plain-text secret", () => {
        const f = readStackFile(join(root, "Pulumi.staging.yaml"), { placeholderSecrets: true });
        f.values.retention = { daily: "seven", objectLockMinDays: 7, wekly: 4 };
        f.secretKeys.delete("databaseUrl");
        f.values.databaseUrl = "postgresql://u:hunter2secret@h/db";
        const r = validateStackConfig(f);
        assert.equal(r.ok, false);
        const text = r.issues.map((i) => `${i.source}: ${i.key}: expected ${i.expected}; found ${i.found}`).join("\n");
        assert.match(text, /Pulumi\.staging\.yaml: supabase-backups:retention\.daily: expected an integer.*found string "seven"/);
        assert.match(text, /supabase-backups:retention\.wekly: expected no such key.*found unknown key "wekly"/);
        assert.match(text, /supabase-backups:databaseUrl: expected a secret.*found plain text/);
        assert.doesNotMatch(text, /hunter2/);
    });
    it("a run's config snapshot rebuilds the stack file: the same config, secrets by name only", () => {
        const f = readStackFile(join(root, "Pulumi.prod.yaml"), { placeholderSecrets: true });
        const v = validateStackConfig(f);
        assert.ok(v.ok);
        const job = { ...v.config.config, vault: { bucket: "acme-backups-prod", region: "ap-southeast-1", forcePathStyle: false } } as JobConfig;
        const snap = configSnapshot(job);
        assert.deepEqual(snap.secrets.map((x) => x.name), secretsFor(job));
        const dir = mkdtempSync(join(tmpdir(), "snapshot-"));
        writeFileSync(join(dir, "Pulumi.prod.yaml"), stackFileFromSnapshot(snap, "prod"));
        const rebuilt = readStackFile(join(dir, "Pulumi.prod.yaml"), { placeholderSecrets: true });
        const again = validateStackConfig(rebuilt);
        assert.ok(again.ok, JSON.stringify(!again.ok && again.issues));
        assert.deepEqual(again.config.config, v.config.config);
        assert.equal(rebuilt.other["aws:region"], "ap-southeast-1");
        assert.ok(!JSON.stringify(snap).includes("placeholder"), "a secret value in the snapshot");
    });
    it("the secrets a config needs: the age identity only with encryption, the Storage S3 keys only in s3 mode", () => {
        assert.deepEqual(secretsFor({}), ["databaseUrl", "serviceRoleKey", "managementApiToken"]);
        assert.deepEqual(secretsFor({ encryption: { ageRecipient: "age1x" }, storage: { mode: "s3" } }), [
            "databaseUrl", "serviceRoleKey", "managementApiToken", "ageIdentity", "storageS3AccessKeyId", "storageS3SecretAccessKey",
        ]);
    });
    it("rejects a lock longer than the shortest tier", () => {
        const f = readStackFile(join(root, "Pulumi.staging.yaml"), { placeholderSecrets: true });
        (f.values.retention as any).objectLockMinDays = 10;
        const r = validateStackConfig(f);
        assert.equal(r.ok, false);
        assert.match(r.issues[0].key, /retention\.objectLockMinDays/);
        assert.match(r.issues[0].expected, /at most 7 days/);
    });
});

describe("contracts: redaction", () => {
    it("removes passwords from URLs and messages", () => {
        assert.equal(redactUrl("postgresql://postgres:s3cr3t@db.x.supabase.co:5432/postgres"), "postgresql://postgres:***@db.x.supabase.co:5432/postgres");
        assert.equal(scrub("connect failed for postgresql://a:pw%40x@h/db", []), "connect failed for postgresql://a:***@h/db");
        assert.equal(scrub("token abcd1234 rejected", ["abcd1234"]), "token *** rejected");
    });
});

import { checkChain } from "@supabase-backups/contracts";
describe("contracts: hash chain", () => {
    const a = { runId: "20261120T193000Z-aaaaaa", sha256: "a".repeat(64), previous: null };
    const b = { runId: "20261121T193000Z-bbbbbb", sha256: "b".repeat(64), previous: { runId: a.runId, sha256: a.sha256 } };
    const c = { runId: "20261122T193000Z-cccccc", sha256: "c".repeat(64), previous: { runId: b.runId, sha256: b.sha256 } };
    it("holds for an intact chain", () => assert.deepEqual(checkChain([c, a, b]), []));
    it("finds a missing run", () => assert.match(checkChain([a, c])[0].reason, /links to 20261121T193000Z-bbbbbb, which is missing/));
    it("finds an altered manifest", () => assert.match(checkChain([a, { ...b, sha256: "d".repeat(64) }, c])[0].reason, /altered/));
    it("an archived manifest (unreadable) is no break: its own link unchecked, the next run's link checked by run id only", () => {
        const archivedB = { runId: b.runId, sha256: "", previous: null, archived: true };
        assert.deepEqual(checkChain([a, archivedB, c]), []);
        // a run inserted after it, or a link to a run that is not there, still breaks the chain
        assert.match(checkChain([a, archivedB, { ...c, previous: { runId: a.runId, sha256: a.sha256 } }])[0].reason, /a run was inserted/);
        assert.match(checkChain([a, { ...archivedB, runId: "20261121T200000Z-xxxxxx" }, c])[0].reason, /which is missing/);
    });
});
