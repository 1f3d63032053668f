// gc's pass over the Azure archive, through the real CLI: s3rver as the vault (gc's vault pass is
// covered in gc.test.ts and on RGW), Azurite as the archive behind a recording proxy, a real Pushgateway.
// Azurite keeps no versions and enforces no immutability policy (test/fidelity/azurite-versions.test.ts;
// its Set Blob Immutability Policy answers 501), and it cannot set a blob's times: blobs "days old" are
// written while Azurite's own clock is moved back (test/support/azurite-clock.cjs), so gc reads their age
// from Azurite's listing as it would from Azure's. Azure's refusal to delete an immutable version is
// played by the proxy with Azure's documented answer (409, x-ms-error-code BlobImmutableDueToPolicy):
// Azurite never refuses a delete, so that is the smallest stand-in that still goes through the real SDK.
import assert from "node:assert/strict";
import { utimesSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { METRICS, newRunId, serializeRecord, sha256Hex, storageBlobKey, storageRunManifestKey } from "@supabase-backups/contracts";
import { runCli, writeJobConfig } from "../../support/cli";
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteServer } from "../../support/azurite";
import { startPushgateway, type Pushgateway } from "../../support/pushgateway";
import { startRecordingProxy, type RecordingProxy } from "../../support/recording-proxy";
import { startS3rver, type S3Server } from "../../support/s3rver";
import { storageManifest } from "../../support/storage-manifest";
import { deleteArchiveBlobs, type ArchiveBlob } from "../../../jobs/src/commands/gc/archive";
import { createLogger } from "../../../jobs/src/runtime/log";

const day = 86_400_000;
const BUCKET = "vault";
const CONTAINER = "archive";

