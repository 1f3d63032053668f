// The layering rule of jobs/src (.dependency-cruiser.cjs) is checked by dependency-cruiser itself: the
// real tree passes, and a tree that breaks each rule once fails with that rule's name.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const root = join(__dirname, "..", "..");
const depcruise = join(root, "node_modules", ".bin", "depcruise");

function cruise(cwd: string, paths: string[]): { status: number | null; out: string } {
    const r = spawnSync(depcruise, ["--config", join(cwd, ".dependency-cruiser.cjs"), "--output-type", "err", ...paths], { cwd, encoding: "utf8" });
    return { status: r.status, out: r.stdout + r.stderr };
}

describe("layout: the dependency rule of jobs/src", function () {
    this.timeout(60_000);

    it("the real tree keeps it", () => {
        const r = cruise(root, ["jobs/src", "contracts/src"]);
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /no dependency violations/);
    });

    it("a tree that breaks each rule fails, naming the rule", () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-layers-"));
        try {
            copyFileSync(join(root, ".dependency-cruiser.cjs"), join(dir, ".dependency-cruiser.cjs"));
            writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "commonjs", strict: true } }));
            const files: Record<string, string> = {
                "jobs/src/runtime/log.ts": `export const log = 1;\n`,
                "jobs/src/runtime/uses-vault.ts": `import { put } from "../vault/s3";\nexport const x = put;\n`,
                "jobs/src/vault/s3.ts": `import { log } from "../runtime/log";\nexport const put = log;\n`,
                "jobs/src/vault/uses-command.ts": `import { run } from "../commands/dump/index";\nexport const y = run;\n`,
                "jobs/src/codec/uses-postgres.ts": `import { q } from "../postgres/quote";\nexport const z = q;\n`,
                "jobs/src/postgres/quote.ts": `export const q = 2;\n`,
                "jobs/src/cli/uses-command.ts": `import { run } from "../commands/dump/index";\nexport const w = run;\n`,
                "jobs/src/commands/dump/index.ts": `export const run = 3;\n`,
                "jobs/src/commands/verify/index.ts": `import { run } from "../dump/index";\nexport const v = run;\n`,
            };
            for (const [p, text] of Object.entries(files)) {
                mkdirSync(dirname(join(dir, p)), { recursive: true });
                writeFileSync(join(dir, p), text);
            }
            const r = cruise(dir, ["jobs/src"]);
            assert.notEqual(r.status, 0, "violations fail the check");
            for (const [rule, from] of [
                ["runtime-imports-only-contracts", "jobs/src/runtime/uses-vault.ts"],
                ["nothing-below-imports-commands", "jobs/src/vault/uses-command.ts"],
                ["domain-imports-only-runtime", "jobs/src/codec/uses-postgres.ts"],
                ["cli-shell-not-commands", "jobs/src/cli/uses-command.ts"],
                ["commands-are-independent", "jobs/src/commands/verify/index.ts"],
            ]) {
                assert.match(r.out, new RegExp(`${rule}: ${from.replace(/\./g, "\\.")}`), `${rule} reported for ${from}\n${r.out}`);
            }
            assert.doesNotMatch(r.out, /jobs\/src\/vault\/s3\.ts →/, "vault → runtime is allowed");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
