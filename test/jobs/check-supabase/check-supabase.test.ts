// The Supabase side of the operator commands: the Management API client (incl. 401/403/404/429/5xx),
// `check-supabase` through the real CLI, against a local server that follows the published API shapes.
import assert from "node:assert/strict";
import { SupabaseApi, SupabaseApiError, retryAfterMs } from "../../../jobs/src/supabase/api";
import { startFakeSupabaseApi, type FakeSupabaseApi } from "../../support/supabase-api";
import { runCli, writeJobConfig } from "../../support/cli";

const REF = "stgabcdefghijklmnopq"; // the staging stack file's projectRef
const PROD_REF = "prdabcdefghijklmnopq";
const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();

describe("operator: Supabase Management API client", function () {
    let api: FakeSupabaseApi;
    const sleeps: number[] = [];
    const client = (token?: string, extra: Partial<ConstructorParameters<typeof SupabaseApi>[0]> = {}) =>
        new SupabaseApi({ baseUrl: api.url, token: token ?? api.token, sleep: async (ms) => void sleeps.push(ms), ...extra });

    before(async () => {
        api = await startFakeSupabaseApi();
    });
    after(async () => api.stop());
    beforeEach(() => {
        api.reset();
        sleeps.length = 0;
        api.addProject(REF, { backups: [{ is_physical_backup: false, status: "COMPLETED", inserted_at: hoursAgo(3) }] });
    });

    it("reads backups with the bearer token on the published path", async () => {
        const b = await client().listBackups(REF);
        assert.equal(b.pitr_enabled, false);
        assert.equal(b.backups.length, 1);
        assert.deepEqual(api.requests.map((r) => [r.method, r.path, r.authorized]), [["GET", `/v1/projects/${REF}/database/backups`, true]]);
    });

    it("401: says to check SUPABASE_ACCESS_TOKEN, never prints the token", async () => {
        const bad = "sbp_0123456789abcdef0123456789abcdef01234567";
        await assert.rejects(client(bad).listBackups(REF), (e: any) => {
            assert.ok(e instanceof SupabaseApiError);
            assert.equal(e.status, 401);
            assert.match(e.message, /401 Unauthorized/);
            assert.match(e.message, /SUPABASE_ACCESS_TOKEN/);
            assert.ok(!e.message.includes(bad));
            return true;
        });
        assert.equal(api.requests.length, 1, "401 is not retried");
    });

    it("404: names the project ref setting", async () => {
        await assert.rejects(client().listBackups("zzzzzzzzzzzzzzzzzzzz"), (e: any) => {
            assert.equal(e.status, 404);
            assert.match(e.message, /not found \(404\)/);
            assert.match(e.message, /supabase\.projectRef/);
            assert.match(e.message, /Project zzzzzzzzzzzzzzzzzzzz not found/);
            return true;
        });
    });

    it("403: explains the token's scope", async () => {
        api.inject({ match: `GET /v1/projects/${REF}/billing/addons`, status: 403, times: 1, body: { message: "Missing permission: billing_read" } });
        await assert.rejects(client().listAddons(REF), /403 Forbidden.*billing_read.*lacks permission/);
    });

    it("429: honours Retry-After, then succeeds", async () => {
        api.inject({ match: `GET /v1/projects/${REF}/database/backups`, status: 429, times: 2, headers: { "retry-after": "7" } });
        const b = await client().listBackups(REF);
        assert.equal(b.backups.length, 1);
        assert.deepEqual(sleeps, [7000, 7000]);
        assert.deepEqual(api.requests.map((r) => r.status), [429, 429, 200]);
    });

    it("429: bounded retries, then a clear message with the server's wait", async () => {
        api.inject({ match: `GET /v1/projects/${REF}/database/backups`, status: 429, times: 10, headers: { "retry-after": "2" } });
        await assert.rejects(client(undefined, { maxAttempts: 3 }).listBackups(REF), (e: any) => {
            assert.equal(e.status, 429);
            assert.match(e.message, /rate limit hit \(429 Too Many Requests\).*3 attempt\(s\).*retry after 2 s/);
            return true;
        });
        assert.equal(api.requests.length, 3);
        // a Retry-After longer than we are willing to wait fails at once
        api.reset();
        api.addProject(REF);
        api.inject({ match: `GET /v1/projects/${REF}/database/backups`, status: 429, times: 1, headers: { "retry-after": "3600" } });
        await assert.rejects(client(undefined, { maxRetryWaitMs: 60_000 }).listBackups(REF), /retry after 3600 s/);
        assert.equal(api.requests.length, 1);
    });

    it("429 really waits when no sleep is injected (Retry-After: 1)", async () => {
        api.inject({ match: `GET /v1/projects/${REF}/database/backups`, status: 429, times: 1, headers: { "retry-after": "1" } });
        const t0 = Date.now();
        await new SupabaseApi({ baseUrl: api.url, token: api.token }).listBackups(REF);
        assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
    });

    it("Retry-After as an HTTP date and X-RateLimit-Reset", () => {
        const now = Date.parse("2026-11-22T10:00:00Z");
        assert.equal(retryAfterMs(new Headers({ "retry-after": "Sun, 22 Nov 2026 10:00:30 GMT" }), now), 30_000);
        assert.equal(retryAfterMs(new Headers({ "x-ratelimit-reset": String(now / 1000 + 12) }), now), 12_000);
        assert.equal(retryAfterMs(new Headers({}), now), undefined);
    });

    it("5xx: GET retried with backoff; POST restore-pitr never retried", async () => {
        api.inject({ match: `GET /v1/projects/${REF}/database/backups`, status: 503, times: 2 });
        await client().listBackups(REF);
        assert.deepEqual(sleeps, [500, 1000]);
        api.requests.length = 0;
        api.inject({ match: `POST /v1/projects/${REF}/database/backups/restore-pitr`, status: 502, times: 5 });
        await assert.rejects(client().restorePitr(REF, 1_700_000_000), /server error 502.*not retried/);
        assert.equal(api.requests.length, 1);
    });

    it("network errors: a clear message naming the API URL", async () => {
        const dead = new SupabaseApi({ baseUrl: "http://127.0.0.1:9", token: "sbp_x", maxAttempts: 2, sleep: async () => undefined });
        await assert.rejects(dead.listBackups(REF), /Management API unreachable .*127\.0\.0\.1:9/);
    });

    it("billing add-ons: PATCH body and DELETE path as published; bad variant is a 400 with the server's message", async () => {
        const c = client();
        // PITR is refused below a Small compute add-on, as Supabase does
        await assert.rejects(c.applyAddon(REF, "pitr", "pitr_14"), /\(400\): Point in time recovery requires a compute add-on of Small or larger/);
        await c.applyAddon(REF, "compute_instance", "ci_small");
        await c.applyAddon(REF, "pitr", "pitr_14");
        assert.deepEqual(api.requests.at(-1)!.body, { addon_variant: "pitr_14", addon_type: "pitr" });
        const a = await c.listAddons(REF);
        assert.deepEqual(a.selected_addons.map((x) => [x.type, x.variant.id]), [["compute_instance", "ci_small"], ["pitr", "pitr_14"]]);
        assert.ok(a.available_addons.find((x) => x.type === "pitr")!.variants.some((v) => v.id === "pitr_28"));
        await c.removeAddon(REF, "pitr_14");
        assert.equal(api.requests.at(-1)!.path, `/v1/projects/${REF}/billing/addons/pitr_14`);
        await assert.rejects(c.applyAddon(REF, "pitr", "pitr_3"), /\(400\): addon_variant pitr_3 is not a variant of pitr/);
    });
});

