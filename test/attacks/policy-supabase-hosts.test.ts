// Attack: a config-only change (a pull request to Pulumi.<stack>.yaml, or an edited job ConfigMap) points
// supabase.apiUrl, supabase.url or storage.s3Endpoint at the attacker's host, so the next run sends the
// Management API token, the service-role key or the Storage S3 keys there. Defence: those URLs must be
// Supabase's own hosts or listed in supabase.allowedHosts (contracts/src/hosts.ts), checked when the
// stack file is validated (before any resource is declared) and when a job reads its config (before any
// request). The job half runs the real CLI against the fake Management API, listening on 127.0.0.2 — a
// loopback address the allow-list does not include — so without the defence the token would reach it.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { readStackFile, validateStackConfig, type StackFile } from "@supabase-backups/contracts";
import { runCli, writeJobConfig } from "../support/cli";
import { startFakeSupabaseApi, type FakeSupabaseApi } from "../support/supabase-api";

const ROOT = join(__dirname, "..", "..");
const REF = "stgabcdefghijklmnopq"; // the staging stack file's projectRef

function stackWith(change: (values: any) => void): StackFile {
    const f = readStackFile(join(ROOT, "Pulumi.staging.yaml"), { placeholderSecrets: true });
    change(f.values);
    return f;
}
function issuesOf(f: StackFile): { key: string; expected: string; found: string }[] {
    const r = validateStackConfig(f);
    return r.ok ? [] : r.issues;
}

describe("attack: a config change sends Supabase secrets to another host", function () {
    this.timeout(120_000);

    describe("stack-file validation (Pulumi.staging.yaml, mutated)", () => {
        it("the committed stack file passes", () => {
            assert.deepEqual(issuesOf(stackWith(() => undefined)), []);
        });

        it("apiUrl at evil.example is a validation error naming the key; so are url and s3Endpoint", () => {
            const api = issuesOf(stackWith((v) => (v.supabase.apiUrl = "https://evil.example")));
            assert.equal(api.length, 1, JSON.stringify(api));
            assert.equal(api[0].key, "supabase-backups:supabase.apiUrl");
            assert.match(api[0].expected, /evil\.example.*not Supabase's \(api\.supabase\.com\)/);
            const url = issuesOf(stackWith((v) => (v.supabase.url = "https://evil.example")));
            assert.deepEqual(url.map((i) => i.key), ["supabase-backups:supabase.url"]);
            const s3 = issuesOf(stackWith((v) => (v.storage.s3Endpoint = "https://evil.example/storage/v1/s3")));
            assert.deepEqual(s3.map((i) => i.key), ["supabase-backups:storage.s3Endpoint"]);
        });

        it("look-alikes fail too: another project's host, a suffix trick, plain http, credentials in the URL", () => {
            for (const [key, url] of [
                ["url", "https://otherprojectrefxxxxx.supabase.co"],
                ["url", `https://${REF}.supabase.co.evil.example`],
                ["apiUrl", "https://api.supabase.com.evil.example"],
                ["apiUrl", "http://api.supabase.com"],
                ["apiUrl", "https://user:pw@api.supabase.com"],
            ] as const) {
                const got = issuesOf(stackWith((v) => (v.supabase[key] = url)));
                assert.deepEqual(got.map((i) => i.key), [`supabase-backups:supabase.${key}`], url);
            }
        });

        it("Supabase's own hosts pass; a self-hosted host passes only when listed in supabase.allowedHosts", () => {
            assert.deepEqual(issuesOf(stackWith((v) => ((v.supabase.apiUrl = "https://api.supabase.com/v1"), (v.supabase.url = `https://${REF}.supabase.co`)))), []);
            assert.deepEqual(issuesOf(stackWith((v) => (v.storage.s3Endpoint = `https://${REF}.storage.supabase.co/storage/v1/s3`))), []);
            const selfHosted = (v: any) => ((v.supabase.url = "https://supabase.internal.acme.example"), (v.supabase.apiUrl = "https://supabase.internal.acme.example"));
            assert.equal(issuesOf(stackWith(selfHosted)).length, 2);
            assert.deepEqual(issuesOf(stackWith((v) => (selfHosted(v), (v.supabase.allowedHosts = ["supabase.internal.acme.example"])))), []);
        });
    });

    describe("job start: the real CLI with a job config pointing at another host", () => {
        let api: FakeSupabaseApi;
        before(async () => {
            api = await startFakeSupabaseApi({ host: "127.0.0.2" });
            api.addProject(REF, { backups: [] });
        });
        after(async () => api?.stop());
        beforeEach(() => (api.requests.length = 0));
        const vault = { bucket: "unused-vault", region: "us-east-1", endpoint: "http://127.0.0.1:9", forcePathStyle: true };

        it("check-supabase refuses before sending the Management API token: exit 2, one line naming supabase.apiUrl, no request", async () => {
            const cfg = writeJobConfig({ vault }, (c) => (c.supabase.apiUrl = api.url)).path;
            const r = await runCli(["check-supabase", "--config", cfg], { SUPABASE_ACCESS_TOKEN: api.token });
            assert.equal(r.code, 2, r.stderr);
            assert.match(r.stderr, /supabase\.apiUrl: expected a URL on Supabase's own host or one listed in supabase\.allowedHosts.*"127\.0\.0\.2"/);
            assert.ok(!r.stderr.includes(api.token) && !r.stdout.includes(api.token));
            assert.equal(api.requests.length, 0, "the fake Management API received nothing");
        });

        it("control: with 127.0.0.2 in supabase.allowedHosts the same run reaches the fake API (so the refusal above is the defence)", async () => {
            const cfg = writeJobConfig({ vault }, (c) => ((c.supabase.apiUrl = api.url), (c.supabase.allowedHosts = ["127.0.0.2"]))).path;
            await runCli(["check-supabase", "--config", cfg], { SUPABASE_ACCESS_TOKEN: api.token });
            assert.ok(api.requests.length > 0, "the request went out");
        });

        it("a bad supabase.url stops every command at config load, before the Management API is called", async () => {
            const cfg = writeJobConfig({ vault }, (c) => ((c.supabase.apiUrl = api.url), (c.supabase.allowedHosts = ["127.0.0.2"]), (c.supabase.url = "https://evil.example"))).path;
            const r = await runCli(["check-supabase", "--config", cfg], { SUPABASE_ACCESS_TOKEN: api.token, SUPABASE_SERVICE_ROLE_KEY: "service-role-secret" });
            assert.equal(r.code, 2, r.stderr);
            assert.match(r.stderr, /supabase\.url: .*evil\.example/);
            assert.equal(api.requests.length, 0);
        });
    });
});
