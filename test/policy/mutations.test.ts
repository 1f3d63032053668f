// The mutation corpus (test/policy/mutations/corpus.ts) on the real program: prod is run once under
// mocks, each named weakening is applied to a copy of what it declared, and the pack (evaluated
// in-process, as the offline gate does) must fail it with the expected policy. The unmodified staging
// and prod stacks pass. One end-to-end run through the CrossGuard gRPC server is in crossguard.test.ts.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { toPolicyResources } from "../../scripts/policy";
import { evaluatePack, type DeclaredResource } from "../../policy/evaluate";
import { readPackConfigFile } from "../../policy/config";
import { policies } from "../../policy/policies";
import { MUTANTS } from "./mutations/corpus";
import { ROOT } from "../support/policy-fixtures";

describe("mutation corpus: every weakening of the real prod program fails the gate", function () {
    this.timeout(300_000);
    let base: DeclaredResource[];
    const config = () => readPackConfigFile(join(ROOT, "policy", "config.prod.json"));

    before(async () => {
        base = toPolicyResources((await runProgramUnderMocks("prod")).resources);
    });

    for (const stack of ["staging", "prod"]) {
        it(`the unmodified ${stack} stack passes every policy`, async () => {
            const rs = stack === "prod" ? base : toPolicyResources((await runProgramUnderMocks(stack)).resources);
            const vs = await evaluatePack(rs, readPackConfigFile(join(ROOT, "policy", `config.${stack}.json`)), { stack });
            assert.deepEqual(vs.map((v) => `${v.policy}: ${v.message}`), []);
        });
    }

    it("the corpus has at least 60 named weakenings, unique names, each naming a policy of the pack", () => {
        assert.ok(MUTANTS.length >= 60, `only ${MUTANTS.length}`);
        assert.equal(new Set(MUTANTS.map((m) => m.name)).size, MUTANTS.length);
        for (const m of MUTANTS) assert.ok(policies.some((p) => p.name === m.policy), `${m.name}: unknown policy ${m.policy}`);
    });

    for (const m of MUTANTS) {
        it(`${m.name} → ${m.policy}`, async () => {
            const rs = structuredClone(base);
            m.apply(rs);
            const vs = await evaluatePack(rs, config(), { stack: "prod" });
            const hit = vs.filter((v) => v.policy === m.policy && v.enforcementLevel === "mandatory");
            assert.ok(hit.length > 0, `not caught by ${m.policy}; got: ${vs.map((v) => `[${v.policy}] ${v.message}`).join("\n") || "(nothing)"}`);
        });
    }
});
