// Benchmark (issue 4): sync-storage's first full sync against `rclone copy --transfers 16` over the same
// endpoints, then an incremental run after 1% of the objects changed.
//
//   npm run bench:sync                      # 20 000 objects, 1 KB – 5 MB, ≥ 1 GiB
//   npm run bench:sync -- --objects 2000    # smoke run (sizes scale with the count)
//   npm run bench:sync -- --scale 1000000   # the incremental run at 100 000 and 1 000 000 objects (sync-scale.ts)
//
// Source: one s3rver plays Supabase's Storage S3 endpoint (bucket `bench`), with matching
// `storage.objects` rows in a real Postgres; the job runs in `storage.mode: s3` against it. Destination:
// a second s3rver holds both the job's vault and rclone's target bucket. Both tools run as child
// processes under GNU time: wall clock, CPU (user + sys of the process tree, loopback servers excluded)
// and peak RSS. Last line:
//   sync/rclone=<ratio> cpu/rclone=<ratio> incremental/full=<ratio> cpu-incremental/full=<ratio> peakRssMiB=<n>
import { createHash, randomBytes } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Client } from "pg";
import { CLI_BIN, writeJobConfig } from "../test/support/cli";
import { startPostgres } from "../test/support/postgres";
import { S3_TEST_CREDENTIALS, startS3rver } from "../test/support/s3rver";
import { SUPABASE_SCHEMA_SQL } from "../test/support/seed";
import { arg, KiB, load, MiB, timedUsage, type Timed } from "./lib";
import { scaleMain } from "./sync-scale";

const OBJECTS = arg("objects", 20_000);
const CONCURRENCY = arg("concurrency", 16);
const BUCKET = "bench";

/** Deterministic sizes: 95% log-uniform 1–64 KiB, 5% log-uniform 64 KiB – 5 MiB (≈ 1.3 GiB at 20 000). */
function sizes(n: number): number[] {
    let s = 0x9e3779b9;
    const rnd = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
    const logu = (a: number, b: number) => Math.round(Math.exp(Math.log(a) + rnd() * (Math.log(b) - Math.log(a))));
    return Array.from({ length: n }, (_, i) => (i % 20 === 19 ? logu(64 * KiB, 5 * MiB) : logu(KiB, 64 * KiB)));
}

