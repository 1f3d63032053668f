// A real Prometheus Pushgateway (Debian's prometheus-pushgateway) on loopback, in memory.
import { spawn, type ChildProcess } from "node:child_process";
import { freePort, waitFor } from "./ports";

export interface Pushgateway {
    url: string;
    /** the gateway's /metrics text */
    scrape(): Promise<string>;
    stop(): Promise<void>;
}

export async function startPushgateway(bin = "/usr/bin/prometheus-pushgateway"): Promise<Pushgateway> {
    const port = await freePort();
    // Debian's build defaults --persistence.file to /var/lib/prometheus/pushgateway.data: every gateway
    // started here would load what earlier runs (and other test processes) pushed. Empty = memory only.
    const child: ChildProcess = spawn(bin, [`--web.listen-address=127.0.0.1:${port}`, "--persistence.file=", "--log.level=warn"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`pushgateway exited: ${stderr}`);
        return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ?? false;
    }, "pushgateway to be ready");
    // A port taken between freePort() and the bind makes this gateway exit while another one answers
    // the ready check: make sure ours is the one still running.
    await new Promise((r) => setTimeout(r, 200));
    if (child.exitCode !== null) throw new Error(`pushgateway exited: ${stderr}`);
    return {
        url,
        scrape: async () => (await fetch(`${url}/metrics`)).text(),
        async stop() {
            if (child.exitCode !== null) return;
            const done = new Promise((r) => child.once("exit", r));
            child.kill("SIGTERM");
            await done;
        },
    };
}
