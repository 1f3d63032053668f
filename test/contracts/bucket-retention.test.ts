// Per-bucket retention (issue 15.5): the storage retention, the lifecycle class tags, the config
// validation against the lock floors (the environment's count and the Object Lock minimum), and the
// pull-request floor on a bucket's longer retention.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import {
    bucketRetention,
    chooseTier,
    parseTierTag,
    readStackFile,
    retainUntil,
    storageRetention,
    storageTierTag,
    tierTagExpiryDays,
    validateStackConfig,
    type RetentionPolicy,
} from "@supabase-backups/contracts";
import { floorsOf, lowerings } from "../../policy/floors";
import { ROOT, stackConfig } from "../support/policy-fixtures";

const ENV: RetentionPolicy = { daily: 7, weekly: 4, monthly: 3, yearly: 0, objectLockMinDays: 7 };

function stagingWith(buckets: object[]) {
    const f = readStackFile(join(ROOT, "Pulumi.staging.yaml"), { placeholderSecrets: true });
    (f.values.storage as any).buckets = buckets;
    return validateStackConfig(f);
}

function problems(buckets: object[]): string[] {
    const r = stagingWith(buckets);
    return r.ok ? [] : r.issues.map((i) => `${i.source}: ${i.key}: expected ${i.expected}; found ${i.found}`);
}

describe("per-bucket retention: contracts", () => {
    it("the storage retention is per tier the longest of the environment and every override; a bucket's own is the env's with its overrides", () => {
        const cfg = { retention: ENV, storage: { buckets: [{ name: "user-media" }, { name: "public-assets", retention: { weekly: 8 } }, { name: "docs", retention: { monthly: 6, weekly: 5 } }] } };
        assert.deepEqual(storageRetention(cfg), { daily: 7, weekly: 8, monthly: 6, yearly: 0, objectLockMinDays: 7 });
        assert.deepEqual(bucketRetention(ENV, { weekly: 8 }), { ...ENV, weekly: 8 });
        assert.deepEqual(storageRetention({ retention: ENV, storage: {} }), ENV, "no buckets listed: the environment's");
    });

    it("a run of a lengthened tier is locked with the storage retention and tagged storage-<tier>; other tiers keep their env tag", () => {
        const storage = storageRetention({ retention: ENV, storage: { buckets: [{ name: "public-assets", retention: { weekly: 8 } }] } });
        const monday = new Date("2027-01-04T04:30:00Z");
        assert.equal(chooseTier(monday, [{ tier: "monthly", startedAt: "2027-01-01T04:30:00Z" }], storage), "weekly");
        assert.equal(retainUntil(monday, "weekly", storage).toISOString(), "2027-03-01T04:30:00.000Z", "8 weeks, not 4");
        assert.equal(storageTierTag("weekly", ENV, storage), "storage-weekly");
        assert.equal(storageTierTag("daily", ENV, storage), "daily");
        assert.equal(storageTierTag("monthly", ENV, storage), "monthly");
        assert.deepEqual(parseTierTag("storage-weekly"), { tier: "weekly", storage: true });
        assert.deepEqual(parseTierTag("weekly"), { tier: "weekly", storage: false });
        assert.equal(parseTierTag("storage-fortnightly"), undefined);
        // the rule on storage-weekly may not expire before 8 weeks (+1 day), the env's weekly rule before 4
        assert.equal(tierTagExpiryDays("storage-weekly", ENV, storage)!.days, 57);
        assert.equal(tierTagExpiryDays("weekly", ENV, storage)!.days, 29);
    });

    it("an override that activates a tier the environment does not use takes that tier in the tier choice", () => {
        const env: RetentionPolicy = { daily: 14, weekly: 0, monthly: 0, yearly: 0, objectLockMinDays: 7 };
        const storage = storageRetention({ retention: env, storage: { buckets: [{ name: "public-assets", retention: { weekly: 8 } }] } });
        const wed = new Date("2027-01-06T04:30:00Z");
        assert.equal(chooseTier(wed, [], env), "daily");
        assert.equal(chooseTier(wed, [], storage), "weekly");
        assert.equal(chooseTier(wed, [{ tier: "weekly", startedAt: "2027-01-05T04:30:00Z" }], storage), "daily", "the week is filled");
        assert.equal(storageTierTag("weekly", env, storage), "storage-weekly");
    });
});

