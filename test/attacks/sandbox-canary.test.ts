// Attack: the source database carries code that runs when the backup is restored — a CHECK constraint,
// an index expression and a SECURITY DEFINER function owned by Supabase's superuser role, each calling
// `COPY … TO PROGRAM` only when it runs in a canary database (sbv_…), so the source itself is quiet.
// verify restores into a real canary (Supabase-shaped, 15 and 17) as the canary database's NOSUPERUSER
// owner with --no-owner: every payload must fail with "permission denied", no file may appear, and the
// verification record must say the restore failed and why. A restore as superuser again (or with the
// owners kept) runs the programs and this test fails on the files.
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { EXIT, type VerifyRecord } from "@supabase-backups/contracts";
import { runCli, writeJobConfig } from "../support/cli";
import { clientBin, ensurePg17, MAJORS } from "../support/pg-versions";
import type { PgServer } from "../support/postgres";
import { rgwJobEnv, startRgw, type RgwServer } from "../support/rgw";
import { startSupabaseCanary, startSupabasePostgres } from "../support/supabase-shape";

const VAULT = "vault";
const MARK = `sb-pwned-${randomBytes(4).toString("hex")}`;

/** Each payload touches /tmp/<MARK>-<variant>-<database> — only inside a canary database. */
function hostileSql(): string {
    const payload = (variant: string) => `
    if current_database() like 'sbv\\_%' then
      execute format('copy (select 1) to program %L', 'touch /tmp/${MARK}-${variant}-' || current_database());
    end if;`;
    return `
create function public.pwn_check(v int) returns boolean language plpgsql as $$ begin ${payload("check")} return true; end $$;
-- an index expression needs an IMMUTABLE function, which may not run COPY itself: it calls a volatile one
create function public.pwn_volatile(v int) returns int language plpgsql as $$ begin ${payload("index")} return v; end $$;
create function public.pwn_index(v int) returns int language plpgsql immutable as $$ begin return public.pwn_volatile(v); end $$;
create function public.pwn_definer(v int) returns boolean language plpgsql security definer as $$ begin ${payload("definer")} return true; end $$;
alter function public.pwn_definer(int) owner to supabase_admin;
create table public.hostile_check (v int check (public.pwn_check(v)));
create table public.hostile_index (v int);
create index hostile_index_expr on public.hostile_index (public.pwn_index(v));
create table public.hostile_definer (v int check (public.pwn_definer(v)));
insert into public.hostile_check values (1);
insert into public.hostile_index values (1);
insert into public.hostile_definer values (1);`;
}

const pwned = () => readdirSync("/tmp").filter((f) => f.startsWith(MARK));

describe("attack: hostile code in the source runs in the canary restore (verify)", function () {
    this.timeout(300_000);
    let rgw: RgwServer;
    before(async () => {
        ensurePg17();
        rgw = await startRgw();
        await rgw.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
    });
    after(async () => {
        for (const f of pwned()) rmSync(`/tmp/${f}`, { force: true });
        await rgw?.stop();
    });

    for (const major of MAJORS) {
        describe(`PostgreSQL ${major}`, () => {
            let source: PgServer;
            let canary: PgServer;
            let config: string;
            let env: Record<string, string | undefined>;
            before(async () => {
                [source, canary] = await Promise.all([startSupabasePostgres({ major, users: 5 }), startSupabaseCanary({ major })]);
                await source.query(hostileSql());
                config = writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
                    c.env = `atk${major}`;
                    c.verify.tables = ["public.hostile_check", "public.profiles"];
                    delete c.alerts.pushgatewayUrl;
                    delete c.archive;
                }).path;
                const bin = clientBin(17);
                env = {
                    ...rgwJobEnv(rgw, bin),
                    SUPABASE_ACCESS_TOKEN: undefined,
                    AGE_IDENTITY: undefined,
                    AZURE_STORAGE_CONNECTION_STRING: undefined,
                };
            });
            after(async () => {
                await Promise.allSettled([source?.stop(), canary?.stop()]);
            });

            it("an index expression's payload fails too (post-data, parallel restore from the spool)", async () => {
                await source.query("create database hostile_index");
                await source.query(hostileSql().replace(/^(create table public.hostile_check|create table public.hostile_definer|insert into public.hostile_check|insert into public.hostile_definer|alter function).*$/gm, ""), "hostile_index");
                const cfg = writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
                    c.env = `atkidx${major}`;
                    c.verify.tables = ["public.hostile_index"];
                    delete c.alerts.pushgatewayUrl;
                    delete c.archive;
                }).path;
                const d = await runCli(["dump", "--config", cfg, "--json", "--no-archive"], { ...env, DATABASE_URL: source.urlFor("hostile_index") });
                assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
                const runId = JSON.parse(d.stdout).runId ?? JSON.parse(d.stdout).manifest.runId;
                const v = await runCli(["verify", "--config", cfg, "--json", "--run", runId, "--no-storage"], { ...env, CANARY_DATABASE_URL: canary.url });
                assert.deepEqual(pwned(), [], "the index expression's payload ran in the canary");
                assert.equal(v.code, EXIT.verifyFailed, v.stderr.slice(-3000));
                const restore = (JSON.parse(v.stdout).records[0] as VerifyRecord).checks.find((c) => c.name === "restore")!;
                assert.match(restore.detail, /pg_restore failed \(1 error\): .*(permission denied|must be superuser).* to COPY to or from an external program/, restore.detail);
            });

            it("the payloads fail as the NOSUPERUSER owner: no program ran, the record names the refusal", async () => {
                assert.deepEqual(pwned(), [], "the source itself never ran a payload");
                const d = await runCli(["dump", "--config", config, "--json", "--no-archive"], { ...env, DATABASE_URL: source.url });
                assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
                const runId = JSON.parse(d.stdout).runId ?? JSON.parse(d.stdout).manifest.runId;
                const v = await runCli(["verify", "--config", config, "--json", "--run", runId, "--no-storage"], { ...env, CANARY_DATABASE_URL: canary.url });
                assert.deepEqual(pwned(), [], "a payload ran in the canary: the restore had a superuser's rights");
                assert.equal(v.code, EXIT.verifyFailed, v.stderr.slice(-3000));
                const record: VerifyRecord = JSON.parse(v.stdout).records[0];
                assert.equal(record.result, "failed");
                const restore = record.checks.find((c) => c.name === "restore")!;
                assert.equal(restore.ok, false);
                // both data-time payloads refused (a normal Supabase-shaped restore has no error at all: the
                // cycle test); the index is post-data, which a failed data phase never reaches (next test)
                assert.match(restore.detail, /pg_restore failed \(2 errors\): COPY failed for table "hostile_check": .*(permission denied|must be superuser).* to COPY to or from an external program/, restore.detail);
                // nothing of the canary is left behind: no database, no owner role
                const left = await canary.query(`select (select count(*) from pg_database where datname like 'sbv\\_%')::int as dbs, (select count(*) from pg_roles where rolname like 'sbv\\_%')::int as roles`);
                assert.deepEqual(left[0], { dbs: 0, roles: 0 });
            });
        });
    }
});
