// Benchmark (issue 3): the `dump` job against the seed's pipeline, on the same ≥ 1 GB Supabase-like
// database, alternating, ≥ 3 runs each. Not a timed test.
//
//   npm run bench:dump                          # ≈ 1 GiB database, 3 runs each, then the 2× memory check
//   npm run bench:dump -- --size-gb 0.05 --runs 1 --no-double    # smoke run
//   npm run bench:dump -- --encrypt             # the job also age-encrypts (the seed pipeline does not)
//
// Contenders (same PostgreSQL, same s3rver on loopback):
//   seed pipeline, exactly as written:  pg_dump --no-owner --format=custom | gzip -9 | tee >(sha256sum) > dump.sql.gz;
//                                       aws s3 cp  (Debian's awscli, /usr/bin/aws)
//   this job: the real CLI process (`supabase-backups dump`) to s3rver + Azurite at once.
// Data: auth.users, profiles, entitlements, sessions with random (incompressible) payloads, messages
// with text. Peak RSS: GNU time's maximum resident set size of the job process tree's largest process
// (GNU time's %M), cross-checked with the job's own getrusage figure from its last log line.
// Then the database is grown to 2× and the job runs again: its peak RSS must not grow with the data.
// CPU: user + sys seconds of each contender's whole process tree (GNU time's wait4 rusage: the job with
// its pg_dump; the seed's bash with pg_dump, gzip, tee, sha256sum and aws), loopback servers excluded.
// Flags: --client 17|15 (pg_dump of both contenders; default 17 as in the image, which compresses itself;
// with 15 the job compresses), --level N (zstd level), --no-azure (S3 only), BENCH_PROFILE=<dir> (V8 CPU
// profiles of the job).
// Last line: dump/seed-pipeline=<ratio> cpu/seed-pipeline=<ratio> size/seed=<ratio> peakRssMiB=<n>
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { CLI_BIN, writeJobConfig } from "../test/support/cli";
import { startAzurite } from "../test/support/azurite";
import { startPostgres, type PgServer } from "../test/support/postgres";
import { clientBin, type Major } from "../test/support/pg-versions";
import { startS3rver } from "../test/support/s3rver";
import { seedSupabase } from "../test/support/seed";
import { arg, cpuLoggingWrapper, flag, GiB, load, median, MiB, serverCpuMeter, timedUsage } from "./lib";
import { FAST_SEED_SETTINGS, seedBig } from "./seed-big";

const SIZE_GB = arg("size-gb", 1);
const RUNS = Math.max(1, arg("runs", 3));
const DOUBLE = !flag("no-double");
const ENCRYPT = flag("encrypt");
const LEVEL = process.argv.includes("--level") ? arg("level", 3) : undefined;
const NO_AZURE = flag("no-azure");
// The pg_dump both contenders run: 17 by default, as the job image ships it (it then compresses itself),
// 15 to measure the job's own zstd (pg_dump <= 15 writes -Z0 and the job compresses).
const CLIENT = arg("client", 17) as Major;
// --fast-seed (the default from 2 GB): bench/seed-big.ts (server-side bulk fill without WAL, plus a table
// of toasted text) instead of the tests' seeding (which hashes every password with crypt(): minutes per GB).
const FAST_SEED = flag("fast-seed") || SIZE_GB >= 2;
// --db-url URL: dump this already seeded database instead of seeding one (its server must listen on
// loopback: its CPU is measured through its port). For repeated measurements of a multi-GB database.
const DB_URL = (() => {
    const i = process.argv.indexOf("--db-url");
    return i >= 0 ? process.argv[i + 1] : undefined;
})();
// --floor: also time the floors, in the same rounds: `pg_dump -Z0 | zstd -1 | sha256sum` (the task's
// floor), `pg_dump --compress=zstd:1 | sha256sum` (one pg_dump stream compressing itself, as in the job).
const FLOOR = flag("floor");
const FLOOR_JOBS = arg("floor-jobs", 2);
// --compare-js <bundle>: each round also runs the job from another build of jobs/dist/main.js (an
// earlier commit's, copied into jobs/dist so it finds node_modules), with the bin's dump flags: before/after.
const COMPARE_JS = (() => {
    const i = process.argv.indexOf("--compare-js");
    return i >= 0 ? process.argv[i + 1] : undefined;
})();
const AWS = "/usr/bin/aws"; // Debian's awscli, not whatever `aws` is first on PATH
const TABLES = ["auth.users", "public.profiles", "public.sessions", "public.entitlements", "public.messages"];

