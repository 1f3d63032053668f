// The nightly cycle as the users run it: a Supabase-shaped source (reserved roles, managed schemas,
// pg_graphql, supabase_vault, pg_net, pg_cron, pgjwt, …) on PostgreSQL 15 and on 17, the job image's
// defaults (client tools 17; a canary that is Supabase's image at the source's version — here a server
// of the source's major with the same extensions), and the vault on Ceph RGW with Object Lock.
// dump → sync-storage → verify (a plain canary: refused with one line; the matching canary: passed) →
// restore db, through the real CLI.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CreateBucketCommand, GetObjectRetentionCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { EXIT, prefixes, type VerifyRecord } from "@supabase-backups/contracts";
import { runCli, writeJobConfig, type CliResult } from "../../support/cli";
import { clientBin, ensurePg17, MAJORS } from "../../support/pg-versions";
import type { PgServer } from "../../support/postgres";
import { rgwJobEnv, startRgw, type RgwServer } from "../../support/rgw";
import { S3_TEST_CREDENTIALS, startS3rver, type S3Server } from "../../support/s3rver";
import { startStorageRest, type StorageRestServer } from "../../support/storage-rest";
import { startPlainCanary, startSupabaseCanary, startSupabasePostgres, SUPABASE_EXTENSIONS } from "../../support/supabase-shape";
import { passwordOutOfArgv } from "../../support/target-url";

const VAULT = "vault";
const SERVICE_ROLE_KEY = "service-role-" + "c".repeat(24);

const lastLine = (r: CliResult) => r.stderr.trim().split("\n").filter((l) => l.startsWith("supabase-backups")).pop() ?? "";

