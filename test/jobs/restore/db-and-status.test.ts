// `restore db` and `status` through the real CLI, on runs made by the real `dump`, `sync-storage` and
// `verify`: PostgreSQL 15 as the source (Supabase-like schema, RLS, roles), a second PostgreSQL as the
// restore target (no Supabase roles on it), s3rver as the vault.
import assert from "node:assert/strict";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { assertSchema, AuditRecordSchema, dbObjectKey, parseJobConfig, readStackFile, StackConfigSchema, validateStackConfig, type AuditRecord, type DbManifest } from "@supabase-backups/contracts";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yaml from "js-yaml";
import { Client } from "pg";
import { listAudit } from "../../../jobs/src/vault/audit";
import { runCli, type CliResult } from "../../support/cli";
import { startPostgres, type PgServer } from "../../support/postgres";
import { addSeedData } from "../../support/seed";
import { startFakeSupabaseApi, type FakeSupabaseApi } from "../../support/supabase-api";
import { SERVICE_ROLE_KEY, StorageHarness, VAULT_BUCKET, bytesOf, parseJsonLine } from "../../support/sync-storage-harness";
import { passwordOutOfArgv } from "../../support/target-url";

const ENV = "opdb";
const PROD = "prod";
const TABLES = ["auth.users", "public.profiles", "public.sessions", "public.entitlements", "public.messages"];
const ALL = [...TABLES, "public.app_version", "supabase_migrations.schema_migrations"];