function fmt(n: number): string {
    return n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${(n / KiB).toFixed(1)} KiB`;
}

/** wall clock, CPU (user + sys of the child's process tree) and peak RSS, from GNU time */
function measured(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
    return timedUsage(cmd, args, env);
}

async function pool<T>(items: T[], n: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: n }, async () => {
        while (next < items.length) {
            const i = next++;
            await fn(items[i], i);
        }
    }));
}

async function main() {
    const t0 = Date.now();
    const [pg, source, dest] = await Promise.all([startPostgres(), startS3rver(), startS3rver()]);
    try {
        const db = new Client({ connectionString: pg.url });
        await db.connect();
        await db.query(SUPABASE_SCHEMA_SQL);
        await db.query(`insert into storage.buckets (id, name) values ($1, $1)`, [BUCKET]);
        await source.createBucket(BUCKET);
        await dest.createBucket("vault");
        await dest.createBucket("rclone-dst");

        // Source objects (random bytes) and their rows, as Supabase Storage would have them.
        const sz = sizes(OBJECTS);
        const total = sz.reduce((a, b) => a + b, 0);
        process.stdout.write(`seeding ${OBJECTS} objects, ${fmt(total)} (${fmt(Math.min(...sz))} – ${fmt(Math.max(...sz))})…\n`);
        const names = sz.map((_, i) => `u${String(i % 97).padStart(2, "0")}/file-${String(i).padStart(6, "0")}.bin`);
        const upload = async (i: number, tag: string) => {
            const body = randomBytes(sz[i]);
            await source.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: names[i], Body: body, ContentType: "application/octet-stream" }));
            return { name: names[i], size: body.length, eTag: `"${createHash("md5").update(body).digest("hex")}"`, tag };
        };
        const insertRows = async (rows: Array<{ name: string; size: number; eTag: string }>) => {
            for (let i = 0; i < rows.length; i += 1000) {
                const chunk = rows.slice(i, i + 1000);
                await db.query(
                    `insert into storage.objects (bucket_id, name, metadata, version, updated_at)
                     select $1, n, jsonb_build_object('eTag', e, 'size', s, 'mimetype', 'application/octet-stream', 'cacheControl', 'max-age=3600',
                            'contentLength', s, 'httpStatusCode', 200, 'lastModified', now()), gen_random_uuid()::text, clock_timestamp()
                     from unnest($2::text[], $3::bigint[], $4::text[]) as t(n, s, e)
                     on conflict (bucket_id, name) do update set metadata = excluded.metadata, version = excluded.version, updated_at = clock_timestamp()`,
                    [BUCKET, chunk.map((r) => r.name), chunk.map((r) => r.size), chunk.map((r) => r.eTag)],
                );
            }
        };
        const rows: Array<{ name: string; size: number; eTag: string }> = new Array(OBJECTS);
        await pool(sz, 16, async (_s, i) => {
            rows[i] = await upload(i, "v1");
        });
        await insertRows(rows);
        process.stdout.write(`seeded in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);

        const creds = { AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey, AWS_REGION: "us-east-1" };

        // rclone copy, source S3 endpoint → destination bucket on the vault's endpoint.
        const rcEnv: NodeJS.ProcessEnv = { ...process.env };
        delete rcEnv.AWS_CA_BUNDLE;
        for (const [remote, ep] of [["SRC", source.endpoint], ["DST", dest.endpoint]] as const) {
            Object.assign(rcEnv, {
                [`RCLONE_CONFIG_${remote}_TYPE`]: "s3",
                [`RCLONE_CONFIG_${remote}_PROVIDER`]: "Other",
                [`RCLONE_CONFIG_${remote}_ENDPOINT`]: ep,
                [`RCLONE_CONFIG_${remote}_ACCESS_KEY_ID`]: S3_TEST_CREDENTIALS.accessKeyId,
                [`RCLONE_CONFIG_${remote}_SECRET_ACCESS_KEY`]: S3_TEST_CREDENTIALS.secretAccessKey,
                [`RCLONE_CONFIG_${remote}_REGION`]: "us-east-1",
                [`RCLONE_CONFIG_${remote}_FORCE_PATH_STYLE`]: "true",
            });
        }
        process.stdout.write(`rclone copy --transfers ${CONCURRENCY}…\n`);
        const rc = await measured("env", ["-u", "AWS_CA_BUNDLE", "rclone", "copy", `src:${BUCKET}`, "dst:rclone-dst", "--transfers", String(CONCURRENCY), "--s3-no-check-bucket"], rcEnv);
        if (rc.code !== 0) throw new Error(`rclone failed (${rc.code}): ${rc.stderr.slice(-2000)}`);
        process.stdout.write(`rclone: ${rc.seconds.toFixed(1)} s, CPU ${rc.cpuSeconds.toFixed(1)} s, peak RSS ${(rc.maxRssKiB / 1024).toFixed(0)} MiB, load ${load()}\n`);

        // sync-storage, S3 protocol source, same endpoints.
        const cfg = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: dest.endpoint, forcePathStyle: true } }, (c) => {
            c.env = "bench";
            c.storage = { mode: "s3", s3Endpoint: source.endpoint, buckets: [{ name: BUCKET }], concurrency: CONCURRENCY, shards: 1, retries: 3 };
            delete c.alerts.pushgatewayUrl;
        }).path;
        const jobEnv: NodeJS.ProcessEnv = {
            ...process.env,
            ...creds,
            DATABASE_URL: pg.url,
            SUPABASE_SERVICE_ROLE_KEY: "unused-in-s3-mode",
            SUPABASE_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
            SUPABASE_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
            SUPABASE_S3_REGION: "us-east-1",
            LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
            // BENCH_PROFILE=<dir>: V8 CPU profiles of the job runs, for finding where its time goes
            ...(process.env.BENCH_PROFILE ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE}` } : {}),
        };
        process.stdout.write(`sync-storage full…\n`);
        const full = await measured(CLI_BIN, ["sync-storage", "--config", cfg, "--json"], jobEnv);
        if (full.code !== 0) throw new Error(`sync-storage failed (${full.code}): ${full.stderr.slice(-2000)}`);
        const fullOut = JSON.parse(full.stdout.trim().split("\n").pop()!);
        const timingOf = (t: Timed) => /"timingMs":(\{[^}]*\})/.exec(t.stderr)?.[1] ?? "";
        process.stdout.write(`sync-storage full: ${full.seconds.toFixed(1)} s, per-operation ms ${timingOf(full)}\n`);
        process.stdout.write(`sync-storage full: ${full.seconds.toFixed(1)} s, CPU ${full.cpuSeconds.toFixed(1)} s, peak RSS ${(full.maxRssKiB / 1024).toFixed(0)} MiB, load ${load()}, ${JSON.stringify(fullOut.stats)}\n`);

        // Change 1% of the objects (new bytes, same sizes), then the incremental run.
        const changed = Array.from({ length: Math.max(1, Math.round(OBJECTS / 100)) }, (_, k) => Math.floor((k * OBJECTS) / Math.max(1, Math.round(OBJECTS / 100))));
        const changedRows: Array<{ name: string; size: number; eTag: string }> = [];
        await pool(changed, 16, async (i) => {
            changedRows.push(await upload(i, "v2"));
        });
        await insertRows(changedRows);
        process.stdout.write(`changed ${changed.length} objects; sync-storage incremental…\n`);
        const inc = await measured(CLI_BIN, ["sync-storage", "--config", cfg, "--json"], jobEnv);
        if (inc.code !== 0) throw new Error(`incremental sync-storage failed (${inc.code}): ${inc.stderr.slice(-2000)}`);
        const incOut = JSON.parse(inc.stdout.trim().split("\n").pop()!);
        if (process.env.LOG_LEVEL === "debug") process.stdout.write(inc.stderr.split("\n").filter((l) => l.includes('"phase"')).join("\n") + "\n");
        process.stdout.write(`sync-storage incremental: ${inc.seconds.toFixed(1)} s, per-operation ms ${timingOf(inc)}\n`);
        process.stdout.write(`sync-storage incremental: ${inc.seconds.toFixed(1)} s, CPU ${inc.cpuSeconds.toFixed(1)} s, peak RSS ${(inc.maxRssKiB / 1024).toFixed(0)} MiB, load ${load()}, ${JSON.stringify(incOut.stats)}\n`);
        if (incOut.stats.copied + incOut.stats.deduplicated !== changed.length) throw new Error(`incremental run transferred ${incOut.stats.copied + incOut.stats.deduplicated} objects, expected ${changed.length}`);
        if (fullOut.stats.listed !== OBJECTS || fullOut.stats.failed !== 0) throw new Error(`full run listed ${fullOut.stats.listed}, failed ${fullOut.stats.failed}`);

        await db.end();
        const peak = Math.max(full.maxRssKiB, inc.maxRssKiB) / 1024;
        process.stdout.write(`objects=${OBJECTS} bytes=${total} transfers=${CONCURRENCY} cpus=${require("node:os").cpus().length} load=${load()}\n`);
        process.stdout.write(
            `sync/rclone=${(full.seconds / rc.seconds).toFixed(3)} cpu/rclone=${(full.cpuSeconds / rc.cpuSeconds).toFixed(3)} incremental/full=${(inc.seconds / full.seconds).toFixed(3)} ` +
                `cpu-incremental/full=${(inc.cpuSeconds / full.cpuSeconds).toFixed(3)} peakRssMiB=${Math.round(peak)}\n`,
        );
    } finally {
        await Promise.allSettled([pg.stop(), source.stop(), dest.stop()]);
    }
}

(process.argv.includes("--scale") ? scaleMain(arg("scale", 1_000_000)) : main()).catch((e) => {
    process.stderr.write(`bench:sync: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
});
