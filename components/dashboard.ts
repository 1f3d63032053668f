// The Grafana dashboard, generated from the metric contracts (contracts/src/metrics.ts) so a panel can
// never watch a metric no job pushes: every query names METRICS, METRIC_LABELS and JOB_KINDS, and the
// alert-shaped panels use the very expressions the PrometheusRule fires on (plan.ts). Pure: the stack
// declares it as a ConfigMap (grafana.ts), scripts/grafana-dashboard.ts writes docs/grafana/ from it.
import { JOB_KINDS, METRIC_LABELS, METRICS, type StackConfig } from "@supabase-backups/contracts";
import { DASHBOARD_LABELS, layout, PUSH_TIME_METRIC, row, sel, series, stat, STATUS_MAPPINGS, thresholds, variable, type PanelSpec } from "./dashboard-kit";
import { rpoAgeExpr, sizeAnomalyCeilingExpr, sizeAnomalyFloorExpr } from "./plan";

export { DASHBOARD_LABELS, PUSH_TIME_METRIC, type GridPos, type Panel, type Target } from "./dashboard-kit";
const L = METRIC_LABELS;

export interface DashboardOptions {
    uid: string;
    title: string;
    /** the env variable's preselected value; undefined = All */
    env?: string;
    rpoHours: number;
    sizeAnomalyRatio: number;
}

/** The committed docs/grafana JSON: every env, the example stacks' RPO and the schema's default ratio. */
export const DOCS_DASHBOARD: DashboardOptions = { uid: "supabase-backups", title: "Supabase backups", rpoHours: 26, sizeAnomalyRatio: 0.5 };

/** The dashboard a stack deploys: its own uid (two envs in one Grafana do not collide) and targets. */
export function dashboardOptionsOf(cfg: StackConfig): DashboardOptions {
    return { uid: `supabase-backups-${cfg.env}`, title: `Supabase backups (${cfg.env})`, env: cfg.env, rpoHours: cfg.alerts.rpoHours, sizeAnomalyRatio: cfg.alerts.sizeAnomalyRatio };
}

