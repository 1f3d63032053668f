// Benchmark (issue 5): the `verify` job on a ≥ 1 GB Supabase-like database's dump, against a bare
// `pg_restore -j 2` of the same dump from local disk into an empty database on the same server.
//
//   npm run bench:verify                     # ≈ 1.1 GiB database (450 000 users)
//   npm run bench:verify -- --users 20000    # smoke run
//   npm run bench:verify -- --encrypt        # dumps age-encrypted (verify decrypts with AGE_IDENTITY)
//   npm run bench:verify -- --repeat 3       # medians of 3 of each
//
// Setup: a source PostgreSQL seeded by test/support/seed.ts, the real `dump` command into an s3rver vault
// (zstd by the job, as with a PostgreSQL 15 client), then the source is stopped. A second PostgreSQL is
// the canary server for both contenders. The bare restore reads the decompressed custom-format file from
// local disk (the download and decompression are not timed: that is the point of "bare"); verify is the
// whole CLI process: list, chain, download + sha256 + decompress to its spool, pg_restore -j 2, checks,
// record, drop. Roles exist on the canary server for both (the bare restore would fail without them).
// One untimed restore first (WAL segments, page cache); with --repeat the order alternates.
// Last line: verify/pg_restore=<ratio>  (target ≤ 1.3)
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createZstdDecompress } from "node:zlib";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { dbObjectKey, type DbManifest } from "@supabase-backups/contracts";
import { arg, flag, GiB, median, MiB, timed } from "./lib";
import { CLI_BIN, writeJobConfig } from "../test/support/cli";
import { pgBinDir, startPostgres, type PgServer } from "../test/support/postgres";
import { startS3rver } from "../test/support/s3rver";
import { seedSupabase } from "../test/support/seed";

const USERS = arg("users", 450_000);
const REPEAT = arg("repeat", 1);
const JOBS = 2;
const ENCRYPT = flag("encrypt");
const TABLES = ["auth.users", "public.profiles", "public.sessions", "public.entitlements", "public.messages"];


