// Issue 17 item 1: archived runs. The vault is Ceph RGW with Object Lock and versions; in front of it the
// glacier proxy (test/support/glacier-proxy.ts) plays S3 Glacier for the keys a test archives: GET →
// 403 InvalidObjectState, HEAD → x-amz-storage-class GLACIER (+ x-amz-restore once asked), POST ?restore →
// 202 / 409 RestoreAlreadyInProgress. Through the real CLI: `restore db` and `verify --run` of an archived
// run request the restore once per object (at the pinned version), exit 8 (pending) with one line, stay
// pending without asking twice, and resume once the objects are restored; the nightly dump, verify and
// status never fail because an old run is archived (its manifest too, as before manifests stopped going cold).
import assert from "node:assert/strict";
import { CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListObjectVersionsCommand, S3Client } from "@aws-sdk/client-s3";
import { dbRunPrefix, EXIT, prefixes } from "@supabase-backups/contracts";
import { Client } from "pg";
import { runCli, writeJobConfig, type CliResult } from "../../support/cli";
import { clientBin } from "../../support/pg-versions";
import { startPostgres, type PgServer } from "../../support/postgres";
import { rgwJobEnv, startRgw, type RgwServer } from "../../support/rgw";
import { seedSupabase } from "../../support/seed";
import { startGlacierProxy, type GlacierProxy } from "../../support/glacier-proxy";
import { passwordOutOfArgv } from "../../support/target-url";
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteServer } from "../../support/azurite";
import { startRecordingProxy, type RecordingProxy } from "../../support/recording-proxy";

const VAULT = "vault";
const ENV = "test";
const TABLES = ["auth.users", "public.profiles"];
const lastLine = (r: CliResult) => r.stderr.trim().split("\n").filter((l) => l.startsWith("supabase-backups")).pop() ?? "";

