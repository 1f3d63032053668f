// The Supabase PITR add-on dynamic provider: its CRUD methods called directly against the local
// Management API, the serialized provider (as Pulumi stores and runs it) against the same server, and
// the resource under Pulumi mocks (the token never among the inputs).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { createPitrProvider, PITR_COMPUTE_TOO_SMALL, type PitrInputs, type PitrState } from "../../components/supabase/pitr";
import { COMPUTE_TOO_SMALL_FOR_PITR } from "../../jobs/src/supabase/api";
import { startFakeSupabaseApi, type FakeSupabaseApi } from "../support/supabase-api";

const REF = "prdabcdefghijklmnopq";

describe("operator: Supabase PITR add-on dynamic provider", function () {
    let api: FakeSupabaseApi;
    const savedEnv = process.env.SUPABASE_ACCESS_TOKEN;
    const cfg = (map: Record<string, string>) => ({ config: { get: (k: string) => map[k], require: (k: string) => map[k] } });

    before(async () => {
        api = await startFakeSupabaseApi();
    });
    after(async () => {
        await api.stop();
        if (savedEnv === undefined) delete process.env.SUPABASE_ACCESS_TOKEN;
        else process.env.SUPABASE_ACCESS_TOKEN = savedEnv;
    });
    beforeEach(() => {
        api.reset();
        api.addProject(REF, { addons: { compute_instance: "ci_small" } }); // PITR needs Small or larger
        delete process.env.SUPABASE_ACCESS_TOKEN;
    });

    const inputs = (over: Partial<PitrInputs> = {}): PitrInputs => ({ projectRef: REF, apiUrl: api.url, required: true, days: 7, ...over });

    it("create → read → drift → update → delete, with the published requests", async () => {
        const p = createPitrProvider();
        await p.configure!(cfg({ "pulumi-nodejs:supabaseAccessToken": api.token }));
        const created = await p.create(inputs());
        assert.equal(created.id, `${REF}/pitr`);
        assert.deepEqual(created.outs, { projectRef: REF, apiUrl: api.url, required: true, days: 7, desiredVariant: "pitr_7", variant: "pitr_7", managed: true });
        assert.deepEqual(api.requests.map((r) => `${r.method} ${r.path}`), [`PATCH /v1/projects/${REF}/billing/addons`, `GET /v1/projects/${REF}/billing/addons`]);
        assert.deepEqual(api.requests[0].body, { addon_variant: "pitr_7", addon_type: "pitr" });
        assert.equal(api.projects.get(REF)!.addons.pitr, "pitr_7");
        const outs = created.outs as PitrState;

        // no change
        assert.equal((await p.diff!(created.id, outs, inputs())).changes, false);
        // drift: someone switched PITR to 14 days in the dashboard; read sees it and diff wants it back
        api.projects.get(REF)!.addons.pitr = "pitr_14";
        const read = await p.read!(created.id, outs);
        assert.equal(read.props!.variant, "pitr_14");
        assert.equal((await p.diff!(created.id, read.props!, inputs())).changes, true);
        // config change: 28 days
        const d = await p.diff!(created.id, outs, inputs({ days: 28 }));
        assert.deepEqual([d.changes, d.replaces], [true, []]);
        const upd = await p.update!(created.id, outs, inputs({ days: 28 }));
        assert.equal(upd.outs!.variant, "pitr_28");
        assert.equal(api.projects.get(REF)!.addons.pitr, "pitr_28");
        // another project: replace
        assert.deepEqual((await p.diff!(created.id, outs, inputs({ projectRef: "otherabcdefghijklmno" }))).replaces, ["projectRef"]);

        api.requests.length = 0;
        await p.delete!(created.id, upd.outs as PitrState);
        assert.deepEqual(api.requests.map((r) => `${r.method} ${r.path}`), [`GET /v1/projects/${REF}/billing/addons`, `DELETE /v1/projects/${REF}/billing/addons/pitr_28`]);
        assert.equal(api.projects.get(REF)!.addons.pitr, undefined);
        // deleting again (already gone) is a no-op; so is deleting when the project itself is gone
        await p.delete!(created.id, upd.outs as PitrState);
        api.projects.delete(REF);
        await p.delete!(created.id, upd.outs as PitrState);
    });

    it("required: false only observes: no PATCH on create, no DELETE on delete", async () => {
        process.env.SUPABASE_ACCESS_TOKEN = api.token;
        api.projects.get(REF)!.addons.pitr = "pitr_14"; // bought by hand
        const p = createPitrProvider();
        const c = await p.create(inputs({ required: false, days: null }));
        assert.equal((c.outs as PitrState).variant, "pitr_14");
        assert.equal((c.outs as PitrState).managed, false);
        await p.delete!(c.id, c.outs as PitrState);
        assert.ok(api.requests.every((r) => r.method === "GET"), JSON.stringify(api.requests));
        assert.equal(api.projects.get(REF)!.addons.pitr, "pitr_14");
    });

    it("credentials: provider config, else SUPABASE_ACCESS_TOKEN; none → a clear error; 401 → a clear error without the token", async () => {
        const p = createPitrProvider();
        await assert.rejects(p.create(inputs()), /no Supabase Management API token .*SUPABASE_ACCESS_TOKEN.*pulumi-nodejs:supabaseAccessToken/);
        assert.equal(api.requests.length, 0);
        process.env.SUPABASE_ACCESS_TOKEN = api.token;
        await p.create(inputs());
        assert.ok(api.requests.every((r) => r.authorized));
        const wrong = "sbp_notthetokennotthetokennotthetoken00";
        const q = createPitrProvider();
        await q.configure!(cfg({ "supabase-backups:managementApiToken": wrong }));
        await assert.rejects(q.create(inputs()), (e: Error) => {
            assert.match(e.message, /401 Unauthorized/);
            assert.ok(!e.message.includes(wrong));
            return true;
        });
    });

    it("404 and 429 from the API surface as clear errors; 429 is retried per Retry-After", async () => {
        process.env.SUPABASE_ACCESS_TOKEN = api.token;
        const sleeps: number[] = [];
        const p = createPitrProvider({ sleep: async (ms) => void sleeps.push(ms) });
        await assert.rejects(p.create(inputs({ projectRef: "zzzzzzzzzzzzzzzzzzzz" })), /not found \(404\).*supabase\.projectRef/);
        api.inject({ match: `PATCH /v1/projects/${REF}/billing/addons`, status: 429, times: 1, headers: { "retry-after": "3" } });
        const c = await p.create(inputs());
        assert.equal((c.outs as PitrState).variant, "pitr_7");
        assert.deepEqual(sleeps, [3000]);
        api.inject({ match: `GET /v1/projects/${REF}/billing/addons`, status: 429, times: 9, headers: { "retry-after": "1" } });
        await assert.rejects(p.read!(c.id, c.outs as PitrState), /rate limit hit \(429 Too Many Requests\).*4 attempt/);
    });

    it("check: rejects a bad project ref and window, defaults the window to 7 days", async () => {
        const p = createPitrProvider();
        const bad = await p.check!(inputs(), inputs({ projectRef: "Nope", days: 30 as any }));
        assert.deepEqual(bad.failures!.map((f) => f.property).sort(), ["days", "projectRef"]);
        const ok = await p.check!(inputs(), inputs({ days: undefined as any }));
        assert.equal(ok.failures!.length, 0);
        assert.equal(ok.inputs!.days, 7);
    });

    it("preview (check): PITR on a project below a Small compute add-on fails with what to do; create is refused by the API too", async () => {
        const p = createPitrProvider();
        await p.configure!(cfg({ "pulumi-nodejs:supabaseAccessToken": api.token }));
        for (const compute of [undefined, "ci_micro"]) {
            api.projects.get(REF)!.addons = compute ? { compute_instance: compute } : {};
            const c = await p.check!(inputs(), inputs({ days: 28 }));
            assert.deepEqual(c.failures!.map((f) => f.property), ["required"]);
            assert.match(c.failures![0].reason, new RegExp(`PITR needs a compute add-on of Small or larger; project ${REF} runs ${compute ?? "no compute add-on \\(the plan's default size\\)"}: upgrade it first .*ci_small`));
            await assert.rejects(p.create(inputs({ days: 28 })), /refused PATCH .*\(400\): Point in time recovery requires a compute add-on of Small or larger/);
        }
        // observed only (required: false) never asks; after the upgrade the preview passes
        assert.equal((await p.check!(inputs(), inputs({ required: false }))).failures!.length, 0);
        api.projects.get(REF)!.addons = { compute_instance: "ci_medium" };
        assert.equal((await p.check!(inputs(), inputs({ days: 28 }))).failures!.length, 0);
        assert.equal((await p.create(inputs({ days: 28 }))).outs!.variant, "pitr_28");
        // the provider's own copy of the sizes (it is serialized into the state) is the jobs' list
        assert.deepEqual(PITR_COMPUTE_TOO_SMALL, COMPUTE_TOO_SMALL_FOR_PITR);
    });

    it("serialized as Pulumi stores it, the provider still works (and carries no token)", async () => {
        process.env.SUPABASE_ACCESS_TOKEN = api.token; // present while serializing: must not be captured
        const provider = createPitrProvider();
        const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
        assert.ok(!sf.text.includes(api.token), "token captured in the serialized provider");
        const dir = mkdtempSync(join(tmpdir(), "sb-pitr-"));
        const file = join(dir, "provider.js");
        writeFileSync(file, sf.text);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const restored = require(file)[sf.exportName]() as ReturnType<typeof createPitrProvider>;
        delete process.env.SUPABASE_ACCESS_TOKEN;
        await restored.configure!(cfg({ "pulumi-nodejs:supabaseAccessToken": api.token }));
        assert.equal((await restored.check!(inputs(), inputs({ days: 14 }))).failures!.length, 0);
        api.projects.get(REF)!.addons = { compute_instance: "ci_micro" };
        assert.match((await restored.check!(inputs(), inputs({ days: 14 }))).failures![0].reason, /compute add-on of Small or larger/);
        api.projects.get(REF)!.addons = { compute_instance: "ci_small" };
        const c = await restored.create(inputs({ days: 14 }));
        assert.equal((c.outs as PitrState).variant, "pitr_14");
        assert.equal(api.projects.get(REF)!.addons.pitr, "pitr_14");
    });

    it("under Pulumi mocks: the resource's inputs never include the token", async () => {
        const seen: Array<{ type: string; inputs: any }> = [];
        pulumi.runtime.setMocks(
            {
                newResource: (a) => {
                    seen.push({ type: a.type, inputs: a.inputs });
                    return { id: `${a.name}-id`, state: { ...a.inputs, variant: "pitr_7", desiredVariant: "pitr_7", managed: true } };
                },
                call: (a) => a.inputs,
            },
            "supabase-backups",
            "prod",
            false,
        );
        const token = "sbp_mocktokenmocktokenmocktoken000000";
        const { SupabasePitr } = await import("../../components/supabase/pitr");
        const r = new SupabasePitr("pitr", { projectRef: REF, apiUrl: "https://api.supabase.com", required: true, days: 7, managementApiToken: pulumi.secret(token) });
        const outs = await new Promise<any>((res) => r.outputs.apply(res));
        assert.deepEqual(outs, { projectRef: REF, variant: "pitr_7", desiredVariant: "pitr_7", managed: true });
        const mine = seen.find((s) => s.type === "pulumi-nodejs:dynamic/supabase:PitrAddon");
        assert.ok(mine, JSON.stringify(seen.map((s) => s.type)));
        assert.equal(mine!.inputs.projectRef, REF);
        assert.equal(mine!.inputs.days, 7);
        assert.ok(!JSON.stringify(mine!.inputs).includes(token), "token among the inputs");
    });
});