describe("per-bucket retention: stack config validation", () => {
    it("Pulumi.staging.yaml keeps public-assets 8 weekly (the environment keeps 4) and is valid", () => {
        const cfg = stackConfig("staging");
        assert.deepEqual(cfg.storage.buckets?.find((b) => b.name === "public-assets")?.retention, { weekly: 8 });
        assert.equal(storageRetention(cfg).weekly, 8);
        assert.equal(cfg.retention.weekly, 4);
    });

    it("refuses an override below the environment's count (the pack's floor), naming the bucket and the tier", () => {
        const p = problems([{ name: "user-media" }, { name: "public-assets", retention: { weekly: 2 } }]);
        assert.equal(p.length, 1, p.join("\n"));
        assert.match(p[0], /^Pulumi\.staging\.yaml: supabase-backups:storage\.buckets\[1\]\.retention\.weekly: expected at least 4 \(retention\.weekly\): a bucket may keep a tier longer than the environment, never shorter/);
        assert.match(p[0], /found 2 weekly for bucket "public-assets"$/);
    });

    it("refuses an override shorter than the Object Lock minimum (a tier the environment does not use), naming bucket and tier", () => {
        const f = readStackFile(join(ROOT, "Pulumi.staging.yaml"), { placeholderSecrets: true });
        (f.values.retention as any).objectLockMinDays = 7;
        (f.values.retention as any).yearly = 0;
        (f.values.storage as any).buckets = [{ name: "archive-docs", retention: { daily: 3 } }];
        const r = validateStackConfig(f);
        assert.equal(r.ok, false);
        const text = (r as any).issues.map((i: any) => `${i.key}: expected ${i.expected}; found ${i.found}`).join("\n");
        assert.match(text, /storage\.buckets\[0\]\.retention\.daily: expected at least 7 \(retention\.daily\)/);
        assert.match(text, /found 3 daily for bucket "archive-docs"/);
        // a tier the env does not use, activated for 1 week while the lock minimum is 30 days
        const g = readStackFile(join(ROOT, "Pulumi.prod.yaml"), { placeholderSecrets: true });
        (g.values.retention as any).weekly = 0;
        (g.values.storage as any).buckets = [{ name: "public-assets", retention: { weekly: 2 } }];
        const r2 = validateStackConfig(g);
        assert.equal(r2.ok, false);
        const t2 = (r2 as any).issues.map((i: any) => `${i.key}: expected ${i.expected}; found ${i.found}`).join("\n");
        assert.match(t2, /storage\.buckets\[0\]\.retention\.weekly: expected at least 5 weekly period\(s\): 2 weekly is 14 day\(s\), shorter than the Object Lock minimum \(retention\.objectLockMinDays 30, COMPLIANCE\)/);
        assert.match(t2, /found 2 weekly for bucket "public-assets"/);
    });

    it("accepts longer overrides and unknown keys are refused by the schema", () => {
        assert.deepEqual(problems([{ name: "public-assets", retention: { weekly: 8, monthly: 12 } }]), []);
        const p = problems([{ name: "public-assets", retention: { weekely: 8 } }]);
        assert.match(p.join("\n"), /storage\.buckets\[0\]\.retention\.weekely: expected no such key/);
    });
});

describe("per-bucket retention: the pull-request floor", () => {
    it("lowering or removing a bucket's longer retention is a lowering; raising is not", () => {
        const base = floorsOf(stackConfig("staging"));
        assert.deepEqual(base["storage.buckets.retention"], { "public-assets.daily": 7, "public-assets.weekly": 8, "public-assets.monthly": 3, "public-assets.yearly": 0 });
        const lowered = { ...base, "storage.buckets.retention": { ...base["storage.buckets.retention"], "public-assets.weekly": 6 } };
        assert.deepEqual(lowerings(base, lowered).map((l) => l.why), ["per-bucket retention goes down: public-assets.weekly from 8 to 6"]);
        const removed = { ...base, "storage.buckets.retention": {} };
        assert.deepEqual(lowerings(base, removed).map((l) => l.why), ["per-bucket retention goes down: public-assets.weekly from 8 to 4"], "falls back to retention.weekly");
        const raised = { ...base, "storage.buckets.retention": { ...base["storage.buckets.retention"], "public-assets.weekly": 10 } };
        assert.deepEqual(lowerings(base, raised), []);
    });
});
