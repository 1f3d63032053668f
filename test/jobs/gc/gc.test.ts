import { strict as assert } from "node:assert";
import { utimesSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import {
    assertSchema,
    newRunId,
    serializeRecord,
    sha256Hex,
    storageBlobKey,
    storageRunManifestKey,
    storageShardManifestKey,
    StorageManifestSchema,
    type StorageManifest,
} from "@supabase-backups/contracts";
import { planGc } from "../../../jobs/src/commands/gc/plan";
import { storageManifest } from "../../support/storage-manifest";
import { runCli, writeJobConfig } from "../../support/cli";
import { startS3rver, type S3Server } from "../../support/s3rver";
import { startGlacierProxy, type GlacierProxy } from "../../support/glacier-proxy";

const ENV = "test";
const day = 86_400_000;

const manifest = (runId: string, shas: string[], previous: StorageManifest["previous"]) => storageManifest(ENV, runId, shas, previous);

describe("gc: plan (pure)", () => {
    it("keeps referenced and young blobs, deletes old unreferenced ones", () => {
        const now = new Date("2026-11-22T00:00:00Z");
        const old = new Date(now.getTime() - 10 * day);
        const young = new Date(now.getTime() - 0.5 * day);
        const plan = planGc(
            [
                { key: "a", sha256: "a", size: 1, lastModified: old },
                { key: "b", sha256: "b", size: 2, lastModified: old },
                { key: "c", sha256: "c", size: 4, lastModified: young },
                { key: "d", sha256: "d", size: 8 },
            ],
            new Set(["a"]),
            now,
            2,
        );
        assert.deepEqual(plan.delete.map((b) => b.key), ["b"]);
        assert.equal(plan.referenced, 1);
        assert.equal(plan.tooYoung, 2, "young and unknown-age blobs are kept");
        assert.equal(plan.bytesReclaimed, 2);
    });
});

describe("gc: against a real S3-protocol vault", function () {
    this.timeout(120_000);
    let s3: S3Server;
    let cfgPath: string;
    const bucket = "vault";
    const blob = (s: string) => Buffer.from(`blob ${s}`);
    const shaOf = (s: string) => sha256Hex(blob(s));

    async function put(key: string, body: Buffer, ageDays = 0) {
        await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        if (ageDays) {
            const t = new Date(Date.now() - ageDays * day);
            utimesSync(join(s3.dir, bucket, `${key}._S3rver_object`), t, t);
        }
    }
    async function keys(): Promise<string[]> {
        const r = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `storage/${ENV}/blobs/` }));
        return (r.Contents ?? []).map((o) => o.Key!).sort();
    }

    before(async () => {
        s3 = await startS3rver();
        await s3.createBucket(bucket);
        cfgPath = writeJobConfig({ vault: { bucket, region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }).path;
    });
    after(async () => s3?.stop());

    it("deletes only old blobs that no manifest (complete or shard of a run in progress) references", async () => {
        for (const [name, age] of [["a", 10], ["b", 10], ["c", 10], ["d", 10], ["e", 0], ["s", 10]] as const) {
            await put(storageBlobKey(ENV, shaOf(name)), blob(name), age);
        }
        const r1 = newRunId(new Date(Date.now() - 3 * day), "aaaaaa");
        const r2 = newRunId(new Date(Date.now() - 2 * day), "bbbbbb");
        const m1 = manifest(r1, [shaOf("a"), shaOf("b")], null);
        await put(storageRunManifestKey(ENV, r1), serializeRecord(m1));
        const m2 = manifest(r2, [shaOf("b"), shaOf("c")], { runId: r1, sha256: sha256Hex(serializeRecord(m1)) });
        await put(storageRunManifestKey(ENV, r2), serializeRecord(m2));
        // a run in progress: its shard manifest references "s"
        const r3 = newRunId(new Date(), "cccccc");
        const shard = { ...m2, kind: "storage-shard", runId: r3, shard: { index: 0, count: 2 }, objects: manifest(r3, [shaOf("s")], null).objects };
        await put(storageShardManifestKey(ENV, r3, 0, 2), serializeRecord(shard));

        const env = { ...s3.env };
        const dry = await runCli(["gc", "--config", cfgPath, "--dry-run", "--json"], env);
        assert.equal(dry.code, 0, dry.stderr);
        const plan = JSON.parse(dry.stdout);
        assert.deepEqual(plan.keys, [storageBlobKey(ENV, shaOf("d"))]);
        assert.equal((await keys()).length, 6, "dry run deletes nothing");

        const real = await runCli(["gc", "--config", cfgPath], env);
        assert.equal(real.code, 0, real.stderr);
        assert.match(real.stdout, /1 version\(s\) deleted, 0 kept until their lock ends, 0 delete marker\(s\) removed/);
        const left = await keys();
        assert.ok(!left.includes(storageBlobKey(ENV, shaOf("d"))), "unreferenced old blob deleted");
        for (const kept of ["a", "b", "c", "e", "s"]) assert.ok(left.includes(storageBlobKey(ENV, shaOf(kept))), `${kept} kept`);
    });

    it("refuses a bad grace period and fails loudly when the vault is unreachable", async () => {
        const bad = await runCli(["gc", "--config", cfgPath, "--grace-days", "0"], s3.env);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /--grace-days must be a number ≥ 1/);
        const down = writeJobConfig({ vault: { bucket, region: "us-east-1", endpoint: "http://127.0.0.1:9", forcePathStyle: true } }).path;
        const r = await runCli(["gc", "--config", down], s3.env);
        assert.equal(r.code, 1);
        // the first thing gc does is its "started" audit record: nothing is read or deleted without it
        assert.match(r.stderr, /nothing done: the "started" audit record could not be written/);
    });
});