async function dbSize(pg: PgServer, db: string): Promise<number> {
    return Number((await pg.query(`select pg_database_size('${db}') as s`, db))[0].s);
}

/** Grow the database to `target` bytes: more sessions (random payloads) and messages (text) for existing users. */
async function growTo(pg: PgServer, db: string, target: number): Promise<void> {
    const c = new Client({ connectionString: pg.urlFor(db) });
    await c.connect();
    try {
        for (;;) {
            const size = await dbSize(pg, db);
            if (size >= target) return;
            const users = Number((await c.query("select count(*) n from auth.users")).rows[0].n);
            // ≈ 1.6 KiB per session row with payload + index, ≈ 0.3 KiB per message: aim at 60 % of the gap.
            const rows = Math.max(1000, Math.ceil(((target - size) * 0.6) / 1900));
            await c.query(
                `insert into public.sessions (user_id, device, ip, payload)
                 select u.id, 'web', '10.9.9.9'::inet, extensions.gen_random_bytes(768)
                 from (select id from auth.users order by random() limit $1) u, generate_series(1, greatest(1, ceil($2::numeric / $1)::int)) s`,
                [Math.min(users, rows), rows],
            );
            await c.query(
                `insert into public.messages (sender, recipient, body)
                 select u.id, u.id, 'note ' || md5(random()::text) || ' ' || repeat('back at the usual place tomorrow ', 1 + (g % 5))
                 from (select id from auth.users order by random() limit $1) u, generate_series(1, 2) g`,
                [Math.min(users, rows)],
            );
            await c.query("analyze");
        }
    } finally {
        await c.end();
    }
}

/** --timeline: seconds from the job's first log line to each step's line (pino JSON on stderr). */
function timeline(stderr: string): string {
    const lines = stderr.split("\n").flatMap((l) => {
        try {
            const j = JSON.parse(l) as { time?: string; msg?: string };
            return j.time && j.msg && !/^dump: /.test(j.msg) ? [{ t: Date.parse(j.time), msg: j.msg }] : [];
        } catch {
            return [];
        }
    });
    const t0 = lines[0]?.t ?? 0;
    return lines.map((l) => `${((l.t - t0) / 1000).toFixed(1)} ${l.msg.slice(0, 40)}`).join(" | ");
}

/** A server this bench did not start (--db-url): only what the bench uses of a PgServer. */
function externalPg(dbUrl: string): PgServer {
    const u = new URL(dbUrl);
    const urlFor = (db: string) => Object.assign(new URL(u.href), { pathname: `/${db}` }).href;
    const query = async (sql: string, database = "postgres") => {
        const c = new Client({ connectionString: urlFor(database) });
        await c.connect();
        try {
            return (await c.query(sql)).rows;
        } finally {
            await c.end();
        }
    };
    const none = () => Promise.reject(new Error("not with --db-url"));
    return { port: Number(u.port), url: urlFor("postgres"), password: decodeURIComponent(u.password), dataDir: "", urlFor, query, createDatabase: none, stop: async () => undefined };
}

