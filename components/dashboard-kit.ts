// The dashboard's building blocks: Grafana's panel model, the query matcher, panel styles, the grid
// layout and the template variables. dashboard.ts says which panels there are; this file how a panel is
// drawn and placed.
import { METRIC_LABELS, type JobKind } from "@supabase-backups/contracts";

/**
 * Labels the queries name beyond METRIC_LABELS. `cluster` is not pushed by the jobs: it is the external
 * label multi-cluster Prometheus setups add; `cluster=~".*"` (the variable's "All") also matches series
 * without it. `result` and `state` are the per-series labels of runs_total and objects (runtime/metrics.ts).
 */
export const DASHBOARD_LABELS = { cluster: "cluster", result: "result", state: "state" } as const;
/** The Pushgateway's own per-group metric (the alerts use it too): unix time of the group's last push. */
export const PUSH_TIME_METRIC = "push_time_seconds";
export interface Target {
    refId: string;
    expr: string;
    legendFormat: string;
    datasource: { type: "prometheus"; uid: string };
    instant?: boolean;
    range?: boolean;
}
export interface GridPos {
    x: number;
    y: number;
    w: number;
    h: number;
}
export interface Panel {
    id: number;
    type: string;
    title: string;
    description?: string;
    gridPos: GridPos;
    datasource?: { type: "prometheus"; uid: string };
    targets?: Target[];
    fieldConfig?: { defaults: Record<string, unknown>; overrides: unknown[] };
    options?: Record<string, unknown>;
    collapsed?: boolean;
    panels?: Panel[];
}

export const DS = { type: "prometheus", uid: "${datasource}" } as const;

/** The matcher list every query starts from: the env and cluster variables, plus the kind. */
export function sel(kind?: JobKind | JobKind[]): string {
    const base = `${METRIC_LABELS.env}=~"$env",${DASHBOARD_LABELS.cluster}=~"$cluster"`;
    if (!kind) return base;
    return Array.isArray(kind) ? `${base},${METRIC_LABELS.kind}=~"${kind.join("|")}"` : `${base},${METRIC_LABELS.kind}="${kind}"`;
}

export type PanelSpec = Omit<Panel, "id" | "gridPos" | "targets" | "datasource"> & { w: number; h: number; queries?: Array<[string, string] | [string, string, "instant"]> };

export const STATUS_MAPPINGS = [
    {
        type: "value",
        options: {
            "0": { text: "failed", color: "red", index: 0 },
            "1": { text: "success", color: "green", index: 1 },
            "2": { text: "degraded", color: "orange", index: 2 },
            "3": { text: "partial", color: "yellow", index: 3 },
        },
    },
];
export const thresholds = (...steps: Array<[number | null, string]>) => ({ mode: "absolute", steps: steps.map(([value, color]) => ({ value, color })) });
export const stat = (unit: string, extra: Record<string, unknown> = {}) => ({
    fieldConfig: { defaults: { unit, ...extra }, overrides: [] },
    options: { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "background", graphMode: "none", textMode: "value_and_name", orientation: "auto", justifyMode: "auto" },
});
export const series = (unit: string, overrides: unknown[] = [], custom: Record<string, unknown> = {}) => ({
    fieldConfig: { defaults: { unit, custom: { drawStyle: "line", lineWidth: 1, fillOpacity: 0, showPoints: "auto", spanNulls: true, ...custom } }, overrides },
    options: { legend: { displayMode: "list", placement: "bottom", showLegend: true }, tooltip: { mode: "multi", sort: "none" } },
});
export const row = (title: string): PanelSpec => ({ type: "row", title, collapsed: false, panels: [], w: 24, h: 1 });

/** Lay the panels out left to right, wrapping at 24 columns; a row starts a new line. */
export function layout(specs: PanelSpec[]): Panel[] {
    let x = 0;
    let y = 0;
    let lineH = 0;
    return specs.map((s, i) => {
        const { w, h, queries, ...rest } = s;
        if (s.type === "row" || x + w > 24) {
            y += lineH;
            x = 0;
            lineH = 0;
        }
        const gridPos = { x, y, w, h };
        x = s.type === "row" ? 24 : x + w;
        lineH = Math.max(lineH, h);
        const panel: Panel = { id: i + 1, ...rest, gridPos };
        if (queries) {
            panel.datasource = DS;
            panel.targets = queries.map(([expr, legendFormat], q) => ({ refId: String.fromCharCode(65 + q), expr, legendFormat, datasource: DS, range: true }));
        }
        return panel;
    });
}

export function variable(name: string, label: string, query: string, current?: string) {
    return {
        name,
        label,
        type: "query",
        datasource: DS,
        query: { query, refId: `${name}-values` },
        definition: query,
        refresh: 2,
        includeAll: true,
        multi: true,
        allValue: ".*",
        sort: 1,
        current: current ? { text: [current], value: [current], selected: true } : { text: ["All"], value: ["$__all"], selected: true },
        options: [],
        hide: 0,
    };
}