/** The panels, top to bottom, in rows. Sizes in grid units (24 columns). */
function panelSpecs(o: DashboardOptions): PanelSpec[] {
    const by = (...labels: string[]) => `max by (${labels.join(", ")})`;
    const rpoTarget = Math.round(o.rpoHours * 3600);
    return [
        row("Now"),
        {
            type: "stat",
            title: "Newest complete run per kind",
            description: `${METRICS.lastSuccessTimestamp}: when each kind last finished without failing (degraded and partial runs count; the dead man's switch alerts watch the same series).`,
            w: 12,
            h: 6,
            queries: JOB_KINDS.map((k) => [`${by(L.env)} (${METRICS.lastSuccessTimestamp}{${sel(k)}}) * 1000`, `{{${L.env}}} ${k}`] as [string, string]),
            ...stat("dateTimeFromNow", { color: { mode: "fixed", fixedColor: "blue" } }),
        },
        {
            type: "stat",
            title: `RPO now (target ${o.rpoHours} h)`,
            description: "Seconds since the newest complete dump: the expression of the SupabaseBackupRpoMissed alert; red from the target on.",
            w: 6,
            h: 6,
            queries: [[rpoAgeExpr(sel("dump")), `{{${L.env}}}`]],
            ...stat("s", { thresholds: thresholds([null, "green"], [rpoTarget, "red"]) }),
        },
        {
            type: "stat",
            title: "Consecutive failures",
            description: `${METRICS.consecutiveFailures}: failed runs in a row per kind (SupabaseBackupFailedTwice fires at 2).`,
            w: 6,
            h: 6,
            queries: [[`${by(L.env, L.kind)} (${METRICS.consecutiveFailures}{${sel()}})`, `{{${L.env}}} {{${L.kind}}}`]],
            ...stat("none", { thresholds: thresholds([null, "green"], [1, "orange"], [2, "red"]) }),
        },
        row("Runs"),
        {
            type: "state-timeline",
            title: "Result of the newest run, over time",
            description: `${METRICS.lastRunStatus} per kind: failed, success, degraded (primary only), partial (some objects failed).`,
            w: 24,
            h: 8,
            queries: [[`${by(L.env, L.kind)} (${METRICS.lastRunStatus}{${sel()}})`, `{{${L.env}}} {{${L.kind}}}`]],
            fieldConfig: { defaults: { mappings: STATUS_MAPPINGS, color: { mode: "thresholds" }, thresholds: thresholds([null, "text"]) }, overrides: [] },
            options: { mergeValues: true, showValue: "auto", alignValue: "left", rowHeight: 0.9, legend: { displayMode: "list", placement: "bottom", showLegend: false } },
        },
        { type: "timeseries", title: "Run duration", description: `${METRICS.durationSeconds} of the newest run per kind.`, w: 12, h: 8, queries: [[`${by(L.env, L.kind)} (${METRICS.durationSeconds}{${sel()}})`, `{{${L.env}}} {{${L.kind}}}`]], ...series("s") },
        {
            type: "timeseries",
            title: "Vault growth: bytes added per run, reclaimed by gc",
            description: `${METRICS.bytes} of the newest dump and sync-storage runs (what each added to the vault), and the bytes gc reclaimed (negative). There is no vault-size gauge: \`status\` sums what the vault holds.`,
            w: 12,
            h: 8,
            queries: [
                [`sum by (${L.env}, ${L.kind}) (${METRICS.bytes}{${sel(["dump", "sync-storage"])}})`, `{{${L.env}}} {{${L.kind}}} added`],
                [`-${by(L.env)} (${METRICS.bytes}{${sel("gc")}})`, `{{${L.env}}} gc reclaimed`],
            ],
            ...series("bytes", [], { drawStyle: "bars", fillOpacity: 60 }),
        },
        row("Verification"),
        {
            type: "stat",
            title: "Newest verification",
            description: "The verify job's newest result: success = the newest run restored into the canary and passed every check (SupabaseBackupVerificationFailed fires on failed).",
            w: 4,
            h: 6,
            queries: [[`${by(L.env)} (${METRICS.lastRunStatus}{${sel("verify")}})`, `{{${L.env}}}`]],
            ...stat("none", { mappings: STATUS_MAPPINGS, color: { mode: "thresholds" }, thresholds: thresholds([null, "text"]) }),
        },
        {
            type: "stat",
            title: "Tampered objects",
            description: `${METRICS.tamperedObjects} (verify): vault objects overwritten after the jobs wrote them, and forged verification records (SupabaseBackupTampering fires above 0; \`status\` lists them). ${METRICS.dumpRoleCanWrite} (dump): 1 when the dump connects as a role that can change the source (use the read-only role: \`dump --print-role-sql\`).`,
            w: 4,
            h: 6,
            queries: [
                [`${by(L.env)} (${METRICS.tamperedObjects}{${sel("verify")}})`, `{{${L.env}}}`],
                [`${by(L.env)} (${METRICS.dumpRoleCanWrite}{${sel("dump")}})`, `{{${L.env}}} dump role can write`],
            ],
            ...stat("none", { thresholds: thresholds([null, "green"], [1, "red"]) }),
        },
        {
            type: "stat",
            title: "Age of the newest verified run",
            description: `${METRICS.verifiedRunAgeSeconds} as verify pushed it, plus the time since that push (${PUSH_TIME_METRIC}).`,
            w: 4,
            h: 6,
            queries: [[`${by(L.env)} (${METRICS.verifiedRunAgeSeconds}{${sel()}}) + (time() - ${by(L.env)} (${PUSH_TIME_METRIC}{${sel("verify")}}))`, `{{${L.env}}}`]],
            ...stat("s", { thresholds: thresholds([null, "green"], [rpoTarget, "orange"], [2 * rpoTarget, "red"]) }),
        },
        {
            type: "timeseries",
            title: "Measured restore time per GB",
            description: `${METRICS.restoreSeconds} (canary restore of the newest verified run) per GB of the dumps that verify restored (${METRICS.bytes}{kind="verify"}): what a restore of today's size would take.`,
            w: 12,
            h: 6,
            queries: [
                [`${by(L.env)} (${METRICS.restoreSeconds}{${sel()}}) / (${by(L.env)} (${METRICS.bytes}{${sel("verify")}}) / 1e9)`, `{{${L.env}}} s/GB`],
                [`${by(L.env)} (${METRICS.restoreSeconds}{${sel()}})`, `{{${L.env}}} restore s`],
            ],
            ...series("s"),
        },
        ...drillPanels(by),
        row("Sizes"),
        {
            type: "timeseries",
            title: `Dump size and the size-anomaly band (${o.sizeAnomalyRatio} × to ${+(1 / o.sizeAnomalyRatio).toFixed(2)} × the 7-day median)`,
            description: "The newest dump's size, the last 7 days' median, and the floor and ceiling SupabaseBackupSizeAnomaly fires outside of (the alert's own expressions); below the shaded floor or above the ceiling, the alert fires.",
            w: 12,
            h: 8,
            queries: [
                [`${by(L.env)} (${METRICS.bytes}{${sel("dump")}})`, `{{${L.env}}} dump`],
                [`${by(L.env)} (quantile_over_time(0.5, ${METRICS.bytes}{${sel("dump")}}[7d]))`, `{{${L.env}}} 7-day median`],
                [`${by(L.env)} (${sizeAnomalyFloorExpr(sel("dump"), o.sizeAnomalyRatio)})`, `{{${L.env}}} anomaly floor`],
                [`${by(L.env)} (${sizeAnomalyCeilingExpr(sel("dump"), o.sizeAnomalyRatio)})`, `{{${L.env}}} anomaly ceiling`],
            ],
            ...series("bytes", [
                { matcher: { id: "byFrameRefID", options: "B" }, properties: [{ id: "custom.lineStyle", value: { fill: "dash", dash: [10, 10] } }] },
                {
                    matcher: { id: "byFrameRefID", options: "C" },
                    properties: [
                        { id: "color", value: { mode: "fixed", fixedColor: "red" } },
                        { id: "custom.fillOpacity", value: 15 },
                    ],
                },
                {
                    matcher: { id: "byFrameRefID", options: "D" },
                    properties: [
                        { id: "color", value: { mode: "fixed", fixedColor: "red" } },
                        { id: "custom.lineStyle", value: { fill: "dash", dash: [10, 10] } },
                    ],
                },
            ]),
        },
        {
            type: "timeseries",
            title: "Storage: bytes uploaded per sync",
            description: `${METRICS.bytes}{kind="sync-storage"} per CronJob: new blobs only (content-addressed, unchanged objects are not uploaded again).`,
            w: 12,
            h: 8,
            queries: [[`${by(L.env, L.cronJob)} (${METRICS.bytes}{${sel("sync-storage")}})`, `{{${L.env}}} {{${L.cronJob}}}`]],
            ...series("bytes"),
        },
        {
            type: "timeseries",
            title: "Storage objects per sync",
            description: `${METRICS.objects}: copied, skipped (already in the vault) and failed objects of the newest sync-storage run; ${METRICS.unsafeObjectNames}: objects left out because their names could address another object or path (an alert fires above 0); ${METRICS.gcKeptUnreadable}: unreferenced blobs gc kept because a storage manifest it could not read (archived) may name them.`,
            w: 12,
            h: 8,
            queries: [
                [`sum by (${L.env}, ${DASHBOARD_LABELS.state}) (${METRICS.objects}{${sel("sync-storage")}})`, `{{${L.env}}} {{${DASHBOARD_LABELS.state}}}`],
                [`sum by (${L.env}) (${METRICS.unsafeObjectNames}{${sel("sync-storage")}})`, `{{${L.env}}} unsafe names, not synced`],
                [`sum by (${L.env}) (${METRICS.gcKeptUnreadable}{${sel("gc")}})`, `{{${L.env}}} kept by gc: an archived manifest may name them`],
            ],
            ...series("none"),
        },
        {
            type: "timeseries",
            title: "Source sizes (capacity)",
            description: `${METRICS.sourceDatabaseBytes} (pg_database_size at the newest dump), ${METRICS.sourceStorageBytes} (every object of the newest storage run) and ${METRICS.vaultStorageBytes} (every storage blob version in the vault, at gc): what the growth and near-quota alerts watch.`,
            w: 12,
            h: 8,
            queries: [
                [`${by(L.env)} (${METRICS.sourceDatabaseBytes}{${sel("dump")}})`, `{{${L.env}}} database`],
                [`${by(L.env)} (${METRICS.sourceStorageBytes}{${sel("sync-storage")}})`, `{{${L.env}}} Storage`],
                [`${by(L.env)} (${METRICS.vaultStorageBytes}{${sel("gc")}})`, `{{${L.env}}} vault: Storage copies`],
            ],
            ...series("bytes"),
        },
        row("Supabase's own backups"),
        {
            type: "stat",
            title: "Supabase's newest own backup",
            description: `${METRICS.supabaseBackupAgeSeconds} (check-supabase): age of the platform's own newest backup.`,
            w: 6,
            h: 6,
            queries: [[`${by(L.env)} (${METRICS.supabaseBackupAgeSeconds}{${sel()}})`, `{{${L.env}}}`]],
            ...stat("s"),
        },
        {
            type: "stat",
            title: "Supabase PITR",
            description: `${METRICS.supabasePitrOk} (check-supabase): 1 when point-in-time recovery is on as the config requires.`,
            w: 6,
            h: 6,
            queries: [[`min by (${L.env}) (${METRICS.supabasePitrOk}{${sel()}})`, `{{${L.env}}}`]],
            ...stat("none", { mappings: [{ type: "value", options: { "0": { text: "OFF", color: "red", index: 0 }, "1": { text: "on", color: "green", index: 1 } } }], color: { mode: "thresholds" }, thresholds: thresholds([null, "text"]) }),
        },
    ];
}

