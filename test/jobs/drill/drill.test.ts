// `drill` through the real CLI, on runs made by the real `dump` and `sync-storage`: a Supabase-shaped
// PostgreSQL 17 source, the vault on Ceph RGW (Object Lock), a Supabase-image server as the scratch
// server, the Storage REST write side (test/support/storage-api.ts) as the project's Storage, and a real
// Pushgateway. Each kind passes on a good backup and leaves its record; a corrupted dump and a missing
// blob fail, exit non-zero and clean up; a tiny RTO target records missed-target; status shows them.
import assert from "node:assert/strict";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import {
    assertSchema,
    dbObjectKey,
    DrillRecordSchema,
    EXIT,
    METRICS,
    prefixes,
    storageRunManifestKey,
    type AuditRecord,
    type DbManifest,
    type DrillRecord,
    type StorageManifest,
} from "@supabase-backups/contracts";
import { listAudit } from "../../../jobs/src/vault/audit";
import { runCli, writeJobConfig, type CliResult } from "../../support/cli";
import { clientBin, ensurePg17 } from "../../support/pg-versions";
import type { PgServer } from "../../support/postgres";
import { startPushgateway, type Pushgateway } from "../../support/pushgateway";
import { rgwJobEnv, startRgw, type RgwServer } from "../../support/rgw";
import { startStorageApi, type StorageApiServer } from "../../support/storage-api";
import { startSupabaseCanary, startSupabasePostgres } from "../../support/supabase-shape";
import { withObjects } from "../../../jobs/src/vault/object-list";

const VAULT = "vault";
const ENV = "drilltest";
const BAD = "drillbad";
const SERVICE_ROLE_KEY = "service-role-" + "d".repeat(24);
const BUCKET = "user-media";

