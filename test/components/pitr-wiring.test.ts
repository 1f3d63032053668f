// The PITR add-on as the real program declares it (components/stack.ts's hook loads
// components/stack.ts): prod manages pitr_28 (the runbooks' "up to 30": the longest Supabase sells), staging only observes, the token is never an input.
import assert from "node:assert/strict";
import { runProgramUnderMocks } from "../../scripts/lib/mockrun";

const TYPE = "pulumi-nodejs:dynamic/supabase:PitrAddon";

describe("operator: the PITR add-on in the real stacks (mocks)", function () {
    this.timeout(120_000);

    it("prod: one PitrAddon for the prod project, 28 days, managed; staging: observed only", async () => {
        const prod = await runProgramUnderMocks("prod");
        const mine = prod.resources.filter((r) => r.type === TYPE);
        assert.equal(mine.length, 1, prod.resources.map((r) => r.type).join(", "));
        assert.equal(mine[0].inputs.projectRef, "prdabcdefghijklmnopq");
        assert.equal(mine[0].inputs.required, true);
        assert.equal(mine[0].inputs.days, 28);
        assert.ok(!Object.keys(mine[0].inputs).some((k) => /token/i.test(k)), Object.keys(mine[0].inputs).join(","));
        assert.deepEqual(mine[0].secretPaths.filter((p) => !p.startsWith("__provider")), []);
        assert.ok(mine[0].parent, "parented inside the stack component");

        const staging = await runProgramUnderMocks("staging");
        const s = staging.resources.filter((r) => r.type === TYPE);
        assert.equal(s.length, 1);
        assert.equal(s[0].inputs.required, false);
        assert.equal(s[0].inputs.days, null);
    });
});
