// Run metrics through a real Pushgateway: the names the PrometheusRule alerts read, the cronjob grouping
// label, and the consecutive-failure count and run counters carried across runs.
import { strict as assert } from "node:assert";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { METRICS, storageBlobKey } from "@supabase-backups/contracts";
import { createHash, randomBytes } from "node:crypto";
import { readGauge } from "../../../jobs/src/runtime/metrics";
import { runCli, writeJobConfig } from "../../support/cli";
import { startPushgateway, type Pushgateway } from "../../support/pushgateway";
import { startS3rver, type S3Server } from "../../support/s3rver";

describe("metrics: pushed to a real Pushgateway", function () {
    this.timeout(120_000);
    let gw: Pushgateway;
    let s3: S3Server;
    before(async () => {
        [gw, s3] = await Promise.all([startPushgateway(), startS3rver()]);
        await s3.createBucket("vault");
    });
    after(async () => Promise.allSettled([gw?.stop(), s3?.stop()]));

    const config = (endpoint: string) =>
        writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint, forcePathStyle: true } }, (c) => {
            c.alerts.pushgatewayUrl = gw.url;
        }).path;
    const group = { job: "supabase-backups", env: "test", kind: "gc", cronjob: "supabase-backups-gc" };
    const env = () => ({ ...s3.env, SUPABASE_BACKUPS_CRONJOB: "supabase-backups-gc" });

    /** runs_total per result in the group, as the gateway exposes it */
    const totals = (text: string) => ({
        success: readGauge(text, METRICS.runsTotal, { ...group, result: "success" }),
        failure: readGauge(text, METRICS.runsTotal, { ...group, result: "failure" }),
    });

    it("counts consecutive failures across runs, resets on success, labels by cronjob; a failure pushes no size", async () => {
        const down = config("http://127.0.0.1:9");
        for (const expected of [1, 2]) {
            const r = await runCli(["gc", "--config", down], env());
            assert.equal(r.code, 1);
            const text = await gw.scrape();
            assert.equal(readGauge(text, METRICS.consecutiveFailures, group), expected);
            assert.equal(readGauge(text, METRICS.lastRunStatus, group), 0);
            assert.equal(readGauge(text, METRICS.bytes, group), undefined, "a failed run reports no size (not bytes=0)");
        }
        // one blob in the vault (too young for gc to touch): the vault's size gauge counts its bytes
        const body = randomBytes(1234);
        await s3.client.send(new PutObjectCommand({ Bucket: "vault", Key: storageBlobKey("test", createHash("sha256").update(body).digest("hex")), Body: body }));
        const ok = await runCli(["gc", "--config", config(s3.endpoint)], env());
        assert.equal(ok.code, 0, ok.stderr);
        const text = await gw.scrape();
        assert.equal(readGauge(text, METRICS.consecutiveFailures, group), 0);
        assert.equal(readGauge(text, METRICS.lastRunStatus, group), 1);
        assert.equal(readGauge(text, METRICS.bytes, group), 0, "a successful gc reports what it reclaimed");
        assert.equal(readGauge(text, METRICS.vaultStorageBytes, group), 1234, "and the bytes of the vault's storage blobs it listed");
        const ts = readGauge(text, METRICS.lastSuccessTimestamp, group)!;
        assert.ok(Math.abs(ts - Date.now() / 1000) < 120, "last success timestamp is now");
        // another CronJob of the same kind keeps its own series
        assert.equal(readGauge(text, METRICS.consecutiveFailures, { ...group, cronjob: "other" }), undefined);
    });

    it("runs_total keeps counting across runs (carried forward from the gateway), so a rate is computable", async () => {
        const before = totals(await gw.scrape());
        const down = config("http://127.0.0.1:9");
        const up = config(s3.endpoint);
        for (const [cfg, code] of [[up, 0], [down, 1], [up, 0], [up, 0], [down, 1]] as const) {
            const r = await runCli(["gc", "--config", cfg], env());
            assert.equal(r.code, code, r.stderr);
        }
        const text = await gw.scrape();
        const after = totals(text);
        assert.equal((after.success ?? 0) - (before.success ?? 0), 3, JSON.stringify({ before, after }));
        assert.equal((after.failure ?? 0) - (before.failure ?? 0), 2, JSON.stringify({ before, after }));
        // the failed run pushed after the last success: its size stays the last good run's
        assert.equal(readGauge(text, METRICS.bytes, group), 0);
        assert.equal(readGauge(text, METRICS.lastRunStatus, group), 0);
    });

    it("a run whose gateway is down still succeeds (the push failure is only logged)", async () => {
        const cfg = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            c.alerts.pushgatewayUrl = "http://127.0.0.1:9";
        }).path;
        const r = await runCli(["gc", "--config", cfg], env());
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /metrics push failed/);
    });
});
