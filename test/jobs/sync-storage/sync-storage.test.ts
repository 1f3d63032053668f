// sync-storage against real parts: Postgres with Supabase's storage schema, the Storage REST download
// route (local server) and the S3 protocol (s3rver) as sources, the vault on Ceph RGW (enforces Object
// Lock, versioning, tags, SSE-KMS) behind a pass-through recording proxy: we assert on what the job sends
// and on what RGW then holds (GetObjectRetention, GetObjectTagging, ListObjectVersions).
import assert from "node:assert/strict";
import { DeleteObjectCommand, HeadObjectCommand, PutObjectRetentionCommand } from "@aws-sdk/client-s3";
import { EXIT, retainUntil, storageBlobKey, runIdTime } from "@supabase-backups/contracts";
import { runCli } from "../../support/cli";
import { refused } from "../../support/rgw-vault";
import { StorageHarness, VAULT_BUCKET, bytesOf, parseJsonLine, sha } from "../../support/sync-storage-harness";

describe("sync-storage (vault: Ceph RGW)", function () {
    this.timeout(120_000);
    const h = new StorageHarness({ vault: "rgw" });
    let cfg: string;
    const ENV = "test";
    const BUCKETS = ["user-media", "public-assets"];
    let snap1: Map<string, Buffer>;

    before(async () => {
        await h.start();
        // user-media: nested names, unicode, spaces, an empty object, a large (spooled) one, a duplicate
        // of content in the other bucket; an excluded prefix. public-assets: a few objects.
        await h.put("user-media", "avatars/alice.png", bytesOf("alice", 5000), { contentType: "image/png", userMetadata: { owner: "alice" } });
        await h.put("user-media", "avatars/bob.png", bytesOf("bob", 7000), { contentType: "image/png", cacheControl: "max-age=60" });
        await h.put("user-media", "docs/Überweisung März 2026.pdf", bytesOf("pdf", 12345), { contentType: "application/pdf" });
        await h.put("user-media", "empty.txt", Buffer.alloc(0), { contentType: "text/plain" });
        await h.put("user-media", "video/big.mp4", bytesOf("big", 300_000), { contentType: "video/mp4" });
        await h.put("user-media", "tmp/scratch.bin", bytesOf("scratch", 100));
        await h.put("public-assets", "logo.svg", bytesOf("logo", 900), { contentType: "image/svg+xml" });
        await h.put("public-assets", "copy-of-alice.png", bytesOf("alice", 5000), { contentType: "image/png" });
        await h.put("other-bucket", "not-configured.txt", "x");
        cfg = h.config(ENV, (c) => {
            c.storage.buckets = [
                { name: "user-media", exclude: ["tmp/"] },
                { name: "public-assets", schedule: "0 4 * * 0" },
            ];
        });
    });
    after(() => h.stop());

    it("documents every option in --help", async () => {
        const r = await runCli(["sync-storage", "--help"]);
        assert.equal(r.code, 0, r.stderr);
        for (const flag of ["--config", "--json", "--bucket", "--shard", "--merge", "--run-id", "--concurrency", "--retries", "--retry-base-ms", "--stall-seconds", "--scratch-dir", "--memory-threshold", "--multipart-threshold"]) {
            assert.match(r.stdout, new RegExp(flag.replace(/-/g, "\\-") + "\\b"), `--help lacks ${flag}`);
        }
        assert.match(r.stdout, /Exit codes: 0 ok, 4 partial/);
    });

    it("first full sync: every object of every configured bucket, content-addressed, locked, manifest last", async () => {
        h.recorder.clear();
        snap1 = await h.snapshot(BUCKETS);
        const r = await h.sync(cfg, ["--memory-threshold", "65536"]);
        assert.equal(r.code, 0, r.stderr);
        const out = parseJsonLine(r.stdout);
        const runs = await h.manifests(ENV);
        assert.equal(runs.length, 1);
        const m = runs[0].manifest;
        assert.equal(m.runId, out.runId);
        assert.equal(m.previous, null);
        assert.equal(m.mode, "rest");
        assert.equal(m.tier, "monthly", "the first run of the month takes the highest open tier");
        assert.equal(m.retainUntil, retainUntil(runIdTime(m.runId), "monthly", { daily: 7, weekly: 4, monthly: 3, objectLockMinDays: 7 }).toISOString());

        // Every object except the excluded prefix and the unconfigured bucket, sorted by bucket, name.
        const names = m.objects.map((o) => `${o.bucket}/${o.name}`);
        const expected = [...snap1.keys()].filter((k) => !k.startsWith("user-media/tmp/")).sort();
        assert.deepEqual(names, expected);
        for (const o of m.objects) {
            const bytes = snap1.get(`${o.bucket}/${o.name}`)!;
            assert.equal(o.sha256, sha(bytes));
            assert.equal(o.size, bytes.length);
            assert.equal(o.blobKey, storageBlobKey(ENV, o.sha256));
            assert.match(o.eTag ?? "", /^"[0-9a-f]{32}"$/);
        }
        const alice = m.objects.find((o) => o.name === "avatars/alice.png")!;
        assert.equal(alice.contentType, "image/png");
        assert.deepEqual(alice.metadata, { owner: "alice" });
        assert.equal(m.objects.find((o) => o.name === "avatars/bob.png")!.cacheControl, "max-age=60");
        const privateBucket = { public: false, fileSizeLimit: null, allowedMimeTypes: null };
        assert.deepEqual(m.buckets, [
            { name: "public-assets", objects: 2, bytes: 5900, settings: privateBucket },
            { name: "user-media", objects: 5, bytes: 5000 + 7000 + 12345 + 0 + 300_000, settings: privateBucket },
        ]);

        // Dedup: alice.png and copy-of-alice.png are one blob, uploaded once.
        const blobPuts = h.recorder.objectPuts(`storage/${ENV}/blobs/`);
        const distinct = new Set(m.objects.map((o) => o.blobKey));
        assert.equal(distinct.size, m.objects.length - 1);
        assert.equal(blobPuts.length, distinct.size);
        assert.deepEqual(m.stats, { listed: 7, copied: 6, skipped: 0, deduplicated: 1, failed: 0, bytesUploaded: 5000 + 7000 + 12345 + 300_000 + 900 });

        // What the job sent: COMPLIANCE lock until the run's retain-until + 30 days slack (recorded per
        // entry as lockedUntil), SHA256 checksum, no tier tag on blobs.
        const lockEnd = new Date(Date.parse(m.retainUntil) + 30 * 86_400_000).toISOString();
        assert.ok(m.objects.every((o) => o.lockedUntil === lockEnd));
        for (const p of blobPuts) {
            const key = p.path.slice("vault/".length);
            const o = m.objects.find((x) => x.blobKey === key)!;
            assert.equal(p.headers["x-amz-object-lock-mode"], "COMPLIANCE");
            assert.equal(new Date(String(p.headers["x-amz-object-lock-retain-until-date"])).toISOString(), lockEnd);
            assert.equal(p.headers["x-amz-checksum-sha256"], Buffer.from(o.sha256, "hex").toString("base64"));
            assert.equal(p.headers["if-none-match"], "*");
            assert.doesNotMatch(String(p.headers["x-amz-tagging"]), /tier=/);
            assert.equal(p.headers["content-encoding"], undefined, "no aws-chunked framing");
        }
        // The manifest: written once, last, tagged with the tier, locked like the run.
        const puts = h.recorder.objectPuts(`storage/${ENV}/`);
        const last = puts[puts.length - 1];
        assert.equal(last.path, `vault/${runs[0].key}`);
        assert.match(String(last.headers["x-amz-tagging"]), /tier=monthly/);
        assert.equal(last.headers["x-amz-object-lock-mode"], "COMPLIANCE");

        // What RGW holds: one version per blob and of the manifest (write-once, nothing overwritten or
        // deleted), each under a COMPLIANCE lock ending where the job said; blobs tagged without a tier
        // (shared by runs of every tier), the manifest with the run's tier; SSE-KMS with the vault's key.
        const blobVersions = await h.versions(`storage/${ENV}/blobs/`);
        assert.equal(blobVersions.deleteMarkers, 0);
        assert.deepEqual(blobVersions.versions.map((v) => v.Key).sort(), [...distinct].sort(), "one version per blob");
        for (const key of distinct) {
            const st = await h.state(key);
            assert.equal(st.mode, "COMPLIANCE", `${key} lock mode on the server`);
            assert.equal(st.retainUntil, lockEnd, `${key} retain-until on the server`);
            assert.deepEqual(st.tags, { env: ENV, kind: "sync-storage", content: "blob" }, `${key} tags on the server`);
            assert.ok(!("tier" in st.tags));
        }
        // The run's objects: the manifest (version 2) and its object list, which it names with the
        // version written, sha256, size and count (the chain's sha256 of the manifest covers the list).
        const list = m.objectList!;
        assert.equal(m.schemaVersion, 2);
        assert.equal(list.key, runs[0].key.replace(/manifest\.json$/, "objects.ndjson.gz"));
        assert.equal(list.count, m.objects.length);
        const runVersions = await h.versions(`storage/${ENV}/runs/`);
        assert.deepEqual(runVersions.versions.map((v) => v.Key).sort(), [runs[0].key, list.key].sort(), "the manifest and its list, one version each, the only run objects");
        assert.equal(runVersions.versions.find((v) => v.Key === list.key)!.VersionId, list.versionId, "the list's version is pinned");
        assert.equal(runVersions.deleteMarkers, 0);
        for (const key of [runs[0].key, list.key]) {
            const ms = await h.state(key);
            assert.equal(ms.mode, "COMPLIANCE");
            assert.equal(ms.retainUntil, m.retainUntil, `${key} is locked exactly to the run's retain-until`);
            assert.deepEqual(ms.tags, { tier: "monthly", env: ENV, kind: "sync-storage" });
            const head = await h.vault.client.send(new HeadObjectCommand({ Bucket: VAULT_BUCKET, Key: key }));
            assert.equal(head.ServerSideEncryption, "aws:kms");
            assert.equal(head.SSEKMSKeyId, h.rgw!.kmsKeyId);
        }
        // The lock holds: RGW refuses to delete a blob's version or to shorten its lock (even to the admin).
        const [aBlob] = blobVersions.versions;
        await refused(h.vault.client.send(new DeleteObjectCommand({ Bucket: VAULT_BUCKET, Key: aBlob.Key!, VersionId: aBlob.VersionId })));
        await refused(h.vault.client.send(new PutObjectRetentionCommand({ Bucket: VAULT_BUCKET, Key: aBlob.Key!, Retention: { Mode: "COMPLIANCE", RetainUntilDate: new Date(Date.parse(lockEnd) - 86_400_000) } })));
        assert.equal((await h.state(aBlob.Key!)).retainUntil, lockEnd);

        // The writer never HEADs or GETs a blob (its IAM policy forbids reading data).
        assert.equal(h.recorder.requests.filter((q) => (q.method === "HEAD" || q.method === "GET") && q.path.includes("/blobs/") && !q.query.includes("list-type")).length, 0);
        // Storage saw only authorised requests with the service-role key.
        assert.ok(h.rest.requests.length >= 7 && h.rest.requests.every((q) => q.authorized));
    });

    it("restores the run's bucket state from the vault alone, byte for byte", async () => {
        const [run] = await h.manifests(ENV);
        const restored = await h.restore(run.manifest);
        const expected = new Map([...snap1].filter(([k]) => !k.startsWith("user-media/tmp/")));
        assert.deepEqual([...restored.keys()].sort(), [...expected.keys()].sort());
        for (const [k, v] of expected) assert.ok(restored.get(k)!.equals(v), `${k} differs`);
    });

    it("a run with no changes downloads and uploads nothing, and links to the previous manifest", async () => {
        h.recorder.clear();
        const before = h.rest.requests.length;
        const r = await h.sync(cfg);
        assert.equal(r.code, 0, r.stderr);
        const runs = await h.manifests(ENV);
        assert.equal(runs.length, 2);
        const [first, second] = runs;
        assert.deepEqual(second.manifest.previous, { runId: first.manifest.runId, sha256: first.sha256 });
        assert.equal(second.manifest.tier, "daily");
        assert.deepEqual(second.manifest.objects, first.manifest.objects);
        assert.deepEqual(second.manifest.stats, { listed: 7, copied: 0, skipped: 7, deduplicated: 0, failed: 0, bytesUploaded: 0 });
        assert.equal(h.rest.requests.length, before, "no downloads");
        assert.equal(h.recorder.objectPuts(`storage/${ENV}/blobs/`).length, 0, "no uploads");
        assert.equal(h.recorder.retentionPuts().length, 0, "a daily run after a monthly one extends nothing (the recorded locks cover it)");
    });

    it("changed, new, deleted and renamed objects: only new content is uploaded; older runs keep deleted objects", async () => {
        await h.put("user-media", "avatars/bob.png", bytesOf("bob-v2", 7100), { contentType: "image/png" }); // changed
        await h.put("user-media", "avatars/carol.png", bytesOf("carol", 3000), { contentType: "image/png" }); // new
        await h.remove("public-assets", "logo.svg"); // deleted
        await h.put("public-assets", "brand/logo-2026.svg", bytesOf("logo", 900)); // same bytes under a new name
        const snap3 = await h.snapshot(BUCKETS);
        h.recorder.clear();
        const r = await h.sync(cfg);
        assert.equal(r.code, 0, r.stderr);
        const runs = await h.manifests(ENV);
        const m = runs[2].manifest;
        assert.deepEqual(m.stats, { listed: 8, copied: 2, skipped: 5, deduplicated: 1, failed: 0, bytesUploaded: 7100 + 3000 });
        assert.equal(h.recorder.objectPuts(`storage/${ENV}/blobs/`).length, 2);
        assert.ok(!m.objects.some((o) => o.name === "logo.svg"));
        assert.ok(runs[0].manifest.objects.some((o) => o.name === "logo.svg"), "the first run still has the deleted object");
        assert.deepEqual(m.previous, { runId: runs[1].manifest.runId, sha256: runs[1].sha256 });

        const restoredNow = await h.restore(m);
        const expectedNow = new Map([...snap3].filter(([k]) => !k.startsWith("user-media/tmp/")));
        assert.deepEqual([...restoredNow.keys()].sort(), [...expectedNow.keys()].sort());
        for (const [k, v] of expectedNow) assert.ok(restoredNow.get(k)!.equals(v), `${k} differs`);
        // A chosen older run restores to the source as it was then (old bob, logo.svg present, no carol).
        const restoredThen = await h.restore(runs[0].manifest);
        assert.ok(restoredThen.get("user-media/avatars/bob.png")!.equals(bytesOf("bob", 7000)));
        assert.ok(restoredThen.get("public-assets/logo.svg")!.equals(bytesOf("logo", 900)));
        assert.ok(!restoredThen.has("user-media/avatars/carol.png"));
    });

    it("S3 protocol mode gives the same manifest entries as REST mode", async () => {
        const s3cfg = h.config("test-s3", (c) => {
            c.storage.mode = "s3";
            c.storage.buckets = [{ name: "user-media", exclude: ["tmp/"] }, { name: "public-assets" }];
        });
        const restBefore = h.rest.requests.length;
        const r = await h.sync(s3cfg);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(h.rest.requests.length, restBefore, "S3 mode does not use the REST API");
        const [s3run] = await h.manifests("test-s3");
        const restRun = (await h.manifests(ENV))[2].manifest;
        assert.equal(s3run.manifest.mode, "s3");
        // two envs, two blob copies: the VersionIds differ (each run records the version it uploaded)
        const strip = ({ lockedUntil: _l, versionId: _v, ...o }: any) => ({ ...o, blobKey: o.blobKey.replace(/^storage\/[^/]+\//, "") });
        assert.deepEqual(s3run.manifest.objects.map(strip), restRun.objects.map(strip));
    });

    it("rejects an unknown bucket in config and a --bucket that is not configured", async () => {
        const bad = h.config("test-bad", (c) => (c.storage.buckets = [{ name: "user-media" }, { name: "no-such-bucket" }]));
        const r = await h.sync(bad);
        assert.equal(r.code, EXIT.usage);
        assert.match(r.stderr, /storage\.buckets: no such bucket in the project: no-such-bucket/);
        const r2 = await h.sync(cfg, ["--bucket", "other-bucket"]);
        assert.equal(r2.code, EXIT.usage);
        assert.match(r2.stderr, /--bucket other-bucket: not a configured bucket/);
        assert.equal((await h.manifests("test-bad")).length, 0);
    });

    it("refuses to run with a wrong service-role key (no manifest, exit 1, key not printed)", async () => {
        const r = await h.sync(h.config("test-key"), [], { SUPABASE_SERVICE_ROLE_KEY: "wrong-key-1234567890" });
        assert.equal(r.code, EXIT.failed, r.stderr);
        assert.match(r.stderr, /refused the credentials/);
        assert.doesNotMatch(r.stderr + r.stdout, /wrong-key-1234567890/);
        assert.equal((await h.manifests("test-key")).length, 0);
    });
});
