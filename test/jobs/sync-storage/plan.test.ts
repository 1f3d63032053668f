// sync-storage's pure steps (no Postgres, no S3): bucket planning, the change test, lock ends, eTag parsing, run id and shard resolution, the tier's period.
import { strict as assert } from "node:assert";
import { isRunId, runIdTime, type StorageObject } from "@supabase-backups/contracts";
import { md5FromETag } from "../../../jobs/src/commands/sync-storage/download";
import { isUnchanged } from "../../../jobs/src/commands/sync-storage/compare";
import { lockCovers, planBuckets, refreshedEntry, withBlob } from "../../../jobs/src/commands/sync-storage/plan";
import { afterNewest, isFreshRunId, parseShard, resolveRunId } from "../../../jobs/src/commands/sync-storage/run-id";
import { newRunId } from "@supabase-backups/contracts";
import { widestPeriodStart } from "../../../jobs/src/commands/sync-storage/tier";
import { UsageError } from "../../../jobs/src/runtime/errors";
import type { SourceObject } from "../../../jobs/src/supabase/storage-source";

const entry = (bucket: string, name: string, blob: string, lockedUntil?: string): StorageObject => ({
    bucket,
    name,
    size: 3,
    sha256: blob.padEnd(64, "0"),
    contentType: "text/plain",
    cacheControl: null,
    metadata: {},
    updatedAt: "2026-01-01T00:00:00.000000Z",
    eTag: '"e"',
    blobKey: `blobs/${blob}`,
    ...(lockedUntil ? { lockedUntil } : {}),
});

const row = (o: Partial<SourceObject> = {}): SourceObject => ({
    bucket: "a",
    name: "x",
    id: "1",
    updatedAt: "2026-01-01T00:00:00.000000Z",
    eTag: '"e"',
    size: 3,
    contentType: "image/png",
    cacheControl: "max-age=60",
    userMetadata: { k: 1 },
    ...o,
});

