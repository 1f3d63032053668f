// `npm run demo`: the whole nightly cycle on an embedded local stack, with the real commands.
// PostgreSQL (the "Supabase" database, Supabase-like schema and data), a second PostgreSQL (the canary
// and the restore-drill target), s3rver as the vault, Azurite as the archive, s3rver + a local Storage
// REST server as Supabase Storage. Then: dump → sync-storage → verify → status → restore drill (masked)
// → storage restore → a scheduled table drill and its record. Everything runs on loopback in a temp directory and is removed at the end, also on
// Ctrl-C or failure. `--vault rgw`: the vault is a throwaway Ceph RGW that enforces Object Lock (test/
// support/rgw.ts), and the demo ends by trying to delete the locked dump, which the vault refuses.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, DeleteObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { startRgw, type RgwServer } from "../test/support/rgw";
import { startAzurite, type AzuriteServer } from "../test/support/azurite";
import { bytesOf } from "../test/support/bytes";
import { CLI_BIN, writeJobConfig } from "../test/support/cli";
import { startPostgres, type PgServer } from "../test/support/postgres";
import { S3_TEST_CREDENTIALS, startS3rver, type S3Server } from "../test/support/s3rver";
import { seedSupabase } from "../test/support/seed";
import { startStorageRest, type StorageRestServer } from "../test/support/storage-rest";
import { passwordOutOfArgv } from "../test/support/target-url";

const SERVICE_ROLE_KEY = "demo-service-role-" + createHash("sha256").update(String(Date.now())).digest("hex").slice(0, 24);
const VAULT = "vault";
const ARCHIVE = "backups";
const ENV = "demo";

interface Options {
    users: number;
    objects: number;
    quiet: boolean;
    vault: "s3rver" | "rgw";
}

function parseArgs(argv: string[]): Options {
    const o: Options = { users: 5000, objects: 300, quiet: false, vault: "s3rver" };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--small") Object.assign(o, { users: 300, objects: 40 });
        else if (a === "--users") o.users = Number(argv[++i]);
        else if (a === "--objects") o.objects = Number(argv[++i]);
        else if (a === "--quiet") o.quiet = true;
        else if (a === "--vault") {
            const v = argv[++i];
            if (v !== "s3rver" && v !== "rgw") throw new Error(`--vault: s3rver or rgw, not "${v}"`);
            o.vault = v;
        }
        else if (a === "--help" || a === "-h") {
            process.stdout.write(
                "usage: npm run demo [-- --small] [--users N] [--objects N] [--quiet] [--vault s3rver|rgw]\n" +
                    "Runs dump, sync-storage, verify, status and two restore drills against an embedded local stack, then removes it.\n" +
                    "--vault rgw: the vault is a local Ceph RGW with Object Lock; the demo ends by trying to delete the locked dump.\n",
            );
            process.exit(0);
        } else throw new Error(`unknown option ${a} (try --help)`);
    }
    if (!(o.users > 0) || !(o.objects > 0)) throw new Error("--users and --objects must be positive numbers");
    return o;
}

const say = (s: string) => process.stdout.write(s + "\n");
const step = (n: number, total: number, s: string) => say(`\n[${n}/${total}] ${s}`);

function lit(s: string): string {
    return `'${s.replace(/'/g, "''")}'`;
}

class Stack {
    tmp = mkdtempSync(join(tmpdir(), "sb-demo-"));
    pg?: PgServer;
    canary?: PgServer;
    vault?: Vault;
    source?: S3Server;
    archive?: AzuriteServer;
    rest?: StorageRestServer;
    children = new Set<ReturnType<typeof spawn>>();

    async stop(): Promise<void> {
        for (const c of this.children) c.kill("SIGTERM");
        await Promise.allSettled([this.rest?.stop()]);
        await Promise.allSettled([this.pg?.stop(), this.canary?.stop(), this.vault?.stop(), this.source?.stop(), this.archive?.stop()]);
        rmSync(this.tmp, { recursive: true, force: true });
    }

    /** Upload like Supabase Storage does: the bytes, then the storage.objects row. */
    async putObject(bucket: string, name: string, body: Buffer, contentType: string, cacheControl: string, userMetadata: Record<string, unknown>) {
        await this.source!.client.send(new PutObjectCommand({ Bucket: bucket, Key: name, Body: body, ContentType: contentType, CacheControl: cacheControl }));
        const md5 = createHash("md5").update(body).digest("hex");
        const metadata = { eTag: `"${md5}"`, size: body.length, mimetype: contentType, cacheControl, lastModified: new Date().toISOString(), contentLength: body.length, httpStatusCode: 200 };
        return `(${lit(bucket)}, ${lit(name)}, ${lit(JSON.stringify(metadata))}::jsonb, ${lit(JSON.stringify(userMetadata))}::jsonb, gen_random_uuid()::text)`;
    }
}