describe("operator: check-supabase", function () {
    this.timeout(60_000);
    let api: FakeSupabaseApi;
    const vault = { bucket: "unused-vault", region: "us-east-1", endpoint: "http://127.0.0.1:9", forcePathStyle: true };
    const cfg = (mut: (c: any) => void = () => undefined) =>
        writeJobConfig({ vault }, (c) => {
            c.supabase.apiUrl = api.url;
            mut(c);
        }).path;

    before(async () => {
        api = await startFakeSupabaseApi();
    });
    after(async () => api.stop());
    beforeEach(() => {
        api.reset();
    });

    it("healthy: a fresh backup, PITR not required → exit 0", async () => {
        api.addProject(REF, { backups: [{ is_physical_backup: false, status: "COMPLETED", inserted_at: hoursAgo(5) }, { is_physical_backup: false, status: "FAILED", inserted_at: hoursAgo(1) }] });
        const r = await runCli(["check-supabase", "--config", cfg(), "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 0, r.stderr);
        const j = JSON.parse(r.stdout);
        assert.equal(j.healthy, true);
        assert.equal(j.backupsCompleted, 1);
        assert.ok(j.backupAgeSeconds > 5 * 3600 - 60 && j.backupAgeSeconds < 5 * 3600 + 60);
        assert.ok(!r.stdout.includes(api.token) && !r.stderr.includes(api.token));
        // PITR not required: the add-ons (billing) endpoint is not called; the project (its Postgres version) is
        assert.deepEqual(api.requests.map((x) => x.path), [`/v1/projects/${REF}/database/backups`, `/v1/projects/${REF}`]);
        assert.deepEqual(j.postgresVersion, { project: "15.8.1.085", configured: "15.8.1.085" });
    });

    it("stale: newest completed backup older than backupMaxAgeHours → exit 6 with the reason", async () => {
        api.addProject(REF, { backups: [{ is_physical_backup: false, status: "COMPLETED", inserted_at: hoursAgo(30) }] });
        const r = await runCli(["check-supabase", "--config", cfg()], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 6, r.stderr);
        assert.match(r.stdout, /UNHEALTHY/);
        assert.match(r.stdout, /newest backup is 30\.0 h old .* over the 26 h threshold/);
    });

    it("the project moved to another Postgres than the stack file names (the canary no longer matches) → exit 6 saying what to set", async () => {
        api.addProject(REF, { backups: [{ is_physical_backup: false, status: "COMPLETED", inserted_at: hoursAgo(2) }], postgresVersion: "17.6.1.011" });
        const r = await runCli(["check-supabase", "--config", cfg(), "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 6, r.stderr);
        const j = JSON.parse(r.stdout);
        assert.deepEqual(j.postgresVersion, { project: "17.6.1.011", configured: "15.8.1.085" });
        assert.match(j.problems.join("\n"), /runs Postgres 17\.6\.1\.011, supabase\.postgresVersion says 15\.8\.1\.085: the canary no longer matches the source \(set supabase\.postgresVersion to 17\.6\.1\.011 and deploy\)/);
    });

    it("no backups at all → exit 6", async () => {
        api.addProject(REF, { backups: [] });
        const r = await runCli(["check-supabase", "--config", cfg(), "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 6);
        assert.match(JSON.parse(r.stdout).problems[0], /no completed backup/);
    });

    it("PITR required (prod-like) but off → exit 6; on with the right variant → 0; wrong variant → 6", async () => {
        const prodCfg = cfg((c) => {
            c.supabase.projectRef = PROD_REF;
            c.supabase.postgresVersion = "17.6.1.011"; // the prod project's, as Pulumi.prod.yaml has it
            c.supabase.pitr = { required: true, days: 7 };
        });
        const p = api.addProject(PROD_REF, { backups: [{ is_physical_backup: true, status: "COMPLETED", inserted_at: hoursAgo(2) }] });
        let r = await runCli(["check-supabase", "--config", prodCfg, "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 6, r.stderr);
        let j = JSON.parse(r.stdout);
        assert.equal(j.pitrOk, false);
        assert.match(j.problems.join("\n"), /PITR is off .* config requires it \(7 days\)/);
        // why it is off: Supabase runs PITR only from a Small compute add-on up (issue 17 item 5)
        assert.match(j.problems[0], new RegExp(`^PITR needs a compute add-on of Small or larger; project ${PROD_REF} runs no compute add-on \\(the plan's default size\\): upgrade it first`));
        assert.equal(j.computeAddon, null);
        p.addons.compute_instance = "ci_micro";
        r = await runCli(["check-supabase", "--config", prodCfg], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 6);
        assert.match(r.stdout, /compute:\s+ci_micro/);
        assert.match(r.stdout, /! PITR needs a compute add-on of Small or larger; project \w+ runs ci_micro/);

        p.addons.compute_instance = "ci_small";
        p.addons.pitr = "pitr_7";
        const t = Math.floor(Date.now() / 1000);
        p.window = { earliest: t - 7 * 86400, latest: t - 60 };
        r = await runCli(["check-supabase", "--config", prodCfg, "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        j = JSON.parse(r.stdout);
        assert.equal(j.pitrAddon, "pitr_7");
        assert.ok(j.backupAgeSeconds < 120, "with PITR the newest restore point is the window's end");
        assert.ok(api.requests.some((x) => x.path === `/v1/projects/${PROD_REF}/billing/addons`));

        p.addons.pitr = "pitr_14";
        r = await runCli(["check-supabase", "--config", prodCfg, "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 6);
        assert.match(JSON.parse(r.stdout).problems.join("\n"), /add-on is pitr_14, config wants pitr_7/);
    });

    it("a token without billing rights (403 on add-ons): PITR on/off still judged, the variant noted as unconfirmed", async () => {
        const prodCfg = cfg((c) => {
            c.supabase.projectRef = PROD_REF;
            c.supabase.postgresVersion = "17.6.1.011"; // the prod project's, as Pulumi.prod.yaml has it
            c.supabase.pitr = { required: true, days: 7 };
        });
        const p = api.addProject(PROD_REF, { backups: [{ is_physical_backup: true, status: "COMPLETED", inserted_at: hoursAgo(2) }] });
        p.addons.pitr = "pitr_7";
        p.addons.compute_instance = "ci_micro"; // unreadable below: not judged without the add-ons
        const t = Math.floor(Date.now() / 1000);
        p.window = { earliest: t - 86400, latest: t - 60 };
        api.inject({ match: `GET /v1/projects/${PROD_REF}/billing/addons`, status: 403, times: 5, body: { message: "Missing permission: billing_read" } });
        const r = await runCli(["check-supabase", "--config", prodCfg, "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const j = JSON.parse(r.stdout);
        assert.equal(j.pitrOk, true);
        assert.match(j.notes[0], /403 on billing\/addons/);
        // …but PITR off is still caught without the add-ons
        delete p.addons.pitr;
        const off = await runCli(["check-supabase", "--config", prodCfg, "--json"], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(off.code, 6);
    });

    it("401 → exit 1 with one clear line, token not echoed; missing token → usage error 2", async () => {
        api.addProject(REF, { backups: [] });
        const wrong = "sbp_wrongwrongwrongwrongwrongwrong0123";
        let r = await runCli(["check-supabase", "--config", cfg()], { SUPABASE_ACCESS_TOKEN: wrong });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /supabase-backups check-supabase: .*401 Unauthorized.*SUPABASE_ACCESS_TOKEN/);
        assert.ok(!r.stderr.includes(wrong) && !r.stdout.includes(wrong));
        r = await runCli(["check-supabase", "--config", cfg()], { SUPABASE_ACCESS_TOKEN: "" });
        assert.equal(r.code, 2);
        assert.match(r.stderr, /missing secret: set SUPABASE_ACCESS_TOKEN/);
    });

    it("404 (wrong project ref) → exit 1 naming supabase.projectRef", async () => {
        const r = await runCli(["check-supabase", "--config", cfg()], { SUPABASE_ACCESS_TOKEN: api.token });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /not found \(404\).*supabase\.projectRef/);
    });

    it("pushes the backup-age and PITR gauges to the Pushgateway", async () => {
        const { createServer } = await import("node:http");
        const bodies: string[] = [];
        const gw = createServer((req, res) => {
            let s = "";
            req.on("data", (d) => (s += d));
            req.on("end", () => {
                bodies.push(`${req.method} ${req.url}\n${s}`);
                res.writeHead(200);
                res.end();
            });
        });
        await new Promise<void>((r) => gw.listen(0, "127.0.0.1", r));
        try {
            const port = (gw.address() as any).port;
            api.addProject(REF, { backups: [{ is_physical_backup: false, status: "COMPLETED", inserted_at: hoursAgo(1) }] });
            const r = await runCli(["check-supabase", "--config", cfg((c) => (c.alerts.pushgatewayUrl = `http://127.0.0.1:${port}`))], { SUPABASE_ACCESS_TOKEN: api.token });
            assert.equal(r.code, 0, r.stderr);
            const all = bodies.join("\n");
            assert.match(all, /\/metrics\/job\/supabase-backups\/env\/test\/kind\/check-supabase/);
            assert.match(all, /supabase_backups_supabase_backup_age_seconds\{env="test"\} 3[56]\d\d/);
            assert.match(all, /supabase_backups_supabase_pitr_ok\{env="test"\} 1/);
        } finally {
            gw.close();
        }
    });
});