describe("sync-storage: pure steps", () => {
    it("planBuckets: default all; configured filters; unknown buckets and unconfigured --bucket are usage errors", () => {
        const all = planBuckets(["a", "b"], undefined, undefined);
        assert.deepEqual(all.toSync.map((b) => b.name), ["a", "b"]);
        assert.deepEqual(all.carried, []);
        const only = planBuckets(["a", "b"], [{ name: "a", include: ["p/"] }, { name: "b" }] as any, ["b"]);
        assert.deepEqual(only.configured[0], { name: "a", include: ["p/"], exclude: [] });
        assert.deepEqual(only.toSync.map((b) => b.name), ["b"]);
        assert.deepEqual(only.carried, ["a"]);
        assert.throws(() => planBuckets(["a"], [{ name: "zz" }] as any, undefined), (e) => e instanceof UsageError && /no such bucket.*zz/.test(e.message));
        assert.throws(() => planBuckets(["a", "b"], [{ name: "a" }] as any, ["b"]), (e) => e instanceof UsageError && /--bucket b: not a configured bucket/.test(e.message));
    });

    it("lockCovers compares a recorded lock end with retain-until (unknown never covers); withBlob records lock end and VersionId last, only when known", () => {
        assert.equal(lockCovers("2026-05-01T00:00:00.000Z", new Date("2026-05-01T00:00:00.000Z")), true);
        assert.equal(lockCovers("2026-05-01T00:00:00.000Z", new Date("2026-05-02T00:00:00.000Z")), false);
        assert.equal(lockCovers(undefined, new Date("2020-01-01T00:00:00.000Z")), false, "unknown lock");
        const stale = { ...entry("a", "x", "1", "2026-01-01T00:00:00.000Z"), versionId: "stale" };
        const out = withBlob(stale, "2026-09-01T00:00:00.000Z", "v3");
        assert.deepEqual([out.lockedUntil, out.versionId], ["2026-09-01T00:00:00.000Z", "v3"]);
        assert.deepEqual(Object.keys(out).slice(-2), ["lockedUntil", "versionId"]);
        const bare = withBlob(stale, undefined, undefined);
        assert.ok(!("versionId" in bare) && !("lockedUntil" in bare), "no fields when nothing is known");
    });

    it("isUnchanged: same eTag, updated_at and size (a row without size compares on the rest); refreshedEntry keeps the blob", () => {
        const p = entry("a", "x", "1");
        assert.equal(isUnchanged(p, row()), true);
        assert.equal(isUnchanged(p, row({ size: null })), true);
        assert.equal(isUnchanged(p, row({ size: 4 })), false);
        assert.equal(isUnchanged(p, row({ eTag: '"f"' })), false);
        assert.equal(isUnchanged(p, row({ updatedAt: "2026-01-02T00:00:00.000000Z" })), false);
        const r = refreshedEntry(p, row());
        assert.equal(r.blobKey, p.blobKey);
        assert.deepEqual([r.contentType, r.cacheControl, r.metadata], ["image/png", "max-age=60", { k: 1 }]);
    });

    it("md5FromETag: plain and weak single-part md5 eTags; multipart and missing ones give nothing", () => {
        assert.equal(md5FromETag('"D41D8CD98F00B204E9800998ECF8427E"'), "d41d8cd98f00b204e9800998ecf8427e");
        assert.equal(md5FromETag('W/"d41d8cd98f00b204e9800998ecf8427e"'), "d41d8cd98f00b204e9800998ecf8427e");
        assert.equal(md5FromETag('"d41d8cd98f00b204e9800998ecf8427e-2"'), undefined);
        assert.equal(md5FromETag(null), undefined);
    });

    it("resolveRunId and parseShard: flags, then the Job's environment; a sharded run needs a shared id", () => {
        const now = new Date("2026-11-22T19:30:00Z");
        const a = resolveRunId(undefined, { JOB_NAME: "sync-storage-29378040" }, now, true);
        assert.equal(a, resolveRunId(undefined, { JOB_NAME: "sync-storage-29378040" }, new Date(), true), "every shard derives the same id");
        assert.equal(runIdTime(a).getTime(), 29378040 * 60_000);
        assert.ok(isRunId(resolveRunId(undefined, {}, now, false)));
        assert.throws(() => resolveRunId(undefined, {}, now, true), UsageError);
        assert.throws(() => resolveRunId("nope", {}, now, false), /not a run id/);
        assert.deepEqual(parseShard("1/4", {}, 1), { index: 1, count: 4 });
        assert.throws(() => parseShard("4/4", {}, 1), /not within 0..3/);
        assert.deepEqual(parseShard(undefined, { JOB_COMPLETION_INDEX: "2" }, 3), { index: 2, count: 3 });
        assert.deepEqual(parseShard(undefined, {}, 3), { index: 0, count: 1 });
    });

    it("afterNewest: a fresh id made in the newest complete run's second sorts after it; others are kept", () => {
        const newest = "20261122T193000Z-zzzzzz";
        const moved = afterNewest("20261122T193000Z-aaaaaa", newest);
        assert.ok(moved > newest && runIdTime(moved).toISOString() === "2026-11-22T19:30:01.000Z", moved);
        assert.equal(afterNewest("20261122T193000Z-zzzzzz0".slice(0, 23), undefined), "20261122T193000Z-zzzzzz");
        assert.equal(afterNewest("20261122T193005Z-aaaaaa", newest), "20261122T193005Z-aaaaaa", "already later");
        assert.equal(afterNewest("20261122T190000Z-aaaaaa", newest), "20261122T190000Z-aaaaaa", "an earlier second is a deliberate --now");
        // fresh ids of two processes started in one second sort in start order (milliseconds lead the suffix)
        for (let i = 0; i < 20; i++) assert.ok(newRunId(new Date("2026-11-22T19:30:00.010Z")) < newRunId(new Date("2026-11-22T19:30:00.011Z")));
        assert.equal(isFreshRunId(undefined, {}), true);
        assert.equal(isFreshRunId("20261122T193000Z-aaaaaa", {}), false);
        assert.equal(isFreshRunId(undefined, { JOB_NAME: "sync-storage-29378040" }), false);
    });

    it("widestPeriodStart: the start of the widest active tier's period (weeks start on Monday)", () => {
        const d = new Date("2026-11-19T10:00:00Z"); // a Thursday
        assert.equal(widestPeriodStart(d, ["daily"]).toISOString(), "2026-11-19T00:00:00.000Z");
        assert.equal(widestPeriodStart(d, ["daily", "weekly"]).toISOString(), "2026-11-16T00:00:00.000Z");
        assert.equal(widestPeriodStart(d, ["monthly", "daily"]).toISOString(), "2026-11-01T00:00:00.000Z");
        assert.equal(widestPeriodStart(d, ["daily", "yearly", "weekly"]).toISOString(), "2026-01-01T00:00:00.000Z");
    });
});