/** The vault as the jobs reach it: s3rver (fast, no Object Lock) or Ceph RGW (enforces Object Lock). */
interface Vault {
    endpoint: string;
    region: string;
    client: S3Client;
    /** env for the CLI: credentials and region */
    env: Record<string, string>;
    kmsKeyArn?: string;
    stop(): Promise<void>;
}

async function startVault(kind: Options["vault"]): Promise<Vault> {
    if (kind === "rgw") {
        const r: RgwServer = await startRgw();
        await r.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
        const env = { AWS_ACCESS_KEY_ID: r.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: r.admin.secretAccessKey, AWS_REGION: r.region };
        return { endpoint: r.endpoint, region: r.region, client: r.client(), env, kmsKeyArn: r.kmsKeyId, stop: () => r.stop() };
    }
    const s = await startS3rver();
    await s.createBucket(VAULT);
    return { endpoint: s.endpoint, region: "us-east-1", client: s.client, env: s.env, stop: () => s.stop() };
}

/** RGW only: try to delete the locked dump's version, as ransomware with the vault's keys would. */
async function tryDeleteLockedDump(vault: Vault, dumpKey: string): Promise<string> {
    const versions = await vault.client.send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: dumpKey }));
    const v = versions.Versions?.find((x) => x.Key === dumpKey);
    if (!v?.VersionId) throw new Error(`the dump ${dumpKey} has no version in the vault`);
    try {
        await vault.client.send(new DeleteObjectCommand({ Bucket: VAULT, Key: dumpKey, VersionId: v.VersionId }));
    } catch (e) {
        const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (err.$metadata?.httpStatusCode === 403) return `${err.name ?? "AccessDenied"} (HTTP 403): version ${v.VersionId} stays`;
        throw e;
    }
    throw new Error(`the vault deleted the locked dump ${dumpKey} (version ${v.VersionId}): Object Lock is not enforced`);
}

interface StepResult {
    code: number | null;
    stdout: string;
    json?: any;
    seconds: number;
}

/** Run one CLI command; its log lines stream to the terminal as short progress lines. */
function runStep(stack: Stack, args: string[], env: Record<string, string | undefined>, quiet: boolean): Promise<StepResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const child = spawn(CLI_BIN, args, { env: { ...process.env, LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] });
        stack.children.add(child);
        let stdout = "";
        let errTail = "";
        child.stdout!.on("data", (d) => (stdout += d));
        let buf = "";
        child.stderr!.on("data", (d) => {
            buf += d;
            let i: number;
            while ((i = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                errTail = (errTail + line + "\n").slice(-4000);
                if (quiet) continue;
                try {
                    const j = JSON.parse(line);
                    if (j.msg) say(`      ${j.level === "info" ? "·" : j.level}: ${j.msg}`);
                } catch {
                    if (line.trim()) say(`      ${line}`);
                }
            }
        });
        child.on("error", reject);
        child.on("close", (code) => {
            stack.children.delete(child);
            let json: any;
            try {
                json = JSON.parse(stdout);
            } catch {
                const last = stdout.trim().split("\n").pop();
                try {
                    json = last ? JSON.parse(last) : undefined;
                } catch {
                    json = undefined;
                }
            }
            if (code !== 0) say(errTail.trim().split("\n").slice(-3).map((l) => "      " + l).join("\n"));
            resolve({ code, stdout, json, seconds: (Date.now() - started) / 1000 });
        });
    });
}

/** The drill's record as it is in the vault: what was restored, each step's time, RTO against the target. */
function showDrillRecord(out: any): void {
    const r = out?.record;
    if (!r) return;
    say(`      record ${out.key}`);
    say(`      ${r.drill} (${r.scenario}) of run ${r.restored.runId}: ${r.result.toUpperCase()}, RTO ${r.rtoSeconds?.toFixed(2)} s against ${r.rtoTargetSeconds / 60} min, cleaned up: ${r.cleanedUp ? "yes" : "NO"}`);
    for (const st of r.steps) say(`        ${st.ok ? "✔" : "✘"} ${st.name.padEnd(16)} ${st.seconds.toFixed(2).padStart(6)} s  ${st.detail.slice(0, 110)}`);
    for (const i of r.restored.items) say(`        ${i.name}: ${i.restored} rows restored, the manifest says ${i.expected}`);
}

