// The Grafana dashboard (components/dashboard.ts): every query parses with Prometheus' own grammar and
// names only metrics the jobs push and labels they (or the Pushgateway, or a multi-cluster Prometheus)
// set; the anomaly band is the alert's own expression; the JSON has what Grafana's dashboard model
// requires; the stack declares it as a sidecar ConfigMap unless switched off; docs/grafana is current.
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { Type, type TSchema } from "@sinclair/typebox";
import Ajv from "ajv";
import { parser as promql } from "@prometheus-io/lezer-promql";
import { JOB_KINDS, METRIC_LABELS, METRICS, validateStackConfig, type StackConfig } from "@supabase-backups/contracts";
import {
    DASHBOARD_LABELS,
    DOCS_DASHBOARD,
    PUSH_TIME_METRIC,
    alertRules,
    dashboardJson,
    dashboardOptionsOf,
    grafanaDashboard,
    plannedJobs,
    sizeAnomalyCeilingExpr,
    sizeAnomalyFloorExpr,
    type DashboardModel,
    type Panel,
} from "../../components";
import { DASHBOARD_JSON_PATH, renderDocsDashboard } from "../../scripts/grafana-dashboard";
import { loadStackFileForMocks, runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { ofType, stackRun } from "../support/components";

interface Names {
    errors: string[];
    metrics: string[];
    labels: string[];
}

/** Syntax errors, metric names and label names of one expression, by Prometheus' own grammar. */
function scan(expr: string): Names {
    const out: Names = { errors: [], metrics: [], labels: [] };
    promql.parse(expr).iterate({
        enter: (n) => {
            if (n.type.isError) out.errors.push(`at ${n.from}: …${expr.slice(Math.max(0, n.from - 20), n.from + 20)}…`);
            else if (n.name === "Identifier" && n.node.parent?.name === "VectorSelector") out.metrics.push(expr.slice(n.from, n.to));
            else if (n.name === "LabelName") out.labels.push(expr.slice(n.from, n.to));
        },
    });
    return out;
}

/** A stack file's validated config, as the program sees it. */
function stackConfig(stack: "staging" | "prod"): StackConfig {
    const f = loadStackFileForMocks(stack);
    const v = validateStackConfig({ source: `Pulumi.${stack}.yaml`, values: f.values, secretKeys: f.secretKeys });
    if (!v.ok) throw new Error(JSON.stringify(v.issues));
    return v.config.config;
}

const queryPanels = (d: DashboardModel): Panel[] => d.panels.filter((p) => p.targets?.length);
const allExprs = (d: DashboardModel) => [
    ...queryPanels(d).flatMap((p) => p.targets!.map((t) => ({ where: `${p.title} ${t.refId}`, expr: t.expr }))),
    // variable queries: label_values(<selector>, <label>) — the selector and the label are checked alike
    ...d.templating.list
        .filter((v) => v.type === "query")
        .map((v) => {
            const m = /^label_values\((.*), *(\w+)\)$/.exec((v as any).definition)!;
            return { where: `variable ${v.name}`, expr: `${m[1]} * on (${m[2]}) vector(1)` };
        }),
];

const EXPORTED_METRICS = new Set<string>([...Object.values(METRICS), PUSH_TIME_METRIC]);
const EXPORTED_LABELS = new Set<string>([...Object.values(METRIC_LABELS), ...Object.values(DASHBOARD_LABELS)]);

// What Grafana's dashboard model requires, as @grafana/schema 13.2.3 declares it (raw/dashboard/x/types.gen:
// Dashboard, Panel, RowPanel, GridPos, VariableModel, DataSourceRef, FieldConfigSource, Threshold). The package
// ships TypeScript types, not a JSON Schema, so these are its required fields and enums, restated for ajv.
const Open = <T extends Record<string, TSchema>>(p: T) => Type.Object(p, { additionalProperties: true });
const DataSourceRef = Open({ type: Type.Optional(Type.String()), uid: Type.Optional(Type.String()) });
const GridPos = Open({ h: Type.Integer({ minimum: 1 }), w: Type.Integer({ minimum: 1, maximum: 24 }), x: Type.Integer({ minimum: 0, maximum: 23 }), y: Type.Integer({ minimum: 0 }) });
const Threshold = Open({ color: Type.String(), value: Type.Union([Type.Number(), Type.Null()]) });
const FieldConfigSource = Open({
    defaults: Open({ thresholds: Type.Optional(Open({ mode: Type.Union([Type.Literal("absolute"), Type.Literal("percentage")]), steps: Type.Array(Threshold) })) }),
    overrides: Type.Array(Open({ matcher: Open({ id: Type.String() }), properties: Type.Array(Open({ id: Type.String() })) })),
});
const Target = Open({ refId: Type.String({ minLength: 1 }), expr: Type.String({ minLength: 1 }), datasource: Type.Optional(DataSourceRef) });
const PanelSchema = Open({
    type: Type.String({ minLength: 1 }),
    id: Type.Integer({ minimum: 1 }),
    title: Type.String(),
    gridPos: GridPos,
    datasource: Type.Optional(DataSourceRef),
    targets: Type.Optional(Type.Array(Target)),
    fieldConfig: Type.Optional(FieldConfigSource),
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
const RowPanel = Open({ type: Type.Literal("row"), collapsed: Type.Boolean(), id: Type.Integer(), panels: Type.Array(PanelSchema), gridPos: GridPos });
const VARIABLE_TYPES = ["query", "adhoc", "groupby", "constant", "datasource", "interval", "textbox", "custom", "system", "snapshot", "switch"];
const Variable = Open({
    name: Type.String({ pattern: "^[a-zA-Z_][a-zA-Z0-9_]*$" }),
    type: Type.Union(VARIABLE_TYPES.map((t) => Type.Literal(t))),
    hide: Type.Optional(Type.Union([0, 1, 2, 3].map((n) => Type.Literal(n)))),
    refresh: Type.Optional(Type.Union([0, 1, 2].map((n) => Type.Literal(n)))),
});
const DashboardSchema = Open({
    schemaVersion: Type.Integer({ minimum: 36 }),
    title: Type.String({ minLength: 1 }),
    uid: Type.String({ pattern: "^[a-zA-Z0-9_-]{1,40}$" }),
    time: Open({ from: Type.String(), to: Type.String() }),
    tags: Type.Array(Type.String()),
    templating: Open({ list: Type.Array(Variable) }),
    annotations: Open({ list: Type.Array(Open({ datasource: DataSourceRef, enable: Type.Boolean(), name: Type.String() })) }),
    panels: Type.Array(Type.Union([RowPanel, PanelSchema])),
});
const validateDashboard = new Ajv({ allErrors: true, strict: false }).compile(DashboardSchema);

/** Problems Grafana's schema cannot state: overlapping or out-of-grid panels, duplicate ids or refIds, undefined variables. */
function layoutProblems(d: DashboardModel): string[] {
    const problems: string[] = [];
    const cells = new Map<string, number>();
    const vars = new Set(["__all", "__range", "__interval", "__rate_interval", ...d.templating.list.map((v) => v.name)]);
    const ids = new Set<number>();
    for (const p of d.panels) {
        if (ids.has(p.id)) problems.push(`duplicate panel id ${p.id}`);
        ids.add(p.id);
        const g = p.gridPos;
        if (g.x + g.w > 24) problems.push(`${p.title}: wider than the grid`);
        for (let x = g.x; x < g.x + g.w; x++)
            for (let y = g.y; y < g.y + g.h; y++) {
                const k = `${x},${y}`;
                if (cells.has(k)) problems.push(`${p.title} overlaps panel ${cells.get(k)} at ${k}`);
                cells.set(k, p.id);
            }
        const refIds = (p.targets ?? []).map((t) => t.refId);
        if (new Set(refIds).size !== refIds.length) problems.push(`${p.title}: duplicate refIds`);
        for (const text of [JSON.stringify(p.targets ?? []), JSON.stringify(p.datasource ?? {})])
            for (const m of text.matchAll(/\$\{?(\w+)/g)) if (!vars.has(m[1])) problems.push(`${p.title}: undefined variable $${m[1]}`);
    }
    return problems;
}

describe("Grafana dashboard (generated from the metric contracts)", function () {
    this.timeout(180_000); // three program runs under mocks
    const docs = grafanaDashboard(DOCS_DASHBOARD);

    it("every query and variable parses with Prometheus' grammar and names only pushed metrics and known labels", () => {
        assert.ok(scan("max by (env) (x{a=").errors.length > 0, "the syntax check can fail");
        const exprs = allExprs(docs);
        assert.ok(exprs.length >= 20, `only ${exprs.length} queries`);
        const problems: string[] = [];
        const used = new Set<string>();
        for (const { where, expr } of exprs) {
            const n = scan(expr);
            problems.push(...n.errors.map((e) => `${where}: syntax ${e}`));
            problems.push(...n.metrics.filter((m) => !EXPORTED_METRICS.has(m)).map((m) => `${where}: metric ${m} is not in METRICS`));
            problems.push(...n.labels.filter((l) => !EXPORTED_LABELS.has(l)).map((l) => `${where}: label ${l} is not exported`));
            if (!n.metrics.length && !expr.startsWith("vector(")) problems.push(`${where}: no metric`);
            n.metrics.forEach((m) => used.add(m));
        }
        assert.deepEqual(problems, []);
        // and the check is not vacuous: a renamed metric or an unknown label is caught
        assert.deepEqual(scan(`max by (env) (supabase_backups_last_succes_timestamp_seconds{env="a"})`).metrics.filter((m) => !EXPORTED_METRICS.has(m)), ["supabase_backups_last_succes_timestamp_seconds"]);
        assert.deepEqual(scan(`max by (namespace) (${METRICS.bytes})`).labels.filter((l) => !EXPORTED_LABELS.has(l)), ["namespace"]);
        // every job metric has a panel
        assert.deepEqual(Object.values(METRICS).filter((m) => m !== METRICS.runsTotal && !used.has(m)), [], "metrics without a panel");
    });

    it("the newest-complete-run panel has one query per job kind, from JOB_KINDS", () => {
        const p = docs.panels.find((x) => x.title === "Newest complete run per kind")!;
        assert.equal(p.targets!.length, JOB_KINDS.length);
        for (const k of JOB_KINDS) assert.ok(p.targets!.some((t) => t.expr.includes(`kind="${k}"`) && t.expr.includes(METRICS.lastSuccessTimestamp)), k);
    });

    it("the size-anomaly band and the RPO panel use the PrometheusRule's own expressions", async () => {
        const cfg = stackConfig("prod");
        const rules = alertRules(cfg, plannedJobs(cfg));
        const d = grafanaDashboard(dashboardOptionsOf(cfg));
        const norm = (s: string) => s.replace(/\{[^}]*\}/g, "{SEL}");
        const anomaly = rules.find((r) => r.alert === "SupabaseBackupSizeAnomaly")!;
        const floor = norm(sizeAnomalyFloorExpr("", cfg.alerts.sizeAnomalyRatio));
        const ceiling = norm(sizeAnomalyCeilingExpr("", cfg.alerts.sizeAnomalyRatio));
        assert.equal(norm(anomaly.expr), `(${METRICS.bytes}{SEL} < ${floor}) or (${METRICS.bytes}{SEL} > ${ceiling})`);
        const band = d.panels.find((p) => p.title.startsWith("Dump size and the size-anomaly band"))!;
        assert.ok(band.targets!.some((t) => norm(t.expr).includes(floor)), "the band draws the alert's floor");
        assert.ok(band.targets!.some((t) => norm(t.expr).includes(ceiling)), "and its ceiling");
        const rpo = rules.find((r) => r.alert === "SupabaseBackupRpoMissed")!;
        const [rpoExpr, limit] = rpo.expr.split(" > ");
        const panel = d.panels.find((p) => p.title.startsWith("RPO now"))!;
        assert.equal(norm(panel.targets![0].expr), norm(rpoExpr));
        assert.equal((panel.fieldConfig!.defaults as any).thresholds.steps[1].value, Number(limit), "red from the alert's threshold");
    });

    it("the JSON has every field Grafana's dashboard model requires, and a sane grid", () => {
        for (const d of [docs, grafanaDashboard({ ...DOCS_DASHBOARD, env: "prod", uid: "supabase-backups-prod" })]) {
            assert.ok(validateDashboard(d), JSON.stringify(validateDashboard.errors, null, 1));
            assert.deepEqual(layoutProblems(d), []);
        }
        // the checks can fail
        const broken = structuredClone(docs) as any;
        delete broken.panels[1].gridPos.w;
        assert.equal(validateDashboard(broken), false);
        const overlapping = structuredClone(docs);
        overlapping.panels[2].gridPos = { ...overlapping.panels[1].gridPos };
        overlapping.panels[3].targets![0].expr += ` + $nosuchvar`;
        assert.equal(layoutProblems(overlapping).length >= 2, true, layoutProblems(overlapping).join("; "));
    });

    it("docs/grafana/supabase-backups.json is generated from the current contracts (npm run docs:dashboard)", () => {
        assert.equal(readFileSync(DASHBOARD_JSON_PATH, "utf8"), renderDocsDashboard(), "stale: run `npm run docs:dashboard`");
    });

    it("the prod stack declares it as a ConfigMap for Grafana's sidecar, with the stack's env and targets", async () => {
        const r = await stackRun("prod");
        const cms = ofType(r, "kubernetes:core/v1:ConfigMap").filter((c) => c.inputs.metadata.labels?.grafana_dashboard === "1");
        assert.equal(cms.length, 1);
        const cm = cms[0].inputs;
        assert.equal(cm.metadata.name, "supabase-backups-prod");
        assert.equal(cm.metadata.namespace, "supabase-backups-prod");
        const json = cm.data["supabase-backups-prod.json"];
        const d = JSON.parse(json);
        assert.equal(d.uid, "supabase-backups-prod");
        assert.deepEqual(d.templating.list.find((v: any) => v.name === "env").current.value, ["prod"]);
        assert.ok(d.panels.some((p: any) => p.title === "RPO now (target 26 h)"));
        assert.ok(Buffer.byteLength(json) < 256 * 1024, "well under the ConfigMap limit");
    });

    it("grafana.dashboard false leaves it out; grafana.namespace and grafana.folder place it", async () => {
        const off = await runProgramUnderMocks("staging", { mutate: (f) => void (f.values.grafana = { dashboard: false }) });
        assert.equal(ofType(off, "kubernetes:core/v1:ConfigMap").filter((c) => c.inputs.metadata.labels?.grafana_dashboard).length, 0);
        assert.equal(ofType(off, "supabase-backups:index:GrafanaDashboard").length, 0);
        const placed = await runProgramUnderMocks("staging", { mutate: (f) => void (f.values.grafana = { namespace: "monitoring", folder: "Backups" }) });
        const cm = ofType(placed, "kubernetes:core/v1:ConfigMap").find((c) => c.inputs.metadata.labels?.grafana_dashboard === "1")!.inputs;
        assert.equal(cm.metadata.namespace, "monitoring");
        assert.deepEqual(cm.metadata.annotations, { grafana_folder: "Backups" });
        assert.equal(cm.data["supabase-backups-staging.json"], dashboardJson(dashboardOptionsOf(stackConfig("staging"))));
    });

    it("a misspelt grafana key is a config error, not a silently missing dashboard", async () => {
        await assert.rejects(
            runProgramUnderMocks("staging", { mutate: (f) => void (f.values.grafana = { dashbaord: false }) }),
            (e: Error) => /grafana\.dashbaord/.test(e.message) || /unknown key "dashbaord"/.test(e.message),
        );
    });
});