describe("gc: the Azure archive's storage blobs", function () {
    this.timeout(180_000);
    let s3: S3Server;
    let az: AzuriteServer;
    let proxy: RecordingProxy;
    let gateway: Pushgateway;
    let azureEnv: Record<string, string>;
    let n = 0;

    before(async () => {
        [s3, az, gateway] = await Promise.all([startS3rver(), startAzurite({ clock: true }), startPushgateway()]);
        await s3.createBucket(BUCKET);
        await az.createContainer(CONTAINER);
        proxy = await startRecordingProxy(`http://127.0.0.1:${az.port}`);
        azureEnv = { AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${proxy.url}/${AZURITE_ACCOUNT};` };
    });
    after(async () => {
        await proxy?.close();
        await Promise.allSettled([s3?.stop(), az?.stop(), gateway?.stop()]);
    });
    beforeEach(() => {
        proxy.intercept = undefined;
        proxy.requests.length = 0;
    });

    /** A fresh env per case (the cases share the servers, not their blobs). */
    function scenario() {
        const env = `gca${++n}`;
        const cfg = writeJobConfig({ vault: { bucket: BUCKET, region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true }, archive: { accountUrl: az.accountUrl, container: CONTAINER } }, (c) => {
            c.env = env;
            c.alerts.pushgatewayUrl = gateway.url;
        }).path;
        const body = (s: string) => Buffer.from(`${env} blob ${s}`);
        const shaOf = (s: string) => sha256Hex(body(s));
        const blobKey = (s: string) => storageBlobKey(env, shaOf(s));
        const container = () => az.service.getContainerClient(CONTAINER);
        return {
            env,
            shaOf,
            blobKey,
            gc: (...flags: string[]) => runCli(["gc", "--config", cfg, ...flags], { ...s3.env, ...azureEnv }),
            /** a blob in the archive, written `ageDays` ago by Azurite's clock */
            async archiveBlob(s: string, ageDays: number) {
                await az.setClock(-ageDays * day);
                try {
                    await container().getBlockBlobClient(blobKey(s)).upload(body(s), body(s).length);
                } finally {
                    await az.setClock(0);
                }
            },
            async vaultBlob(s: string, ageDays: number) {
                await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: blobKey(s), Body: body(s) }));
                const t = new Date(Date.now() - ageDays * day);
                utimesSync(join(s3.dir, BUCKET, `${blobKey(s)}._S3rver_object`), t, t);
            },
            /** a run manifest naming these blobs; its key */
            async manifest(where: Array<"vault" | "archive">, runDaysAgo: number, names: string[], suffix = "aaaaaa") {
                const runId = newRunId(new Date(Date.now() - runDaysAgo * day), suffix);
                const key = storageRunManifestKey(env, runId);
                const bytes = serializeRecord(storageManifest(env, runId, names.map(shaOf)));
                if (where.includes("vault")) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
                if (where.includes("archive")) await container().getBlockBlobClient(key).upload(bytes, bytes.length);
                return key;
            },
            async archiveKeys(): Promise<string[]> {
                const out: string[] = [];
                for await (const b of container().listBlobsFlat({ prefix: `storage/${env}/blobs/` })) out.push(b.name);
                return out.sort();
            },
            async vaultKeys(): Promise<string[]> {
                const r = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `storage/${env}/blobs/` }));
                return (r.Contents ?? []).map((o) => o.Key!).sort();
            },
        };
    }
    const json = (stdout: string) => JSON.parse(stdout.slice(stdout.indexOf("{")));

    it("deletes an unreferenced blob older than the grace; keeps one named by an archive manifest, one named only by the vault's, a young one; a dry run deletes nothing", async () => {
        const t = scenario();
        for (const [s, age] of [["in-archive-manifest", 10], ["in-vault-manifest", 10], ["young", 0.5], ["old", 10]] as const) await t.archiveBlob(s, age);
        await t.manifest(["archive"], 3, ["in-archive-manifest"], "arcrun");
        await t.manifest(["vault"], 2, ["in-vault-manifest"], "vltrun");
        const all = await t.archiveKeys();
        assert.equal(all.length, 4);

        const dry = await t.gc("--dry-run", "--json");
        assert.equal(dry.code, 0, dry.stderr);
        const plan = json(dry.stdout);
        assert.deepEqual(plan.archive.keys, [t.blobKey("old")]);
        assert.equal(plan.archive.referenced, 2);
        assert.equal(plan.archive.keptTooYoung, 1, "the young blob (Azurite's Last-Modified 12 h ago)");
        assert.equal(plan.archive.manifests, 1);
        assert.deepEqual(await t.archiveKeys(), all, "a dry run deletes nothing");
        assert.equal(proxy.requests.filter((r) => r.method === "DELETE").length, 0);

        const real = await t.gc();
        assert.equal(real.code, 0, real.stderr);
        assert.match(real.stdout, new RegExp(`gc archive ${CONTAINER}: 4 blobs, 2 referenced \\(1 archived manifest\\(s\\) read, and the vault's\\), 1 unreferenced but younger than 2 d, 1 version\\(s\\) deleted, 0 kept until their immutability ends`));
        assert.deepEqual(await t.archiveKeys(), [t.blobKey("in-archive-manifest"), t.blobKey("in-vault-manifest"), t.blobKey("young")].sort());
        assert.match(await gateway.scrape(), new RegExp(`${METRICS.lastRunStatus}\\{[^}]*env="${t.env}"[^}]*kind="gc"[^}]*\\} 1\\b|${METRICS.lastRunStatus}\\{[^}]*kind="gc"[^}]*env="${t.env}"[^}]*\\} 1\\b`));
    });

    it("a delete Azure refuses as immutable counts as kept, not as a failure (exit 0)", async () => {
        const t = scenario();
        await t.archiveBlob("locked", 10);
        await t.archiveBlob("free", 10);
        // Azure's answer to deleting a version under a Locked immutability policy (Azurite never refuses)
        proxy.intercept = (r) =>
            r.method === "DELETE" && r.url.includes(t.shaOf("locked"))
                ? { status: 409, headers: { "x-ms-error-code": "BlobImmutableDueToPolicy", "content-type": "application/xml" }, body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobImmutableDueToPolicy</Code><Message>This operation is not permitted as the blob is immutable due to a policy.</Message></Error>` }
                : "pass";
        const r = await t.gc("--json");
        assert.equal(r.code, 0, r.stderr);
        const out = json(r.stdout);
        assert.equal(out.archive.deleted, 1);
        assert.equal(out.archive.keptLocked, 1);
        assert.equal(out.archive.failed, 0);
        assert.equal(out.archive.error, undefined);
        assert.deepEqual(await t.archiveKeys(), [t.blobKey("locked")]);
    });

    it("a version Azure lists as still immutable (or under a legal hold) is not even asked to go; an expired one goes", async () => {
        // Azurite lists no immutability policy or legal hold: the listing gc would read from Azure is built
        // here (the only stand-in); the deletes go through the SDK to Azurite behind the proxy
        const t = scenario();
        for (const s of ["locked", "held", "expired"]) await t.archiveBlob(s, 10);
        const now = new Date();
        const listing = (s: string, v: Partial<ArchiveBlob["versions"][number]>): ArchiveBlob => ({
            key: t.blobKey(s),
            sha256: t.shaOf(s),
            size: 1,
            lastModified: new Date(now.getTime() - 10 * day),
            versions: [{ name: t.blobKey(s), current: true, size: 1, legalHold: false, ...v }],
        });
        const plan = { delete: [listing("locked", { lockedUntil: new Date(now.getTime() + day) }), listing("held", { legalHold: true }), listing("expired", { lockedUntil: new Date(now.getTime() - 1000) })] };
        const out = { deleted: 0, keptLocked: 0, failed: 0 };
        const { BlobServiceClient } = await import("@azure/storage-blob");
        const c = BlobServiceClient.fromConnectionString(azureEnv.AZURE_STORAGE_CONNECTION_STRING).getContainerClient(CONTAINER);
        await deleteArchiveBlobs(c, plan, now, out, createLogger({ test: "gc-archive" }, "silent"));
        assert.deepEqual(out, { deleted: 1, keptLocked: 2, failed: 0 });
        const deletes = proxy.requests.filter((r) => r.method === "DELETE").map((r) => r.url);
        assert.equal(deletes.length, 1, deletes.join("\n"));
        assert.ok(deletes[0].includes(t.shaOf("expired")));
        assert.deepEqual(await t.archiveKeys(), [t.blobKey("held"), t.blobKey("locked")].sort());
    });

    it("an archive manifest that cannot be read keeps every archive blob of the env (and says so); the vault's pass goes on", async () => {
        const t = scenario();
        await t.archiveBlob("old", 10);
        await t.vaultBlob("old-in-vault", 10);
        const key = storageRunManifestKey(t.env, newRunId(new Date(Date.now() - 3 * day), "garbag"));
        await az.service.getContainerClient(CONTAINER).getBlockBlobClient(key).upload("{not json", 9);
        const r = await t.gc("--json");
        assert.equal(r.code, 0, r.stderr);
        const out = json(r.stdout);
        assert.equal(out.archive.keptUnreadable, 1);
        assert.deepEqual(out.archive.keys, []);
        assert.deepEqual(await t.archiveKeys(), [t.blobKey("old")]);
        assert.match(r.stderr, /archive: 1 storage manifest\(s\) cannot be read: kept 1 unreferenced blob/);
        assert.deepEqual(await t.vaultKeys(), [], "the vault's own unreferenced blob is collected as usual");
        assert.match(await gateway.scrape(), new RegExp(`${METRICS.gcKeptUnreadable}\\{[^}]*env="${t.env}"[^}]*\\} 1\\b`));
    });

    it("Azure down: the vault's pass completes, the run exits degraded (3) with the gc metric at 2, the archive keeps its blobs", async () => {
        const t = scenario();
        await t.archiveBlob("old", 10);
        await t.vaultBlob("old", 10);
        proxy.intercept = () => ({ status: 503, body: "ServerBusy" });
        const r = await t.gc();
        assert.equal(r.code, 3, r.stderr + r.stdout);
        assert.match(r.stdout, /gc archive .*FAILED \(degraded\)/);
        assert.deepEqual(await t.vaultKeys(), [], "the vault's pass deleted its unreferenced blob");
        proxy.intercept = undefined;
        assert.deepEqual(await t.archiveKeys(), [t.blobKey("old")]);
        assert.match(await gateway.scrape(), new RegExp(`${METRICS.lastRunStatus}\\{[^}]*env="${t.env}"[^}]*\\} 2\\b`));
    });

    it("attack: a writer forging archive manifests (overwriting a run's copy without a blob, adding a newer one naming nothing) cannot make gc delete a referenced blob; a forged reference only keeps more", async () => {
        const t = scenario();
        for (const s of ["named", "forged-ref", "unnamed"]) await t.archiveBlob(s, 10);
        const key = await t.manifest(["vault", "archive"], 3, ["named"], "realrn");
        // the writer's credentials may write any archive key (create-only is the job's own discipline);
        // Azurite keeps no versions, so the overwrite replaces the job's copy outright
        const c = az.service.getContainerClient(CONTAINER);
        const runId = key.split("/").at(-2)!;
        const forged = serializeRecord(storageManifest(t.env, runId, [t.shaOf("forged-ref")]));
        await c.getBlockBlobClient(key).upload(forged, forged.length);
        await t.manifest(["archive"], 1, [], "forged");
        const r = await t.gc("--json");
        assert.equal(r.code, 0, r.stderr);
        const out = json(r.stdout);
        assert.equal(out.archive.manifests, 2, "both forged manifests were read");
        assert.deepEqual(out.archive.keys, [t.blobKey("unnamed")]);
        assert.deepEqual(await t.archiveKeys(), [t.blobKey("forged-ref"), t.blobKey("named")].sort(), "named: the vault's manifest still names it; forged-ref: a forged reference keeps it");
    });
});
