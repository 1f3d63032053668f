// sync-storage at a few thousand objects with the streamed manifest (issue 16 item 4), on Ceph RGW:
// shards list only their own slice (each object in exactly one shard), the object lists round-trip
// (sha256, count, order, pinned version), an incremental sharded run compares by streaming, a version-1
// manifest (entries inline) is still read as the previous run, and a list that does not match its
// manifest, or a writer's overwrite of it, is not believed.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
    compareStorageKeys,
    newRunId,
    runIdTime,
    serializeRecord,
    sha256Hex,
    storageRunManifestKey,
    storageShardObjectListKey,
    type StorageManifest,
    type StorageObject,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import { listCompleteRuns, loadManifest } from "../../../jobs/src/vault/runs";
import { getJson } from "../../../jobs/src/vault/s3";
import { readObjectList, storageEntries, withObjects } from "../../../jobs/src/vault/object-list";
import { listShardManifests, shardOf } from "../../../jobs/src/vault/storage-runs";
import { StorageHarness, VAULT_BUCKET, lit, parseJsonLine } from "../../support/sync-storage-harness";

const N = 2000;
const BUCKETS = ["bulk", "zzz"];
// Names where JavaScript's UTF-16 order and the code-point (PostgreSQL "C") order disagree: the listing
// and the lists must agree on the latter.
const ODD = ["odd/\u{1F600}-emoji", "odd/\uFF5E-fullwidth", "odd/ä", "odd/a b", "odd/A"];

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
    const out: T[] = [];
    for await (const x of it) out.push(x);
    return out;
}

