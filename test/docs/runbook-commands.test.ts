// The runbook commands in README.md and docs/ against what the stack declares: the archive account
// refuses shared keys, so every `az storage` command must authenticate with Entra ID (`--auth-mode
// login`) and name the account, or it fails as written (issue 17 item 5). The az CLI itself cannot run
// here (no Entra ID to log in to); this checks every such command the docs contain.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readStackFile } from "@supabase-backups/contracts";
import { REPO_ROOT } from "../../scripts/lib/mockrun";
import { one, stackRun } from "../support/components";

function markdownFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? markdownFiles(p) : n.endsWith(".md") ? [p] : [];
    });
}

/** Every `az storage …` command line in README.md and docs/, with its file. */
function azStorageCommands(): Array<{ file: string; line: string }> {
    const files = [join(REPO_ROOT, "README.md"), ...markdownFiles(join(REPO_ROOT, "docs"))];
    return files.flatMap((file) =>
        readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => /^\s*(\$\s*)?az storage /.test(l))
            .map((line) => ({ file: file.slice(REPO_ROOT.length + 1), line: line.trim() })),
    );
}

describe("docs: runbook commands match the stack", function () {
    this.timeout(120_000);

    it("the prod archive account disables shared keys, and every az storage command in the docs logs in with Entra ID and names that account", async () => {
        const r = await stackRun("prod");
        const account = one(r, "azure-native:storage:StorageAccount").inputs;
        assert.equal(account.allowSharedKeyAccess, false);
        const name = (readStackFile(join(REPO_ROOT, "Pulumi.prod.yaml")).values.azure as any).accountName;
        assert.equal(account.accountName, name);
        const cmds = azStorageCommands();
        assert.ok(cmds.length >= 2, "the region-outage runbook downloads with az storage blob download");
        for (const c of cmds) {
            assert.match(c.line, /(^|\s)--auth-mode login(\s|$)/, `${c.file}: ${c.line}`);
            assert.match(c.line, new RegExp(`(^|\\s)--account-name ${name}(\\s|$)`), `${c.file}: ${c.line}`);
        }
    });
});