/** Restore drills (docs/operations.md "Restore drills"): result, measured RTO against the target, last success. */
function drillPanels(by: (...labels: string[]) => string): PanelSpec[] {
    const d = `${sel("drill")}`;
    return [
        row("Restore drills"),
        {
            type: "stat",
            title: "Newest drill per kind",
            description: `${METRICS.drillResult}: passed; missed-target (restored and checked, slower than drills.rtoMinutes: SupabaseBackupDrillMissedRto); failed (SupabaseBackupDrillFailed).`,
            w: 6,
            h: 6,
            queries: [[`${by(L.env, L.drill)} (${METRICS.drillResult}{${d}})`, `{{${L.env}}} {{${L.drill}}}`]],
            ...stat("none", {
                mappings: [{ type: "value", options: { "0": { text: "failed", color: "red", index: 0 }, "1": { text: "passed", color: "green", index: 1 }, "2": { text: "missed target", color: "orange", index: 2 } } }],
                color: { mode: "thresholds" },
                thresholds: thresholds([null, "text"]),
            }),
        },
        {
            type: "stat",
            title: "Newest drill that restored its data",
            description: `${METRICS.drillLastSuccessTimestamp}: SupabaseBackupDrillLate fires when it is older than the drill's schedule period plus the grace.`,
            w: 6,
            h: 6,
            queries: [[`${by(L.env, L.drill)} (${METRICS.drillLastSuccessTimestamp}{${d}}) * 1000`, `{{${L.env}}} {{${L.drill}}}`]],
            ...stat("dateTimeFromNow", { color: { mode: "fixed", fixedColor: "blue" } }),
        },
        {
            type: "timeseries",
            title: "Drill RTO against the target",
            description: `${METRICS.drillRtoSeconds} (start to restored and checked) and ${METRICS.drillRtoTargetSeconds} (the scenario's target) per drill kind.`,
            w: 12,
            h: 6,
            queries: [
                [`${by(L.env, L.drill)} (${METRICS.drillRtoSeconds}{${d}})`, `{{${L.env}}} {{${L.drill}}} RTO`],
                [`${by(L.env, L.drill)} (${METRICS.drillRtoTargetSeconds}{${d}})`, `{{${L.env}}} {{${L.drill}}} target`],
                [`${by(L.env, L.drill)} (${METRICS.drillDurationSeconds}{${d}})`, `{{${L.env}}} {{${L.drill}}} wall time`],
            ],
            ...series("s"),
        },
    ];
}

