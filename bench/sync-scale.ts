// Benchmark (issue 16 item 4): sync-storage's incremental run at a million objects, for flat memory.
//
//   npm run bench:sync -- --scale 1000000     # runs at 100 000 (scale/10) and at 1 000 000
//   npm run bench:sync -- --scale 20000       # smoke run (2 000 and 20 000)
//
// At each size N: `storage.objects` holds N rows (generate_series, Supabase's schema and indexes), the
// vault holds a previous complete run with N entries (written directly in the streamed format by the
// same writer the job uses), and 1 % of the rows have changed since: their new bytes are in the source
// (an s3rver playing Supabase's Storage S3 endpoint) and get downloaded, hashed and uploaded; the other
// 99 % are unchanged and their blobs' recorded locks cover the run, so the job never touches them (no
// HEAD, no lock extension). The incremental run is the real CLI under GNU time: wall clock, CPU of its
// process tree, peak RSS. Last line:
//   scale100kRssMiB= scale1MRssMiB= scale100kSec= scale1MSec= rss1M/100k= sec1M/100k= (ideal 10) ...
import { createHash, randomBytes } from "node:crypto";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Client } from "pg";
import {
    newRunId,
    storageBlobKey,
    storageObjectListKey,
    storageRunManifestKey,
    STORAGE_MANIFEST_SCHEMA_VERSION,
    type StorageManifest,
} from "@supabase-backups/contracts";
import { CLI_BIN, writeJobConfig } from "../test/support/cli";
import { startPostgres } from "../test/support/postgres";
import { S3_TEST_CREDENTIALS, startS3rver } from "../test/support/s3rver";
import { SUPABASE_SCHEMA_SQL } from "../test/support/seed";
import { ObjectListWriter } from "../jobs/src/vault/object-list";
import { putRecordOnce } from "../jobs/src/vault/s3";
import { arg, load, timedUsage } from "./lib";

const BUCKET = "bench";
const CONCURRENCY = arg("concurrency", 16);
const UPDATED_AT = "2026-11-01T00:00:00.000000Z";
const LOCKED_UNTIL = "2099-01-01T00:00:00.000Z";

/** Names in code-point order without sorting: `u{i mod 97}/file-{i}.bin`, grouped by prefix. */
function* namesInOrder(n: number): Generator<{ i: number; name: string }> {
    for (let p = 0; p < 97; p++) for (let i = p; i < n; i += 97) yield { i, name: `u${String(p).padStart(2, "0")}/file-${String(i).padStart(7, "0")}.bin` };
}

const sizeOf = (i: number) => 1000 + (i % 1000);
const etagOf = (i: number) => `"${createHash("md5").update(`v1-${i}`).digest("hex")}"`;
const shaOf = (i: number) => createHash("sha256").update(`v1-${i}`).digest("hex");
const isChanged = (i: number) => i % 100 === 0;

/** N rows like Supabase Storage's, in one statement. */
async function seedRows(db: Client, n: number): Promise<void> {
    await db.query(`truncate storage.objects`);
    await db.query(
        `insert into storage.objects (bucket_id, name, metadata, version, updated_at)
         select $1, 'u' || lpad((i % 97)::text, 2, '0') || '/file-' || lpad(i::text, 7, '0') || '.bin',
                jsonb_build_object('eTag', '"' || md5('v1-' || i) || '"', 'size', 1000 + i % 1000, 'mimetype', 'application/octet-stream',
                                   'cacheControl', 'max-age=3600', 'contentLength', 1000 + i % 1000, 'httpStatusCode', 200),
                gen_random_uuid()::text, $2::timestamptz
         from generate_series(0, $3::int - 1) as i`,
        [BUCKET, UPDATED_AT, n],
    );
    await db.query(`analyze storage.objects`);
}

