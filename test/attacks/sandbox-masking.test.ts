// Masking before exposure (docs/security.md "Masking before exposure"), with a real Supabase-shaped
// PostgreSQL 17 source and target server and the vault on RGW, through the real CLI:
//   - a masked restore lands in a stage nobody uses, is masked and proven there, then renamed into the
//     target: queries show no original value of any default rule's column (auth secrets and PII) and
//     of the config's rules is left;
//   - a masking rule that fails midway: the target holds nothing of the dump, the stage is gone;
//   - the same for --tables (stage schema, moved once proven).
// The source drops pg_cron: it only creates itself in cron.database_name, which a stage database is
// not (a restore of it would fail for that reason alone, not the one under test).
import assert from "node:assert/strict";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { EXIT } from "@supabase-backups/contracts";
import { runCli, writeJobConfig } from "../support/cli";
import { clientBin, ensurePg17 } from "../support/pg-versions";
import type { PgServer } from "../support/postgres";
import { startRgw, type RgwServer } from "../support/rgw";
import { startSupabaseCanary, startSupabasePostgres } from "../support/supabase-shape";
import { passwordOutOfArgv } from "../support/target-url";

const VAULT = "vault";

/** The PII and secrets the defaults cover, filled in on the source (GoTrue's columns). */
const SOURCE_SQL = `
drop extension pg_cron cascade;
update auth.users set encrypted_password = '$2a$10$' || md5(id::text), raw_user_meta_data = jsonb_build_object('full_name', 'Name ' || email, 'avatar_url', 'https://img/' || id),
  raw_app_meta_data = jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email'), 'tenant_secret', md5(email)),
  confirmation_token = md5('c' || email), recovery_token = md5('r' || email), phone = '+4917' || lpad((abs(hashtext(id::text)) % 100000000)::text, 8, '0');
`;
const SOURCE_SQL_2 = `
insert into auth.refresh_tokens (token, user_id, revoked, created_at) select md5('rt' || id::text), id::text, false, now() from auth.users;
create table auth.mfa_factors (id uuid primary key default gen_random_uuid(), user_id uuid not null references auth.users(id), friendly_name text, factor_type text not null default 'totp', secret text, phone text);
insert into auth.mfa_factors (user_id, secret) select id, 'JBSWY3DPEHPK3PXP' || substr(md5(id::text), 1, 8) from auth.users;
alter table public.profiles add column email text;
update public.profiles p set email = u.email from auth.users u where u.id = p.id;
`;

/** Each default rule's column whose original values must all be gone: [table, column]. */
const COVERED: Array<[string, string]> = [
    ["auth.users", "email"],
    ["auth.users", "encrypted_password"],
    ["auth.users", "phone"],
    ["auth.users", "confirmation_token"],
    ["auth.users", "recovery_token"],
    ["auth.users", "raw_user_meta_data"],
    ["auth.identities", "identity_data"],
    ["auth.identities", "provider_id"],
    ["auth.refresh_tokens", "token"],
    ["auth.mfa_factors", "secret"],
    ["public.profiles", "email"],
    ["public.profiles", "full_name"],
];