describe("gc: a storage manifest archived before manifests stopped going cold (issue 17)", function () {
    this.timeout(120_000);
    let s3: S3Server;
    let glacier: GlacierProxy;
    let cfgPath: string;
    const bucket = "vault";
    const blob = (s: string) => Buffer.from(`archived-case blob ${s}`);
    const shaOf = (s: string) => sha256Hex(blob(s));
    async function put(key: string, body: Buffer, ageDays = 0) {
        await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        if (ageDays) {
            const t = new Date(Date.now() - ageDays * day);
            utimesSync(join(s3.dir, bucket, `${key}._S3rver_object`), t, t);
        }
    }
    before(async () => {
        s3 = await startS3rver();
        await s3.createBucket(bucket);
        glacier = await startGlacierProxy(s3.endpoint);
        cfgPath = writeJobConfig({ vault: { bucket, region: "us-east-1", endpoint: glacier.endpoint, forcePathStyle: true } }).path;
    });
    after(async () => {
        await glacier?.stop();
        await s3?.stop();
    });

    it("never fatal: keeps every unreferenced blob as old as the archived manifest (log line, count in --json), collects younger ones as usual", async () => {
        // "old1" is named only by the archived manifest (written 120 days ago); "old2" by nobody but as old;
        // "mid" unreferenced, written after that manifest; "cur" named by the readable newest run.
        for (const [name, age] of [["old1", 130], ["old2", 125], ["mid", 30], ["cur", 10]] as const) await put(storageBlobKey(ENV, shaOf(name)), blob(name), age);
        const r1 = newRunId(new Date(Date.now() - 120 * day), "arcarc");
        const r2 = newRunId(new Date(Date.now() - 5 * day), "newnew");
        const m1 = manifest(r1, [shaOf("old1")], null);
        await put(storageRunManifestKey(ENV, r1), serializeRecord(m1), 120);
        await put(storageRunManifestKey(ENV, r2), serializeRecord(manifest(r2, [shaOf("cur")], null)), 5);
        glacier.archive([storageRunManifestKey(ENV, r1)]);
        const dry = await runCli(["gc", "--config", cfgPath, "--dry-run", "--json"], { ...s3.env, LOG_LEVEL: "info" });
        assert.equal(dry.code, 0, dry.stderr);
        const plan = JSON.parse(dry.stdout.slice(dry.stdout.indexOf("{")));
        assert.deepEqual(plan.keys, [storageBlobKey(ENV, shaOf("mid"))], "only the blob younger than the archived manifest");
        assert.equal(plan.keptUnreadable, 2, "old1 and old2 kept: the archived manifest may name them");
        assert.match(dry.stderr, /1 storage manifest\(s\) are archived and cannot be read: kept unreferenced blobs written up to/);
        assert.ok(glacier.refusedGets().includes(storageRunManifestKey(ENV, r1)), "gc did try to read it (InvalidObjectState)");
        const real = await runCli(["gc", "--config", cfgPath], s3.env);
        assert.equal(real.code, 0, real.stderr);
        assert.match(real.stdout, /1 version\(s\) deleted.*; 2 unreferenced blob\(s\) kept: an archived manifest may name them/);
    });
});
