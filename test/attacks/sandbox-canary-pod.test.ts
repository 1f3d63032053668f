// The canary container runs the source database's code (docs/security.md "The canary runs hostile
// code"): it must get nothing of the verifier's cloud identity. IRSA's and Azure workload identity's
// webhooks inject the role's env (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AZURE_*) and the projected
// token into every container of a pod unless the pod names it in their skip-containers annotation; the
// declared objects are checked here under Pulumi mocks, for both stacks (prod has Azure, staging not).
// What this cannot give: a NetworkPolicy selects pods, not containers, so the sidecar shares the verify
// pod's egress; the restore as a NOSUPERUSER owner without network extensions is what keeps the code off
// the network (test/attacks/sandbox-canary.test.ts), and docs/security.md says so.
import assert from "node:assert/strict";
import { SECRETS } from "@supabase-backups/contracts";
import type { MockRunResult } from "../../scripts/lib/mockrun";
import { one, stackRun } from "../support/components";
import { CANARY_CONTAINER } from "../../components/schedule";

const podTemplateOf = (cj: { inputs: any }) => cj.inputs.spec.jobTemplate.spec.template;

for (const stack of ["staging", "prod"] as const) {
    describe(`attack surface of the canary sidecar (${stack} stack under mocks)`, () => {
        let r: MockRunResult;
        before(async () => {
            r = await stackRun(stack);
        });

        it("the verify pod tells IRSA (and Azure workload identity, when on) to skip the canary container", () => {
            const tpl = podTemplateOf(one(r, "kubernetes:batch/v1:CronJob", "-verify"));
            const names = [...(tpl.spec.initContainers ?? []), ...tpl.spec.containers].map((c: any) => c.name);
            assert.ok(names.includes(CANARY_CONTAINER), names.join(","));
            const ann = tpl.metadata.annotations ?? {};
            assert.deepEqual(ann["eks.amazonaws.com/skip-containers"]?.split(","), [CANARY_CONTAINER]);
            const azure = tpl.metadata.labels["azure.workload.identity/use"] === "true";
            assert.equal(azure, stack === "prod", "the prod stack file turns the Azure archive on");
            if (azure) assert.deepEqual(ann["azure.workload.identity/skip-containers"]?.split(";"), [CANARY_CONTAINER]);
            // the job container itself keeps its identity: it is not in any skip list
            assert.ok(!Object.values(ann).some((v) => String(v).split(/[,;]/).includes("verify")));
        });

        it("the canary container is declared without credentials: no secret, no cloud env, no token mount, no API token", () => {
            const tpl = podTemplateOf(one(r, "kubernetes:batch/v1:CronJob", "-verify"));
            const canary = tpl.spec.initContainers.find((c: any) => c.name === CANARY_CONTAINER);
            const env: any[] = canary.env ?? [];
            assert.deepEqual(env.filter((e) => e.valueFrom), [], "nothing from a Secret or the downward API");
            const secretNames = new Set(Object.values(SECRETS).map((s) => s.env));
            for (const e of env) assert.ok(!secretNames.has(e.name) && !/^(AWS_|AZURE_)/.test(e.name), `${e.name} in the canary`);
            assert.equal(canary.envFrom, undefined);
            for (const m of canary.volumeMounts) assert.match(m.name, /^canary-/, `only the canary's own volumes: ${m.name}`);
            assert.equal(tpl.spec.automountServiceAccountToken, false);
            assert.equal(canary.securityContext.allowPrivilegeEscalation, false);
            assert.ok(canary.args.includes("listen_addresses=127.0.0.1"), "reachable only from inside the pod");
        });

        it("no other CronJob pod carries a canary or skips containers", () => {
            for (const cj of r.resources.filter((x) => x.type === "kubernetes:batch/v1:CronJob" && !x.name.endsWith("-verify"))) {
                const tpl = podTemplateOf(cj);
                assert.equal(tpl.metadata.annotations, undefined, cj.name);
                assert.ok(!(tpl.spec.initContainers ?? []).some((c: any) => c.name === CANARY_CONTAINER), cj.name);
            }
        });
    });
}