function mib(n: number): string {
    return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

async function main(): Promise<void> {
    const opts = parseArgs(process.argv.slice(2));
    const stack = new Stack();
    let stopping = false;
    const onSignal = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        say(`\ndemo: ${sig}, stopping and removing everything it started`);
        await stack.stop();
        process.exit(130);
    };
    process.on("SIGINT", () => void onSignal("interrupted"));
    process.on("SIGTERM", () => void onSignal("terminated"));
    const total = opts.vault === "rgw" ? 10 : 9;
    const t0 = Date.now();
    try {
        step(1, total, `starting the local stack in ${stack.tmp}`);
        [stack.pg, stack.canary, stack.vault, stack.source, stack.archive] = await Promise.all([
            startPostgres(),
            startPostgres(),
            startVault(opts.vault),
            startS3rver(),
            startAzurite(),
        ]);
        await stack.archive.createContainer(ARCHIVE);
        stack.rest = await startStorageRest({ serviceRoleKey: SERVICE_ROLE_KEY, backend: { s3: stack.source.client } });
        say(`      PostgreSQL ${stack.pg.port} (source), ${stack.canary.port} (canary + drill), vault ${stack.vault.endpoint}, archive ${stack.archive.accountUrl}, storage ${stack.rest.url}`);

        step(2, total, `seeding a Supabase-like project: ${opts.users} users, profiles, sessions, entitlements, messages, RLS, migrations; buckets user-media and public-assets`);
        await seedSupabase(stack.pg.url, { users: opts.users, messagesPerUser: 8, sessionsPerUser: 2, payloadBytes: 512 });
        const rows: string[] = [];
        for (const b of ["user-media", "public-assets"]) {
            await stack.source.createBucket(b);
            await stack.pg.query(`insert into storage.buckets (id, name, public) values (${lit(b)}, ${lit(b)}, ${b === "public-assets"})`);
        }
        const publicCount = Math.max(10, Math.round(opts.objects / 5));
        for (let i = 0; i < opts.objects; i++) {
            const kind = i % 3;
            const name = kind === 0 ? `avatars/user-${i}.png` : kind === 1 ? `documents/${i}/contract.pdf` : `uploads/${i}.txt`;
            const size = kind === 2 ? 200 + (i % 50) * 40 : 4_000 + ((i * 7919) % 60_000);
            const body = kind === 2 ? Buffer.from(`note ${i}\n`.repeat(Math.ceil(size / 8))).subarray(0, size) : bytesOf(`um-${i}`, size);
            const type = kind === 0 ? "image/png" : kind === 1 ? "application/pdf" : "text/plain";
            rows.push(await stack.putObject("user-media", name, body, type, "max-age=3600", { uploadedBy: `user-${i % 50}` }));
        }
        for (let i = 0; i < publicCount; i++) {
            rows.push(await stack.putObject("public-assets", `img/banner-${i}.jpg`, bytesOf(`pa-${i}`, 2_000 + i * 97), "image/jpeg", "public, max-age=86400", {}));
        }
        // one object in two buckets: content-addressed, stored once
        rows.push(await stack.putObject("public-assets", "img/shared.png", bytesOf("um-0", 4_000), "image/png", "max-age=3600", {}));
        await stack.pg.query(`insert into storage.objects (bucket_id, name, metadata, user_metadata, version) values ${rows.join(",\n")}`);
        const [{ size: dbSize }] = await stack.pg.query(`select pg_database_size(current_database())::bigint as size`);
        say(`      database ${mib(Number(dbSize))}, ${rows.length} storage objects`);

        // age: the writer gets only the recipient (public key); verify/restore get the identity.
        const age = await import("age-encryption");
        const identity = await age.generateIdentity();
        const recipient = await age.identityToRecipient(identity);
        const { path: config } = writeJobConfig(
            {
                vault: { bucket: VAULT, region: stack.vault.region, endpoint: stack.vault.endpoint, forcePathStyle: true, ...(stack.vault.kmsKeyArn ? { kmsKeyArn: stack.vault.kmsKeyArn } : {}) },
                archive: { accountUrl: stack.archive.accountUrl, container: ARCHIVE },
            },
            (c) => {
                c.env = ENV;
                c.supabase.url = stack.rest!.url;
                c.storage = { ...c.storage, mode: "rest", s3Endpoint: stack.source!.endpoint, concurrency: 8, shards: 1, retries: 2, buckets: [{ name: "user-media", include: [], exclude: [] }, { name: "public-assets", include: [], exclude: [] }] };
                c.encryption = { ageRecipient: recipient };
                // the drills' scratch server: the canary's Postgres (its password: SUPABASE_BACKUPS_DRILL_PASSWORD)
                c.drills = { ...c.drills, scratchDatabaseUrl: stack.canary!.url.replace(/:[^:@/]+@/, "@") };
                delete c.alerts.pushgatewayUrl;
            },
        );
        const jobEnv: Record<string, string | undefined> = {
            ...stack.vault.env,
            AZURE_STORAGE_CONNECTION_STRING: stack.archive.connectionString,
            SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
            SUPABASE_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
            SUPABASE_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
            SUPABASE_S3_REGION: "us-east-1",
            SUPABASE_ACCESS_TOKEN: undefined,
            JOB_COMPLETION_INDEX: undefined,
            JOB_COMPLETIONS: undefined,
            USER: "demo-operator",
        };
        const writer = { ...jobEnv, DATABASE_URL: stack.pg.url };
        const verifier = { ...jobEnv, CANARY_DATABASE_URL: stack.canary.url, AGE_IDENTITY: identity };
        const fail = (what: string, r: StepResult) => {
            throw new Error(`${what} exited ${r.code}`);
        };

        step(3, total, "dump: one snapshot, pg_dump → zstd → age → sha256 → S3 vault + Azure archive");
        const dump = await runStep(stack, ["dump", "--config", config, "--json"], writer, opts.quiet);
        if (dump.code !== 0) fail("dump", dump);

        step(4, total, "sync-storage: every object of both buckets, content-addressed, with a run manifest → S3 vault + Azure archive");
        const sync = await runStep(stack, ["sync-storage", "--config", config, "--json"], writer, opts.quiet);
        if (sync.code !== 0) fail("sync-storage", sync);

        step(5, total, "verify: checksums, hash chain, Azure copy, canary restore into a throw-away database, row counts, RLS, checks");
        const verify = await runStep(stack, ["verify", "--config", config, "--json", "--jobs", "2"], verifier, opts.quiet);
        if (verify.code !== 0) fail("verify", verify);

        step(6, total, "status: inventory, RPO, hash chain");
        const status = await runStep(stack, ["status", "--config", config, "--json", "--no-supabase"], verifier, opts.quiet);
        if (status.code !== 0) fail("status", status);

        step(7, total, "restore drill: newest run into a new database, with masking, row counts checked");
        const drillUrl = await stack.canary.createDatabase("restore_drill");
        // the target's password goes in SUPABASE_BACKUPS_TARGET_PASSWORD, never on the command line
        const [drillArgs, drillEnv] = passwordOutOfArgv(
            ["restore", "db", "--config", config, "--at", "now", "--target-url", drillUrl, "--mask", "--target-env", "staging", "--reason", "demo: nightly restore drill", "--json"],
            verifier,
        );
        const drill = await runStep(stack, drillArgs, drillEnv, opts.quiet);
        if (drill.code !== 0) fail("restore db", drill);
        const [{ n: unmasked }] = await stack.canary.query(`select count(*)::int as n from auth.users where email not like '%@example.com'`, "restore_drill");
        if (unmasked !== 0) throw new Error(`restore drill: ${unmasked} unmasked emails remain`);

        step(8, total, "storage restore: user-media as of the run, into restored-user-media-<date>");
        const srestore = await runStep(stack, ["restore", "storage", "--config", config, "--at", "now", "--via", "s3", "--bucket", "user-media", "--reason", "demo: storage loss drill", "--json"], verifier, opts.quiet);
        if (srestore.code !== 0) fail("restore storage", srestore);
        const into = srestore.json?.into ?? srestore.json?.target ?? "";
        const restored = into ? ((await stack.source.client.send(new ListObjectsV2Command({ Bucket: into, MaxKeys: 1000 }))).KeyCount ?? 0) : 0;

        step(9, total, "scheduled drill, run now: public.profiles restored into a scratch database, row count checked, timed against the 60 min RTO, cleaned up, recorded");
        const drillRun = await runStep(stack, ["drill", "--config", config, "--kind", "table", "--reason", "demo: monthly table drill", "--json"], { ...verifier, SUPABASE_BACKUPS_DRILL_PASSWORD: stack.canary.password }, opts.quiet);
        if (drillRun.code !== 0) fail("drill", drillRun);
        showDrillRecord(drillRun.json);

        let tamper: string | undefined;
        if (opts.vault === "rgw") {
            step(10, total, "ransomware with the vault's own keys: delete the locked dump's version");
            const dumpKey = (dump.json?.manifest?.objects ?? dump.json?.objects ?? []).find((o: any) => o.name === "dump")?.key;
            tamper = await tryDeleteLockedDump(stack.vault, dumpKey);
            say(`      refused: ${tamper}`);
        }
        report({ opts, dump, sync, verify, status, drill, srestore, into, restored, drillRun, tamper, seconds: (Date.now() - t0) / 1000 });
        // What an operator sees first: `status --timeline`, the run timeline with tiers, RPO and RTO.
        const picture = await runStep(stack, ["status", "--config", config, "--timeline", "--days", "7", "--no-supabase"], verifier, true);
        if (picture.code !== 0) fail("status --timeline", picture);
        say(`\n$ supabase-backups status --timeline --days 7\n${picture.stdout.trimEnd()}\n`);
        say("demo: OK");
    } catch (e) {
        say(`\ndemo: FAILED: ${(e as Error).message}`);
        process.exitCode = 1;
    } finally {
        if (!stopping) {
            const t = Date.now();
            await stack.stop();
            say(`demo: removed the local stack (${((Date.now() - t) / 1000).toFixed(1)} s)`);
        }
    }
}

