// The dashboard's queries against real data: the jobs' own push code (runtime/metrics.ts) pushes a few
// runs of every kind to a real Pushgateway, a real Prometheus scrapes it every second (honor_labels, as
// deployed), and every panel's query is evaluated through Prometheus' HTTP API with the variables set
// as Grafana would ($env = one env, $cluster = All). Values are checked where the runs fix them.
import { strict as assert } from "node:assert";
import { JOB_ENV, METRIC_LABELS, METRICS, type JobKind } from "@supabase-backups/contracts";
import { alertRules, DASHBOARD_LABELS, DOCS_DASHBOARD, grafanaDashboard, PUSH_TIME_METRIC } from "../../components";
import { pushRunMetrics, type RunMetrics } from "../../jobs/src/runtime/metrics";
import type { Logger } from "../../jobs/src/runtime/log";
import { startPrometheus, type Prometheus, type Sample } from "../support/prometheus";
import { startPushgateway, type Pushgateway } from "../support/pushgateway";
import { waitFor } from "../support/ports";

const ENV = "dash";
const GB = 1e9;

describe("Grafana dashboard: every query evaluated by a real Prometheus on pushed runs", function () {
    this.timeout(120_000);
    let gw: Pushgateway;
    let prom: Prometheus;
    const warnings: string[] = [];
    const log = { warn: (o: unknown, m: string) => void warnings.push(`${m} ${JSON.stringify(o)}`) } as unknown as Logger;
    const dashboard = grafanaDashboard(DOCS_DASHBOARD);
    const bind = (expr: string) => expr.replaceAll("$env", ENV).replaceAll("$cluster", ".*");
    const panel = (title: string) => dashboard.panels.find((p) => p.title.startsWith(title))!;
    const evalPanel = async (title: string, refId = "A"): Promise<Sample[]> => prom.query(bind(panel(title).targets!.find((t) => t.refId === refId)!.expr));

    /** Push one run with the jobs' code, then wait until Prometheus has scraped that push. */
    async function push(kind: JobKind, m: RunMetrics, cronJob?: string): Promise<void> {
        const before = process.env[JOB_ENV.cronJob];
        if (cronJob) process.env[JOB_ENV.cronJob] = cronJob;
        else delete process.env[JOB_ENV.cronJob];
        try {
            await pushRunMetrics(gw.url, ENV, kind, m, log);
        } finally {
            if (before === undefined) delete process.env[JOB_ENV.cronJob];
            else process.env[JOB_ENV.cronJob] = before;
        }
        const text = await gw.scrape();
        const pushed = [...text.matchAll(new RegExp(`^${PUSH_TIME_METRIC}\\{(.*)\\} (\\S+)$`, "gm"))].find(
            (x) => x[1].includes(`kind="${kind}"`) && x[1].includes(`env="${ENV}"`) && (cronJob ? x[1].includes(`cronjob="${cronJob}"`) : !x[1].includes("cronjob=")),
        );
        assert.ok(pushed, `no push of ${kind} on the gateway`);
        const sel = `${PUSH_TIME_METRIC}{env="${ENV}",kind="${kind}"${cronJob ? `,cronjob="${cronJob}"` : ""}}`;
        await waitFor(async () => (await prom.query(sel)).some((s) => Math.abs(s.value - Number(pushed[2])) < 1e-3), `prometheus to scrape the ${kind} push`);
    }

    before(async function () {
        gw = await startPushgateway();
        prom = await startPrometheus([new URL(gw.url).host]);
        await push("dump", { result: "success", bytes: 1000e6, durationSeconds: 60, extra: [{ name: METRICS.sourceDatabaseBytes, help: "db", value: 4e9 }] });
        await push("dump", { result: "success", bytes: 1100e6, durationSeconds: 64 });
        await push("sync-storage", { result: "success", bytes: 300e6, durationSeconds: 30, objects: { copied: 40, skipped: 900, failed: 0 }, extra: [{ name: METRICS.sourceStorageBytes, help: "storage", value: 9e9 }, { name: METRICS.unsafeObjectNames, help: "unsafe", value: 1 }] });
        await push("sync-storage", { result: "partial", bytes: 20e6, durationSeconds: 12, objects: { copied: 3, skipped: 50, failed: 2 } }, "sync-storage-public-assets");
        await push("verify", {
            result: "success",
            bytes: 500e6,
            durationSeconds: 90,
            restoreSeconds: 2,
            extra: [
                { name: METRICS.verifiedRunAgeSeconds, help: "age", value: 3600 },
                { name: METRICS.tamperedObjects, help: "tampered", value: 0 },
            ],
        });
        await push("gc", { result: "success", bytes: 50e6, durationSeconds: 5, extra: [{ name: METRICS.gcKeptUnreadable, help: "kept", value: 3 }, { name: METRICS.vaultStorageBytes, help: "vault", value: 7e9 }] });
        await push("check-supabase", {
            result: "success",
            durationSeconds: 1,
            extra: [
                { name: METRICS.supabaseBackupAgeSeconds, help: "age", value: 7200 },
                { name: METRICS.supabasePitrOk, help: "pitr", value: 1 },
            ],
        });
        // a table drill as the drill command pushes it: its own gauges, labelled with the drill kind
        const drill = { kind: "drill", drill: "table" };
        await push("drill", {
            result: "success",
            durationSeconds: 95,
            extra: [
                { name: METRICS.drillResult, help: "result", value: 2, labels: drill },
                { name: METRICS.drillRtoSeconds, help: "rto", value: 90, labels: drill },
                { name: METRICS.drillRtoTargetSeconds, help: "target", value: 60, labels: drill },
                { name: METRICS.drillDurationSeconds, help: "wall", value: 95, labels: drill },
                { name: METRICS.drillLastSuccessTimestamp, help: "last", value: Math.floor(Date.now() / 1000), labels: drill },
            ],
        });
        // a suspiciously small dump, then two failed ones in a row
        await push("dump", { result: "success", bytes: 100e6, durationSeconds: 20, extra: [{ name: METRICS.dumpRoleCanWrite, help: "role can write", value: 0 }] });
        await push("dump", { result: "failure", durationSeconds: 2 });
        await push("dump", { result: "failure", durationSeconds: 2 });
        assert.deepEqual(warnings, []);
    });
    after(async () => Promise.allSettled([prom?.stop(), gw?.stop()]));

    it("the jobs push only metrics of METRICS (or the gateway's own) and only labels the dashboard knows", async () => {
        const text = await gw.scrape();
        const known = new Set<string>([...Object.values(METRIC_LABELS), ...Object.values(DASHBOARD_LABELS), "job", "instance"]);
        // this env's groups only (a gateway on a reused port could hold another test's groups)
        const series = text.split("\n").filter((l) => (l.startsWith("supabase_backups_") || l.startsWith(PUSH_TIME_METRIC)) && l.includes(`env="${ENV}"`));
        assert.ok(series.length > 20, series.join("\n"));
        for (const line of series) {
            const name = line.split(/[{ ]/)[0].replace(/_(bucket|sum|count)$/, "");
            assert.ok(name === PUSH_TIME_METRIC || (Object.values(METRICS) as string[]).includes(name), `unknown metric ${name}`);
            for (const [, label] of line.matchAll(/[{,](\w+)="/g)) assert.ok(known.has(label), `label ${label} in ${line}`);
        }
    });

    it("Prometheus accepts every query of every panel and variable, and most return data", async () => {
        const empty: string[] = [];
        for (const p of dashboard.panels)
            for (const t of p.targets ?? []) {
                const r = await prom.query(bind(t.expr)); // rejects on a query Prometheus refuses
                if (!r.length) empty.push(`${p.title} ${t.refId}`);
            }
        // a 7-day median is defined from the first sample on; nothing here should be empty
        assert.deepEqual(empty, []);
        for (const v of dashboard.templating.list.filter((x) => x.type === "query")) {
            const m = /^label_values\((.*), *(\w+)\)$/.exec((v as any).definition)!;
            const r = await prom.query(bind(m[1]));
            assert.ok(m[2] === DASHBOARD_LABELS.cluster || r.some((s) => s.metric[m[2]] === ENV), `variable ${v.name}`);
        }
    });

    it("panels show what the runs did: kinds, failures in a row, restore time per GB, storage per CronJob", async () => {
        const kinds = await Promise.all(panel("Newest complete run per kind").targets!.map((t) => prom.query(bind(t.expr))));
        const now = Date.now();
        for (const r of kinds) {
            assert.equal(r.length, 1);
            assert.ok(Math.abs(r[0].value - now) < 120_000, `newest complete run is about now: ${r[0].value}`);
        }
        const fails = await evalPanel("Consecutive failures");
        assert.equal(fails.find((s) => s.metric.kind === "dump")!.value, 2);
        assert.equal(fails.find((s) => s.metric.kind === "verify")!.value, 0);
        const perGb = await evalPanel("Measured restore time per GB");
        assert.equal(perGb.length, 1);
        assert.equal(perGb[0].value, 2 / (500e6 / GB)); // 4 s per GB
        const rpo = await evalPanel("RPO now");
        assert.ok(rpo[0].value >= 0 && rpo[0].value < 120, `RPO now ${rpo[0].value}`);
        const verifiedAge = await evalPanel("Age of the newest verified run");
        assert.ok(verifiedAge[0].value >= 3600 && verifiedAge[0].value < 3600 + 120, String(verifiedAge[0].value));
        const storage = await evalPanel("Storage: bytes uploaded per sync");
        assert.deepEqual(storage.map((s) => [s.metric.cronjob ?? "", s.value]).sort(), [["", 300e6], ["sync-storage-public-assets", 20e6]]);
        const objects = await evalPanel("Storage objects per sync");
        assert.equal(objects.find((s) => s.metric.state === "failed")!.value, 2);
        assert.equal((await evalPanel("Storage objects per sync", "B"))[0].value, 1);
        assert.equal((await evalPanel("Storage objects per sync", "C"))[0].value, 3, "gc's kept-unreadable blobs");
        assert.equal((await evalPanel("Source sizes (capacity)", "C"))[0].value, 7e9, "the vault's storage bytes, from gc");
        const status = await evalPanel("Result of the newest run");
        assert.equal(status.find((s) => s.metric.kind === "dump")!.value, 0);
        assert.equal(status.find((s) => s.metric.kind === "sync-storage")!.value, 3, "partial outranks success under max");
        const growth = await evalPanel("Vault growth", "B");
        assert.equal(growth[0].value, -50e6);
        assert.equal((await evalPanel("Tampered objects"))[0].value, 0);
        const drillResult = await evalPanel("Newest drill per kind");
        assert.deepEqual(drillResult.map((s) => [s.metric.drill, s.value]), [["table", 2]], "missed-target");
        const [rto, target] = await Promise.all(["A", "B"].map((r) => evalPanel("Drill RTO against the target", r)));
        assert.equal(rto[0].value, 90);
        assert.equal(target[0].value, 60);
        const pitr = await evalPanel("Supabase PITR");
        assert.equal(pitr[0].value, 1);
    });

    it("the size-anomaly band is the alert's floor: the small dump lies under it exactly when the alert fires", async () => {
        const raw = await prom.samples(`${METRICS.bytes}{env="${ENV}",kind="dump"}[7d]`);
        assert.equal(raw.length, 1);
        // Prometheus' quantile_over_time: linear interpolation at rank q × (n − 1) over the sorted samples
        const v = [...raw[0].values].sort((a, b) => a - b);
        const rank = 0.5 * (v.length - 1);
        const median = v[Math.floor(rank)] + (v[Math.ceil(rank)] - v[Math.floor(rank)]) * (rank - Math.floor(rank));
        const [dump, med, floor, ceiling] = await Promise.all(["A", "B", "C", "D"].map((r) => evalPanel("Dump size and the size-anomaly band", r)));
        assert.equal(med[0].value, median);
        assert.equal(floor[0].value, DOCS_DASHBOARD.sizeAnomalyRatio * median);
        assert.equal(ceiling[0].value, (1 / DOCS_DASHBOARD.sizeAnomalyRatio) * median);
        assert.equal(dump[0].value, 100e6);
        assert.ok(dump[0].value < floor[0].value, "the newest dump is in the shaded area");
        // …and the PrometheusRule's own expression, for a stack of this env, fires now
        const cfg: any = { env: ENV, alerts: { graceMinutes: 60, sizeAnomalyRatio: DOCS_DASHBOARD.sizeAnomalyRatio, rpoHours: 26 }, kubernetes: { namespace: "ns" }, supabase: { backupMaxAgeHours: 26, pitr: { required: false } } };
        const rule = alertRules(cfg, []).find((r) => r.alert === "SupabaseBackupSizeAnomaly")!;
        assert.equal((await prom.query(rule.expr)).length, 1, "SupabaseBackupSizeAnomaly's expression holds");
    });
});
