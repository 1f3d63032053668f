// `restore storage` through the real CLI, on runs made by the real `sync-storage`: Postgres with
// Supabase's storage schema, s3rver as Supabase's Storage S3 endpoint (the restore target too), s3rver as
// the vault. Byte-for-byte, headers and metadata, resume, refusals, a corrupted blob.
import assert from "node:assert/strict";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { storageBlobKey, type AuditRecord } from "@supabase-backups/contracts";
import { listAudit } from "../../../jobs/src/vault/audit";
import { defaultRestoreBucket } from "../../../jobs/src/commands/restore/storage";
import { runCli, startCli } from "../../support/cli";
import { startStorageApi } from "../../support/storage-api";
import { SERVICE_ROLE_KEY, StorageHarness, VAULT_BUCKET, bytesOf } from "../../support/sync-storage-harness";

const ENV = "opstorage";
const BUCKET = "user-media";

describe("operator: restore storage", function () {
    this.timeout(180_000);
    const h = new StorageHarness();
    let cfg: string;
    let run1: string;
    let run2: string;
    let run1State: Map<string, Buffer>;
    const big = bytesOf("big", 17 * 1024 * 1024 + 123); // spooled to disk, not held in memory

    const restore = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(["restore", "storage", "--config", cfg, "--bucket", BUCKET, "--via", "s3", ...args], h.env({ USER: "oncall-ana", ...extra }));
    const listTarget = async (bucket: string) => {
        const r = await h.source.client.send(new ListObjectsV2Command({ Bucket: bucket }));
        return (r.Contents ?? []).map((o) => o.Key!).sort();
    };
    const getTarget = async (bucket: string, key: string) => {
        const g = await h.source.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return { bytes: Buffer.from(await g.Body!.transformToByteArray()), contentType: g.ContentType, cacheControl: g.CacheControl, metadata: g.Metadata };
    };
    const audits = (): Promise<AuditRecord[]> => listAudit(h.vault.client, VAULT_BUCKET, ENV);

    before(async () => {
        await h.start();
        cfg = h.config(ENV);
        await h.put(BUCKET, "readme.txt", "hello from run one\n", { contentType: "text/plain", cacheControl: "max-age=60", userMetadata: { owner: "u1", note: "first" } });
        await h.put(BUCKET, "avatars/1.png", bytesOf("png1", 5000), { contentType: "image/png", userMetadata: { width: 64 } });
        await h.put(BUCKET, "avatars/2.png", bytesOf("png2", 7000), { contentType: "image/png" });
        await h.put(BUCKET, "big/video.bin", big, { contentType: "application/octet-stream", cacheControl: "no-cache" });
        await h.put("public-assets", "logo.svg", "<svg/>", { contentType: "image/svg+xml" });
        run1State = await h.snapshot([BUCKET]);
        let r = await h.sync(cfg);
        assert.equal(r.code, 0, r.stderr);
        // the next day's changes: one object changed, one deleted, one added
        await h.put(BUCKET, "readme.txt", "changed in run two\n", { contentType: "text/plain" });
        await h.remove(BUCKET, "avatars/2.png");
        await h.put(BUCKET, "new.txt", "only in run two");
        r = await h.sync(cfg);
        assert.equal(r.code, 0, r.stderr);
        const ms = await h.manifests(ENV);
        assert.equal(ms.length, 2);
        [run1, run2] = ms.map((m) => m.manifest.runId);
    });
    after(async () => h.stop());

    it("restores run one's state into restored-<bucket>-<yyyymmdd>: byte for byte, with content type, cache control and metadata", async () => {
        const r = await restore(["--run", run1, "--json", "--reason", "INC-3 avatars deleted"]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        const into = defaultRestoreBucket(BUCKET, run1);
        assert.match(into, /^restored-user-media-\d{8}$/);
        assert.equal(out.into, into);
        assert.equal(out.restored, 4);
        assert.equal(out.skippedIdentical, 0);
        assert.deepEqual(await listTarget(into), ["avatars/1.png", "avatars/2.png", "big/video.bin", "readme.txt"]);
        for (const [k, bytes] of run1State) {
            const name = k.slice(BUCKET.length + 1);
            const got = await getTarget(into, name);
            assert.ok(got.bytes.equals(bytes), `${name} differs`);
        }
        const readme = await getTarget(into, "readme.txt");
        assert.equal(readme.contentType, "text/plain");
        assert.equal(readme.cacheControl, "max-age=60");
        assert.deepEqual(readme.metadata, { owner: "u1", note: "first" });
        assert.deepEqual((await getTarget(into, "avatars/1.png")).metadata, { width: "64" });
        assert.equal((await getTarget(into, "big/video.bin")).cacheControl, "no-cache");
        // the other bucket of the run was not touched
        assert.ok(!(await listTarget(into)).includes("logo.svg"));

        const a = (await audits()).at(-1)!;
        assert.equal(a.action, "restore-storage");
        assert.equal(a.runId, run1);
        assert.equal(a.target, `storage:${into}`);
        assert.equal(a.reason, "INC-3 avatars deleted");
        // the actor is the caller's identity (s3rver has no STS: its access key), --actor a claim beside it
        assert.match(a.actor, /^access-key:/);
        assert.equal(a.actorClaim, "oncall-ana");
        assert.equal(a.result, "succeeded");
        assert.ok(a.durations.transferSeconds > 0);
        // what was sent for the record (s3rver ignores these): write-once, checksummed, tagged
        const puts = h.recorder.objectPuts(`audit/${ENV}/`);
        assert.ok(puts.length >= 1, JSON.stringify(h.recorder.requests.slice(-5).map((r) => r.path)));
        const p = puts.at(-1)!;
        assert.equal(p.headers["if-none-match"], "*");
        assert.ok(p.headers["x-amz-checksum-sha256"]);
        assert.equal(p.headers["x-amz-tagging"], `env=${ENV}&kind=audit`);
    });

    it("resumes: what is already there and identical is skipped; a differing copy is replaced", async () => {
        const into = "resume-target";
        // a first, interrupted attempt restored only avatars/
        let r = await restore(["--run", run1, "--into", into, "--prefix", "avatars/", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await listTarget(into), ["avatars/1.png", "avatars/2.png"]);
        // someone overwrote one of them meanwhile (same size, other bytes)
        const wrong = bytesOf("not-png1", 5000);
        await h.source.client.send(new PutObjectCommand({ Bucket: into, Key: "avatars/1.png", Body: wrong, ContentType: "image/png", Metadata: { width: "64" } }));
        r = await restore(["--run", run1, "--into", into, "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.skippedIdentical, 1, "avatars/2.png was already there");
        assert.equal(out.restored, 3, "avatars/1.png (differing), readme.txt, big/video.bin");
        for (const [k, bytes] of run1State) assert.ok((await getTarget(into, k.slice(BUCKET.length + 1))).bytes.equals(bytes), k);
        // a third run finds everything in place
        r = await restore(["--run", run1, "--into", into, "--json"]);
        const again = JSON.parse(r.stdout);
        assert.deepEqual([again.restored, again.skippedIdentical], [0, 4]);
    });

    it("killed mid-restore: the rerun skips what already landed and completes byte for byte", async () => {
        const into = "killed-target";
        const { child, done } = startCli(["restore", "storage", "--config", cfg, "--bucket", BUCKET, "--via", "s3", "--run", run1, "--into", into, "--concurrency", "1"], h.env());
        // kill as soon as the first object is in the target
        const t0 = Date.now();
        while (Date.now() - t0 < 60_000) {
            const have = await listTarget(into).catch(() => [] as string[]);
            if (have.length >= 1) break;
            await new Promise((r) => setTimeout(r, 10));
        }
        child.kill("SIGKILL");
        await done;
        const landed = await listTarget(into);
        assert.ok(landed.length >= 1, "nothing landed before the kill");
        const r = await restore(["--run", run1, "--into", into, "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.restored + out.skippedIdentical, 4);
        assert.ok(out.skippedIdentical >= 1, `nothing skipped after the kill (${landed.join(", ")} had landed)`);
        assert.deepEqual(await listTarget(into), ["avatars/1.png", "avatars/2.png", "big/video.bin", "readme.txt"]);
        for (const [k, bytes] of run1State) assert.ok((await getTarget(into, k.slice(BUCKET.length + 1))).bytes.equals(bytes), k);
    });

    it("--at picks the newest storage run at or before the time", async () => {
        const r = await restore(["--at", "now", "--into", "at-now", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.runId, run2);
        assert.deepEqual(await listTarget("at-now"), ["avatars/1.png", "big/video.bin", "new.txt", "readme.txt"]);
        assert.equal((await getTarget("at-now", "readme.txt")).bytes.toString(), "changed in run two\n");
    });

    it("refuses to restore over the source bucket, and an unknown bucket; both on the record", async () => {
        let r = await restore(["--run", run1, "--into", BUCKET]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /is the source bucket itself: refusing/);
        assert.equal((await audits()).at(-1)!.result, "refused");
        r = await runCli(["restore", "storage", "--config", cfg, "--bucket", "nope", "--via", "s3", "--run", run1], h.env());
        assert.equal(r.code, 1);
        assert.match(r.stderr, /bucket nope is not in storage run .* \(it has: public-assets, user-media\)/);
        assert.equal((await audits()).at(-1)!.result, "failed");
    });

    it("a corrupted blob in the vault fails the restore and is not uploaded", async () => {
        const m = (await h.manifests(ENV))[0].manifest;
        const o = m.objects.find((x) => x.name === "avatars/2.png")!;
        const blobKey = storageBlobKey(ENV, o.sha256);
        const original = Buffer.from(await (await h.vault.client.send(new GetObjectCommand({ Bucket: VAULT_BUCKET, Key: blobKey }))).Body!.transformToByteArray());
        await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: blobKey, Body: bytesOf("evil", o.size) }));
        try {
            const r = await restore(["--run", run1, "--into", "corrupt-target", "--prefix", "avatars/2"]);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /avatars\/2\.png: vault blob .* does not match the manifest/);
            await assert.rejects(h.source.client.send(new HeadObjectCommand({ Bucket: "corrupt-target", Key: "avatars/2.png" })));
            const a = (await audits()).at(-1)!;
            assert.equal(a.result, "failed");
            assert.match(a.error!, /does not match the manifest/);
        } finally {
            await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: blobKey, Body: original }));
        }
    });

    it("through the Storage REST API (service-role key): same bytes, headers and metadata; resumable", async () => {
        const api = await startStorageApi({ serviceRoleKey: SERVICE_ROLE_KEY });
        try {
            const restCfg = h.config(ENV, (c) => (c.supabase.url = api.url));
            const run = (args: string[]) => runCli(["restore", "storage", "--config", restCfg, "--bucket", BUCKET, "--run", run1, "--json", ...args], h.env());
            let r = await run([]);
            assert.equal(r.code, 0, r.stderr);
            const out = JSON.parse(r.stdout);
            assert.equal(out.via, "rest");
            assert.equal(out.restored, 4);
            const into = defaultRestoreBucket(BUCKET, run1);
            const b = api.buckets.get(into)!;
            assert.equal(b.public, false);
            assert.deepEqual([...b.objects.keys()].sort(), ["avatars/1.png", "avatars/2.png", "big/video.bin", "readme.txt"]);
            for (const [k, bytes] of run1State) assert.ok(b.objects.get(k.slice(BUCKET.length + 1))!.bytes.equals(bytes), k);
            const readme = b.objects.get("readme.txt")!;
            assert.deepEqual([readme.contentType, readme.cacheControl, readme.metadata], ["text/plain", "max-age=60", { owner: "u1", note: "first" }]);
            assert.deepEqual(b.objects.get("avatars/1.png")!.metadata, { width: 64 });
            // every request authenticated as the hosted API wants it
            assert.ok(api.requests.every((x) => x.headers.apikey === SERVICE_ROLE_KEY));
            r = await run([]);
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual([JSON.parse(r.stdout).restored, JSON.parse(r.stdout).skippedIdentical], [0, 4]);
            // a wrong key: one clear line
            r = await runCli(["restore", "storage", "--config", restCfg, "--bucket", BUCKET, "--run", run1], h.env({ SUPABASE_SERVICE_ROLE_KEY: "service-role-wrong-wrong-wrong" }));
            assert.equal(r.code, 1);
            assert.match(r.stderr, /Storage API .*403 invalid signature \(check SUPABASE_SERVICE_ROLE_KEY\)/);
            assert.ok(!r.stderr.includes("service-role-wrong-wrong-wrong"));
        } finally {
            await api.stop();
        }
    });

    it("without Storage S3 keys: a usage error naming them", async () => {
        const r = await restore(["--run", run1], { SUPABASE_S3_ACCESS_KEY_ID: "" }); // --via s3
        assert.equal(r.code, 2);
        assert.match(r.stderr, /set SUPABASE_S3_ACCESS_KEY_ID and SUPABASE_S3_SECRET_ACCESS_KEY/);
    });

    // Last: it adds a storage run (the tests above count two).
    it("bucket settings and storage.objects policies are recorded; a rebuilt public-assets is public again, a restored-* copy is not", async () => {
        await h.pg.query(`update storage.buckets set public = true, file_size_limit = 5242880, allowed_mime_types = '{image/svg+xml,image/png}' where id = 'public-assets'`);
        await h.pg.query(`create policy "public read" on storage.objects for select to anon using (bucket_id = 'public-assets')`);
        const r = await h.sync(cfg);
        assert.equal(r.code, 0, r.stderr);
        const { manifest } = (await h.manifests(ENV)).at(-1)!;
        const want = { public: true, fileSizeLimit: 5242880, allowedMimeTypes: ["image/svg+xml", "image/png"] };
        assert.deepEqual(manifest.buckets.find((b) => b.name === "public-assets")!.settings, want);
        assert.deepEqual(manifest.buckets.find((b) => b.name === BUCKET)!.settings, { public: false, fileSizeLimit: null, allowedMimeTypes: null });
        const policy = manifest.policies!.find((p) => p.name === "public read")!;
        assert.deepEqual([policy.command, policy.roles, policy.permissive], ["SELECT", ["anon"], true]);
        assert.match(policy.using!, /bucket_id = 'public-assets'/);

        const api = await startStorageApi({ serviceRoleKey: SERVICE_ROLE_KEY });
        try {
            const restCfg = h.config(ENV, (c) => (c.supabase.url = api.url));
            const run = (args: string[]) => runCli(["restore", "storage", "--config", restCfg, "--bucket", "public-assets", "--at", "now", "--json", ...args], h.env());
            // Full project loss: the bucket under its own name comes back as it was.
            let x = await run(["--into", "public-assets", "--overwrite"]);
            assert.equal(x.code, 0, x.stderr);
            const own = api.buckets.get("public-assets")!;
            assert.deepEqual({ public: own.public, fileSizeLimit: own.fileSizeLimit, allowedMimeTypes: own.allowedMimeTypes }, want);
            // A side-by-side copy keeps the limits but is never public under another name.
            x = await run([]);
            assert.equal(x.code, 0, x.stderr);
            const side = api.buckets.get(defaultRestoreBucket("public-assets", manifest.runId))!;
            assert.deepEqual({ public: side.public, fileSizeLimit: side.fileSizeLimit, allowedMimeTypes: side.allowedMimeTypes }, { ...want, public: false });
        } finally {
            await api.stop();
        }
    });
});
