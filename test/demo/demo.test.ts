// `npm test` includes a smoke run of the demo (small data): every real command, `demo: OK`, and nothing
// left running or on disk afterwards — also after Ctrl-C.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

const root = join(__dirname, "..", "..");

function startDemo(args: string[]) {
    const child = spawn(join(root, "node_modules", ".bin", "tsx"), [join(root, "scripts", "demo.ts"), ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: root });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const done = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    return { child, done, output: () => out };
}

function portOpen(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = connect(port, "127.0.0.1");
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
    });
}

/** The temp dir and every loopback port the demo announced. */
function started(out: string): { tmp?: string; ports: number[] } {
    const tmp = /starting the local stack in (\S+)/.exec(out)?.[1];
    const line = out.split("\n").find((l) => l.includes("PostgreSQL") && l.includes("vault")) ?? "";
    const ports = [...line.matchAll(/(?:PostgreSQL |, |127\.0\.0\.1:)(\d{4,5})/g)].map((m) => Number(m[1]));
    return { tmp, ports };
}

async function assertNothingLeft(out: string): Promise<void> {
    const { tmp, ports } = started(out);
    assert.ok(tmp, "demo announced its temp dir");
    assert.ok(ports.length >= 5, `demo announced its ports: ${ports}`);
    assert.equal(existsSync(tmp!), false, `${tmp} removed`);
    for (const p of ports) assert.equal(await portOpen(p), false, `port ${p} closed`);
}

describe("demo (smoke run)", function () {
    this.timeout(300_000);

    it("runs the whole nightly cycle and ends with `demo: OK`, removing everything", async () => {
        const d = startDemo(["--small", "--quiet"]);
        const code = await d.done;
        const out = d.output();
        assert.equal(code, 0, out);
        assert.match(out, /^demo: OK$/m);
        assert.match(out, /verification\s+passed/);
        assert.match(out, /hash chains\s+database intact/);
        assert.match(out, /storage restore\s+\d+ objects into restored-user-media-\d{8}/);
        assert.match(out, /restore drill\s+masked restore/);
        assert.match(out, /drill record\s+table drill passed: RTO [\d.]+ s \(target 60 min\), cleaned up yes → drill\/demo\/table\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z-[a-z0-9]{6}\.json/);
        // it ends with status's run timeline: tonight's runs, verified
        assert.match(out, /\$ supabase-backups status --timeline --days 7\nRuns per day \(UTC\)/);
        assert.match(out, /^dump {10}(· {2}){6}✔$/m);
        assert.match(out, /^verify {8}(· {2}){6}✔$/m);
        await assertNothingLeft(out);
    });

    it("--vault rgw: the same cycle on a vault that enforces Object Lock, which refuses to delete the locked dump", async () => {
        const d = startDemo(["--small", "--quiet", "--vault", "rgw"]);
        const code = await d.done;
        const out = d.output();
        assert.equal(code, 0, out);
        assert.match(out, /^demo: OK$/m);
        assert.match(out, /verification\s+passed/);
        assert.match(out, /locked dump delete\s+refused by the vault: AccessDenied \(HTTP 403\): version \S+ stays/);
        await assertNothingLeft(out);
    });

    it("Ctrl-C stops it and removes everything it started", async () => {
        const d = startDemo(["--small", "--quiet"]);
        const until = Date.now() + 120_000;
        while (!/\[3\/\d+\]/.test(d.output()) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
        d.child.kill("SIGINT");
        const code = await d.done;
        assert.equal(code, 130, d.output());
        assert.match(d.output(), /demo: interrupted, stopping and removing everything it started/);
        await assertNothingLeft(d.output());
    });
});
