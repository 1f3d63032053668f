// `restore pitr` and `restore branch` through the real CLI: the Management API is the local server that
// follows the published shapes, the vault (for audit records) is s3rver.
import assert from "node:assert/strict";
import type { AuditRecord } from "@supabase-backups/contracts";
import { assertSchema, AuditRecordSchema } from "@supabase-backups/contracts";
import { listAudit } from "../../../jobs/src/vault/audit";
import { runCli, writeJobConfig } from "../../support/cli";
import { startS3rver, type S3Server } from "../../support/s3rver";
import { startFakeSupabaseApi, type FakeSupabaseApi } from "../../support/supabase-api";

const REF = "stgabcdefghijklmnopq";

describe("operator: restore pitr / restore branch", function () {
    this.timeout(120_000);
    let api: FakeSupabaseApi;
    let s3: S3Server;
    let n = 0;
    let bucket: string;
    const now = Math.floor(Date.now() / 1000);

    before(async () => {
        [api, s3] = await Promise.all([startFakeSupabaseApi(), startS3rver()]);
    });
    after(async () => {
        await Promise.allSettled([api.stop(), s3.stop()]);
    });
    beforeEach(async () => {
        api.reset();
        bucket = `vault-pitr-${++n}`;
        await s3.createBucket(bucket);
    });

    const config = (mut: (c: any) => void = () => undefined) =>
        writeJobConfig({ vault: { bucket, region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            c.supabase.apiUrl = api.url;
            mut(c);
        }).path;
    const env = () => ({ ...s3.env, SUPABASE_ACCESS_TOKEN: api.token, USER: "oncall-ana" });
    const audits = async (e = "test"): Promise<AuditRecord[]> => {
        const recs = await listAudit(s3.client, bucket, e);
        for (const r of recs) assertSchema(AuditRecordSchema, r, "audit record");
        return recs;
    };
    const withPitr = (ref = REF) => {
        const p = api.addProject(ref, { backups: [{ is_physical_backup: true, status: "COMPLETED", inserted_at: new Date().toISOString() }] });
        p.addons.pitr = "pitr_7";
        p.window = { earliest: now - 7 * 86400, latest: now - 30 };
        return p;
    };

    it("without --yes: shows the window and the target time, requests nothing, writes no record", async () => {
        withPitr();
        const incident = new Date((now - 3600) * 1000).toISOString();
        const r = await runCli(["restore", "pitr", "--config", config(), "--incident-time", incident], env());
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /window:\s+\S+ \.\. \S+/);
        assert.match(r.stdout, new RegExp(`restore to:\\s+${new Date((now - 3600 - 300) * 1000).toISOString().replace(/\./g, "\\.")} \\(incident − 5m\\)`));
        assert.match(r.stdout, /covered:\s+yes/);
        assert.match(r.stdout, /Nothing done.*--yes/s);
        assert.ok(!api.requests.some((x) => x.method === "POST"));
        assert.deepEqual(await audits(), []);
    });

    it("--yes: asks Supabase for incident − 5 min and writes a succeeded audit record", async () => {
        const p = withPitr();
        const incidentUnix = now - 7200;
        const r = await runCli(["restore", "pitr", "--config", config(), "--incident-time", String(incidentUnix), "--yes", "--reason", "INC-7 bad migration", "--json"], env());
        assert.equal(r.code, 0, r.stderr);
        const post = api.requests.find((x) => x.method === "POST")!;
        assert.equal(post.path, `/v1/projects/${REF}/database/backups/restore-pitr`);
        assert.deepEqual(post.body, { recovery_time_target_unix: incidentUnix - 300 });
        assert.deepEqual(p.restores, [incidentUnix - 300]);
        assert.equal(JSON.parse(r.stdout).requested, true);
        const [a] = await audits();
        assert.equal(a.action, "restore-pitr");
        // the actor is the caller's identity (s3rver has no STS: its access key), --actor a claim beside it
        assert.match(a.actor, /^access-key:/);
        assert.equal(a.actorClaim, "oncall-ana");
        assert.equal(a.reason, "INC-7 bad migration");
        assert.equal(a.result, "succeeded");
        assert.equal(a.target, `supabase:${REF}`);
        assert.equal(a.options.targetTime, new Date((incidentUnix - 300) * 1000).toISOString());
        assert.ok(a.durations.requestSeconds >= 0 && a.durations.totalSeconds >= a.durations.requestSeconds);
    });

    it("--before 30m and --actor", async () => {
        withPitr();
        const incidentUnix = now - 7200;
        const r = await runCli(["restore", "pitr", "--config", config(), "--incident-time", String(incidentUnix), "--before", "30m", "--yes", "--actor", "lead-bo"], env());
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(api.requests.find((x) => x.method === "POST")!.body, { recovery_time_target_unix: incidentUnix - 1800 });
        assert.equal((await audits())[0].actorClaim, "lead-bo");
    });

    it("a window that does not cover the target: refused, nothing requested, refusal on the record", async () => {
        withPitr();
        const r = await runCli(["restore", "pitr", "--config", config(), "--incident-time", String(now - 30 * 86400), "--yes"], env());
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /does not cover .*nothing requested/);
        assert.ok(!api.requests.some((x) => x.method === "POST"));
        const [a] = await audits();
        assert.equal(a.result, "refused");
        assert.match(a.error!, /does not cover/);
    });

    it("PITR off: refused with the way out", async () => {
        api.addProject(REF, { backups: [] });
        const r = await runCli(["restore", "pitr", "--config", config(), "--incident-time", String(now - 3600), "--yes"], env());
        assert.equal(r.code, 2);
        assert.match(r.stderr, /PITR is not enabled .*restore db from the vault/);
        assert.equal((await audits())[0].result, "refused");
    });

    it("prod: --reason is required (usage error, nothing requested)", async () => {
        withPitr();
        const cfg = config((c) => (c.env = "prod"));
        const r = await runCli(["restore", "pitr", "--config", cfg, "--incident-time", String(now - 3600), "--yes"], env());
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--reason is required in prod/);
        assert.ok(!api.requests.some((x) => x.method === "POST"));
        const ok = await runCli(["restore", "pitr", "--config", cfg, "--env", "prod", "--incident-time", String(now - 3600), "--yes", "--reason", "INC-9"], env());
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal((await audits("prod"))[0].reason, "INC-9");
    });

    it("--env must match the config", async () => {
        const r = await runCli(["restore", "pitr", "--config", config(), "--env", "prod", "--incident-time", String(now)], env());
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--env prod does not match the config's env "test"/);
    });

    it("429 on the restore request is retried after Retry-After; 401 is a clear failure on the record", async () => {
        withPitr();
        api.inject({ match: `POST /v1/projects/${REF}/database/backups/restore-pitr`, status: 429, times: 1, headers: { "retry-after": "1" } });
        let r = await runCli(["restore", "pitr", "--config", config(), "--incident-time", String(now - 3600), "--yes"], env());
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(api.requests.filter((x) => x.method === "POST").map((x) => x.status), [429, 201]);

        r = await runCli(["restore", "pitr", "--config", config(), "--incident-time", String(now - 3600), "--yes"], { ...env(), SUPABASE_ACCESS_TOKEN: "sbp_revokedrevokedrevokedrevoked0000" });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /401 Unauthorized.*SUPABASE_ACCESS_TOKEN/);
        assert.ok(!r.stderr.includes("sbp_revoked"));
        const recs = await audits();
        assert.deepEqual(recs.map((x) => x.result), ["succeeded", "failed"]);
        assert.match(recs[1].error!, /401/);
    });

    it("restore branch: POST /branches with the published body, audit record names the branch", async () => {
        api.addProject(REF);
        const r = await runCli(["restore", "branch", "--config", config(), "--name", "inc-7-check", "--incident-time", "2026-11-22T08:00:00Z", "--json"], env());
        assert.equal(r.code, 0, r.stderr);
        const post = api.requests.find((x) => x.method === "POST")!;
        assert.equal(post.path, `/v1/projects/${REF}/branches`);
        assert.deepEqual(post.body, { branch_name: "inc-7-check", with_data: true, persistent: false });
        const out = JSON.parse(r.stdout);
        assert.equal(out.branch.name, "inc-7-check");
        assert.match(out.branch.projectRef, /^[a-z]{20}$/);
        const [a] = await audits();
        assert.equal(a.action, "restore-branch");
        assert.match(a.target, new RegExp(`^supabase:${REF} branch inc-7-check \\([a-z]{20}\\)$`));
        assert.equal(a.options.incidentTime, "2026-11-22T08:00:00.000Z");
        // the same name again: the API's 409 is reported, and recorded as failed
        const again = await runCli(["restore", "branch", "--config", config(), "--name", "inc-7-check"], env());
        assert.equal(again.code, 1);
        assert.match(again.stderr, /\(409\): Branch inc-7-check already exists/);
        assert.equal((await audits())[1].result, "failed");
    });
    it("audit lists the records: filters by action and result; table on a terminal", async () => {
        withPitr();
        await runCli(["restore", "pitr", "--config", config(), "--incident-time", String(now - 30 * 86400), "--yes", "--reason", "too old"], env());
        await runCli(["restore", "branch", "--config", config(), "--name", "side-by-side"], env());
        const all = await runCli(["audit", "--config", config(), "--json"], env());
        assert.equal(all.code, 0, all.stderr);
        const recs = JSON.parse(all.stdout).records;
        assert.deepEqual(recs.map((r: any) => [r.action, r.result]), [["restore-pitr", "refused"], ["restore-branch", "succeeded"]]);
        const refused = JSON.parse((await runCli(["audit", "--config", config(), "--json", "--result", "refused"], env())).stdout).records;
        assert.deepEqual(refused.map((r: any) => r.reason), ["too old"]);
        const branches = JSON.parse((await runCli(["audit", "--config", config(), "--json", "--action", "restore-branch"], env())).stdout).records;
        assert.equal(branches.length, 1);
        const future = JSON.parse((await runCli(["audit", "--config", config(), "--json", "--since", "2099-01-01"], env())).stdout).records;
        assert.deepEqual(future, []);
        const table = await runCli(["audit", "--config", config()], env());
        assert.match(table.stdout, /^started\s+action\s+actor\s+claimed\s+result/m);
        assert.match(table.stdout, /restore-branch\s+access-key:\S+\s+oncall-ana\s+succeeded/);
    });
});