describe("drill: storage, table and full restore rehearsals on RGW, PostgreSQL 17 (Supabase-shaped) and Storage", function () {
    this.timeout(300_000);
    let rgw: RgwServer;
    let source: PgServer;
    let scratch: PgServer;
    let storage: StorageApiServer;
    let gateway: Pushgateway;
    let env: Record<string, string | undefined>;
    let config: string;
    const configWith = (envName: string, rto = { corruption: 60, fullLoss: 240, storage: 120 }) =>
        writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.env = envName;
            c.supabase.url = storage.url;
            c.storage = { ...c.storage, mode: "rest", concurrency: 4, shards: 1, retries: 1, buckets: [{ name: BUCKET, include: [], exclude: [] }] };
            c.verify.tables = ["auth.users", "public.profiles"];
            c.alerts.pushgatewayUrl = gateway.url;
            c.drills = {
                scratchDatabaseUrl: scratch.url.replace(/:[^:@/]+@/, "@"),
                rtoMinutes: rto,
                storage: { schedule: "0 5 2 * *" },
                table: { schedule: "0 5 3 * *", tables: ["public.profiles"] },
                full: { schedule: "0 4 1 1,4,7,10 *" },
            };
            delete c.archive;
        }).path;
    const drill = (kind: string, cfg = config, extra: Record<string, string | undefined> = {}) => runCli(["drill", "--config", cfg, "--kind", kind, "--json", "--reason", `test ${kind} drill`], { ...env, ...extra });
    const recordOf = (r: CliResult): { key: string; record: DrillRecord } => {
        const out = JSON.parse(r.stdout);
        assertSchema(DrillRecordSchema, out.record, "drill record");
        return out;
    };
    const vaultRecord = async (key: string): Promise<DrillRecord> => JSON.parse(await (await rgw.client().send(new GetObjectCommand({ Bucket: VAULT, Key: key }))).Body!.transformToString());
    const scratchDatabases = async () => (await scratch.query("select datname from pg_database where datname like 'sbd_%'")).map((r: any) => r.datname);
    const restoredBuckets = () => [...storage.buckets.keys()].filter((b) => b.startsWith("restored-"));

    before(async () => {
        ensurePg17();
        [rgw, source, scratch, storage, gateway] = await Promise.all([
            startRgw(),
            startSupabasePostgres({ major: 17 }),
            // pg_cron may only be created in cron.database_name: the full drill's database, as the docs advise
            startSupabaseCanary({ major: 17, cronDatabase: "sbd_full" }),
            startStorageApi({ serviceRoleKey: SERVICE_ROLE_KEY }),
            startPushgateway(),
        ]);
        await rgw.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
        storage.buckets.set(BUCKET, { public: false, objects: new Map() });
        await source.query(`insert into storage.buckets (id, name, public) values ('${BUCKET}', '${BUCKET}', false)`);
        for (let i = 0; i < 6; i++) {
            const bytes = Buffer.from(`drill object ${i}\n`.repeat(40 + i));
            const eTag = `"${createHash("md5").update(bytes).digest("hex")}"`;
            storage.buckets.get(BUCKET)!.objects.set(`docs/${i}.txt`, { bytes, contentType: "text/plain", cacheControl: "max-age=60", metadata: {}, eTag });
            const meta = { eTag, size: bytes.length, mimetype: "text/plain", cacheControl: "max-age=60" };
            await source.query(`insert into storage.objects (bucket_id, name, metadata) values ('${BUCKET}', 'docs/${i}.txt', '${JSON.stringify(meta)}'::jsonb)`);
        }
        config = configWith(ENV);
        const bin = clientBin(17);
        env = {
            ...rgwJobEnv(rgw, bin),
            SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
            SUPABASE_BACKUPS_DRILL_PASSWORD: scratch.password,
            SUPABASE_ACCESS_TOKEN: undefined,
            AGE_IDENTITY: undefined,
            AZURE_STORAGE_CONNECTION_STRING: undefined,
            USER: "drill-test",
        };
        let r = await runCli(["dump", "--config", config, "--json", "--no-archive"], { ...env, DATABASE_URL: source.url });
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        r = await runCli(["sync-storage", "--config", config, "--json"], { ...env, DATABASE_URL: source.url });
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
    });
    after(async () => {
        await Promise.allSettled([rgw?.stop(), source?.stop(), scratch?.stop(), storage?.stop(), gateway?.stop()]);
    });

    it("storage: every bucket restored into restored-*-drill-*, object counts as the manifest says, buckets deleted, record and audit written", async () => {
        const r = await drill("storage");
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const { key, record } = recordOf(r);
        assert.match(key, new RegExp(`^drill/${ENV}/storage/\\d{4}/\\d{2}/\\d{2}/${record.drillId}\\.json$`));
        assert.deepEqual(await vaultRecord(key), record, "the record in the vault is the one printed");
        assert.equal(record.result, "passed");
        assert.equal(record.scenario, "storage");
        assert.deepEqual(record.restored.items, [{ name: BUCKET, expected: 6, restored: 6, ok: true }]);
        assert.match(record.restored.targets[0], /^bucket restored-user-media-drill-\d{14}-[a-z0-9]{6}$/);
        assert.ok(record.rtoSeconds! > 0 && record.rtoSeconds! <= record.rtoTargetSeconds);
        assert.equal(record.rtoTargetSeconds, 120 * 60);
        assert.deepEqual(record.steps.map((s) => s.name), ["choose", `restore ${BUCKET}`, "check", "cleanup"]);
        assert.ok(record.steps.every((s) => s.ok && s.seconds >= 0));
        assert.equal(record.cleanedUp, true);
        assert.deepEqual(restoredBuckets(), [], "the restored bucket is gone");
        assert.ok(storage.requests.some((q) => q.method === "DELETE" && q.path.startsWith("/storage/v1/bucket/restored-") && q.status === 200));
        const audit: AuditRecord[] = await listAudit(rgw.client(), VAULT, ENV);
        const mine = audit.find((a) => a.action === "drill" && a.eventId === record.auditEventId)!;
        assert.equal(mine.result, "succeeded");
        assert.equal(mine.reason, "test storage drill");
        const restore = audit.find((a) => a.action === "restore-storage")!;
        assert.equal(restore.actorClaim, `drill/${record.drillId}`, "the restore it ran is audited as the drill's");
    });

    it("table: public.profiles into a scratch database, row count as the manifest says, database dropped", async () => {
        const r = await drill("table");
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const { record } = recordOf(r);
        assert.equal(record.result, "passed");
        assert.equal(record.scenario, "corruption");
        const [src] = await source.query("select count(*)::int as n from public.profiles");
        assert.deepEqual(record.restored.items.map((i) => [i.name, i.expected, i.restored, i.ok]), [["public.profiles", src.n, src.n, true]]);
        assert.deepEqual(record.steps.map((s) => s.name), ["choose", "tables", "create-database", "restore", "check", "cleanup"]);
        assert.deepEqual(await scratchDatabases(), [], "the scratch database was dropped");
    });

    it("full: the whole dump into a scratch database, every recorded table's rows as the manifest says, database dropped", async () => {
        const r = await drill("full");
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const { record } = recordOf(r);
        assert.equal(record.result, "passed", record.reason ?? "");
        assert.equal(record.scenario, "fullLoss");
        assert.deepEqual(record.restored.items.map((i) => i.name).sort(), ["auth.users", "public.profiles"]);
        assert.ok(record.restored.items.every((i) => i.ok && i.restored === i.expected));
        assert.deepEqual(await scratchDatabases(), []);
    });

    it("a drill slower than its target records missed-target and exits 6", async () => {
        const tiny = configWith(ENV, { corruption: 0.0001, fullLoss: 240, storage: 120 });
        const r = await drill("table", tiny);
        assert.equal(r.code, EXIT.unhealthy, r.stderr.slice(-3000));
        const { record } = recordOf(r);
        assert.equal(record.result, "missed-target");
        assert.match(record.reason!, /restored and checked in .* over the corruption target of/);
        assert.ok(record.restored.items.every((i) => i.ok), "the data itself came back");
        assert.match(r.stderr, /table drill MISSED its RTO target/);
        assert.deepEqual(await scratchDatabases(), []);
    });

    it("metrics per drill kind: result, RTO and target, last success, duration", async () => {
        const text = await gateway.scrape();
        const value = (name: string, drillKind: string) => {
            const line = text.split("\n").find((l) => l.startsWith(name + "{") && l.includes(`drill="${drillKind}"`) && l.includes(`env="${ENV}"`));
            return line === undefined ? undefined : Number(line.split(" ").pop());
        };
        assert.equal(value(METRICS.drillResult, "storage"), 1);
        assert.equal(value(METRICS.drillResult, "full"), 1);
        assert.equal(value(METRICS.drillResult, "table"), 2, "the newest table drill missed its target");
        assert.equal(value(METRICS.drillRtoTargetSeconds, "table"), 0.0001 * 60);
        assert.ok(value(METRICS.drillRtoSeconds, "table")! > 0.006);
        assert.ok(value(METRICS.drillLastSuccessTimestamp, "storage")! > Date.now() / 1000 - 600);
        assert.ok(value(METRICS.drillDurationSeconds, "full")! > 0);
    });

    describe("failures: recorded as failed, exit 1, and cleaned up", () => {
        let bad: string;
        before(async () => {
            // A second env in the same vault whose runs are copies of the good ones with one thing broken:
            // the dump's bytes replaced (the manifest's sha256 no longer matches), and the blobs not there.
            bad = configWith(BAD);
            const s3 = rgw.client();
            const read = async (k: string) => JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: k }))).Body!.transformToString());
            const dbKeys = (await s3.send(new ListObjectsV2Command({ Bucket: VAULT, Prefix: prefixes.db(ENV) }))).Contents!.map((o) => o.Key!);
            const m: DbManifest = await read(dbKeys.find((k) => k.endsWith("/manifest.json"))!);
            const strip = (o: any) => ({ ...o, versionId: undefined, key: o.key.replace(`db/${ENV}/`, `db/${BAD}/`) });
            const copy = { ...m, env: BAD, objects: m.objects.map(strip), previous: null, secondary: m.secondary ? { ...m.secondary, objects: [] } : m.secondary };
            await s3.send(new PutObjectCommand({ Bucket: VAULT, Key: dbObjectKey(BAD, m.runId, "dump"), Body: Buffer.from("not a dump: corrupted in the vault") }));
            await s3.send(new PutObjectCommand({ Bucket: VAULT, Key: dbObjectKey(BAD, m.runId, "manifest.json"), Body: JSON.stringify(copy, null, 2) + "\n" }));
            const sKeys = (await s3.send(new ListObjectsV2Command({ Bucket: VAULT, Prefix: prefixes.storageRuns(ENV) }))).Contents!.map((o) => o.Key!);
            // the entries inline (a version-1 manifest, which readers still take)
            const sm = await withObjects(s3, VAULT, (await read(sKeys.find((k) => k.endsWith("/manifest.json"))!)) as StorageManifest);
            const { objectList: _l, ...smHeader } = sm;
            const scopy = { ...smHeader, schemaVersion: 1, env: BAD, previous: null, objects: sm.objects.map((o: any) => ({ ...o, versionId: undefined, blobKey: o.blobKey.replace(`storage/${ENV}/`, `storage/${BAD}/`) })) };
            await s3.send(new PutObjectCommand({ Bucket: VAULT, Key: storageRunManifestKey(BAD, sm.runId), Body: JSON.stringify(scopy, null, 2) + "\n" }));
        });

        it("a corrupted dump: the restore refuses it, the record says failed at restore, the scratch database is dropped", async () => {
            const r = await drill("full", bad);
            assert.equal(r.code, EXIT.failed, r.stderr.slice(-3000));
            const { record } = recordOf(r);
            assert.equal(record.result, "failed");
            assert.match(record.reason!, /^restore: .*sha256/);
            assert.equal(record.rtoSeconds, null);
            assert.equal(record.cleanedUp, true);
            assert.deepEqual(record.steps.map((s) => [s.name, s.ok]), [["choose", true], ["create-database", true], ["restore", false], ["cleanup", true]]);
            assert.match(r.stderr.trim().split("\n").pop()!, /^supabase-backups drill: full drill FAILED: restore: .*\(record drill\/drillbad\/full\//);
            assert.deepEqual(await scratchDatabases(), [], "dropped after the failure too");
            const audit = (await listAudit(rgw.client(), VAULT, BAD)).find((a) => a.action === "drill")!;
            assert.equal(audit.result, "failed");
        });

        it("a missing blob: the storage restore fails, the record says failed, the restored-* bucket is deleted", async () => {
            const r = await drill("storage", bad);
            assert.equal(r.code, EXIT.failed, r.stderr.slice(-3000));
            const { record } = recordOf(r);
            assert.equal(record.result, "failed");
            assert.match(record.reason!, new RegExp(`^restore ${BUCKET}: `));
            assert.equal(record.cleanedUp, true);
            assert.deepEqual(restoredBuckets(), [], "the half-restored bucket is gone");
        });

        it("status names the failed drills as problems (exit 6)", async () => {
            const r = await runCli(["status", "--config", bad, "--json", "--no-supabase"], env);
            assert.equal(r.code, EXIT.unhealthy);
            const problems: string[] = JSON.parse(r.stdout).problems;
            assert.ok(problems.some((p) => /the newest full drill \(.*\) FAILED: restore:/.test(p)), JSON.stringify(problems));
            assert.ok(problems.some((p) => /the newest storage drill \(.*\) FAILED: restore user-media:/.test(p)), JSON.stringify(problems));
            // a drill that has not run yet is no problem for status (DrillLate alerts after its period + grace)
            assert.ok(!problems.some((p) => /table drill/.test(p)), JSON.stringify(problems));
        });
    });

    it("status shows the newest drill of each kind: when, result, RTO against the target", async () => {
        const r = await runCli(["status", "--config", config, "--json", "--no-supabase"], env);
        const report = JSON.parse(r.stdout);
        const byKind = Object.fromEntries(report.drills.map((d: any) => [d.kind, d]));
        assert.equal(byKind.storage.last.result, "passed");
        assert.equal(byKind.full.last.result, "passed");
        assert.equal(byKind.table.last.result, "missed-target");
        assert.equal(byKind.table.last.rtoTargetSeconds, 0.0001 * 60);
        const human = await runCli(["status", "--config", config, "--no-supabase"], env);
        assert.match(human.stdout, /Restore drills \(newest of each kind\):/);
        assert.match(human.stdout, /table\s+corruption\s+\S+ \(.* ago\)\s+MISSED-TARGET\s+\d+\.\d min \/ 0\.0 min\s+yes/);
    });
});
