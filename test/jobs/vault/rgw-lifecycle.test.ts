// The vault's lifecycle rules — components/vault.ts vaultLifecycleRules(retention), exactly as the stack
// builds them, translated field by field into the SDK's PutBucketLifecycleConfiguration shape — applied by a
// real S3 (Ceph RGW, test/support/rgw.ts, Pacific 16.2) to an Object Lock bucket made like the vault's, with a
// retention short enough to watch: daily keep 1 (expiry after 2 lifecycle days) and yearly keep 1 (367 days).
// The harness runs RGW with `rgw lc debug interval = 10`: a lifecycle "day" is 10 s. Object Lock dates are
// real dates (not scaled), so "a lock that already ran out" is an explicit retain-until a few seconds ahead.
//
// What RGW does with the rules: it stores them exactly as generated and applies the tag filters, expiration,
// noncurrent-version expiration and expired-delete-marker removal. It cannot carry out the yearly tier's
// transitions (STANDARD_IA after 30 days, GLACIER after 90): a fresh RGW's default placement has only the
// STANDARD storage class, and Pacific accepts any storage class name in a rule, then fails each transition when
// it is due and leaves the object where it is. That is pinned down on a second bucket with the transitions
// moved to day 1 and 2 (the real ones would fire after 300 s / 900 s here).
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
    CreateBucketCommand,
    GetBucketLifecycleConfigurationCommand,
    GetObjectCommand,
    ListObjectVersionsCommand,
    ListObjectsV2Command,
    PutBucketLifecycleConfigurationCommand,
    PutObjectCommand,
    PutObjectLockConfigurationCommand,
    type LifecycleRule,
    type S3Client,
} from "@aws-sdk/client-s3";
import { activeTiers, lifecycleExpiryDays, type RetentionPolicy } from "@supabase-backups/contracts";
import { vaultLifecycleRules } from "../../../components/vault";
import { startRgw, type RgwServer } from "../../support/rgw";
import { sdkLifecycleRules, sleep } from "../../support/rgw-vault";

const RETENTION: RetentionPolicy = { daily: 1, yearly: 1, objectLockMinDays: 1 };
const BUCKET = "vault-lc";
const TRANSITION_BUCKET = "vault-lc-transitions";
const LC_DAY_S = 10;