/** The whole dashboard model (Grafana's classic JSON, schemaVersion 39: Grafana 10.4 and later). */
export function grafanaDashboard(o: DashboardOptions) {
    return {
        uid: o.uid,
        title: o.title,
        description: "Off-site backups of a Supabase project: runs, RPO, verification, sizes. Generated from contracts/src/metrics.ts by scripts/grafana-dashboard.ts; do not edit by hand.",
        tags: ["supabase-backups", "backups"],
        editable: true,
        graphTooltip: 1,
        schemaVersion: 39,
        version: 1,
        refresh: "5m",
        time: { from: "now-30d", to: "now" },
        timezone: "browser",
        fiscalYearStartMonth: 0,
        links: [],
        annotations: {
            list: [{ builtIn: 1, datasource: { type: "grafana", uid: "-- Grafana --" }, enable: true, hide: true, iconColor: "rgba(0, 211, 255, 1)", name: "Annotations & Alerts", type: "dashboard" }],
        },
        templating: {
            list: [
                { name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", current: {}, hide: 0, includeAll: false, multi: false, options: [], refresh: 1, regex: "" },
                variable("cluster", "cluster", `label_values(${METRICS.lastRunStatus}, ${DASHBOARD_LABELS.cluster})`),
                variable("env", "env", `label_values(${METRICS.lastRunStatus}{${DASHBOARD_LABELS.cluster}=~"$cluster"}, ${L.env})`, o.env),
            ],
        },
        panels: layout(panelSpecs(o)),
    };
}
export type DashboardModel = ReturnType<typeof grafanaDashboard>;

/** The dashboard JSON as committed and as the ConfigMap carries it: two-space indent, newline-terminated. */
export function dashboardJson(o: DashboardOptions): string {
    return JSON.stringify(grafanaDashboard(o), null, 2) + "\n";
}
