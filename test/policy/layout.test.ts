// The pack's files: one policy a file in policy/policies/, named exactly as the policy (kebab-case,
// like cdk-nag's rules), the list of them written once (policy/policies/index.ts), and what several
// policies share in policy/lib/. The served PolicyPack holding exactly that list is checked over the
// analyzer protocol in crossguard.test.ts.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { policies } from "../../policy/policies";
import { derivePackConfig } from "../../policy/config";
import { ROOT, stackConfig } from "../support/policy-fixtures";

const POLICIES_DIR = join(ROOT, "policy", "policies");
const LIB_DIR = join(ROOT, "policy", "lib");
const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*\.ts$/;

const tsFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
const policyFiles = () => tsFiles(POLICIES_DIR).filter((f) => f !== "index.ts");

/** The exported values of a module that are CrossGuard policies. */
function exportedPolicies(file: string): { name: string }[] {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(file);
    return Object.values(mod).filter(
        (v): v is { name: string } => !!v && typeof v === "object" && typeof (v as any).name === "string" && ("validateResource" in (v as object) || "validateStack" in (v as object)),
    );
}

describe("policy pack: files and the one list", () => {
    it("each file in policy/policies/ exports exactly one policy, named as the file", () => {
        for (const f of policyFiles()) {
            const exported = exportedPolicies(join(POLICIES_DIR, f));
            assert.equal(exported.length, 1, `${f} exports ${exported.length} policies (${exported.map((p) => p.name).join(", ")})`);
            assert.equal(`${exported[0].name}.ts`, f, `policy/policies/${f} holds the policy "${exported[0].name}"`);
            assert.ok(policies.includes(exported[0] as (typeof policies)[number]), `${f}: its policy is in the list`);
        }
    });

    it("the list holds every policy file's policy once, and nothing else", () => {
        const names = policies.map((p) => p.name);
        assert.equal(new Set(names).size, names.length, `duplicate names in the list: ${names.join(", ")}`);
        assert.deepEqual([...names].sort(), policyFiles().map((f) => basename(f, ".ts")));
    });

    it("policy and helper files have kebab-case names; helpers export no policy", () => {
        for (const f of [...tsFiles(POLICIES_DIR), ...tsFiles(LIB_DIR)]) assert.match(f, KEBAB);
        for (const f of tsFiles(LIB_DIR)) assert.deepEqual(exportedPolicies(join(LIB_DIR, f)), [], `policy/lib/${f} exports a policy`);
    });

    it("a policy file imports helpers from policy/lib/, never another policy", () => {
        for (const f of policyFiles()) {
            const src = readFileSync(join(POLICIES_DIR, f), "utf8");
            const relative = [...src.matchAll(/^(?:import|export)[^;]*?from\s+"(\.[^"]*)"/gm)].map((m) => m[1]);
            for (const spec of relative) assert.match(spec, /^\.\.\/lib\//, `policy/policies/${f} imports ${spec}`);
        }
    });

    it("the pack config generator walks the list: every policy with required settings derives them, in pack order", () => {
        for (const p of policies) {
            if (p.configSchema?.required?.length) assert.ok(p.configFromStack, `${p.name} has required settings but no configFromStack`);
        }
        for (const stack of ["staging", "prod"]) {
            const keys = Object.keys(derivePackConfig(stackConfig(stack)));
            assert.deepEqual(keys, policies.filter((p) => p.configFromStack).map((p) => p.name), stack);
        }
    });
});