async function main() {
    const t0 = Date.now();
    const bin = pgBinDir();
    const [source, canary, vault] = await Promise.all([startPostgres(), startPostgres(), startS3rver()]);
    let sourceStopped = false;
    const scratch = mkdtempSync(join(tmpdir(), "sb-bench-verify-"));
    try {
        await vault.createBucket("vault");
        process.stdout.write(`seeding ${USERS} users (Supabase-like schema, RLS, roles)…\n`);
        await seedSupabase(source.url, { users: USERS, messagesPerUser: 5, sessionsPerUser: 2, payloadBytes: 256 });
        const size = Number((await source.query("select pg_database_size('postgres') as s"))[0].s);
        process.stdout.write(`database: ${(size / GiB).toFixed(2)} GiB, seeded in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
        if (!process.argv.includes("--users") && size < GiB) throw new Error(`database is ${(size / GiB).toFixed(2)} GiB, below the 1 GB the benchmark needs`);

        let identity: string | undefined;
        let recipient: string | undefined;
        if (ENCRYPT) {
            const age = await import("age-encryption");
            identity = await age.generateIdentity();
            recipient = await age.identityToRecipient(identity);
        }
        const cfg = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: vault.endpoint, forcePathStyle: true } }, (c) => {
            c.env = "bench";
            c.verify.tables = TABLES;
            delete c.alerts.pushgatewayUrl;
            if (recipient) c.encryption = { ageRecipient: recipient };
        }).path;
        const baseEnv: NodeJS.ProcessEnv = { ...process.env, ...vault.env, LOG_LEVEL: "warn" };

        process.stdout.write(`dump (real job)…\n`);
        const d = await timed(CLI_BIN, ["dump", "--config", cfg, "--json", "--no-archive"], { ...baseEnv, DATABASE_URL: source.url, PG_DUMP: join(bin, "pg_dump"), PG_DUMPALL: join(bin, "pg_dumpall") });
        if (d.code !== 0) throw new Error(`dump failed (${d.code}): ${d.stderr.slice(-3000)}`);
        const manifest: DbManifest = JSON.parse(d.stdout.trim().split("\n").pop()!).manifest;
        const dumpObj = manifest.objects.find((o) => o.name === "dump")!;
        process.stdout.write(
            `dump: ${d.seconds.toFixed(1)} s, ${(dumpObj.bytes / MiB).toFixed(0)} MiB stored (${manifest.compression.algorithm} by ${manifest.compression.by}${manifest.encryption ? ", age" : ""})\n`,
        );
        await source.stop();
        sourceStopped = true;

        // The bare contender's input: the same dump, decompressed (and decrypted) once, on local disk.
        const local = join(scratch, "bare.dump");
        {
            const r = await vault.client.send(new GetObjectCommand({ Bucket: "vault", Key: dbObjectKey("bench", manifest.runId, "dump") }));
            const stages: any[] = [r.Body as Readable];
            if (identity) {
                const { AgeDecryptStream } = await import("../jobs/src/codec/age-decrypt");
                stages.push(new AgeDecryptStream(identity));
            }
            if (manifest.compression.by === "job") stages.push(createZstdDecompress({ chunkSize: 1 << 20 }));
            stages.push(createWriteStream(local));
            await pipeline(stages);
        }
        process.stdout.write(`bare input: ${(statSync(local).size / MiB).toFixed(0)} MiB custom-format archive on local disk\n`);
        // Roles the dump's objects belong to, on the canary server for both contenders.
        await canary.query(`create role anon nologin; create role authenticated nologin; create role service_role nologin bypassrls;`);

        const restoreEnv = { ...process.env, PGHOST: "127.0.0.1", PGPORT: String(canary.port), PGUSER: "postgres", PGPASSWORD: canary.password };
        const bareRestore = async (): Promise<number> => {
            await canary.query(`drop database if exists bare with (force)`);
            await canary.query(`create database bare template template0`);
            const b = await timed(join(bin, "pg_restore"), ["--no-password", "--jobs", String(JOBS), "--dbname", "bare", local], restoreEnv);
            if (b.code !== 0) throw new Error(`bare pg_restore failed (${b.code}): ${b.stderr.slice(-3000)}`);
            await canary.query(`drop database bare with (force)`);
            await canary.query("checkpoint");
            return b.seconds;
        };
        // Warm-up, untimed: the first restore into a fresh cluster also creates its WAL segments and
        // warms the page cache, which would favour whichever contender runs second.
        process.stdout.write(`warm-up restore (untimed): ${(await bareRestore()).toFixed(1)} s\n`);
        const bare: number[] = [];
        const ver: number[] = [];
        const runVerify = async () => {
            const v = await timed(CLI_BIN, ["verify", "--config", cfg, "--json", "--jobs", String(JOBS), "--scratch", scratch], {
                ...baseEnv,
                CANARY_DATABASE_URL: canary.url,
                ...(identity ? { AGE_IDENTITY: identity } : {}),
                PATH: `${bin}:${process.env.PATH}`,
            });
            if (v.code !== 0) throw new Error(`verify failed (${v.code}): ${v.stderr.slice(-3000)}`);
            await canary.query("checkpoint");
            const rec = JSON.parse(v.stdout).records[0];
            if (rec.result !== "passed") throw new Error(`verification did not pass: ${rec.reason}`);
            ver.push(v.seconds);
            const du = rec.durations;
            process.stdout.write(
                `verify (whole CLI): ${v.seconds.toFixed(1)} s — download+sha256+decode ${du.downloadSeconds.toFixed(1)} s, restore ${du.restoreSeconds.toFixed(1)} s, ` +
                    `checks ${du.checksSeconds.toFixed(1)} s, in-job total ${du.totalSeconds.toFixed(1)} s\n`,
            );
            const left = await canary.query("select datname from pg_database where datname like 'sbv\\_%'");
            if (left.length) throw new Error(`canary database left behind: ${left.map((r) => r.datname).join(", ")}`);
        };
        const runBare = async () => {
            bare.push(await bareRestore());
            process.stdout.write(`bare pg_restore -j ${JOBS}: ${bare[bare.length - 1].toFixed(1)} s\n`);
        };
        for (let i = 0; i < REPEAT; i++) {
            // alternate the order between repetitions
            if (i % 2 === 0) {
                await runBare();
                await runVerify();
            } else {
                await runVerify();
                await runBare();
            }
        }
        process.stdout.write(`users=${USERS} dbBytes=${size} dumpBytes=${dumpObj.bytes} jobs=${JOBS} cpus=${cpus().length} repeat=${REPEAT} encrypted=${!!identity}\n`);
        process.stdout.write(`verify/pg_restore=${(median(ver) / median(bare)).toFixed(3)}\n`);
    } finally {
        rmSync(scratch, { recursive: true, force: true });
        await Promise.allSettled([sourceStopped ? undefined : source.stop(), canary.stop(), vault.stop()] as Array<Promise<void> | undefined>);
    }
}

main().catch((e) => {
    process.stderr.write(`bench:verify: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
});