describe("sync-storage: streamed manifests and sharded listing (a few thousand objects, RGW)", function () {
    this.timeout(600_000);
    const h = new StorageHarness({ vault: "rgw" });
    const env = "t-streamed";
    let cfg: string;
    const names = new Map<string, string[]>();
    let jobSeq = 0;
    const shardedRun = async () => {
        // a new Job each time, scheduled in a later minute than any run so far (its run id sorts last)
        jobSeq = Math.max(jobSeq + 1, Math.floor(Date.now() / 60_000) + 1);
        const jobName = `sync-storage-${jobSeq}`;
        const outs = [];
        for (const i of [0, 1, 2]) {
            const r = await h.sync(cfg, [], { JOB_NAME: jobName, JOB_COMPLETION_INDEX: String(i), JOB_COMPLETIONS: "3" });
            assert.equal(r.code, 0, r.stderr.slice(-3000));
            outs.push(parseJsonLine(r.stdout));
        }
        return outs;
    };

    before(async () => {
        await h.start();
        // Rows in bulk (SQL) and bytes in the source (S3), as Supabase Storage keeps them.
        for (const b of BUCKETS) {
            await h.createBucket(b);
            const list = b === "bulk" ? [...Array.from({ length: N }, (_, i) => `d${i % 13}/f-${String(i).padStart(5, "0")}`), ...ODD] : ["only"];
            names.set(b, list);
            let next = 0;
            const rows: string[] = [];
            await Promise.all(
                Array.from({ length: 16 }, async () => {
                    while (next < list.length) {
                        const name = list[next++];
                        const body = Buffer.from(`${b}/${name} v1`);
                        await h.source.client.send(new PutObjectCommand({ Bucket: b, Key: name, Body: body }));
                        const meta = { eTag: `"${createHash("md5").update(body).digest("hex")}"`, size: body.length, mimetype: "text/plain", cacheControl: "max-age=60", contentLength: body.length };
                        rows.push(`(${lit(b)}, ${lit(name)}, ${lit(JSON.stringify(meta))}::jsonb, '{}'::jsonb, gen_random_uuid()::text, clock_timestamp())`);
                    }
                }),
            );
            await h.pg.query(`insert into storage.objects (bucket_id, name, metadata, user_metadata, version, updated_at) values ${rows.join(",")}`);
        }
        cfg = h.config(env, (c) => (c.storage = { ...c.storage, shards: 3, concurrency: 8 }));
    });
    after(() => h.stop());

    it("3 shards: each lists only its slice, every object lands in exactly one shard's list, and the merged run list is their sorted union", async () => {
        const outs = await shardedRun();
        assert.deepEqual(outs.map((o) => o.manifest === null), [true, true, false], "the last shard merges");
        const runId = outs[0].runId;
        const total = N + ODD.length + 1;
        assert.equal(outs.reduce((n, o) => n + o.stats.listed, 0), total, "rows listed across shards = rows in storage.objects");
        for (const o of outs) assert.ok(o.stats.listed > total / 6, `shard lists a third-ish, not everything (${o.stats.listed})`);

        const seen = new Map<string, number>();
        const shardKeys = await listShardManifests(h.vault.client, VAULT_BUCKET, env, runId);
        assert.equal(shardKeys.size, 3);
        for (const [index, { key }] of shardKeys) {
            const { value: shard } = await getJson<StorageShardManifest>(h.vault.client, VAULT_BUCKET, key);
            assert.equal(shard.schemaVersion, 2);
            assert.equal(shard.objectList!.key, storageShardObjectListKey(env, runId, index, 3));
            const entries = await collect(storageEntries(h.vault.client, VAULT_BUCKET, shard));
            assert.equal(entries.length, shard.objectList!.count);
            for (const e of entries) {
                assert.equal(shardOf(e.bucket, e.name, 3), index, `${e.bucket}/${e.name} is in shard ${index} by the database's filter and by sha256`);
                const k = `${e.bucket}/${e.name}`;
                seen.set(k, (seen.get(k) ?? 0) + 1);
            }
        }
        const all = [...BUCKETS.flatMap((b) => names.get(b)!.map((n) => `${b}/${n}`))];
        assert.deepEqual([...seen.keys()].sort(), all.sort(), "every object in some shard");
        assert.ok([...seen.values()].every((c) => c === 1), "and in only one");

        const [run] = await listCompleteRuns(h.vault.client, VAULT_BUCKET, env, "storage");
        const loaded = await loadManifest<StorageManifest>(h.vault.client, VAULT_BUCKET, run);
        const m = loaded.manifest;
        assert.equal(m.schemaVersion, 2);
        assert.equal(m.objects, undefined, "no entries inline");
        assert.ok(loaded.bytes.length < 8192, `the manifest itself stays small (${loaded.bytes.length} bytes)`);
        const merged = await collect(readObjectList(h.vault.client, VAULT_BUCKET, m.objectList!, { env, runId }));
        assert.equal(merged.length, total);
        for (let i = 1; i < merged.length; i++) assert.ok(compareStorageKeys(merged[i - 1], merged[i]) < 0, "strictly sorted by code point");
        const odd = merged.filter((o) => o.name.startsWith("odd/")).map((o) => o.name);
        assert.deepEqual(odd, ["odd/A", "odd/a b", "odd/ä", "odd/\uFF5E-fullwidth", "odd/\u{1F600}-emoji"], "code-point order, as PostgreSQL's \"C\" lists them");
        assert.deepEqual(m.buckets.map((b) => [b.name, b.objects]), [["bulk", N + ODD.length], ["zzz", 1]]);
        // The round trip holds the bytes: the restored state equals the source.
        const restored = await h.restore(await withObjects(h.vault.client, VAULT_BUCKET, m), ["zzz"]);
        assert.equal(restored.get("zzz/only")!.toString(), "zzz/only v1");
    });

    it("an incremental sharded run compares by streaming: only the changed objects are transferred; it links to the previous manifest", async () => {
        const changed = names.get("bulk")!.filter((_, i) => i % 100 === 0);
        for (const name of changed) await h.put("bulk", name, `bulk/${name} v2`);
        await h.remove("bulk", names.get("bulk")![1]);
        const before = await listCompleteRuns(h.vault.client, VAULT_BUCKET, env, "storage");
        const prev = await loadManifest<StorageManifest>(h.vault.client, VAULT_BUCKET, before[before.length - 1]);
        const outs = await shardedRun();
        const sum = (k: string) => outs.reduce((n, o) => n + o.stats[k], 0);
        assert.equal(sum("copied"), changed.length);
        assert.equal(sum("skipped"), N + ODD.length + 1 - changed.length - 1);
        const runs = await listCompleteRuns(h.vault.client, VAULT_BUCKET, env, "storage");
        const m = await withObjects(h.vault.client, VAULT_BUCKET, (await loadManifest<StorageManifest>(h.vault.client, VAULT_BUCKET, runs[runs.length - 1])).manifest);
        assert.deepEqual(m.previous, { runId: prev.ref.runId, sha256: prev.sha256 });
        assert.equal(m.objects.length, N + ODD.length + 1 - 1, "the removed object is gone");
        assert.ok(m.objects.every((o) => o.versionId), "every entry keeps its blob's VersionId (unchanged ones as recorded)");
    });

    it("a version-1 manifest (every entry inline) is still read as the previous run: nothing changed, nothing transferred", async () => {
        const runs = await listCompleteRuns(h.vault.client, VAULT_BUCKET, env, "storage");
        const last = await loadManifest<StorageManifest>(h.vault.client, VAULT_BUCKET, runs[runs.length - 1]);
        const full = await withObjects(h.vault.client, VAULT_BUCKET, last.manifest);
        // as an older release wrote it: schemaVersion 1, entries inline in UTF-16 order, no list
        const runId = newRunId(new Date(Math.max(Date.now(), runIdTime(last.ref.runId).getTime() + 1000)));
        const v1: StorageManifest = { ...full, schemaVersion: 1, runId, objects: [...full.objects].sort((a, b) => (a.bucket + "\0" + a.name < b.bucket + "\0" + b.name ? -1 : 1)), previous: { runId: last.ref.runId, sha256: last.sha256 } };
        delete v1.objectList;
        await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: storageRunManifestKey(env, runId), Body: serializeRecord(v1) }));
        const outs = await shardedRun();
        assert.equal(outs.reduce((n, o) => n + o.stats.copied + o.stats.deduplicated, 0), 0, "all unchanged against the version-1 entries");
        const runs2 = await listCompleteRuns(h.vault.client, VAULT_BUCKET, env, "storage");
        const m = (await loadManifest<StorageManifest>(h.vault.client, VAULT_BUCKET, runs2[runs2.length - 1])).manifest;
        assert.equal(m.previous!.runId, runId);
        assert.equal(m.previous!.sha256, sha256Hex(serializeRecord(v1)));
        assert.equal(m.objectList!.count, full.objects.length);
    });

    it("attack: the writer overwrites the newest object list (RGW keeps versions): the next run reads the pinned version; a list that does not match its manifest is refused", async () => {
        const runs = await listCompleteRuns(h.vault.client, VAULT_BUCKET, env, "storage");
        const loaded = await loadManifest<StorageManifest>(h.vault.client, VAULT_BUCKET, runs[runs.length - 1]);
        const ref = loaded.manifest.objectList!;
        // a forged list: the same header, one entry pointing at another object's blob (RGW ignores If-None-Match)
        const honest = await collect(storageEntries(h.vault.client, VAULT_BUCKET, loaded.manifest));
        const forgedEntries: StorageObject[] = honest.map((o, i) => (i === 0 ? { ...o, sha256: honest[1].sha256, blobKey: honest[1].blobKey } : o));
        const { gzipSync } = await import("node:zlib");
        const forged = gzipSync(
            [JSON.stringify({ format: "supabase-backups/storage-objects", version: 1, env, runId: loaded.manifest.runId }), ...forgedEntries.map((o) => JSON.stringify(o))].join("\n") + "\n",
        );
        await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: ref.key, Body: forged }));
        const { versions } = await h.versions(ref.key);
        assert.equal(versions.length, 2, "the overwrite is a new version; the job's stays");
        // pinned: the job's version is what readers get
        const read = await collect(storageEntries(h.vault.client, VAULT_BUCKET, loaded.manifest));
        assert.deepEqual(read[0].sha256, honest[0].sha256);
        // unpinned (a manifest naming no version): the forged bytes do not match the recorded sha256
        const { versionId: _v, ...unpinned } = ref;
        await assert.rejects(collect(readObjectList(h.vault.client, VAULT_BUCKET, unpinned, { env, runId: loaded.manifest.runId })), /does not match its manifest/);
        const outs = await shardedRun();
        assert.equal(outs.reduce((n, o) => n + o.stats.copied + o.stats.deduplicated, 0), 0, "the next run compares with the job's list, not the forged one");
    });
});
