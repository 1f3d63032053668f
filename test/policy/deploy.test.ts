// scripts/deploy.sh, the deploy gate, without the Pulumi CLI: a stand-in `pulumi` records its argv. The
// gate must hand Pulumi exactly the pack and the stack's pack config, run the offline gate first, and
// refuse (without calling Pulumi) when the pack is missing, an argument would swap it out, the stack
// file pins a placeholder digest, or the offline gate fails.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/policy-fixtures";

describe("deploy gate (scripts/deploy.sh)", function () {
    this.timeout(120_000);
    let dir: string;
    let fake: string;
    let record: string;

    before(() => {
        dir = mkdtempSync(join(tmpdir(), "sb-deploy-"));
        record = join(dir, "argv.jsonl");
        fake = join(dir, "pulumi");
        writeFileSync(fake, `#!/usr/bin/env node\nrequire("fs").appendFileSync(${JSON.stringify(record)}, JSON.stringify(process.argv.slice(2)) + "\\n");\n`);
        chmodSync(fake, 0o755);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const calls = (): string[][] => (existsSync(record) ? readFileSync(record, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
    const deploy = (args: string[], root = ROOT) => {
        rmSync(record, { force: true });
        return spawnSync("bash", [join(root, "scripts", "deploy.sh"), ...args], { encoding: "utf8", env: { ...process.env, PULUMI: fake }, cwd: dir });
    };

    it("runs the offline gate, then exactly pulumi up --stack S --policy-pack policy --policy-pack-config policy/config.S.json", () => {
        const r = deploy(["staging", "up", "--", "--yes"]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /offline policy gate: npx --no-install tsx scripts\/policy\.ts --stack staging/);
        assert.match(r.stderr, /✔ every policy passed/);
        assert.deepEqual(calls(), [["up", "--stack", "staging", "--policy-pack", "policy", "--policy-pack-config", "policy/config.staging.json", "--yes"]]);
    });

    it("refuses an argument that names another pack or pack config; Pulumi is never called", () => {
        for (const bad of ["--policy-pack", "--policy-pack=/tmp/empty", "--policy-pack-config=/tmp/x.json"]) {
            const r = deploy(["staging", "preview", "--", bad, "/tmp/empty"]);
            assert.equal(r.status, 2, r.stderr);
            assert.match(r.stderr, /refusing '--policy-pack/);
            assert.deepEqual(calls(), []);
        }
    });

    it("refuses a placeholder digest (prod until the deployer pins the built image)", () => {
        const r = deploy(["prod", "up"]);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /placeholder digest/);
        assert.deepEqual(calls(), []);
    });

    it("refuses a placeholder Azure object id (prod's restore operators, once its digests are pinned)", () => {
        const copy = mkdtempSync(join(tmpdir(), "sb-deploy-copy-"));
        try {
            mkdirSync(join(copy, "scripts"));
            mkdirSync(join(copy, "policy"));
            copyFileSync(join(ROOT, "scripts", "deploy.sh"), join(copy, "scripts", "deploy.sh"));
            for (const f of ["PulumiPolicy.yaml", "index.ts", "config.prod.json"]) copyFileSync(join(ROOT, "policy", f), join(copy, "policy", f));
            const pinned = readFileSync(join(ROOT, "Pulumi.prod.yaml"), "utf8").replace(/@sha256:0{64}/g, `@sha256:${"ab".repeat(32)}`);
            writeFileSync(join(copy, "Pulumi.prod.yaml"), pinned);
            let r = deploy(["prod", "up"], copy);
            assert.equal(r.status, 2, r.stderr);
            assert.match(r.stderr, /names a placeholder Azure object id .*azure\.restoreOperators/);
            // a real object id passes this check (and stops later, at the gate this copy cannot run)
            writeFileSync(join(copy, "Pulumi.prod.yaml"), pinned.replace(/00000000-0000-4000-8000-000000000001/g, "3f2b8c1e-9d4a-4e6b-8f7c-2a1d5e9b0c34"));
            r = deploy(["prod", "up"], copy);
            assert.doesNotMatch(r.stderr, /placeholder/);
            assert.deepEqual(calls(), []);
        } finally {
            rmSync(copy, { recursive: true, force: true });
        }
    });

    it("refuses to deploy from a checkout without the pack or the stack's pack config", () => {
        const copy = mkdtempSync(join(tmpdir(), "sb-deploy-copy-"));
        try {
            mkdirSync(join(copy, "scripts"));
            copyFileSync(join(ROOT, "scripts", "deploy.sh"), join(copy, "scripts", "deploy.sh"));
            copyFileSync(join(ROOT, "Pulumi.staging.yaml"), join(copy, "Pulumi.staging.yaml"));
            let r = deploy(["staging", "up"], copy);
            assert.equal(r.status, 2, r.stderr);
            assert.match(r.stderr, /refusing to deploy without the policy pack: policy\/PulumiPolicy\.yaml is missing/);
            mkdirSync(join(copy, "policy"));
            copyFileSync(join(ROOT, "policy", "PulumiPolicy.yaml"), join(copy, "policy", "PulumiPolicy.yaml"));
            copyFileSync(join(ROOT, "policy", "index.ts"), join(copy, "policy", "index.ts"));
            r = deploy(["staging", "up"], copy);
            assert.equal(r.status, 2, r.stderr);
            assert.match(r.stderr, /policy\/config\.staging\.json is missing/);
            assert.deepEqual(calls(), []);
        } finally {
            rmSync(copy, { recursive: true, force: true });
        }
    });

    it("usage errors: no stack, an unknown action, arguments without --", () => {
        assert.equal(deploy([]).status, 2);
        assert.match(deploy(["staging", "destroy"]).stderr, /action must be preview or up/);
        assert.match(deploy(["staging", "up", "--yes"]).stderr, /extra pulumi arguments go after --/);
        assert.deepEqual(calls(), []);
    });
});