describe("attack: unmasked production data reachable in a masked restore's target", function () {
    this.timeout(300_000);
    let rgw: RgwServer;
    let source: PgServer;
    let target: PgServer;
    let env: Record<string, string | undefined>;
    let runId: string;
    const originals = new Map<string, Set<string>>();
    const cfg = (rules?: unknown[]) =>
        writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.verify.tables = ["auth.users", "public.profiles"];
            if (rules) c.masking = { rules: [...c.masking.rules, ...rules] };
            delete c.alerts.pushgatewayUrl;
            delete c.archive;
        }).path;
    const restore = (config: string, args: string[]) => runCli(...passwordOutOfArgv(["restore", "db", "--config", config, "--run", runId, "--json", "--mask", "--jobs", "2", ...args], env));
    const stages = async () => [
        ...(await target.query("select datname as n from pg_database where datname like '%sbmask%'")).map((x) => x.n),
    ];

    before(async () => {
        ensurePg17();
        [rgw, source, target] = await Promise.all([startRgw(), startSupabasePostgres({ major: 17, users: 12 }), startSupabaseCanary({ major: 17 })]);
        await rgw.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
        await source.query(SOURCE_SQL);
        await source.query(SOURCE_SQL_2);
        for (const [t, col] of COVERED) originals.set(`${t}.${col}`, new Set((await source.query(`select ${col}::text as v from ${t} where ${col} is not null`)).map((x) => x.v)));
        const bin = clientBin(17);
        env = { AWS_ACCESS_KEY_ID: rgw.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.admin.secretAccessKey, AWS_REGION: rgw.region, PATH: `${bin}:${process.env.PATH}`, PG_DUMP: `${bin}/pg_dump`, PG_DUMPALL: `${bin}/pg_dumpall`, AGE_IDENTITY: undefined, SUPABASE_ACCESS_TOKEN: undefined, AZURE_STORAGE_CONNECTION_STRING: undefined, LOG_LEVEL: "warn" };
        const d = await runCli(["dump", "--config", cfg(), "--json", "--no-archive"], { ...env, DATABASE_URL: source.url });
        assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
        runId = JSON.parse(d.stdout).runId ?? JSON.parse(d.stdout).manifest.runId;
    });
    after(async () => {
        await Promise.allSettled([rgw?.stop(), source?.stop(), target?.stop()]);
    });

    it("a masking rule that fails midway: the target holds nothing of the dump, and the stage is dropped", async () => {
        const url = await target.createDatabase("staging_fail");
        // the config's rules run first and succeed; this one fails in the same transaction
        const r = await restore(cfg([{ table: "public.messages", column: "no_such_column", rule: "null" }]), ["--target-url", url]);
        assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
        assert.match(r.stderr, /no_such_column/);
        const tables = await target.query("select count(*)::int as n from pg_tables where schemaname not in ('pg_catalog', 'information_schema')", "staging_fail");
        assert.equal(tables[0].n, 0, "the target received tables of an unproven restore");
        assert.deepEqual(await stages(), [], "the stage database was dropped");
    });

    it("masked, proven, then renamed into the target: no original value of any covered column remains", async () => {
        const url = await target.createDatabase("staging_ok");
        const r = await restore(cfg(), ["--target-url", url]);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const out = JSON.parse(r.stdout);
        assert.ok(out.masking.every((m: any) => m.unmasked === 0), JSON.stringify(out.masking));
        for (const [t, col] of COVERED) {
            const orig = originals.get(`${t}.${col}`)!;
            assert.ok(orig.size > 0, `${t}.${col} had values on the source`);
            const got = (await target.query(`select ${col}::text as v from ${t} where ${col} is not null`, "staging_ok")).map((x) => x.v);
            const left = got.filter((v) => orig.has(v));
            assert.deepEqual(left, [], `${t}.${col}: original values remain`);
        }
        // raw_app_meta_data keeps only provider/providers; the app's secret key is gone
        const meta = await target.query("select distinct raw_app_meta_data::text as m from auth.users", "staging_ok");
        assert.deepEqual(meta.map((x) => x.m), ['{"provider": "email", "providers": ["email"]}']);
        // the row counts still hold, and nothing is left under a stage name
        assert.ok(out.rowCounts.every((x: any) => x.ok), JSON.stringify(out.rowCounts));
        assert.deepEqual(await stages(), []);
    });

    it("--tables: a failing rule leaves no destination schema; a passing one moves the masked tables there", async () => {
        const url = await target.createDatabase("live");
        const bad = await restore(cfg([{ table: "public.profiles", column: "no_such_column", rule: "null" }]), ["--target-url", url, "--tables", "auth.users,public.profiles", "--into-schema", "restored_copy"]);
        assert.equal(bad.code, EXIT.failed, bad.stderr.slice(-2000));
        const schemas = async () => (await target.query("select nspname from pg_namespace where nspname like 'restored_copy' or nspname like 'sbmask%' order by 1", "live")).map((x) => x.nspname);
        assert.deepEqual(await schemas(), [], "nothing unmasked in the target database");
        const ok = await restore(cfg(), ["--target-url", url, "--tables", "auth.users,public.profiles", "--into-schema", "restored_copy"]);
        assert.equal(ok.code, EXIT.ok, ok.stderr.slice(-3000));
        assert.deepEqual(await schemas(), ["restored_copy"]);
        for (const [t, col] of COVERED.filter(([t]) => t === "auth.users" || t === "public.profiles")) {
            const orig = originals.get(`${t}.${col}`)!;
            const got = (await target.query(`select ${col}::text as v from restored_copy.${t.split(".")[1]} where ${col} is not null`, "live")).map((x) => x.v);
            assert.deepEqual(got.filter((v) => orig.has(v)), [], `${t}.${col} in restored_copy`);
        }
    });
});
