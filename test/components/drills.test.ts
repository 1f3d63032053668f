// The drill CronJobs and their alerts (components/drills.ts), from both stack files under mocks and from
// the plan's pure functions: one hardened CronJob per scheduled drill kind running `drill --kind`, as the
// drill identity; alerts for a failed, late (or never) and too-slow drill, with the stack file's targets.
import { strict as assert } from "node:assert";
import { maxIntervalSeconds, METRICS } from "@supabase-backups/contracts";
import { alertRules, plannedJobs } from "../../components/plan";
import { one, ofType, stackRun } from "../support/components";
import { parser as promql } from "@prometheus-io/lezer-promql";
import { readStackFile, validateStackConfig, type StackConfig } from "@supabase-backups/contracts";
import { join } from "node:path";

/** PromQL syntax errors of an expression (Prometheus' own grammar). */
function promqlErrors(expr: string): string[] {
    const errors: string[] = [];
    promql.parse(expr).iterate({ enter: (n) => void (n.type.isError && errors.push(`at ${n.from}`)) });
    return errors;
}

const stackConfig = (stack: string): StackConfig => {
    const r = validateStackConfig(readStackFile(join(__dirname, "..", "..", `Pulumi.${stack}.yaml`), { placeholderSecrets: true }));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.config.config;
};

for (const stack of ["staging", "prod"] as const) {
    describe(`drills (${stack}): CronJobs and alerts`, function () {
        this.timeout(120_000);

        it("one CronJob per drill kind: drill --kind, as the drill identity, monthly storage and table, quarterly full", async () => {
            const r = await stackRun(stack);
            const drills = ofType(r, "kubernetes:batch/v1:CronJob").filter((c) => c.inputs.metadata.labels["app.kubernetes.io/component"] === "drill");
            const by = Object.fromEntries(drills.map((c) => [c.inputs.metadata.name, c.inputs]));
            assert.deepEqual(Object.keys(by).sort(), ["drill-full", "drill-storage", "drill-table"]);
            for (const [name, cj] of Object.entries(by) as [string, any][]) {
                const pod = cj.spec.jobTemplate.spec.template.spec;
                assert.deepEqual(pod.containers[0].args.slice(0, 5), ["drill", "--kind", name.slice("drill-".length), "--env", stack]);
                assert.ok(pod.containers[0].args.includes("--reason"), "prod needs a reason for the audit record");
                assert.equal(pod.serviceAccountName, "supabase-backups-drill");
                assert.equal(cj.spec.concurrencyPolicy, "Forbid");
                assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
                assert.equal(pod.automountServiceAccountToken, false);
            }
            assert.equal(maxIntervalSeconds(by["drill-storage"].spec.schedule, by["drill-storage"].spec.timeZone), 31 * 86400);
            assert.equal(maxIntervalSeconds(by["drill-full"].spec.schedule, by["drill-full"].spec.timeZone), 92 * 86400);
            const sa = one(r, "kubernetes:core/v1:ServiceAccount", "-sa-drill").inputs;
            assert.equal(sa.metadata.annotations["eks.amazonaws.com/role-arn"], r.outputs.roleArns.drill);
        });

        it("alerts: DrillFailed, DrillLate (late and never), DrillMissedRto per kind, with the stack file's targets", () => {
            const cfg = stackConfig(stack);
            const jobs = plannedJobs(cfg);
            const rules = alertRules(cfg, jobs);
            for (const rule of rules) assert.deepEqual(promqlErrors(rule.expr), [], `${rule.alert}: ${rule.expr}`);
            const targets = { storage: 120 * 60, table: 60 * 60, full: 240 * 60 };
            for (const [kind, target] of Object.entries(targets)) {
                const mine = rules.filter((x) => x.labels.drill === kind);
                const sel = `env="${stack}",kind="drill",drill="${kind}"`;
                const failed = mine.find((x) => x.alert === "SupabaseBackupDrillFailed")!;
                assert.equal(failed.expr, `max by (env, drill) (${METRICS.drillResult}{${sel}}) == 0`);
                assert.equal(failed.labels.severity, "critical");
                const missed = mine.find((x) => x.alert === "SupabaseBackupDrillMissedRto")!;
                assert.equal(missed.expr, `max by (env, drill) (${METRICS.drillRtoSeconds}{${sel}}) > ${target}`);
                const job = jobs.find((j) => j.name === `drill-${kind}`)!;
                const late = mine.filter((x) => x.alert === "SupabaseBackupDrillLate");
                assert.equal(late.length, 2);
                assert.equal(late[0].expr, `time() - max by (env, drill) (${METRICS.drillLastSuccessTimestamp}{${sel}}) > ${job.periodSeconds + cfg.alerts.graceMinutes * 60}`);
                assert.equal(late[1].expr, `absent(${METRICS.drillLastSuccessTimestamp}{${sel}})`);
                // told apart by a label (promtool: two rules of one name with the same labels are duplicates)
                assert.deepEqual(late.map((x) => x.labels.late), ["overdue", "never"]);
            }
            // the generic per-CronJob alerts are not declared for drills (a monthly drill is not a nightly job)
            assert.deepEqual(rules.filter((x) => x.labels.kind === "drill" && !x.alert.startsWith("SupabaseBackupDrill")).map((x) => x.alert), []);
        });
    });
}

describe("drills: no drills section, no drill CronJobs or alerts", () => {
    it("plans none", () => {
        const cfg = stackConfig("staging");
        delete (cfg as any).drills;
        const jobs = plannedJobs(cfg);
        assert.ok(!jobs.some((j) => j.kind === "drill"));
        assert.ok(!alertRules(cfg, jobs).some((r) => r.alert.startsWith("SupabaseBackupDrill")));
    });
});
