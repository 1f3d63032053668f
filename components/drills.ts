// Restore drills on a schedule (docs/operations.md "Restore drills"): one CronJob per drill kind the stack
// file schedules (`drills.storage|table|full.schedule`), and the alerts on what they push: a drill that
// failed, one that is late (no drill that restored its data within its period + grace, or never), and one
// slower than its scenario's RTO target. Plain data, like plan.ts.
import { DRILL_KINDS, DRILL_SCENARIOS, METRIC_LABELS, METRICS, type DrillKind, type StackConfig } from "@supabase-backups/contracts";

/** What this file needs of plan.ts's PlannedJob and AlertRule (plan.ts imports this file, not the other way). */
interface PlannedJob {
    name: string;
    schedule: string;
    timeZone: string;
    args: string[];
    periodSeconds: number;
}
interface AlertRule {
    alert: string;
    expr: string;
    for: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
}

/** The CronJob of each scheduled drill kind: `drill-storage`, `drill-table`, `drill-full`. */
export function plannedDrills<J extends PlannedJob>(cfg: StackConfig, job: (name: string, schedule: string, args: string[]) => J): J[] {
    const d = cfg.drills;
    if (!d) return [];
    return DRILL_KINDS.filter((k) => d[k]).map((k) =>
        job(`drill-${k}`, d[k]!.schedule, ["drill", "--kind", k, "--env", cfg.env, "--reason", `scheduled ${k} drill (CronJob drill-${k})`]),
    );
}

/** The drill kind a planned drill CronJob runs. */
export function drillKindOf(j: PlannedJob): DrillKind {
    return j.args[j.args.indexOf("--kind") + 1] as DrillKind;
}

function human(seconds: number): string {
    if (seconds % 86400 === 0) return `${seconds / 86400}d`;
    if (seconds % 3600 === 0) return `${seconds / 3600}h`;
    return `${Math.round(seconds / 60)}m`;
}

/** SupabaseBackupDrillFailed, …DrillLate (late or never), …DrillMissedRto per scheduled drill. */
export function drillAlertRules<J extends PlannedJob>(cfg: StackConfig, drills: J[], labels: (severity: string, j?: J) => Record<string, string>): AlertRule[] {
    const env = cfg.env;
    const grace = cfg.alerts.graceMinutes * 60;
    const rules: AlertRule[] = [];
    for (const j of drills) {
        const k = drillKindOf(j);
        const s = `${METRIC_LABELS.env}="${env}",${METRIC_LABELS.kind}="drill",${METRIC_LABELS.drill}="${k}"`;
        const by = `max by (${METRIC_LABELS.env}, ${METRIC_LABELS.drill})`;
        const target = Math.round(cfg.drills!.rtoMinutes[DRILL_SCENARIOS[k]] * 60);
        const limit = j.periodSeconds + grace;
        const l = { ...labels("warning", j), drill: k };
        rules.push({
            alert: "SupabaseBackupDrillFailed",
            expr: `${by} (${METRICS.drillResult}{${s}}) == 0`,
            for: "0m",
            labels: { ...l, severity: "critical" },
            annotations: {
                summary: `${env}: the newest ${k} restore drill failed`,
                description: `The ${k} drill could not restore or check its data (the record under drill/${env}/${k}/ and the CronJob ${cfg.kubernetes.namespace}/${j.name} logs say which step). Until a drill passes, the backups are not proven to restore within the ${DRILL_SCENARIOS[k]} scenario.`,
            },
        });
        rules.push({
            alert: "SupabaseBackupDrillLate",
            expr: `time() - ${by} (${METRICS.drillLastSuccessTimestamp}{${s}}) > ${limit}`,
            for: "5m",
            // `late` tells the two DrillLate rules apart: same name and labels would be one alert to Alertmanager
            labels: { ...l, late: "overdue" },
            annotations: {
                summary: `${env}: no ${k} restore drill restored its data within ${human(j.periodSeconds)} + ${cfg.alerts.graceMinutes}m grace`,
                description: `Schedule ${j.schedule} (${j.timeZone}); the newest drill that restored its data is older than that: drills failed, were skipped or their metrics do not arrive.`,
            },
        });
        rules.push({
            alert: "SupabaseBackupDrillLate",
            expr: `absent(${METRICS.drillLastSuccessTimestamp}{${s}})`,
            for: `${Math.max(1, Math.round(limit / 60))}m`,
            labels: { ...l, late: "never" },
            annotations: {
                summary: `${env}: the ${k} restore drill has never restored its data`,
                description: `No ${METRICS.drillLastSuccessTimestamp} series for the ${k} drill for ${human(limit)} (period + grace).`,
            },
        });
        rules.push({
            alert: "SupabaseBackupDrillMissedRto",
            expr: `${by} (${METRICS.drillRtoSeconds}{${s}}) > ${target}`,
            for: "0m",
            labels: l,
            annotations: {
                summary: `${env}: the newest ${k} restore drill took longer than the ${DRILL_SCENARIOS[k]} RTO target (${human(target)})`,
                description: `Measured {{ $value | humanizeDuration }} from start to restored and checked. A real ${DRILL_SCENARIOS[k]} recovery would miss its target: make the restore faster (more pg_restore jobs, a closer scratch server, fewer objects) or agree a new target in drills.rtoMinutes.`,
            },
        });
    }
    return rules;
}
