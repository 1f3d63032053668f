// A real Prometheus server (Debian's prometheus) on loopback, scraping the given targets every 500 ms
// with honor_labels (as a Pushgateway is scraped), its TSDB in a temp directory removed on stop.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./ports";

export interface Sample {
    metric: Record<string, string>;
    value: number;
}

export interface Prometheus {
    url: string;
    /** an instant query through the HTTP API; rejects with Prometheus' own error for a bad query */
    query(expr: string, at?: Date): Promise<Sample[]>;
    /** raw samples of a range selector, e.g. `x{a="b"}[5m]` */
    samples(selector: string): Promise<Array<{ metric: Record<string, string>; values: number[] }>>;
    stop(): Promise<void>;
}

export async function startPrometheus(targets: string[], bin = "/usr/bin/prometheus"): Promise<Prometheus> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
    // JSON is YAML: Prometheus reads this config as it is.
    const config = {
        global: { scrape_interval: "500ms", evaluation_interval: "1s" },
        scrape_configs: [{ job_name: "pushgateway", honor_labels: true, static_configs: [{ targets }] }],
    };
    writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config));
    const child: ChildProcess = spawn(
        bin,
        [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
        { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
    const url = `http://127.0.0.1:${port}`;
    const stop = async () => {
        if (child.exitCode === null) {
            const done = new Promise((r) => child.once("exit", r));
            child.kill("SIGTERM");
            await done;
        }
        rmSync(dir, { recursive: true, force: true });
    };
    try {
        await waitFor(async () => {
            if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
            return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ?? false;
        }, "prometheus to be ready");
    } catch (e) {
        await stop();
        throw e;
    }
    const api = async (expr: string, at?: Date): Promise<any> => {
        const q = new URLSearchParams({ query: expr, ...(at ? { time: String(at.getTime() / 1000) } : {}) });
        const body: any = await (await fetch(`${url}/api/v1/query?${q}`)).json();
        if (body.status !== "success") throw new Error(`prometheus: ${body.errorType}: ${body.error} in ${expr}`);
        return body.data;
    };
    return {
        url,
        async query(expr, at) {
            const data = await api(expr, at);
            if (data.resultType === "scalar") return [{ metric: {}, value: Number(data.result[1]) }];
            return data.result.map((r: any) => ({ metric: r.metric, value: Number(r.value[1]) }));
        },
        async samples(selector) {
            const data = await api(selector);
            return data.result.map((r: any) => ({ metric: r.metric, values: r.values.map((v: any) => Number(v[1])) }));
        },
        stop,
    };
}