describe("archived runs (issue 17): restore db / verify --run request the restore and resume; nightly jobs never fail", function () {
    this.timeout(240_000);
    let rgw: RgwServer;
    let glacier: GlacierProxy;
    let pg: PgServer;
    let config: string;
    let env: Record<string, string | undefined>;
    let old: string; // the archived run
    let newest: string;
    let dataKeys: string[]; // the old run's dump, schema.sql, roles.sql
    let manifestKey: string;
    let az: AzuriteServer;
    let azProxy: RecordingProxy;
    let azConfig: string;
    /** keys the Azure proxy reports as rehydrating (Get Blob Properties: Archive, rehydrate-pending-to-cool) */
    const azPending = new Set<string>();

    const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { ...env, ...extra });
    const restoreDb = async (args: string[]) => {
        const url = await pg.createDatabase(`t_${Math.random().toString(36).slice(2, 8)}`);
        const [argv, e] = passwordOutOfArgv(["restore", "db", "--config", config, "--target-url", url, ...args], env);
        return { r: await runCli(argv, e), url };
    };
    const tableCount = async (url: string) => {
        const c = new Client({ connectionString: url });
        await c.connect();
        try {
            return (await c.query(`select count(*)::int n from pg_tables where schemaname in ('public','auth')`)).rows[0].n as number;
        } finally {
            await c.end();
        }
    };
    const oldestVersion = async (key: string) => {
        const r = await rgw.client().send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: key }));
        const vs = (r.Versions ?? []).filter((v) => v.Key === key);
        return vs[vs.length - 1].VersionId!;
    };

    before(async () => {
        [rgw, pg, az] = await Promise.all([startRgw(), startPostgres({ major: 15 }), startAzurite()]);
        await az.createContainer("archive");
        // Azurite has the Archive tier (Get Blob of an archived blob: 409 BlobArchived; Set Blob Tier back:
        // 202) but rehydrates at once; this proxy plays the hours in between on Get Blob Properties.
        azProxy = await startRecordingProxy(`http://127.0.0.1:${az.port}`);
        azProxy.responseHeaders = (rec, headers) => {
            const key = decodeURIComponent(new URL(rec.url, "http://x").pathname).split("/").slice(3).join("/");
            if (rec.method === "HEAD" && azPending.has(key)) {
                headers["x-ms-access-tier"] = "Archive";
                headers["x-ms-archive-status"] = "rehydrate-pending-to-cool";
            }
        };
        await rgw.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
        glacier = await startGlacierProxy(rgw.endpoint);
        await seedSupabase(pg.url, { users: 40, messagesPerUser: 2, sessionsPerUser: 1, payloadBytes: 16 });
        config = writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: glacier.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.verify.tables = TABLES;
            delete c.alerts.pushgatewayUrl;
            delete c.archive;
        }).path;
        azConfig = writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: glacier.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.verify.tables = TABLES;
            delete c.alerts.pushgatewayUrl;
            c.archive = { accountUrl: `${azProxy.url}/${AZURITE_ACCOUNT}`, container: "archive" };
        }).path;
        const bin = clientBin(15);
        env = {
            ...rgwJobEnv(rgw, bin),
            DATABASE_URL: pg.url,
            CANARY_DATABASE_URL: pg.url,
            SUPABASE_ACCESS_TOKEN: undefined,
            AGE_IDENTITY: undefined,
            AZURE_STORAGE_CONNECTION_STRING: undefined,
            LOG_LEVEL: "info",
        };
        const dump = async () => {
            const r = await cli(["dump", "--config", config, "--json", "--no-archive"]);
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const out = JSON.parse(r.stdout);
            return (out.manifest ?? out).runId as string;
        };
        old = await dump();
        newest = await dump();
        manifestKey = `${dbRunPrefix(ENV, old)}manifest.json`;
        const listed = await rgw.client().send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: dbRunPrefix(ENV, old) }));
        dataKeys = [...new Set((listed.Versions ?? []).map((v) => v.Key!))].filter((k) => k !== manifestKey).sort();
        assert.ok(dataKeys.some((k) => k.endsWith("/schema.sql")) && dataKeys.some((k) => k.endsWith("/roles.sql")), dataKeys.join(","));
    });
    after(async () => {
        await Promise.allSettled([glacier?.stop(), azProxy?.close()]);
        await Promise.allSettled([rgw?.stop(), pg?.stop(), az?.stop()]);
    });

    it("the proxy plays Glacier over RGW: GET 403 InvalidObjectState, HEAD GLACIER, tags still read (signatures pass through)", async () => {
        glacier.archive(dataKeys);
        const c = rgw.client();
        const via = new S3Client({ region: rgw.region, endpoint: glacier.endpoint, forcePathStyle: true, credentials: rgw.admin });
        try {
            const e: any = await via.send(new GetObjectCommand({ Bucket: VAULT, Key: dataKeys[0] })).then(() => undefined, (x) => x);
            assert.equal(e?.name, "InvalidObjectState");
            assert.equal(e?.$metadata?.httpStatusCode, 403);
            const h = await via.send(new HeadObjectCommand({ Bucket: VAULT, Key: dataKeys[0] }));
            assert.equal(h.StorageClass, "GLACIER");
            assert.equal(h.Restore, undefined);
            const direct = await c.send(new HeadObjectCommand({ Bucket: VAULT, Key: dataKeys[0] }));
            assert.equal(h.VersionId, direct.VersionId, "RGW's own answer, storage class added");
            const tags = await via.send(new GetObjectTaggingCommand({ Bucket: VAULT, Key: dataKeys[0] }));
            assert.ok(tags.TagSet?.some((t) => t.Key === "tier"));
        } finally {
            via.destroy();
            glacier.release(dataKeys);
        }
    });

    it("restore db of an archived run: one RestoreObject per archived object at the pinned version (Standard, 7 days), exit 8 with one line; the target untouched", async () => {
        glacier.archive(dataKeys);
        const before = glacier.restores().length;
        const { r, url } = await restoreDb(["--run", old]);
        assert.equal(r.code, EXIT.pending, r.stderr.slice(-3000));
        const line = lastLine(r);
        assert.match(line, new RegExp(`run ${old} is archived: restore requested now for ${dataKeys.length} archived object\\(s\\)`));
        assert.match(line, /tier Standard, restored copies kept 7 days/);
        assert.match(line, /GLACIER: Standard: typically 3–5 hours/);
        assert.match(line, /exits 8 until every object is readable/);
        const asked = glacier.restores().slice(before);
        assert.deepEqual(asked.map((a) => a.key).sort(), dataKeys);
        for (const a of asked) {
            assert.equal(a.status, 202);
            assert.equal(a.versionId, await oldestVersion(a.key), `${a.key}: the version the job wrote`);
            assert.match(a.body, /<Days>7<\/Days>/);
            assert.match(a.body, /<Tier>Standard<\/Tier>/);
        }
        assert.equal(await tableCount(url), 0, "nothing restored into the target");
    });

    it("rerun while the restore runs: still exit 8, says it is under way, requests nothing again", async () => {
        const before = glacier.restores().length;
        const { r } = await restoreDb(["--run", old]);
        assert.equal(r.code, EXIT.pending, r.stderr.slice(-3000));
        assert.match(lastLine(r), new RegExp(`restore already under way for ${dataKeys.length} \\(.*nothing requested again\\)`));
        assert.equal(glacier.restores().length, before, "no second RestoreObject (HEAD said ongoing-request=\"true\")");
    });

    it("once restored (ongoing-request=\"false\"), restore db proceeds and restores the run with exact counts", async () => {
        glacier.thaw(dataKeys);
        const { r, url } = await restoreDb(["--run", old, "--json"]);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const out = JSON.parse(r.stdout);
        assert.equal(out.runId, old);
        assert.ok(out.rowCounts.length >= TABLES.length && out.rowCounts.every((c: any) => c.ok), JSON.stringify(out.rowCounts));
        assert.ok((await tableCount(url)) > 0);
        glacier.release(dataKeys);
    });

    it("verify --run with --restore-tier Bulk --restore-days 2: requested as asked, exit 8, no record; after the thaw it passes", async () => {
        glacier.archive(dataKeys);
        const records = async () => (await rgw.client().send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: prefixes.verify(ENV) }))).Versions?.length ?? 0;
        const n0 = await records();
        const before = glacier.restores().length;
        let r = await cli(["verify", "--config", config, "--run", old, "--no-storage", "--restore-tier", "bulk", "--restore-days", "2"]);
        assert.equal(r.code, EXIT.pending, r.stderr.slice(-3000));
        assert.match(lastLine(r), /tier Bulk, restored copies kept 2 days\); GLACIER: Bulk: typically 5–12 hours/);
        const asked = glacier.restores().slice(before);
        assert.equal(asked.length, dataKeys.length);
        for (const a of asked) assert.match(a.body, /<Days>2<\/Days>.*<Tier>Bulk<\/Tier>|<Tier>Bulk<\/Tier>.*<Days>2<\/Days>/s);
        assert.equal(await records(), n0, "nothing judged, nothing recorded");
        glacier.thaw(dataKeys);
        r = await cli(["verify", "--config", config, "--run", old, "--no-storage", "--json"]);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        assert.equal(JSON.parse(r.stdout).records[0].result, "passed");
        glacier.release(dataKeys);
    });

    it("a bad --restore-tier is a usage error; --restore-tier without --run too (the nightly verify never requests a restore)", async () => {
        let r = await cli(["verify", "--config", config, "--run", old, "--restore-tier", "Instant"]);
        assert.equal(r.code, EXIT.usage);
        assert.match(r.stderr, /expected one of Standard, Bulk, Expedited/);
        r = await cli(["verify", "--config", config, "--restore-tier", "Bulk"]);
        assert.equal(r.code, EXIT.usage);
        assert.match(lastLine(r), /go with --run/);
    });

    it("a manifest archived before the change: restore db asks for the whole run (manifest included) in one go", async () => {
        glacier.archive([manifestKey, ...dataKeys]);
        const before = glacier.restores().length;
        const { r } = await restoreDb(["--run", old]);
        assert.equal(r.code, EXIT.pending, r.stderr.slice(-3000));
        assert.deepEqual(glacier.restores().slice(before).map((a) => a.key).sort(), [manifestKey, ...dataKeys].sort());
        assert.match(lastLine(r), /\(its manifest too\) is archived: restore requested now for 4 archived object/);
    });

    it("nightly jobs with that old run archived (manifest included): dump, verify and status exit 0", async () => {
        assert.equal(glacier.state(manifestKey), "restoring");
        const d = await cli(["dump", "--config", config, "--json", "--no-archive"]);
        assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
        const v = await cli(["verify", "--config", config, "--no-storage", "--json"]);
        assert.equal(v.code, EXIT.ok, v.stderr.slice(-3000));
        assert.equal(JSON.parse(v.stdout).records[0].result, "passed");
        // --unverified: the second run (never verified) archived too, data and manifest: left out, logged, exit 0
        const second = await rgw.client().send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: dbRunPrefix(ENV, newest) }));
        const secondKeys = [...new Set((second.Versions ?? []).map((x) => x.Key!))];
        glacier.archive(secondKeys);
        const u = await cli(["verify", "--config", config, "--no-storage", "--unverified", "--json"]);
        assert.equal(u.code, EXIT.ok, u.stderr.slice(-3000));
        assert.ok(!JSON.parse(u.stdout).records.some((x: any) => x.runId === newest || x.runId === old), "archived runs are left for verify --run");
        assert.match(u.stderr, new RegExp(`"runId":"${newest}".*archived: not verified tonight`));
        assert.equal(glacier.restores().filter((x) => secondKeys.includes(x.key)).length, 0, "the nightly verify requests no restore");
        const s = await cli(["status", "--config", config, "--no-supabase", "--json"]);
        assert.equal(s.code, EXIT.ok, s.stderr.slice(-3000) + s.stdout.slice(-2000));
        const st = JSON.parse(s.stdout);
        const row = st.db.list.find((x: any) => x.runId === old);
        assert.equal(row.archived, true);
        assert.equal(row.secondary, "archived (restore needed to inspect)");
        const m = JSON.parse(Buffer.from(await (await rgw.client().send(new GetObjectCommand({ Bucket: VAULT, Key: manifestKey }))).Body!.transformToByteArray()).toString("utf8"));
        assert.equal(row.tier, m.tier, "tier from the manifest's tags");
        assert.ok(row.bytes > 0, "size from the version listing");
        assert.equal(st.db.chain.intact, true, JSON.stringify(st.db.chain));
        const human = await cli(["status", "--config", config, "--no-supabase", "--all"]);
        assert.equal(human.code, EXIT.ok);
        assert.match(human.stdout, new RegExp(`${old}.*archived \\(restore needed to inspect\\)`));
        glacier.release(secondKeys);
    });

    it("Azure Archive: verify --run of a run whose Azure copy is archived rehydrates it (Set Blob Tier Cool, Standard priority), exit 8; under way: exit 8, nothing asked again; then it passes", async () => {
        const azEnv = { AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${azProxy.url}/${AZURITE_ACCOUNT};` };
        const d = await cli(["dump", "--config", azConfig, "--json"], azEnv);
        assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
        const out = JSON.parse(d.stdout);
        const m = out.manifest ?? out;
        assert.equal(m.secondary.status, "ok", JSON.stringify(m.secondary));
        const dumpKey = m.secondary.objects.find((o: any) => o.name === "dump").key as string;
        const blob = az.service.getContainerClient("archive").getBlobClient(dumpKey);
        await blob.setAccessTier("Archive");
        // what Azurite answers for a download of an archived blob: 409 BlobArchived
        const e: any = await blob.download().then(() => undefined, (x) => x);
        assert.equal(e?.statusCode, 409);
        assert.equal(e?.code ?? e?.details?.errorCode, "BlobArchived");
        const tierCalls = () => azProxy.requests.filter((q) => q.method === "PUT" && /comp=tier/.test(q.url));
        let r = await cli(["verify", "--config", azConfig, "--run", m.runId, "--no-storage"], azEnv);
        assert.equal(r.code, EXIT.pending, r.stderr.slice(-3000));
        assert.match(lastLine(r), new RegExp(`run ${m.runId} is archived: restore requested now for 1 archived object\\(s\\) \\(dump; tier Standard\\); Archive: Standard priority: up to 15 hours`));
        assert.equal(tierCalls().length, 1);
        assert.equal(tierCalls()[0].headers["x-ms-access-tier"], "Cool");
        assert.equal(tierCalls()[0].headers["x-ms-rehydrate-priority"], "Standard");
        assert.equal((await blob.getProperties()).accessTier, "Cool", "Azurite took the rehydration (at once)");
        azPending.add(dumpKey);
        r = await cli(["verify", "--config", azConfig, "--run", m.runId, "--no-storage"], azEnv);
        assert.equal(r.code, EXIT.pending, r.stderr.slice(-3000));
        assert.match(lastLine(r), /restore already under way for 1 \(dump; nothing requested again\)/);
        assert.equal(tierCalls().length, 1, "no second Set Blob Tier while rehydrating");
        azPending.clear();
        r = await cli(["verify", "--config", azConfig, "--run", m.runId, "--no-storage", "--json"], azEnv);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const rec = JSON.parse(r.stdout).records[0];
        assert.equal(rec.result, "passed");
        assert.ok(rec.checks.find((c: any) => c.name === "secondary").ok);
    });
});