/** The previous complete run: its object list (N entries) and its manifest, as the job writes them. */
async function writePrevious(vault: S3Client, env: string, n: number): Promise<string> {
    const runId = newRunId(new Date(Date.now() - 86_400_000));
    const write = { key: storageObjectListKey(env, runId), tags: { tier: "daily" as const, env, kind: "sync-storage" as const }, retainUntil: new Date(LOCKED_UNTIL) };
    const writer = new ObjectListWriter(vault, { bucket: "vault" }, write, { env, runId });
    let bytes = 0;
    for (const { i, name } of namesInOrder(n)) {
        const sha256 = shaOf(i);
        const size = sizeOf(i);
        bytes += size;
        await writer.add({
            bucket: BUCKET,
            name,
            size,
            sha256,
            contentType: "application/octet-stream",
            cacheControl: "max-age=3600",
            metadata: {},
            updatedAt: UPDATED_AT,
            eTag: etagOf(i),
            blobKey: storageBlobKey(env, sha256),
            lockedUntil: LOCKED_UNTIL,
        });
    }
    const objectList = await writer.close();
    const now = new Date().toISOString();
    const manifest: StorageManifest = {
        schemaVersion: STORAGE_MANIFEST_SCHEMA_VERSION,
        kind: "storage",
        env,
        runId,
        startedAt: now,
        finishedAt: now,
        mode: "s3",
        shards: 1,
        tier: "daily",
        retainUntil: LOCKED_UNTIL,
        buckets: [{ name: BUCKET, objects: n, bytes }],
        objectList,
        failed: [],
        vanished: [],
        stats: { listed: n, copied: n, skipped: 0, deduplicated: 0, failed: 0, bytesUploaded: bytes },
        previous: null,
    };
    await putRecordOnce(vault, { bucket: "vault" }, { key: storageRunManifestKey(env, runId), tags: write.tags, retainUntil: write.retainUntil }, manifest);
    process.stdout.write(`  previous run ${runId}: ${n} entries, object list ${(objectList.bytes / 1024 / 1024).toFixed(1)} MiB gzip\n`);
    return runId;
}

/** 1 % of the objects change: new bytes in the source, new eTag/size/updated_at in their rows. */
async function changeOnePercent(db: Client, source: S3Client, n: number): Promise<number> {
    const changed: number[] = [];
    for (let i = 0; i < n; i++) if (isChanged(i)) changed.push(i);
    let next = 0;
    const rows: Array<{ name: string; size: number; eTag: string }> = [];
    await Promise.all(
        Array.from({ length: 16 }, async () => {
            while (next < changed.length) {
                const i = changed[next++];
                const name = `u${String(i % 97).padStart(2, "0")}/file-${String(i).padStart(7, "0")}.bin`;
                const body = randomBytes(sizeOf(i) + 1);
                await source.send(new PutObjectCommand({ Bucket: BUCKET, Key: name, Body: body }));
                rows.push({ name, size: body.length, eTag: `"${createHash("md5").update(body).digest("hex")}"` });
            }
        }),
    );
    for (let k = 0; k < rows.length; k += 5000) {
        const chunk = rows.slice(k, k + 5000);
        await db.query(
            `update storage.objects o set metadata = o.metadata || jsonb_build_object('eTag', t.e, 'size', t.s, 'contentLength', t.s), updated_at = clock_timestamp()
             from unnest($2::text[], $3::bigint[], $4::text[]) as t(n, s, e) where o.bucket_id = $1 and o.name = t.n`,
            [BUCKET, chunk.map((r) => r.name), chunk.map((r) => r.size), chunk.map((r) => r.eTag)],
        );
    }
    return changed.length;
}

interface Point {
    n: number;
    seconds: number;
    cpu: number;
    rssMiB: number;
    loadBefore: string;
    loadAfter: string;
}

