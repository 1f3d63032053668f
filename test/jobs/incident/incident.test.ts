// `incident start | end | show` and `restore pitr --before-incident` through the real CLI: a
// Supabase-shaped PostgreSQL 17 (the reserved roles, authenticator logging in and acting as
// `authenticated`), s3rver as the vault for the audit records, the Management API's published shapes,
// and a kubectl stand-in (no Kubernetes API server runs here) that records what it was asked.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { assertSchema, AuditRecordSchema, type AuditRecord } from "@supabase-backups/contracts";
import { listAudit } from "../../../jobs/src/vault/audit";
import { runCli, writeJobConfig } from "../../support/cli";
import { startS3rver, type S3Server } from "../../support/s3rver";
import { startSupabasePostgres } from "../../support/supabase-shape";
import type { PgServer } from "../../support/postgres";
import { startFakeSupabaseApi, type FakeSupabaseApi } from "../../support/supabase-api";

const REF = "stgabcdefghijklmnopq";
const BUCKET = "vault-incident";

describe("operator: incident start / end / show", function () {
    this.timeout(180_000);
    let pg: PgServer;
    let s3: S3Server;
    let api: FakeSupabaseApi;
    let cfg: string;
    let namespace: string;
    let kube: string;
    const now = Math.floor(Date.now() / 1000);

    const urlAs = (role: string) => {
        const u = new URL(pg.url);
        u.username = role;
        u.password = "svc-pass";
        return u.toString();
    };
    const env = () => ({ ...s3.env, DATABASE_URL: pg.url, SUPABASE_ACCESS_TOKEN: api.token, USER: "oncall-ana", PATH: `${kube}:${process.env.PATH}` });
    const cli = (args: string[]) => runCli([...args, "--config", cfg], env());
    const audits = async (): Promise<AuditRecord[]> => {
        const recs = await listAudit(s3.client, BUCKET, "prod");
        for (const r of recs) assertSchema(AuditRecordSchema, r, "audit record");
        return recs;
    };
    async function canLogin(role: string): Promise<boolean> {
        const r = await sql(`select rolcanlogin from pg_roles where rolname = '${role}'`);
        return r[0].rolcanlogin;
    }
    async function sql(text: string, url = pg.url): Promise<any[]> {
        const c = new Client({ connectionString: url });
        await c.connect();
        try {
            return (await c.query(text)).rows;
        } finally {
            await c.end();
        }
    }
    /** The Data API's path: log in as authenticator, act as `authenticated`, write. */
    const apiWrite = (note: string) => sql(`set role authenticated; insert into public.notes (body) values ('${note}')`, urlAs("authenticator"));

    before(async function () {
        this.timeout(300_000);
        [pg, s3, api] = await Promise.all([startSupabasePostgres({ major: 17, seed: "roles" }), startS3rver(), startFakeSupabaseApi()]);
        await s3.createBucket(BUCKET);
        await sql(`create table public.notes (id serial primary key, body text); grant insert, select on public.notes to authenticated; grant usage on sequence public.notes_id_seq to authenticated;
                   create role batch_svc nologin; alter role authenticator password 'svc-pass';`);
        const p = api.addProject(REF, { backups: [{ is_physical_backup: true, status: "COMPLETED", inserted_at: new Date().toISOString() }] });
        p.addons.pitr = "pitr_7";
        p.window = { earliest: now - 7 * 86400, latest: now - 30 };
        const written = writeJobConfig({ vault: { bucket: BUCKET, region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            c.env = "prod";
            c.supabase.apiUrl = api.url;
            c.supabase.projectRef = REF;
        });
        cfg = written.path;
        namespace = written.config.kubernetes.namespace;
        kube = mkdtempSync(join(tmpdir(), "kubectl-"));
        writeFileSync(join(kube, "kubectl"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${kube}/argv\nenv > ${kube}/env\necho "job.batch/$6 created"\n`);
        chmodSync(join(kube, "kubectl"), 0o755);
    });
    after(async () => {
        await Promise.allSettled([pg?.stop(), s3?.stop(), api?.stop()]);
    });

    it("--freeze without --yes is refused before anything happens; no record", async () => {
        const r = await cli(["incident", "start", "--freeze", "--reason", "INC-9"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /add --yes to confirm/);
        assert.equal(await canLogin("authenticator"), true);
        assert.deepEqual(await audits(), []);
    });

    it("start --freeze --yes --dump: the service roles lose LOGIN, open sessions end, writes through the API stop; the forensic dump Job is created; the record holds it all", async () => {
        await apiWrite("before");
        const open = new Client({ connectionString: urlAs("authenticator") });
        open.on("error", () => undefined);
        await open.connect();
        const at = new Date((now - 600) * 1000).toISOString();
        const r = await cli(["incident", "start", "--at", at, "--freeze", "--yes", "--roles", "authenticator,supabase_auth_admin,batch_svc,no_such_role", "--dump", "--reason", "INC-9 leaked service key", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.incidentTime, at);
        assert.deepEqual(out.frozen.missing, ["no_such_role"]);
        assert.ok(out.frozen.terminated >= 1, "the open authenticator session was ended");
        assert.equal(out.frozen.survivors, 0);
        assert.equal(await canLogin("authenticator"), false);
        assert.equal(await canLogin("supabase_auth_admin"), false);
        await assert.rejects(open.query("select 1"), "the session opened before the freeze is gone");
        await assert.rejects(apiWrite("after"), /not permitted to log in/);
        assert.equal((await sql("select count(*)::int n from public.notes"))[0].n, 1);
        // The operator's own connection (postgres) still works: the freeze is for the services.
        await sql("select 1");
        // kubectl: a Job from the dump CronJob in the config's namespace, without any of the job's secrets.
        const argv = readFileSync(join(kube, "argv"), "utf8").trim().split("\n");
        assert.deepEqual(argv.slice(0, 5), ["-n", namespace, "create", "job", "--from=cronjob/dump"]);
        assert.match(argv[5], /^dump-incident-[a-z0-9-]+$/);
        assert.equal(out.job.name, argv[5]);
        const kubeEnv = readFileSync(join(kube, "env"), "utf8");
        for (const secret of ["DATABASE_URL", "SUPABASE_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"]) assert.doesNotMatch(kubeEnv, new RegExp(`^${secret}=`, "m"));
        const [rec] = (await audits()).filter((a) => a.action === "incident-start");
        assert.equal(rec.result, "succeeded");
        // the actor is the caller's identity (no STS here: the access key), --actor a claim beside it
        assert.match(rec.actor, /^access-key:/);
        assert.equal(rec.actorClaim, "oncall-ana");
        assert.equal(rec.reason, "INC-9 leaked service key");
        assert.equal(rec.options.incidentTime, at);
        assert.deepEqual(rec.options.frozen, [
            { role: "authenticator", couldLogin: true },
            { role: "supabase_auth_admin", couldLogin: true },
            { role: "batch_svc", couldLogin: false },
        ]);
        assert.equal(rec.options.forensicDumpJob, argv[5]);
    });

    it("a second start while one is open is refused (and recorded as refused)", async () => {
        const r = await cli(["incident", "start", "--reason", "INC-10"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /incident \S+ is open since .*: end it first/);
        assert.equal((await audits()).filter((a) => a.action === "incident-start" && a.result === "refused").length, 1);
    });

    it("show, and restore pitr --before-incident: the recorded time, minus --before", async () => {
        const s = await cli(["incident", "show", "--json"]);
        assert.equal(s.code, 0, s.stderr);
        const open = JSON.parse(s.stdout).open;
        assert.equal(open.incidentTime, new Date((now - 600) * 1000).toISOString());
        const p = await cli(["restore", "pitr", "--before-incident", "--json", "--reason", "INC-9"]);
        assert.equal(p.code, 0, p.stderr);
        const plan = JSON.parse(p.stdout);
        assert.equal(plan.incidentTime, open.incidentTime);
        assert.equal(plan.targetTime, new Date((now - 600 - 300) * 1000).toISOString());
        assert.equal(plan.requested, false);
        const both = await cli(["restore", "pitr", "--before-incident", "--incident-time", "2026-11-01T00:00:00Z", "--reason", "x"]);
        assert.equal(both.code, 2);
    });

    it("end: LOGIN back for exactly the roles that had it; writes work again; then nothing is open", async () => {
        const r = await cli(["incident", "end", "--reason", "INC-9 key rotated", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout).thawed, ["authenticator", "supabase_auth_admin"]);
        assert.equal(await canLogin("authenticator"), true);
        assert.equal(await canLogin("supabase_auth_admin"), true);
        assert.equal(await canLogin("batch_svc"), false, "a role that could not log in before stays so");
        await apiWrite("after the incident");
        const end = (await audits()).find((a) => a.action === "incident-end")!;
        assert.equal(end.result, "succeeded");
        assert.deepEqual(end.options.thawed, ["authenticator", "supabase_auth_admin"]);
        assert.match(String(end.options.incident), /incident-start/);
        assert.equal(JSON.parse((await cli(["incident", "show", "--json"])).stdout).open, null);
        const again = await cli(["incident", "end", "--reason", "x"]);
        assert.equal(again.code, 2);
        assert.match(again.stderr, /no open incident/);
        const noIncident = await cli(["restore", "pitr", "--before-incident", "--reason", "x"]);
        assert.equal(noIncident.code, 2);
        assert.match(noIncident.stderr, /no open incident/);
    });

    it("a freeze naming only roles that do not exist changes nothing and leaves no open incident", async () => {
        const r = await cli(["incident", "start", "--freeze", "--yes", "--roles", "nobody_here", "--reason", "INC-11"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /none of nobody_here exists/);
        assert.equal(JSON.parse((await cli(["incident", "show", "--json"])).stdout).open, null);
        assert.ok(existsSync(join(kube, "argv")));
    });
});