describe("vault lifecycle rules on Ceph RGW (a lifecycle day is 10 s)", function () {
    this.timeout(120_000);
    let rgw: RgwServer;
    let admin: S3Client;
    let generated: LifecycleRule[];
    let transitionSetAt = 0;

    before(async function () {
        rgw = await startRgw({ lcDebugInterval: LC_DAY_S });
        admin = rgw.client();
        generated = sdkLifecycleRules(vaultLifecycleRules(RETENTION));
        // as components/vault.ts: Object Lock (versioning), default COMPLIANCE retention objectLockMinDays
        await admin.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }));
        await admin.send(
            new PutObjectLockConfigurationCommand({
                Bucket: BUCKET,
                ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: RETENTION.objectLockMinDays } } },
            }),
        );
    });

    after(async () => {
        await rgw?.stop();
    });

    it("the generated rules: expiry per tier by tag after keep + 1 days, transitions only for the yearly tier's archive-tagged data (never a manifest), one bucket-wide rule for versions and uploads", () => {
        assert.deepEqual(activeTiers(RETENTION), ["daily", "yearly"]);
        assert.deepEqual(generated, [
            { ID: "tier-daily", Status: "Enabled", Filter: { Tag: { Key: "tier", Value: "daily" } }, Expiration: { Days: lifecycleExpiryDays("daily", RETENTION) } },
            { ID: "tier-yearly", Status: "Enabled", Filter: { Tag: { Key: "tier", Value: "yearly" } }, Expiration: { Days: lifecycleExpiryDays("yearly", RETENTION) } },
            {
                ID: "tier-yearly-colder",
                Status: "Enabled",
                Filter: { And: { Tags: [{ Key: "tier", Value: "yearly" }, { Key: "archive", Value: "eligible" }] } },
                Transitions: [
                    { Days: 30, StorageClass: "STANDARD_IA" },
                    { Days: 90, StorageClass: "GLACIER" },
                ],
            },
            {
                ID: "versions-and-uploads",
                Status: "Enabled",
                Filter: { Prefix: "" },
                NoncurrentVersionExpiration: { NoncurrentDays: 1 },
                Expiration: { ExpiredObjectDeleteMarker: true },
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            },
        ]);
        assert.equal(lifecycleExpiryDays("daily", RETENTION), 2);
    });

    it("RGW takes the rules exactly as generated, transitions included (it does not check storage classes when they are set)", async () => {
        await admin.send(new PutBucketLifecycleConfigurationCommand({ Bucket: BUCKET, LifecycleConfiguration: { Rules: generated } }));
        const stored = await admin.send(new GetBucketLifecycleConfigurationCommand({ Bucket: BUCKET }));
        // RGW answers an empty-prefix filter in the legacy form (a rule-level Prefix) and lists transitions
        // and an And filter's tags in its own order; otherwise every rule comes back as sent.
        const normal = (rules: LifecycleRule[]) =>
            rules.map(({ Prefix, Filter, Transitions, ...r }) => ({
                ...r,
                Filter: Filter?.And?.Tags
                    ? { And: { ...Filter.And, Tags: [...Filter.And.Tags].sort((a, b) => (a.Key! < b.Key! ? -1 : 1)) } }
                    : (Filter ?? (Prefix !== undefined ? { Prefix } : undefined)),
                ...(Transitions ? { Transitions: [...Transitions].sort((a, b) => a.Days! - b.Days!) } : {}),
            }));
        assert.deepEqual(normal(stored.Rules ?? []), normal(generated));

        // The transitions' target: a bucket with the same yearly rule, its transitions 1 and 2 lifecycle days
        // after creation instead of 30 and 90, and a yearly object; checked once the expiry test has waited.
        await admin.send(new CreateBucketCommand({ Bucket: TRANSITION_BUCKET, ObjectLockEnabledForBucket: true }));
        const yearly = generated.find((r) => r.ID === "tier-yearly-colder")!;
        const soon = yearly.Transitions!.map((t, i) => ({ ...t, Days: i + 1 }));
        await admin.send(new PutBucketLifecycleConfigurationCommand({ Bucket: TRANSITION_BUCKET, LifecycleConfiguration: { Rules: [{ ...yearly, Transitions: soon }] } }));
        await admin.send(new PutObjectCommand({ Bucket: TRANSITION_BUCKET, Key: "db/test/yearly/dump", Body: "yearly", Tagging: "tier=yearly&env=test&kind=dump&archive=eligible" }));
        transitionSetAt = Date.now();
    });

    it("expires a daily object whose lock ran out (delete marker, then the version); a yearly and an untagged one stay; a still-locked daily version survives under its delete marker", async function () {
        this.timeout(110_000);
        const t0 = Date.now();
        const soon = () => new Date(Date.now() + 4000);
        const put = (Key: string, tier: string | undefined, RetainUntil: Date) =>
            admin.send(
                new PutObjectCommand({
                    Bucket: BUCKET,
                    Key,
                    Body: `${Key} bytes`,
                    ObjectLockMode: "COMPLIANCE",
                    ObjectLockRetainUntilDate: RetainUntil,
                    ...(tier ? { Tagging: `tier=${tier}&env=test&kind=dump` } : { Tagging: "env=test&kind=sync-storage&content=blob" }),
                    ServerSideEncryption: "aws:kms",
                    SSEKMSKeyId: rgw.kmsKeyId,
                }),
            );
        const dailyFree = await put("db/test/2026/01/01/daily-free/dump", "daily", soon());
        const dailyLocked = await put("db/test/2026/01/01/daily-locked/dump", "daily", new Date(Date.now() + 86_400_000));
        const yearly = await put("db/test/2026/01/01/yearly/dump", "yearly", soon());
        const blob = await put("storage/test/blobs/aa/untagged", undefined, soon());

        const versionsOf = async (Prefix: string) => {
            const r = await admin.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix }));
            return { versions: (r.Versions ?? []).map((v) => ({ id: v.VersionId!, latest: !!v.IsLatest })), markers: (r.DeleteMarkers ?? []).map((m) => ({ id: m.VersionId!, latest: !!m.IsLatest })) };
        };
        assert.deepEqual(await versionsOf("db/test/2026/01/01/daily-free/"), { versions: [{ id: dailyFree.VersionId!, latest: true }], markers: [] });
        // Poll until the daily object whose lock ran out has lost its version (expiry's delete marker first,
        // then noncurrent-version expiry a lifecycle day later) and the locked one has its delete marker; note
        // when each step happened. (The expired delete marker left behind goes one pass later still; not
        // waited for, to keep the suite short.)
        const seen: Record<string, number> = {};
        const at = (what: string) => (seen[what] ??= Math.round((Date.now() - t0) / 1000));
        const deadline = t0 + 100_000;
        for (;;) {
            const free = await versionsOf("db/test/2026/01/01/daily-free/");
            const locked = await versionsOf("db/test/2026/01/01/daily-locked/");
            if (free.markers.some((m) => m.latest)) at("free: delete marker");
            if (!free.versions.length) at("free: version removed");
            if (locked.markers.some((m) => m.latest)) at("locked: delete marker");
            if ((seen["free: version removed"] !== undefined && seen["locked: delete marker"] !== undefined) || Date.now() > deadline) break;
            await sleep(1000);
        }
        console.log(`      lifecycle (s after the puts): ${JSON.stringify(seen)}`);
        assert.ok(seen["free: delete marker"] !== undefined, "the daily object was never expired (no delete marker) within 100 s");
        assert.ok(seen["free: delete marker"] >= lifecycleExpiryDays("daily", RETENTION) * LC_DAY_S - 2, `expired too early: ${seen["free: delete marker"]} s`);
        assert.ok(seen["free: version removed"] !== undefined, "the expired daily version (lock ran out) was not removed within 100 s");
        assert.ok(seen["locked: delete marker"] !== undefined, "the locked daily object got no delete marker");

        // the locked daily version survived every pass that removed the other one's, under its delete marker
        const locked = await versionsOf("db/test/2026/01/01/daily-locked/");
        assert.deepEqual(locked.versions, [{ id: dailyLocked.VersionId!, latest: false }]);
        assert.equal(locked.markers.length, 1);
        const bytes = await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: "db/test/2026/01/01/daily-locked/dump", VersionId: dailyLocked.VersionId }));
        assert.equal(await bytes.Body!.transformToString(), "db/test/2026/01/01/daily-locked/dump bytes");
        // the yearly object and the untagged blob, as old and as unlocked as the expired one, are untouched
        assert.deepEqual(await versionsOf("db/test/2026/01/01/yearly/"), { versions: [{ id: yearly.VersionId!, latest: true }], markers: [] });
        assert.deepEqual(await versionsOf("storage/test/blobs/"), { versions: [{ id: blob.VersionId!, latest: true }], markers: [] });
    });

    it("transitions are never carried out: the yearly object stays STANDARD and RGW logs that the target storage class does not exist", async () => {
        // A fresh RGW's default placement has one storage class, STANDARD; the lifecycle thread fails each
        // transition ("non existent dest placement") and leaves the object where it is. On AWS the object would
        // move to STANDARD_IA (and GLACIER). The expiry test above shows the failure does not stop the other
        // rules of the same bucket configuration.
        assert.ok(transitionSetAt > 0, "the transition bucket was set up");
        const waited = Date.now() - transitionSetAt;
        assert.ok(waited >= 3 * LC_DAY_S * 1000, `only ${waited} ms since the put: the transitions were not due yet`);
        // The lifecycle thread runs when it runs (later on a loaded machine): wait, bounded, until it has
        // tried this bucket's transition, then look at the object.
        // RGW applies the latest transition that is due: when its first pass over this bucket comes after
        // both (day 2), it tries GLACIER without ever trying STANDARD_IA.
        const tried = /lifecycle: ERROR: non existent dest placement: default-placement\/(STANDARD_IA|GLACIER) bucket=:vault-lc-transitions/;
        const logFile = join(rgw.dir, "log", "client.rgw.gw.log");
        const deadline = Date.now() + 16 * LC_DAY_S * 1000;
        while (!tried.test(readFileSync(logFile, "utf8")) && Date.now() < deadline) await sleep(1000);
        assert.match(readFileSync(logFile, "utf8"), tried, `no transition attempt logged within ${16 * LC_DAY_S} s`);
        const listed = await admin.send(new ListObjectsV2Command({ Bucket: TRANSITION_BUCKET }));
        assert.deepEqual(listed.Contents?.map((o) => [o.Key, o.StorageClass]), [["db/test/yearly/dump", "STANDARD"]]);
        const got = await admin.send(new GetObjectCommand({ Bucket: TRANSITION_BUCKET, Key: "db/test/yearly/dump" }));
        assert.equal(await got.Body!.transformToString(), "yearly");
    });
});