for (const major of MAJORS) {
    describe(`cycle: Supabase-shaped PostgreSQL ${major} source, vault on RGW with Object Lock`, function () {
        this.timeout(240_000);
        let rgw: RgwServer;
        let source: PgServer;
        let plain: PgServer;
        let matching: PgServer;
        let storage: S3Server;
        let rest: StorageRestServer;
        let config: string;
        let env: Record<string, string | undefined>;
        let runId: string;

        before(async () => {
            ensurePg17();
            [rgw, source, plain, matching, storage] = await Promise.all([
                startRgw(),
                startSupabasePostgres({ major }),
                startPlainCanary({ major }),
                startSupabaseCanary({ major }),
                startS3rver(),
            ]);
            await rgw.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
            rest = await startStorageRest({ serviceRoleKey: SERVICE_ROLE_KEY, backend: { s3: storage.client } });
            await storage.createBucket("user-media");
            await source.query(`insert into storage.buckets (id, name, public) values ('user-media', 'user-media', false)`);
            for (let i = 0; i < 5; i++) {
                const body = Buffer.from(`object ${i} of PostgreSQL ${major}\n`.repeat(50 + i));
                await storage.client.send(new PutObjectCommand({ Bucket: "user-media", Key: `avatars/${i}.txt`, Body: body, ContentType: "text/plain" }));
                const meta = { eTag: `"${createHash("md5").update(body).digest("hex")}"`, size: body.length, mimetype: "text/plain", cacheControl: "max-age=3600" };
                await source.query(`insert into storage.objects (bucket_id, name, metadata) values ('user-media', 'avatars/${i}.txt', '${JSON.stringify(meta)}'::jsonb)`);
            }
            config = writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
                c.supabase.url = rest.url;
                c.storage = { ...c.storage, mode: "rest", concurrency: 4, shards: 1, retries: 1, buckets: [{ name: "user-media", include: [], exclude: [] }] };
                c.verify.tables = ["auth.users", "public.profiles"];
                delete c.alerts.pushgatewayUrl;
                delete c.archive;
            }).path;
            const bin = clientBin(17); // the job image's client tools, whatever the source's major
            env = {
                ...rgwJobEnv(rgw, bin),
                SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
                SUPABASE_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
                SUPABASE_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
                SUPABASE_ACCESS_TOKEN: undefined,
                AGE_IDENTITY: undefined,
                AZURE_STORAGE_CONNECTION_STRING: undefined,
                JOB_COMPLETION_INDEX: undefined,
                JOB_COMPLETIONS: undefined,
            };
        });
        after(async () => {
            await Promise.allSettled([rest?.stop()]);
            await Promise.allSettled([rgw?.stop(), source?.stop(), plain?.stop(), matching?.stop(), storage?.stop()]);
        });

        const verifyRecords = async () => (await rgw.client().send(new ListObjectsV2Command({ Bucket: VAULT, Prefix: prefixes.verify("test") }))).Contents ?? [];

        it("dump: the source's extensions in the manifest, every object locked by RGW until retain-until", async () => {
            const r = await runCli(["dump", "--config", config, "--json", "--no-archive"], { ...env, DATABASE_URL: source.url });
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const out = JSON.parse(r.stdout);
            runId = out.runId ?? out.manifest.runId;
            const manifest = out.manifest ?? out;
            assert.ok(manifest.pgDumpVersion.startsWith("17."), `pg_dump 17 (the image's), got ${manifest.pgDumpVersion}`);
            assert.match(manifest.source.serverVersion, new RegExp(`^${major}\\.`));
            for (const e of SUPABASE_EXTENSIONS(major)) assert.ok(manifest.snapshot.extensions.includes(e), `${e} recorded`);
            for (const o of manifest.objects) {
                const ret = await rgw.client().send(new GetObjectRetentionCommand({ Bucket: VAULT, Key: o.key }));
                assert.equal(ret.Retention?.Mode, "COMPLIANCE", o.key);
                assert.equal(ret.Retention?.RetainUntilDate?.toISOString(), new Date(manifest.retainUntil).toISOString(), o.key);
            }
        });

        it("sync-storage: the bucket's objects into RGW, content-addressed and locked", async () => {
            const r = await runCli(["sync-storage", "--config", config, "--json"], { ...env, DATABASE_URL: source.url });
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const blobs = (await rgw.client().send(new ListObjectsV2Command({ Bucket: VAULT, Prefix: `${prefixes.storage("test")}blobs/` }))).Contents ?? [];
            assert.equal(blobs.length, 5);
            const ret = await rgw.client().send(new GetObjectRetentionCommand({ Bucket: VAULT, Key: blobs[0].Key! }));
            assert.equal(ret.Retention?.Mode, "COMPLIANCE");
        });

        it("verify on a plain canary of the same major: refuses to judge in one line naming the missing extensions, writes no record", async () => {
            const r = await runCli(["verify", "--config", config, "--json", "--run", runId, "--no-storage"], { ...env, CANARY_DATABASE_URL: plain.url });
            assert.equal(r.code, EXIT.failed, r.stderr.slice(-3000));
            const line = lastLine(r);
            assert.match(line, /the canary server lacks the source's extensions .*: cannot judge this backup/);
            for (const e of ["pg_graphql", "supabase_vault", "pg_net", "pg_cron", "pgjwt"]) assert.ok(line.includes(e), `${e} named: ${line}`);
            assert.doesNotMatch(line, /pgcrypto|uuid-ossp|pg_stat_statements/, "extensions the canary has are not named");
            assert.equal((await verifyRecords()).length, 0, "no verification record: nothing was judged");
        });

        it("verify on the matching canary: passes, and the record says what was left out and why", async () => {
            const r = await runCli(["verify", "--config", config, "--json", "--run", runId], { ...env, CANARY_DATABASE_URL: matching.url });
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const record: VerifyRecord = JSON.parse(r.stdout).records[0];
            assert.equal(record.result, "passed", JSON.stringify(record.checks.filter((c) => !c.ok)));
            const restore = record.checks.find((c) => c.name === "restore")!;
            assert.match(restore.detail, /EXTENSION pg_cron/, "pg_cron left out: the canary refuses it outside cron.database_name");
            assert.match(restore.detail, /graphql_public FUNCTION graphql/, "the grants on pg_graphql's event-trigger function left out");
            if (major === 15) assert.match(restore.detail, /set apart \d+× the known-harmless .*transaction_timeout/, "pg_restore 17 into 15");
            else assert.doesNotMatch(restore.detail, /transaction_timeout/);
            const ext = record.checks.find((c) => c.name === "extensions")!;
            assert.match(ext.detail, /pg_cron left out of the restore/);
            assert.ok(record.checks.find((c) => c.name === "row-counts")!.ok);
            assert.equal((await verifyRecords()).length, 1);
        });

        it("restore db into an existing Supabase project (managed schemas present): roles, schema without the managed schemas, data — no error, exact counts", async () => {
            const target = await startSupabasePostgres({ major, seed: "image" });
            try {
                const before = await target.query("select count(*)::int as n from pg_namespace where nspname in ('auth', 'storage', 'vault', 'graphql', 'extensions')");
                assert.equal(before[0].n, 5, "the project's managed schemas exist before the restore");
                const r = await runCli(...passwordOutOfArgv(["restore", "db", "--config", config, "--run", runId, "--target-url", target.url, "--json"], env));
                assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
                const out = JSON.parse(r.stdout);
                assert.match(out.mode, /into a Supabase project/);
                assert.equal(out.pgRestoreErrorCount, 0, JSON.stringify(out.pgRestoreErrors));
                assert.ok(out.rowCounts.length >= 2 && out.rowCounts.every((c: any) => c.ok), JSON.stringify(out.rowCounts));
                const [src] = await source.query("select count(*)::int as n from public.profiles");
                const [dst] = await target.query("select count(*)::int as n from public.profiles");
                assert.equal(dst.n, src.n);
                const [users] = await target.query("select count(*)::int as n from auth.users");
                const [srcUsers] = await source.query("select count(*)::int as n from auth.users");
                assert.equal(users.n, srcUsers.n, "auth data moves with the project");
                const [owner] = await target.query("select pg_get_userbyid(nspowner) as o from pg_namespace where nspname = 'auth'");
                assert.equal(owner.o, "supabase_admin", "managed schemas keep their owner");
            } finally {
                await target.stop();
            }
        });
    });
}
