// sync-storage's Azure archive copy and `restore storage --from archive`, through the real CLI: Postgres
// with Supabase's storage schema, Ceph RGW as the vault (Object Lock, versioning), Azurite as the archive
// behind a recording proxy (Azurite ignores immutability policies and has no versions, so the test
// asserts on what the job sent; the proxy also plays an Azure outage), a real Pushgateway for the
// degraded metric. One server set for the file; the cases build on each other in order.
import assert from "node:assert/strict";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { auditKey, METRICS, newRunId, sha256Hex, storageBlobKey, type StorageManifestWithObjects } from "@supabase-backups/contracts";
import { runCli } from "../../support/cli";
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteServer } from "../../support/azurite";
import { startPushgateway, type Pushgateway } from "../../support/pushgateway";
import { startRecordingProxy, type RecordingProxy } from "../../support/recording-proxy";
import { StorageHarness, VAULT_BUCKET, bytesOf, parseJsonLine, sha } from "../../support/sync-storage-harness";

const ENV = "archstor";
const BUCKET = "user-media";
const CONTAINER = "backups";
const DEGRADED = 3;

describe("sync-storage: the Azure archive copy and restore storage --from archive", function () {
    this.timeout(300_000);
    const h = new StorageHarness({ vault: "rgw" });
    let az: AzuriteServer;
    let proxy: RecordingProxy;
    let gateway: Pushgateway;
    let cfg: string;
    let azureEnv: Record<string, string>;
    const runs: StorageManifestWithObjects[] = [];

    const container = () => az.service.getContainerClient(CONTAINER);
    const azureBytes = async (key: string) => container().getBlobClient(key).downloadToBuffer();
    const s3Bytes = async (key: string) => Buffer.from(await (await h.vault.client.send(new GetObjectCommand({ Bucket: VAULT_BUCKET, Key: key }))).Body!.transformToByteArray());
    const blobPuts = () => proxy.requests.filter((r) => r.method === "PUT" && /\/storage\/[^/]+\/blobs\//.test(r.url) && !/comp=/.test(r.url));
    const sync = async (expected: number) => {
        const r = await h.sync(cfg, [], azureEnv);
        assert.equal(r.code, expected, r.stderr + r.stdout);
        const m = (await h.manifests(ENV)).pop()!.manifest;
        runs.push(m);
        return { r, m, out: parseJsonLine(r.stdout) };
    };

    before(async () => {
        [az, gateway] = await Promise.all([startAzurite(), startPushgateway(), h.start()]);
        await az.createContainer(CONTAINER);
        proxy = await startRecordingProxy(`http://127.0.0.1:${az.port}`);
        azureEnv = { AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${proxy.url}/${AZURITE_ACCOUNT};` };
        cfg = h.config(ENV, (c) => {
            c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
            c.alerts.pushgatewayUrl = gateway.url;
        });
        await h.put(BUCKET, "readme.txt", "hello from run one\n", { contentType: "text/plain", userMetadata: { owner: "u1" } });
        await h.put(BUCKET, "a/1.png", bytesOf("png1", 5000), { contentType: "image/png" });
        await h.put(BUCKET, "a/copy-of-1.png", bytesOf("png1", 5000), { contentType: "image/png" });
        await h.put(BUCKET, "big.bin", bytesOf("big", 5 * 1024 * 1024 + 7)); // above the memory threshold: spooled, staged blocks
    });
    after(async () => {
        await proxy?.close();
        await Promise.allSettled([h.stop(), az?.stop(), gateway?.stop()]);
    });
    beforeEach(() => {
        proxy.requests.length = 0;
        proxy.intercept = undefined;
    });

    it("a full sync lands every blob and the manifest in both clouds: create-only, tagged, Locked until the S3 lock", async () => {
        const { m, out } = await sync(0);
        assert.deepEqual(m.archive, { provider: "azure", container: CONTAINER, status: "ok", missing: 0, copied: 3 });
        assert.equal(out.archive.status, "ok");
        for (const o of m.objects) {
            assert.ok(o.archive?.lockedUntil, `${o.name} records its archive copy`);
            assert.equal(o.archive.lockedUntil, o.lockedUntil, "the same lock end as the S3 blob");
            assert.equal(sha(await azureBytes(o.blobKey)), o.sha256, `${o.name} in Azure`);
        }
        // what the job sent for each blob: If-None-Match *, a Locked policy until the lock end, the S3 twin's tags
        const puts = blobPuts().concat(proxy.requests.filter((r) => r.method === "PUT" && /comp=blocklist/.test(r.url) && /\/blobs\//.test(r.url)));
        assert.equal(puts.length, 3, puts.map((p) => p.url).join("\n"));
        for (const p of puts) {
            assert.equal(p.headers["if-none-match"], "*", p.url);
            assert.equal(String(p.headers["x-ms-immutability-policy-mode"]).toLowerCase(), "locked", p.url);
            assert.ok(p.headers["x-ms-immutability-policy-until-date"], p.url);
            assert.equal(Date.parse(String(p.headers["x-ms-immutability-policy-until-date"])), Math.floor(Date.parse(m.objects[0].lockedUntil!) / 1000) * 1000);
            assert.equal(p.headers["x-ms-tags"], "env=archstor&kind=sync-storage&content=blob");
        }
        // the manifest: the same bytes as in S3, tagged with the run's tier, locked until its retain-until
        const key = (await h.manifests(ENV)).pop()!.key;
        assert.equal(sha(await azureBytes(key)), sha(await s3Bytes(key)));
        const mput = proxy.requests.find((r) => r.method === "PUT" && r.url.includes(key))!;
        assert.equal(mput.headers["if-none-match"], "*");
        assert.match(String(mput.headers["x-ms-tags"]), new RegExp(`^tier=${m.tier}&env=archstor&kind=sync-storage$`));
        // its object list beside it (schema 2): the same bytes, create-only, tagged and locked like the manifest
        const list = m.objectList!;
        assert.equal(sha(await azureBytes(list.key)), list.sha256);
        const lput = proxy.requests.find((r) => r.method === "PUT" && r.url.includes(list.key) && /comp=blocklist/.test(r.url))!;
        assert.equal(lput.headers["if-none-match"], "*");
        assert.equal(String(lput.headers["x-ms-immutability-policy-mode"]).toLowerCase(), "locked");
        assert.match(String(lput.headers["x-ms-tags"]), new RegExp(`^tier=${m.tier}&env=archstor&kind=sync-storage$`));
    });

    it("an incremental run sends only the new blob (what is in Azure comes from the previous manifest, no HEAD or list)", async () => {
        await h.put(BUCKET, "new.txt", "only in run two");
        const { m } = await sync(0);
        assert.equal(m.archive?.copied, 1);
        assert.equal(blobPuts().length, 1);
        assert.equal(proxy.requests.filter((r) => r.method === "HEAD" || r.method === "GET").length, 0, "the writer neither reads nor lists Azure");
        assert.ok(m.objects.every((o) => o.archive), "every entry records its archive copy");
    });

    it("Azure down: the run completes in S3 and exits degraded (metric 2); the next run catches the missing blobs up", async () => {
        await h.put(BUCKET, "during-outage.txt", "written while Azure was down");
        await h.put(BUCKET, "readme.txt", "changed while Azure was down\n", { contentType: "text/plain" });
        proxy.intercept = () => ({ status: 503, body: "ServerBusy" });
        const { m, r } = await sync(DEGRADED);
        assert.match(r.stderr + r.stdout, /degraded|azure/i);
        assert.equal(m.archive?.status, "degraded");
        assert.equal(m.archive?.missing, 2);
        assert.match(m.archive?.error ?? "", /503|ServerBusy/);
        const missing = m.objects.filter((o) => !o.archive).map((o) => o.name).sort();
        assert.deepEqual(missing, ["during-outage.txt", "readme.txt"]);
        // S3 has the whole run
        for (const o of m.objects) assert.equal(sha(await s3Bytes(o.blobKey)), o.sha256);
        const st = await runCli(["status", "--config", cfg, "--json", "--no-supabase"], h.env(azureEnv));
        assert.deepEqual(JSON.parse(st.stdout).storage.newest.archive, m.archive, st.stderr);
        const scrape = await gateway.scrape();
        assert.match(scrape, new RegExp(`${METRICS.lastRunStatus}\\{[^}]*kind="sync-storage"[^}]*\\} 2\\b`));

        proxy.intercept = undefined;
        proxy.requests.length = 0;
        const next = await sync(0);
        assert.equal(next.m.archive?.status, "ok");
        assert.equal(next.m.archive?.missing, 0);
        assert.equal(next.m.archive?.copied, 2, "the two missing blobs, fetched again from the source");
        for (const o of next.m.objects) assert.equal(sha(await azureBytes(o.blobKey)), o.sha256, o.name);
        assert.match(await gateway.scrape(), new RegExp(`${METRICS.lastRunStatus}\\{[^}]*kind="sync-storage"[^}]*\\} 1\\b`));
    });

    it("a longer retain-until extends the Azure locks (Locked, once per blob); a store without that API is not degraded", async () => {
        const longer = (days: number) =>
            h.config(ENV, (c) => {
                c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
                c.retention.daily = days;
            });
        const isExtension = (r: { method: string; url: string }) => r.method === "PUT" && /comp=immutabilityPolicies/.test(r.url);
        // Azurite has no Set Blob Immutability Policy (501): the proxy answers for it, as Azure would
        proxy.intercept = (r) => (isExtension(r) ? { status: 200 } : "pass");
        let r = await h.sync(longer(200), [], azureEnv);
        assert.equal(r.code, 0, r.stderr);
        let m = (await h.manifests(ENV)).pop()!.manifest;
        runs.push(m);
        const blobs = new Set(m.objects.map((o) => o.blobKey));
        const ext = proxy.requests.filter(isExtension);
        assert.equal(ext.length, blobs.size, "one extension per referenced blob");
        for (const e of ext) {
            assert.equal(String(e.headers["x-ms-immutability-policy-mode"]).toLowerCase(), "locked");
            assert.equal(Date.parse(String(e.headers["x-ms-immutability-policy-until-date"])), Math.floor(Date.parse(m.objects[0].lockedUntil!) / 1000) * 1000);
        }
        for (const o of m.objects) assert.equal(o.archive?.lockedUntil, o.lockedUntil, `${o.name}: Azure lock recorded as extended with S3's`);
        const extendedTo = m.objects[0].archive!.lockedUntil;

        // Azurite itself: 501 on the first extension, no more tries, the recorded lock stays as it was
        proxy.intercept = undefined;
        proxy.requests.length = 0;
        r = await h.sync(longer(300), [], azureEnv);
        assert.equal(r.code, 0, r.stderr);
        m = (await h.manifests(ENV)).pop()!.manifest;
        runs.push(m);
        assert.equal(proxy.requests.filter(isExtension).length, 1);
        assert.equal(m.archive?.status, "ok");
        for (const o of m.objects) assert.equal(o.archive?.lockedUntil, extendedTo);
        assert.match(r.stderr, /no immutability API/);
    });

    it("a sharded run: each shard copies its own blobs, the merging shard records the run's archive and copies the manifest", async () => {
        const env = "archshard";
        const sharded = h.config(env, (c) => (c.archive = { accountUrl: az.accountUrl, container: CONTAINER }));
        const runId = newRunId(new Date());
        for (const shard of ["0/2", "1/2"]) {
            const r = await h.sync(sharded, ["--shard", shard, "--run-id", runId], azureEnv);
            assert.equal(r.code, 0, r.stderr);
        }
        const [{ manifest: m, key }] = await h.manifests(env);
        assert.equal(m.shards, 2);
        assert.equal(m.archive?.status, "ok");
        assert.equal(m.archive?.missing, 0);
        assert.ok(m.objects.length >= 5 && m.objects.every((o) => o.archive), "every entry of both shards records its archive copy");
        for (const o of m.objects) assert.equal(sha(await azureBytes(o.blobKey)), o.sha256, o.name);
        assert.equal(sha(await azureBytes(key)), sha(await s3Bytes(key)), "the merged manifest, same bytes");
        const shardCopies: string[] = [];
        for await (const b of container().listBlobsFlat({ prefix: `storage/${env}/runs/` })) if (/\/shards\//.test(b.name)) shardCopies.push(b.name);
        assert.deepEqual(shardCopies, [], "shard manifests stay in S3");
    });

    it("storage.archive: false keeps files in the S3 vault only (no Azure request, no archive in the manifest)", async () => {
        const off = h.config(ENV, (c) => {
            c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
            c.storage.archive = false;
        });
        await h.put(BUCKET, "s3-only.txt", "not for the archive");
        const r = await h.sync(off, [], azureEnv);
        assert.equal(r.code, 0, r.stderr);
        const m = (await h.manifests(ENV)).pop()!.manifest;
        assert.equal(m.archive, undefined);
        assert.equal(m.objects.find((o) => o.name === "s3-only.txt")!.archive, undefined);
        assert.equal(proxy.requests.length, 0);
        // not pushed to `runs`: restore --from archive picks the newest run whose manifest is in the archive
    });

    describe("restore storage --from archive", () => {
        let archiveCfg: string;
        const noAws = () => ({ ...azureEnv, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_REGION: undefined, AWS_PROFILE: undefined, USER: "oncall-ana" });
        const restore = (args: string[]) => runCli(["restore", "storage", "--config", archiveCfg, "--bucket", BUCKET, "--via", "s3", "--from", "archive", "--json", ...args], h.env(noAws()));
        const target = async (bucket: string) => {
            const out = new Map<string, Buffer>();
            const l = await h.source.client.send(new ListObjectsV2Command({ Bucket: bucket }));
            for (const o of l.Contents ?? []) out.set(o.Key!, Buffer.from(await (await h.source.client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToByteArray()));
            return out;
        };

        before(() => {
            // the AWS account is gone: the vault endpoint answers nothing and no AWS credential is set
            archiveCfg = h.config(ENV, (c) => {
                c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
                c.vault.endpoint = "http://127.0.0.1:9";
            });
        });

        it("restores the newest run byte for byte with no AWS credentials, and audits into the archive", async () => {
            const m = runs[runs.length - 1];
            const r = await restore(["--at", "now", "--into", "from-azure", "--reason", "INC-9 AWS account lost"]);
            assert.equal(r.code, 0, r.stderr);
            const out = JSON.parse(r.stdout);
            assert.equal(out.runId, m.runId);
            assert.equal(out.from, "archive");
            const got = await target("from-azure");
            const want = m.objects.filter((o) => o.bucket === BUCKET);
            assert.equal(got.size, want.length);
            for (const o of want) assert.equal(sha(got.get(o.name)!), o.sha256, o.name);
            assert.equal(got.get("readme.txt")!.toString(), "changed while Azure was down\n");
            // the audit records went to the archive (the vault is unreachable), the actor is the Azure identity
            const audits: string[] = [];
            for await (const b of container().listBlobsFlat({ prefix: auditKey(ENV, new Date(), "x").split("/").slice(0, 2).join("/") + "/" })) audits.push(b.name);
            const done = audits.find((k) => /restore-storage/.test(k) && !/\.started\.json$/.test(k));
            assert.ok(done, audits.join(", "));
            const rec = JSON.parse((await azureBytes(done!)).toString());
            assert.equal(rec.result, "succeeded");
            assert.equal(rec.reason, "INC-9 AWS account lost");
            assert.match(rec.actor, /^azure-shared-key:devstoreaccount1@/);
            assert.equal(rec.actorClaim, "oncall-ana");
        });

        it("refuses a blob altered in the archive (sha256), and a manifest copy its successor does not link to", async () => {
            const m = runs[runs.length - 1];
            const victim = m.objects.find((o) => o.name === "a/1.png")!;
            // an attacker with the account key overwrites the blob (Azurite enforces no immutability)
            const evil = Buffer.alloc(victim.size, 0x41);
            await container().getBlockBlobClient(victim.blobKey).upload(evil, evil.length);
            const r = await restore(["--run", m.runId, "--into", "tampered-target", "--concurrency", "1"]);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr.trim().split("\n").pop()!, /^supabase-backups restore storage: .*a\/1\.png.*does not match the manifest/);

            // a forged copy of an older run's manifest (the next run's `previous` link names other bytes)
            const older = runs[0];
            const key = (await h.manifests(ENV)).find((x) => x.manifest.runId === older.runId)!.key;
            const forged = { ...older, objects: older.objects.map((o) => (o.name === "readme.txt" ? { ...o, sha256: sha256Hex("forged"), blobKey: storageBlobKey(ENV, sha256Hex("forged")) } : o)) };
            const body = Buffer.from(JSON.stringify(forged, null, 2) + "\n");
            await container().getBlockBlobClient(key).upload(body, body.length);
            const f = await restore(["--run", older.runId, "--into", "forged-target"]);
            assert.equal(f.code, 7, f.stderr);
            assert.match(f.stderr, /not the one run .* links to/);
        });
    });
});
