// Every PrometheusRule the stack declares, as the Prometheus Operator hands it to Prometheus, checked by
// Prometheus' own `promtool check rules`: the PromQL and the annotation templates ({{ $labels.kind }},
// {{ $value | humanizeDuration }}), which no other test parses. A template error makes Prometheus refuse
// the whole rule group, and then no alert of it fires.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { ofType, stackRun } from "../support/components";

function promtoolCheck(groups: unknown[]): { status: number | null; out: string } {
    const dir = mkdtempSync(join(tmpdir(), "sb-rules-"));
    try {
        const file = join(dir, "rules.yml");
        writeFileSync(file, dump({ groups }));
        const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
        if (r.error) throw r.error;
        return { status: r.status, out: `${r.stdout}${r.stderr}` };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

describe("alert rules: promtool check rules (Prometheus' own parser)", () => {
    it("a broken annotation template is refused (the check can fail)", () => {
        const r = promtoolCheck([{ name: "t", rules: [{ alert: "X", expr: "up == 0", annotations: { summary: "{{ $labels.kind " } }] }]);
        assert.notEqual(r.status, 0, r.out);
        assert.match(r.out, /template/i);
    });

    for (const stack of ["staging", "prod"] as const) {
        it(`${stack}: every rule group of every PrometheusRule is accepted`, async () => {
            const r = await stackRun(stack);
            const groups = ofType(r, "kubernetes:monitoring.coreos.com/v1:PrometheusRule").flatMap((x) => x.inputs.spec.groups);
            const rules = groups.flatMap((g: any) => g.rules);
            assert.ok(rules.length >= 20, `${rules.length} rules`);
            const check = promtoolCheck(groups);
            assert.equal(check.status, 0, check.out);
            assert.match(check.out, new RegExp(`SUCCESS: ${rules.length} rules found`));
        });
    }
});