describe("operator: restore db and status (real dump, verify, sync-storage)", function () {
    this.timeout(180_000);
    const h = new StorageHarness();
    let target: PgServer;
    let api: FakeSupabaseApi;
    let cfg: string;
    let prodCfg: string;
    const runs: string[] = []; // A, B (plain), C (encrypted)
    let prodRun: string;
    let identity: string;
    let sourceSums: Map<string, { count: number; md5: string }>;

    const env = (extra: Record<string, string | undefined> = {}) => h.env({ USER: "oncall-ana", AGE_IDENTITY: identity, SUPABASE_ACCESS_TOKEN: undefined, ...extra });
    const restore = (args: string[], extra: Record<string, string | undefined> = {}, config = cfg) => runCli(...(passwordOutOfArgv(["restore", "db", "--config", config, ...args], env(extra))));
    const status = (args: string[] = [], extra: Record<string, string | undefined> = {}, config = cfg) => runCli(["status", "--config", config, ...args], env(extra));
    const json = (r: CliResult) => JSON.parse(r.stdout);
    const audits = async (e = ENV): Promise<AuditRecord[]> => {
        const recs = await listAudit(h.vault.client, VAULT_BUCKET, e);
        for (const r of recs) assertSchema(AuditRecordSchema, r, "audit record");
        return recs;
    };

    async function sums(url: string, schemaFor: (t: string) => string = (t) => t): Promise<Map<string, { count: number; md5: string }>> {
        const c = new Client({ connectionString: url });
        await c.connect();
        try {
            const out = new Map<string, { count: number; md5: string }>();
            for (const t of ALL) {
                const r = await c.query(`select count(*)::int as n, md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) as h from ${schemaFor(t)} x`);
                out.set(t, { count: r.rows[0].n, md5: r.rows[0].h });
            }
            return out;
        } finally {
            await c.end();
        }
    }
    async function dump(config: string, args: string[] = []): Promise<string> {
        const r = await runCli(["dump", "--config", config, "--json", "--no-archive", ...args], h.env());
        assert.equal(r.code, 0, `dump failed: ${r.stderr.slice(-2000)}`);
        return parseJsonLine(r.stdout).manifest.runId;
    }
    async function getVault(key: string): Promise<Buffer> {
        const r = await h.vault.client.send(new GetObjectCommand({ Bucket: VAULT_BUCKET, Key: key }));
        return Buffer.from(await r.Body!.transformToByteArray());
    }
    async function userTables(url: string): Promise<number> {
        const c = new Client({ connectionString: url });
        await c.connect();
        try {
            return (await c.query(`select count(*)::int n from pg_tables where schemaname not in ('pg_catalog','information_schema')`)).rows[0].n;
        } finally {
            await c.end();
        }
    }

    before(async function () {
        this.timeout(300_000);
        [target, api] = await Promise.all([startPostgres(), startFakeSupabaseApi(), h.start()]).then(([t, a]) => [t, a] as [PgServer, FakeSupabaseApi]);
        const c = new Client({ connectionString: h.pg.url });
        await c.connect();
        await addSeedData(c, { users: 150, messagesPerUser: 3, sessionsPerUser: 2, payloadBytes: 32 });
        await c.end();
        const age = await import("age-encryption");
        identity = await age.generateIdentity();
        const mut = (c: any) => {
            c.verify.tables = TABLES;
            c.supabase.apiUrl = api.url;
        };
        cfg = h.config(ENV, mut);
        prodCfg = h.config(PROD, mut);
        sourceSums = await sums(h.pg.url);
        for (let i = 0; i < 30; i++) await h.put("user-media", `u/${i}.bin`, bytesOf(`o${i}`, 500 + i));
        const s = await h.sync(cfg);
        assert.equal(s.code, 0, s.stderr.slice(-2000));
        runs.push(await dump(cfg));
        runs.push(await dump(cfg));
        runs.push(await dump(cfg, ["--age-recipient", await age.identityToRecipient(identity)]));
        prodRun = await dump(prodCfg);
        // Run A verified by the real verify job (the target server plays the canary).
        const v = await runCli(["verify", "--config", cfg, "--json", "--run", runs[0]], { ...h.env(), CANARY_DATABASE_URL: target.url, DATABASE_URL: undefined });
        assert.equal(v.code, 0, `verify failed: ${v.stderr.slice(-2000)}`);
    });
    after(async () => {
        await Promise.allSettled([target?.stop(), api?.stop(), h.stop()]);
    });

    it("status draws the run timeline from the vault: one mark per run, the tiers, RPO and RTO, in 80 columns and in --json", async () => {
        const j = await status(["--json", "--no-supabase", "--days", "3"]);
        assert.equal(j.code, 0, j.stderr.slice(-2000));
        const t = json(j).timeline;
        assert.equal(t.days.length, 3);
        const runsOf = (kind: string) => t.rows.find((r: any) => r.kind === kind).cells.flat().filter((r: any) => r.mark !== "missing");
        // run A verified by the real verify, B and C complete; the other env's run is not here
        assert.deepEqual(runsOf("dump").map((r: any) => [r.runId, r.mark]), [[runs[0], "verified"], [runs[1], "complete"], [runs[2], "complete"]]);
        assert.deepEqual(runsOf("sync-storage").map((r: any) => r.mark), ["complete"]);
        assert.deepEqual(runsOf("verify").map((r: any) => [r.runId, r.mark]), [[runs[0], "verified"]]);
        const rto = json(j).rto;
        assert.equal(rto.runId, runs[0]);
        // the job config has drills: their full-loss target (240 min) is the one a full restore is held to
        assert.ok(rto.restoreSeconds > 0 && rto.bytes > 0 && rto.targetMinutes === 240 && rto.met === true, JSON.stringify(rto));
        const r = await status(["--timeline", "--no-supabase", "--days", "3"]);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trimEnd().split("\n");
        for (const line of lines) assert.ok([...line].length <= 80, line);
        assert.ok(lines.some((l) => /^dump {10}.*✔●●/.test(l)), r.stdout);
        const tiers = json(j).db.tiers.map((x: any) => `${x.tier} ${x.runs} until ${x.retainUntil.slice(0, 10)}`).join(", ");
        const flat = r.stdout.replace(/\n {14}/g, " "); // wrapped lines joined
        assert.ok(flat.includes(`\ntiers held    ${tiers}`), r.stdout);
        assert.ok(lines.some((l) => /^ +(Nov|Dec|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct)( |$)/.test(l)), "a month line");
        assert.match(flat, /^RPO {11}newest complete dump \d+ s ago; target \d+ h: met$/m);
        assert.match(flat, /^RTO {11}canary restore of [\d.]+ KiB: [\d.]+ s \([\d.]+ s\/GB\); target 240 min: met$/m);
        assert.match(r.stdout, /STATUS: HEALTHY\n$/);
        assert.doesNotMatch(r.stdout, /Database runs/, "--timeline prints only the picture");
    });

    it("full restore equals the source: row counts and per-table content checksums; audit record", async () => {
        const url = await target.createDatabase("full1");
        const r = await restore(["--run", runs[1], "--target-url", url, "--json", "--reason", "drill"]);
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        const out = json(r);
        assert.equal(out.runId, runs[1]);
        assert.equal(out.mode, "full");
        assert.ok(out.rowCounts.length >= TABLES.length && out.rowCounts.every((x: any) => x.ok), JSON.stringify(out.rowCounts));
        assert.deepEqual(await sums(url), sourceSums);
        // roles the dump grants to were created on the target (NOLOGIN), RLS came along
        assert.deepEqual((await target.query("select rolname from pg_roles where rolname in ('anon','authenticated','service_role') order by 1")).map((x) => x.rolname), ["anon", "authenticated", "service_role"]);
        assert.equal((await target.query("select relrowsecurity from pg_class where oid = 'public.profiles'::regclass", "full1"))[0].relrowsecurity, true);
        // the password of the target URL is nowhere
        assert.ok(!r.stdout.includes(target.password) && !r.stderr.includes(target.password));
        const a = (await audits()).at(-1)!;
        assert.equal(a.action, "restore-db");
        assert.equal(a.runId, runs[1]);
        assert.equal(a.result, "succeeded");
        // the actor is the caller's identity (s3rver has no STS: its access key), --actor a claim beside it
        assert.match(a.actor, /^access-key:/);
        assert.equal(a.actorClaim, "oncall-ana");
        assert.equal(a.reason, "drill");
        assert.ok(!a.target.includes(target.password) && a.target.includes("***"), a.target);
        assert.ok(a.durations.downloadSeconds >= 0 && a.durations.restoreSeconds > 0);
    });

    it("restore config: the stack file run A was made with, every secret by name only; --out never overwrites", async () => {
        const r = await runCli(["restore", "config", "--config", cfg, "--run", runs[0]], env());
        assert.equal(r.code, 0, r.stderr);
        // the run recorded the config as the job saw it: the file with its defaults filled in
        const job = JSON.parse(JSON.stringify(parseJobConfig(JSON.parse(readFileSync(cfg, "utf8")), cfg)));
        const doc = yaml.load(r.stdout) as { config: Record<string, unknown> };
        for (const key of Object.keys(StackConfigSchema.properties)) assert.deepEqual(doc.config[`supabase-backups:${key}`], job[key], key);
        assert.equal(doc.config["aws:region"], job.vault.region);
        for (const name of ["databaseUrl", "serviceRoleKey", "managementApiToken"]) assert.match(r.stdout, new RegExp(`pulumi config set --secret supabase-backups:${name} … --stack ${ENV}`));
        assert.doesNotMatch(r.stdout, /ageIdentity/, "run A is not encrypted: no age identity to set");
        for (const secret of [new URL(h.pg.url).password, SERVICE_ROLE_KEY]) assert.ok(!r.stdout.includes(secret), "a secret value in the output");
        // The encrypted run C also needed the age identity.
        const c = await runCli(["restore", "config", "--config", cfg, "--run", runs[2], "--json"], env());
        assert.equal(c.code, 0, c.stderr);
        assert.deepEqual(JSON.parse(c.stdout).config.secrets.map((x: { name: string }) => x.name), ["databaseUrl", "serviceRoleKey", "managementApiToken", "ageIdentity", "drillScratchPassword"]);
        const file = join(mkdtempSync(join(tmpdir(), "restore-config-")), `Pulumi.${ENV}.yaml`);
        assert.equal((await runCli(["restore", "config", "--config", cfg, "--at", "now", "--out", file], env())).code, 0);
        // The written file is a stack file the program accepts, with the run's config (secrets set later).
        const rebuilt = readStackFile(file, { placeholderSecrets: true });
        const v = validateStackConfig(rebuilt);
        assert.ok(v.ok, JSON.stringify(!v.ok && v.issues));
        const { vault: _vault, ...stackPart } = job;
        assert.deepEqual(JSON.parse(JSON.stringify(v.config.config)), stackPart);
        const again = await runCli(["restore", "config", "--config", cfg, "--at", "now", "--out", file], env());
        assert.equal(again.code, 2);
        assert.match(again.stderr, /exists; restore config never overwrites a file/);
    });

    it("refuses a target that already holds user tables; --clean --yes restores over it", async () => {
        const url = target.urlFor("full1");
        let r = await restore(["--run", runs[1], "--target-url", url]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /the target already holds \d+ user table\(s\) \(.*\): refusing to restore over them/);
        assert.equal((await audits()).at(-1)!.result, "refused");
        r = await restore(["--run", runs[1], "--target-url", url, "--clean"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--clean drops objects in the target: add --yes/);
        r = await restore(["--run", runs[1], "--target-url", url, "--clean", "--yes", "--json"]);
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        assert.deepEqual(await sums(url), sourceSums);
    });

    it("--at prefers the verified run, and says so", async () => {
        const url = await target.createDatabase("at1");
        const r = await restore(["--at", "now", "--target-url", url, "--json"]);
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        const out = json(r);
        assert.equal(out.runId, runs[0]);
        assert.equal(out.verified, true);
        assert.match(out.choice, new RegExp(`preferring verified run ${runs[0]} .* over newer unverified run\\(s\\) ${runs[1]}, ${runs[2]}`));
        // before the first run: nothing to restore
        const r2 = await restore(["--at", "2020-01-01T00:00:00Z", "--target-url", url]);
        assert.equal(r2.code, 1);
        assert.match(r2.stderr, /no complete database run at or before 2020-01-01T00:00:00\.000Z \(the oldest is /);
    });

    it("encrypted run: needs AGE_IDENTITY, then decrypts and restores", async () => {
        const url = await target.createDatabase("enc1");
        let r = await restore(["--run", runs[2], "--target-url", url], { AGE_IDENTITY: undefined });
        assert.equal(r.code, 2);
        assert.match(r.stderr, /is encrypted to age1\w+: set AGE_IDENTITY/);
        r = await restore(["--run", runs[2], "--target-url", url, "--json"]);
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        assert.deepEqual(await sums(url), sourceSums);
    });

    it("a corrupted dump is refused before the target is touched", async () => {
        const url = await target.createDatabase("corrupt1");
        const key = dbObjectKey(ENV, runs[1], "dump");
        const original = await getVault(key);
        const bad = Buffer.from(original);
        bad[Math.floor(bad.length / 2)] ^= 0xff;
        await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: key, Body: bad }));
        try {
            const r = await restore(["--run", runs[1], "--target-url", url]);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /the dump of .* does not match its manifest .*not restoring it/);
            assert.equal(await userTables(url), 0);
            assert.equal((await audits()).at(-1)!.result, "failed");
        } finally {
            await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: key, Body: original }));
        }
    });

    it("accidental row deletion: one table into a separate schema of the live database, rows copied back", async () => {
        const live = h.pg.url;
        await h.pg.query("delete from public.profiles where id in (select id from public.profiles order by id limit 7)");
        const expected = sourceSums.get("public.profiles")!.count;
        assert.equal((await h.pg.query("select count(*)::int n from public.profiles"))[0].n, expected - 7);

        const r = await restore(["--run", runs[1], "--target-url", live, "--tables", "public.profiles", "--into-schema", "restored_inc42", "--json"]);
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        const out = json(r);
        assert.deepEqual(out.rowCounts, [{ table: "public.profiles", restoredAs: "restored_inc42.profiles", expected, restored: expected, ok: true }]);
        // the live table is untouched; the restored copy is whole
        assert.equal((await h.pg.query("select count(*)::int n from public.profiles"))[0].n, expected - 7);
        await h.pg.query("insert into public.profiles select r.* from restored_inc42.profiles r where not exists (select 1 from public.profiles p where p.id = r.id)");
        assert.deepEqual((await sums(live)).get("public.profiles"), sourceSums.get("public.profiles"));

        // again into the same schema: refused, nothing overwritten
        const again = await restore(["--run", runs[1], "--target-url", live, "--tables", "public.profiles", "--into-schema", "restored_inc42"]);
        assert.equal(again.code, 2);
        assert.match(again.stderr, /restored_inc42\.profiles already exists in the target: refusing to overwrite it/);
        // bad flags
        const bad = await restore(["--run", runs[1], "--target-url", live, "--into-schema", "x"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /--into-schema needs --tables/);
        const missing = await restore(["--run", runs[1], "--target-url", live, "--tables", "public.nope", "--into-schema", "restored_x"]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /not in the dump of .*: public\.nope/);
    });

    it("--tables without --into-schema: those tables, in their own schemas, into an empty database", async () => {
        const url = await target.createDatabase("tables1");
        const r = await restore(["--run", runs[1], "--target-url", url, "--tables", "public.entitlements,public.app_version", "--json"]);
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        const out = json(r);
        assert.deepEqual(out.rowCounts.map((x: any) => [x.restoredAs, x.ok]), [["public.entitlements", true], ["public.app_version", true]]);
        const got = await sums(url, (t) => (t === "public.entitlements" || t === "public.app_version" ? t : "(select 1 where false)"));
        assert.deepEqual(got.get("public.entitlements"), sourceSums.get("public.entitlements"));
        assert.deepEqual(got.get("public.app_version"), sourceSums.get("public.app_version"));
        assert.deepEqual((await target.query("select schemaname||'.'||tablename t from pg_tables where schemaname not in ('pg_catalog','information_schema') order by 1", "tables1")).map((x) => x.t), ["public.app_version", "public.entitlements"]);
    });

    it("prod data into a non-prod target: refused without --mask; with --mask no original email (or name, phone, message) remains", async () => {
        const url = await target.createDatabase("staging_refresh");
        let r = await restore(["--env", PROD, "--run", prodRun, "--target-url", url, "--reason", "staging refresh"], {}, prodCfg);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /refusing to restore prod data into a non-production target without --mask/);
        assert.equal(await userTables(url), 0);
        assert.equal((await audits(PROD)).at(-1)!.result, "refused");
        r = await restore(["--env", PROD, "--run", prodRun, "--target-url", url, "--mask"], {}, prodCfg);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--reason is required in prod/);

        r = await restore(["--env", PROD, "--run", prodRun, "--target-url", url, "--mask", "--reason", "staging refresh", "--json"], {}, prodCfg);
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        const out = json(r);
        // the config's five rules, each with rows, plus masking.ts's defaults for the auth columns this seed has
        assert.ok(out.masking.every((m: any) => m.unmasked === 0), JSON.stringify(out.masking));
        const byColumn = new Map(out.masking.map((m: any) => [`${m.table}.${m.column}`, m]));
        for (const k of ["auth.users.email", "auth.users.phone", "public.profiles.full_name", "public.profiles.phone", "public.messages.body"]) assert.ok((byColumn.get(k) as any)?.updated > 0, k);
        for (const k of ["auth.users.encrypted_password", "auth.users.raw_user_meta_data"]) assert.ok(byColumn.has(k), `default rule ${k}`);
        assert.ok((await target.query("select datname from pg_database where datname like '%sbmask%'")).length === 0, "the stage was renamed, nothing left");

        const srcEmails = new Set((await h.pg.query("select email from auth.users")).map((x) => x.email));
        const gotUsers = await target.query("select email, phone from auth.users", "staging_refresh");
        assert.equal(gotUsers.length, srcEmails.size);
        assert.ok(gotUsers.every((u) => !srcEmails.has(u.email)), "an original email survived masking");
        assert.ok(gotUsers.every((u) => /^user\+[0-9a-f]{16}@example\.com$/.test(u.email) && u.phone === null));
        assert.equal(new Set(gotUsers.map((u) => u.email)).size, gotUsers.length, "masked emails stay unique");
        const srcNames = new Set((await h.pg.query("select full_name from public.profiles")).map((x) => x.full_name));
        assert.ok((await target.query("select full_name, phone from public.profiles", "staging_refresh")).every((p) => !srcNames.has(p.full_name) && p.phone === null));
        assert.deepEqual(await target.query("select distinct body from public.messages", "staging_refresh"), [{ body: "[redacted]" }]);
        const a = (await audits(PROD)).at(-1)!;
        assert.equal(a.result, "succeeded");
        assert.equal(a.options.mask, true);

        // the operator says the target is production: no masking needed
        const url2 = await target.createDatabase("prod_rebuild");
        r = await restore(["--env", PROD, "--run", prodRun, "--target-url", url2, "--target-env", "prod", "--reason", "rebuild"], {}, prodCfg);
        assert.equal(r.code, 0, r.stderr.slice(-2000));
    });

    describe("status", () => {
        it("fresh vault: figures per tier, newest complete and verified, RPO met, chains intact → exit 0", async () => {
            const r = await status(["--json", "--no-supabase"]);
            assert.equal(r.code, 0, r.stdout + r.stderr);
            const s = json(r);
            assert.equal(s.healthy, true);
            assert.equal(s.db.runs, 3);
            assert.deepEqual(s.db.list.map((x: any) => x.runId), runs);
            assert.deepEqual(s.db.list.map((x: any) => x.verification), ["passed", "unverified", "unverified"]);
            assert.equal(s.rpo.newestCompleteRunId, runs[2]);
            assert.ok(s.rpo.met && s.rpo.ageHours < 1);
            assert.equal(s.newestVerified.runId, runs[0]);
            assert.ok(s.newestVerified.restoreSeconds > 0);
            assert.equal(s.db.chain.intact, true);
            // sizes and retain-until straight from the manifests
            let total = 0;
            for (const [i, id] of runs.entries()) {
                const m = JSON.parse((await getVault(dbObjectKey(ENV, id, "manifest.json"))).toString()) as DbManifest;
                const bytes = m.objects.reduce((n, o) => n + o.bytes, 0);
                total += bytes;
                assert.equal(s.db.list[i].bytes, bytes);
                assert.equal(s.db.list[i].retainUntil, m.retainUntil);
                assert.equal(s.db.list[i].encrypted, i === 2);
            }
            assert.equal(s.db.bytes, total);
            assert.equal(s.db.tiers.reduce((n: number, t: any) => n + t.runs, 0), 3);
            assert.equal(s.storage.runs, 1);
            assert.equal(s.storage.newest.objects, 30);
            assert.equal(s.storage.chain.intact, true);
            // human output on the same data
            const t = await status(["--no-supabase"]);
            assert.equal(t.code, 0);
            assert.match(t.stdout, /STATUS: HEALTHY/);
            assert.match(t.stdout, new RegExp(`newest verified:\\s+${runs[0]}`));
            assert.match(t.stdout, /db hash chain:\s+intact over 3 run\(s\)/);
        });

        it("with Supabase's side from the Management API (PITR off is shown, not fatal)", async () => {
            api.reset();
            api.addProject("stgabcdefghijklmnopq", { backups: [{ is_physical_backup: false, status: "COMPLETED", inserted_at: new Date(Date.now() - 3 * 3600_000).toISOString() }] });
            const r = await status(["--json"], { SUPABASE_ACCESS_TOKEN: api.token });
            assert.equal(r.code, 0, r.stderr);
            const s = json(r);
            assert.equal(s.supabase.checked, true);
            assert.equal(s.supabase.pitrEnabled, false);
            assert.equal(s.supabase.backupsCompleted, 1);
            const bad = await status(["--json"], { SUPABASE_ACCESS_TOKEN: "sbp_wrongwrongwrongwrongwrong00000000" });
            assert.equal(bad.code, 0);
            assert.match(json(bad).supabase.reason, /401 Unauthorized/);
        });

        it("stale vault: RPO target missed → exit 6 with the reason", async () => {
            const stale = h.config(ENV, (c) => {
                c.verify.tables = TABLES;
                c.alerts.rpoHours = 0.0001; // 0.36 s: the newest run is older than that by now
            });
            const r = await status(["--no-supabase"], {}, stale);
            assert.equal(r.code, 6, r.stdout);
            assert.match(r.stdout, /STATUS: UNHEALTHY/);
            assert.match(r.stdout, new RegExp(`RPO missed: the newest complete database run ${runs[2]} is \\d+\\.\\d h old \\(target 0\\.0001 h\\)`));
        });

        it("empty env: no run at all → exit 6", async () => {
            const r = await status(["--json", "--no-supabase"], {}, h.config("nothing-here"));
            assert.equal(r.code, 6);
            assert.match(json(r).problems[0], /no complete database run in the vault for nothing-here/);
        });

        it("broken chain: a missing run is named → exit 6", async () => {
            const key = dbObjectKey(ENV, runs[1], "manifest.json");
            const original = await getVault(key);
            await h.vault.client.send(new DeleteObjectCommand({ Bucket: VAULT_BUCKET, Key: key }));
            try {
                const r = await status(["--json", "--no-supabase"]);
                assert.equal(r.code, 6);
                const s = json(r);
                assert.equal(s.db.chain.intact, false);
                assert.deepEqual(s.db.chain.breaks, [{ runId: runs[2], reason: `links to ${runs[1]}, which is missing from the vault` }]);
                assert.ok(s.problems.some((p: string) => p.startsWith(`database hash chain broken at ${runs[2]}`)));
            } finally {
                await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: key, Body: original }));
            }
            // an altered manifest breaks it too
            const altered = JSON.parse(original.toString());
            altered.snapshot.rowCounts["auth.users"] += 1;
            await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: key, Body: Buffer.from(JSON.stringify(altered, null, 2) + "\n") }));
            try {
                const r = await status(["--no-supabase"]);
                assert.equal(r.code, 6);
                assert.match(r.stdout, new RegExp(`database hash chain broken at ${runs[2]}: manifest of ${runs[1]} was altered`));
            } finally {
                await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: key, Body: original }));
            }
            assert.equal((await status(["--no-supabase"])).code, 0);
        });
    });
});