function report(r: {
    opts: Options;
    dump: StepResult;
    sync: StepResult;
    verify: StepResult;
    status: StepResult;
    drill: StepResult;
    srestore: StepResult;
    drillRun: StepResult;
    into: string;
    restored: number;
    tamper?: string;
    seconds: number;
}): void {
    const d = r.dump.json ?? {};
    const dumpObj = (d.manifest?.objects ?? d.objects ?? []).find((o: any) => o.name === "dump") ?? {};
    const s = r.sync.json ?? {};
    const v = r.verify.json ?? {};
    const vrec = Array.isArray(v.records) ? v.records[0] : undefined;
    const st = r.status.json ?? {};
    say("\n──────────────── report ────────────────");
    say(`database dump      run ${d.runId ?? d.manifest?.runId ?? "?"}, tier ${d.tier ?? d.manifest?.tier ?? "?"}, ${mib(dumpObj.bytes ?? 0)} in ${r.dump.seconds.toFixed(1)} s`);
    say(`  sha256           ${dumpObj.sha256 ?? "?"}`);
    say(`  secondary        Azure ${d.secondary?.status ?? d.manifest?.secondary?.status ?? "?"}; encrypted to ${d.encryption?.recipient ?? d.manifest?.encryption?.recipient ?? "?"}`);
    const ss = s.stats ?? {};
    say(`storage sync       ${ss.listed ?? "?"} objects listed, ${ss.copied ?? "?"} copied, ${ss.deduplicated ?? "?"} deduplicated, ${ss.failed ?? "?"} failed, ${mib(ss.bytesUploaded ?? 0)} uploaded`);
    say(`  secondary        Azure ${s.archive ? `${s.archive.status}: ${s.archive.copied} blob(s) copied, ${s.archive.missing} missing` : "off"}`);
    const checks = vrec?.checks ?? [];
    say(`verification       ${vrec?.result ?? "?"}: ${checks.filter((c: any) => c.ok).length}/${checks.length} checks passed; download ${vrec?.durations?.downloadSeconds ?? "?"} s, canary restore ${vrec?.durations?.restoreSeconds ?? "?"} s (measured RTO for ${mib(vrec?.dumpBytes ?? 0)}), total ${vrec?.durations?.totalSeconds ?? "?"} s`);
    say(`RPO                ${st.rpo ? `${(st.rpo.ageHours * 60).toFixed(1)} min since the newest complete run (target ${st.rpo.targetHours} h): ${st.rpo.met ? "met" : "MISSED"}` : "?"}`);
    say(`hash chains        database ${st.db?.chain?.intact ? "intact" : "BROKEN"} over ${st.db?.runs ?? "?"} run(s); storage ${st.storage?.chain?.intact ? "intact" : "BROKEN"} over ${st.storage?.runs ?? "?"} run(s)`);
    say(`restore drill      masked restore in ${r.drill.seconds.toFixed(1)} s, no unmasked email left`);
    say(`storage restore    ${r.restored} objects into ${r.into || "?"} in ${r.srestore.seconds.toFixed(1)} s`);
    const dr = r.drillRun.json?.record;
    say(`drill record       ${dr ? `${dr.drill} drill ${dr.result}: RTO ${dr.rtoSeconds?.toFixed(1)} s (target ${dr.rtoTargetSeconds / 60} min), cleaned up ${dr.cleanedUp ? "yes" : "NO"} → ${r.drillRun.json.key}` : "?"}`);
    if (r.tamper) say(`locked dump delete  refused by the vault: ${r.tamper}`);
    say(`whole demo         ${r.seconds.toFixed(1)} s`);
}

main().catch((e) => {
    process.stderr.write(`demo: ${(e as Error).message}\n`);
    process.exit(1);
});