async function main() {
    const t0 = Date.now();
    const bin = clientBin(CLIENT);
    const settings = FAST_SEED ? FAST_SEED_SETTINGS : { shared_buffers: "256MB", max_wal_size: "4GB" };
    const [pg, s3, az] = await Promise.all([DB_URL ? externalPg(DB_URL) : startPostgres({ settings }), startS3rver(), startAzurite()]);
    const scratch = mkdtempSync(join(tmpdir(), "sb-bench-dump-"));
    try {
        await s3.createBucket("vault");
        await az.createContainer("archive");
        const db = DB_URL ? new URL(DB_URL).pathname.slice(1) : "bench";
        const url = DB_URL ?? (await pg.createDatabase(db));
        const target = SIZE_GB * GiB;
        if (DB_URL) {
            process.stdout.write(`using the seeded database ${db} on port ${pg.port}\n`);
        } else if (FAST_SEED) {
            process.stdout.write(`seeding ≈ ${SIZE_GB} GiB (bench/seed-big.ts: Supabase-like schema, RLS, roles, toasted documents)…\n`);
            await seedBig(url, target, (l) => process.stdout.write(l + "\n"));
            await growTo(pg, db, target);
        } else {
            // ≈ 3.3 KiB per user with these settings (users, profile, entitlement, 2 sessions with 512 random
            // bytes, 5 messages, indexes): seed most of it in one go, then top up.
            const users = Math.max(1000, Math.round((target / 3400) * 0.9));
            process.stdout.write(`seeding ≈ ${SIZE_GB} GiB (${users} users, Supabase-like schema, RLS, roles)…\n`);
            await seedSupabase(url, { users, messagesPerUser: 5, sessionsPerUser: 2, payloadBytes: 512 });
            await growTo(pg, db, target);
        }
        const size1 = await dbSize(pg, db);
        process.stdout.write(`database: ${(size1 / GiB).toFixed(2)} GiB, seeded in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
        const meter = () => serverCpuMeter({ postgres: pg.port, s3rver: s3.port, azurite: az.port });
        const fmtServers = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ");
        // pg_dump's own CPU within the job's tree (the rest is Node: hashing, uploads, GC)
        const pgDumpTimed = cpuLoggingWrapper(scratch, join(bin, "pg_dump"));

        const cfg = writeJobConfig(
            { vault: { bucket: "vault", region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true }, archive: { accountUrl: az.accountUrl, container: "archive" } },
            (c) => {
                c.verify.tables = TABLES;
                delete c.alerts.pushgatewayUrl;
            },
        );
        const jobEnv: NodeJS.ProcessEnv = {
            ...process.env,
            ...s3.env,
            DATABASE_URL: url,
            AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
            LOG_LEVEL: "info",
            // BENCH_PROFILE=<dir>: V8 CPU profiles of the job's runs (where its CPU goes)
            ...(process.env.BENCH_PROFILE ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE}` } : {}),
        };
        const jobArgs = ["dump", "--config", cfg.path, "--json", "--pg-dump", pgDumpTimed.path, "--pg-dumpall", join(bin, "pg_dumpall"), ...(LEVEL !== undefined ? ["--level", String(LEVEL)] : []), ...(NO_AZURE ? ["--no-archive"] : [])];
        if (ENCRYPT) {
            const age = await import("age-encryption");
            jobArgs.push("--age-recipient", await age.identityToRecipient(await age.generateIdentity()));
        }
        const seedEnv: NodeJS.ProcessEnv = {
            ...process.env,
            ...s3.env,
            AWS_DEFAULT_REGION: "us-east-1",
            AWS_EC2_METADATA_DISABLED: "true",
            PGDUMP: join(bin, "pg_dump"),
            DATABASE_URL: url,
            ENDPOINT: s3.endpoint,
            AWS,
        };
        // The seed's pipeline exactly as written, then the upload.
        const seedScript =
            `set -euo pipefail; "$PGDUMP" --no-owner --format=custom "$DATABASE_URL" | gzip -9 | tee >(sha256sum > dump.sha256) > dump.sql.gz; ` +
            `"$AWS" s3 cp --only-show-errors --endpoint-url "$ENDPOINT" dump.sql.gz "s3://vault/seed/$RUN/dump.sql.gz"`;

        const seedTimes: number[] = [];
        const seedSizes: number[] = [];
        const seedCpu: number[] = [];
        const jobCpu: number[] = [];
        const jobTimes: number[] = [];
        const jobSizes: number[] = [];
        const jobRss: number[] = [];
        const jobSelfRss: number[] = [];
        const floorTimes: Record<string, number[]> = {};
        const compareTimes: number[] = [];
        const compareCpu: number[] = [];
        const runJob = async (label: string, js?: string) => {
            const m = meter();
            const r = js
                ? await timedUsage(process.execPath, ["--max-semi-space-size=1", "--initial-old-space-size=64", js, ...jobArgs], jobEnv, { stderrTail: 50_000 })
                : await timedUsage(CLI_BIN, jobArgs, jobEnv, { stderrTail: 50_000 });
            const servers = m.read();
            const pgDumpCpu = pgDumpTimed.take();
            if (r.code !== 0) throw new Error(`job run failed (${r.code}): ${r.stderr.slice(-3000)}`);
            const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
            const bytes = out.manifest.objects[0].bytes as number;
            const rss = r.maxRssKiB / 1024;
            process.stdout.write(
                `  ${label}: ${r.seconds.toFixed(1)} s, dump ${(bytes / MiB).toFixed(1)} MiB (${out.manifest.compression.algorithm} by ${out.manifest.compression.by}), ` +
                    `CPU ${r.cpuSeconds.toFixed(1)} s (user ${r.userSeconds.toFixed(1)}, sys ${r.sysSeconds.toFixed(1)}; pg_dump ${pgDumpCpu.toFixed(1)}, Node ${(r.cpuSeconds - pgDumpCpu).toFixed(1)}), ` +
                    `servers' CPU: ${fmtServers(servers)}; ` +
                    `peak RSS ${rss.toFixed(0)} MiB (job's own ${out.maxRssMiB} MiB), azure ${out.manifest.secondary.status}, load ${load()}\n`,
            );
            if (flag("timeline")) process.stdout.write(`    timeline: ${timeline(r.stderr)}\n`);
            // Azurite keeps blobs in memory: drop this run's copy before the next one.
            const container = az.service.getContainerClient("archive");
            for await (const b of container.listBlobsFlat()) await container.deleteBlob(b.name).catch(() => undefined);
            return { seconds: r.seconds, cpu: r.cpuSeconds, bytes, rss, self: out.maxRssMiB as number };
        };
        // The floors: no upload, no server but PostgreSQL; one stream each.
        const floors: Array<[string, string]> = [
            ["pg_dump -Z0 | zstd -1 | sha256sum", `set -euo pipefail; "$PGDUMP" --format=custom --compress=0 "$DATABASE_URL" | zstd -1 -T1 -q -c | sha256sum`],
            ["pg_dump --compress=zstd:1 | sha256sum", `set -euo pipefail; "$PGDUMP" --format=custom --compress=zstd:1 "$DATABASE_URL" | sha256sum`],
            // directory format, FLOOR_JOBS workers, to local disk (then removed): does a second stream help here?
            [`pg_dump -Fd -j ${FLOOR_JOBS} --compress=zstd:1 to disk`, `set -euo pipefail; d=$(mktemp -d -p "$SCRATCH"); "$PGDUMP" --format=directory --jobs=${FLOOR_JOBS} --compress=zstd:1 -f "$d/out" "$DATABASE_URL"; du -sm "$d/out" >&2; rm -rf "$d"`],
        ];
        const runFloors = async () => {
            for (const [name, script] of floors) {
                const m = meter();
                const f = await timedUsage("bash", ["-c", script], { ...seedEnv, SCRATCH: scratch }, { stderrTail: 5000 });
                if (f.code !== 0) throw new Error(`floor ${name} failed (${f.code}): ${f.stderr}`);
                (floorTimes[name] ??= []).push(f.seconds);
                process.stdout.write(`  floor ${name}: ${f.seconds.toFixed(1)} s, CPU ${f.cpuSeconds.toFixed(1)} s (user ${f.userSeconds.toFixed(1)}, sys ${f.sysSeconds.toFixed(1)}), servers' CPU: ${fmtServers(m.read())}, load ${load()}\n`);
            }
        };
        process.stdout.write(`alternating ${RUNS} runs each (${cpus().length} CPUs, load ${load()})\n`);
        for (let i = 0; i < RUNS; i++) {
            if (FLOOR) await runFloors();
            // --jobs-only: the job's runs alone (e.g. with --timeline), no seed pipeline and no ratios
            if (!flag("jobs-only")) {
                const dir = mkdtempSync(join(scratch, "seed-"));
                const sm = meter();
                const s = await timedUsage("bash", ["-c", seedScript], { ...seedEnv, RUN: String(i) }, { cwd: dir, stderrTail: 50_000 });
                if (s.code !== 0) throw new Error(`seed pipeline failed (${s.code}): ${s.stderr.slice(-3000)}`);
                const bytes = statSync(join(dir, "dump.sql.gz")).size;
                seedTimes.push(s.seconds);
                seedCpu.push(s.cpuSeconds);
                seedSizes.push(bytes);
                process.stdout.write(`  seed pipeline #${i + 1}: ${s.seconds.toFixed(1)} s, CPU ${s.cpuSeconds.toFixed(1)} s (user ${s.userSeconds.toFixed(1)}, sys ${s.sysSeconds.toFixed(1)}), servers' CPU: ${fmtServers(sm.read())}, dump.sql.gz ${(bytes / MiB).toFixed(1)} MiB, load ${load()}\n`);
                rmSync(dir, { recursive: true, force: true });
            }
            if (COMPARE_JS) {
                const c = await runJob(`job (${COMPARE_JS}) #${i + 1}`, COMPARE_JS);
                compareTimes.push(c.seconds);
                compareCpu.push(c.cpu);
            }
            const j = await runJob(`job #${i + 1}`);
            jobTimes.push(j.seconds);
            jobCpu.push(j.cpu);
            jobSizes.push(j.bytes);
            jobRss.push(j.rss);
            jobSelfRss.push(j.self);
        }
        const seedMed = median(seedTimes);
        const jobMed = median(jobTimes);
        const seedCpuMed = median(seedCpu);
        const jobCpuMed = median(jobCpu);
        const seedSize = median(seedSizes);
        const jobSize = median(jobSizes);
        const rss1 = Math.max(...jobRss);
        let rss2: number | undefined;
        let size2: number | undefined;
        if (DOUBLE) {
            process.stdout.write(`growing the database to 2× (${((2 * size1) / GiB).toFixed(2)} GiB) for the memory check…\n`);
            await growTo(pg, db, 2 * size1);
            size2 = await dbSize(pg, db);
            const j = await runJob(`job at ${(size2 / GiB).toFixed(2)} GiB`);
            rss2 = j.rss;
        }
        process.stdout.write(`\nresults (${(size1 / GiB).toFixed(2)} GiB database, pg_dump ${CLIENT}${LEVEL !== undefined ? `, level ${LEVEL}` : ""}${NO_AZURE ? ", S3 only" : ""}${ENCRYPT ? ", job encrypting to age" : ""}):\n`);
        process.stdout.write(`  seed pipeline: median ${seedMed.toFixed(1)} s [${seedTimes.map((x) => x.toFixed(1)).join(", ")}], dump.sql.gz ${(seedSize / MiB).toFixed(1)} MiB\n`);
        process.stdout.write(`  dump job:      median ${jobMed.toFixed(1)} s [${jobTimes.map((x) => x.toFixed(1)).join(", ")}], dump ${(jobSize / MiB).toFixed(1)} MiB\n`);
        process.stdout.write(`  CPU (user+sys of each process tree, loopback servers excluded): seed median ${seedCpuMed.toFixed(1)} s [${seedCpu.map((x) => x.toFixed(1)).join(", ")}], job median ${jobCpuMed.toFixed(1)} s [${jobCpu.map((x) => x.toFixed(1)).join(", ")}]\n`);
        if (COMPARE_JS) process.stdout.write(`  job from ${COMPARE_JS}: median ${median(compareTimes).toFixed(1)} s [${compareTimes.map((x) => x.toFixed(1)).join(", ")}], CPU median ${median(compareCpu).toFixed(1)} s (this build / that one: wall ${(jobMed / median(compareTimes)).toFixed(3)}, CPU ${(jobCpuMed / median(compareCpu)).toFixed(3)})\n`);
        for (const [name, xs] of Object.entries(floorTimes)) process.stdout.write(`  floor ${name}: median ${median(xs).toFixed(1)} s (${(median(xs) / seedMed).toFixed(3)} of the seed pipeline)\n`);
        process.stdout.write(`  job peak RSS:  ${rss1.toFixed(0)} MiB at ${(size1 / GiB).toFixed(2)} GiB (job's own getrusage: max ${Math.max(...jobSelfRss)} MiB)`);
        if (rss2 !== undefined) process.stdout.write(`, ${rss2.toFixed(0)} MiB at ${(size2! / GiB).toFixed(2)} GiB`);
        process.stdout.write("\n");
        const peak = Math.round(Math.max(rss1, rss2 ?? 0));
        const ratio = jobMed / seedMed;
        const sizeRatio = jobSize / seedSize;
        const cpuRatio = jobCpuMed / seedCpuMed;
        const verdicts = [`time ${ratio <= 0.4 ? "≤" : ">"} 0.4`, `CPU ${cpuRatio <= 0.3 ? "≤" : ">"} 0.3`, `size ${sizeRatio <= 1 ? "≤" : ">"} 1.0`, `RSS ${peak <= 200 ? "≤" : ">"} 200 MiB`];
        if (rss2 !== undefined) verdicts.push(`RSS growth at 2×: ${(rss2 - rss1).toFixed(0)} MiB`);
        process.stdout.write(`  targets: ${verdicts.join(", ")}; total bench time ${((Date.now() - t0) / 1000).toFixed(0)} s; load ${load()}\n`);
        process.stdout.write(`dump/seed-pipeline=${ratio.toFixed(3)} cpu/seed-pipeline=${cpuRatio.toFixed(3)} size/seed=${sizeRatio.toFixed(3)} peakRssMiB=${peak}\n`);
    } finally {
        rmSync(scratch, { recursive: true, force: true });
        await Promise.all([pg.stop(), s3.stop(), az.stop()]);
    }
}

main().catch((e) => {
    process.stderr.write(`bench:dump failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
});