async function measure(n: number, ctx: { db: Client; pgUrl: string; source: { client: S3Client; endpoint: string }; vault: { client: S3Client; endpoint: string } }): Promise<Point> {
    const env = `scale${n}`;
    const t0 = Date.now();
    process.stdout.write(`N=${n}: seeding storage.objects…\n`);
    await seedRows(ctx.db, n);
    await writePrevious(ctx.vault.client, env, n);
    const changed = await changeOnePercent(ctx.db, ctx.source.client, n);
    process.stdout.write(`  seeded in ${((Date.now() - t0) / 1000).toFixed(0)} s; ${changed} changed; incremental run…\n`);
    const cfg = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: ctx.vault.endpoint, forcePathStyle: true } }, (c) => {
        c.env = env;
        c.storage = { mode: "s3", s3Endpoint: ctx.source.endpoint, buckets: [{ name: BUCKET }], concurrency: CONCURRENCY, shards: 1, retries: 3 };
        delete c.alerts.pushgatewayUrl;
    }).path;
    const jobEnv: NodeJS.ProcessEnv = {
        ...process.env,
        AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
        AWS_REGION: "us-east-1",
        DATABASE_URL: ctx.pgUrl,
        SUPABASE_SERVICE_ROLE_KEY: "unused-in-s3-mode",
        SUPABASE_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
        SUPABASE_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
        SUPABASE_S3_REGION: "us-east-1",
        LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
        ...(process.env.BENCH_PROFILE ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE}` } : {}),
    };
    const loadBefore = load();
    const r = await timedUsage(CLI_BIN, ["sync-storage", "--config", cfg, "--json"], jobEnv);
    const loadAfter = load();
    if (r.code !== 0) throw new Error(`sync-storage failed (${r.code}): ${r.stderr.slice(-2000)}`);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    const s = out.stats;
    if (s.listed !== n || s.skipped !== n - changed || s.copied !== changed || s.failed !== 0) throw new Error(`N=${n}: unexpected stats ${JSON.stringify(s)}`);
    const timing = /"timingMs":(\{[^}]*\})/.exec(r.stderr)?.[1] ?? "";
    const memory = /"memoryMiB":(\{[^}]*\})/.exec(r.stderr)?.[1] ?? "";
    const point = { n, seconds: r.seconds, cpu: r.cpuSeconds, rssMiB: r.maxRssKiB / 1024, loadBefore, loadAfter };
    process.stdout.write(
        `  N=${n}: ${r.seconds.toFixed(1)} s wall, CPU ${r.cpuSeconds.toFixed(1)} s, peak RSS ${point.rssMiB.toFixed(0)} MiB, load ${loadBefore} → ${loadAfter}, per-operation ms ${timing}, memory at the end (MiB) ${memory}, ${JSON.stringify(s)}\n`,
    );
    return point;
}

const label = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

export async function scaleMain(top: number): Promise<void> {
    const sizes = [Math.round(top / 10), top];
    const [pg, source, vault] = await Promise.all([startPostgres(), startS3rver(), startS3rver()]);
    try {
        const db = new Client({ connectionString: pg.url });
        await db.connect();
        await db.query(SUPABASE_SCHEMA_SQL);
        await db.query(`insert into storage.buckets (id, name) values ($1, $1)`, [BUCKET]);
        await source.createBucket(BUCKET);
        await vault.createBucket("vault");
        const points: Point[] = [];
        for (const n of sizes) points.push(await measure(n, { db, pgUrl: pg.url, source, vault }));
        await db.end();
        const [a, b] = points;
        const cpus = require("node:os").cpus().length;
        process.stdout.write(`objects=${sizes.join(",")} changed=1% transfers=${CONCURRENCY} cpus=${cpus} load=${load()} (beside: whatever else runs on this machine; see load per run above)\n`);
        process.stdout.write(
            `scale${label(a.n)}RssMiB=${a.rssMiB.toFixed(0)} scale${label(b.n)}RssMiB=${b.rssMiB.toFixed(0)} scale${label(a.n)}Sec=${a.seconds.toFixed(1)} scale${label(b.n)}Sec=${b.seconds.toFixed(1)} ` +
                `scale${label(a.n)}Cpu=${a.cpu.toFixed(1)} scale${label(b.n)}Cpu=${b.cpu.toFixed(1)} rss${label(b.n)}/${label(a.n)}=${(b.rssMiB / a.rssMiB).toFixed(3)} ` +
                `sec${label(b.n)}/${label(a.n)}=${(b.seconds / a.seconds).toFixed(2)} cpu${label(b.n)}/${label(a.n)}=${(b.cpu / a.cpu).toFixed(2)} (linear: ${(b.n / a.n).toFixed(0)})\n`,
        );
    } finally {
        await Promise.allSettled([pg.stop(), source.stop(), vault.stop()]);
    }
}
