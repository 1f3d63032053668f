// The dump run: snapshot → pg_dump → [zstd] → [age] → sha256 → S3 + Azure at once → schema.sql →
// roles.sql → manifest.json last. Any failure before the manifest aborts the uploads and writes no
// manifest; an Azure-only failure completes on S3 and is recorded as a degraded secondary.
import type { S3Client } from "@aws-sdk/client-s3";
import type { ContainerClient } from "@azure/storage-blob";
import {
    assertSchema,
    chooseTier,
    dbObjectKey,
    DbManifestSchema,
    EXIT,
    newRunId,
    retainUntil as computeRetainUntil,
    runIdTime,
    serializeRecord,
    type CompletedRun,
    type DbManifest,
    type ExitCode,
    type JobConfig,
    type Tier,
} from "@supabase-backups/contracts";
import { createHash } from "node:crypto";
import { pipeline, type Readable, type Transform } from "node:stream";
import { createArchiveClient } from "../../vault/archive";
import type { JobContext } from "../../runtime/context";
import { errorMessage, JobFailure } from "../../runtime/errors";
import { pushRunMetrics } from "../../runtime/metrics";
import { formatBytes, Progress } from "../../runtime/progress";
import { listCompleteRuns, loadManifest, type RunRef } from "../../vault/runs";
import { createVaultClient, getBytes, putRecordOnce } from "../../vault/s3";
import { vaultTags, type VaultTags } from "../../vault/write-params";
import { ageEncrypt } from "../../codec/age-encrypt";
import { pgDumpVersion, planCompression, spawnDumpTool, type Algorithm, type CompressionPlan, type DumpProcess } from "../../postgres/client-tools";
import { pgChildEnv, pgTarget, type PgTarget } from "../../postgres/connection";
import { abortSinks, azureSink, finishSinks, pump, s3Sink, type ObjectTarget, type Sink } from "./sinks";
import { openSnapshot, type DbSnapshot } from "../../postgres/snapshot";

export interface DumpOptions {
    tables?: string[];
    archive: boolean;
    roles: boolean;
    compression?: Algorithm;
    level?: number;
    ageRecipient?: string;
    /** undefined: sized from the database (≥ 5 MiB, at most 9 000 parts for 2.5 × its size) */
    partSizeMiB?: number;
    queueSize: number;
    blockSizeMiB: number;
    azureConcurrency: number;
    stallTimeoutSec: number;
    lockWaitTimeoutSec: number;
    pgDump: string;
    pgDumpAll: string;
    json: boolean;
}

export const DUMP_DEFAULTS = {
    minPartSizeMiB: 5,
    queueSize: 4,
    blockSizeMiB: 4,
    azureConcurrency: 4,
    stallTimeoutSec: 120,
    lockWaitTimeoutSec: 300,
} as const;

export const CONTENT_TYPES = {
    dump: "application/vnd.postgresql.custom-archive",
    sql: "application/sql",
    age: "application/vnd.age",
} as const;

interface ObjectResult {
    name: "dump" | "schema.sql" | "roles.sql";
    key: string;
    bytes: number;
    sha256: string;
    contentType: string;
}

interface Secondary {
    status: "ok" | "failed" | "disabled";
    error?: string;
    objects: Array<{ name: string; key: string; bytes: number; sha256: string }>;
}

/** Tier and chain link from the vault: complete runs only (a manifest exists). */
async function priorRuns(s3: S3Client, bucket: string, env: string, now: Date, log: JobContext["log"]): Promise<{ completed: CompletedRun[]; previous: DbManifest["previous"] }> {
    const refs = await listCompleteRuns(s3, bucket, env, "db");
    if (!refs.length) return { completed: [], previous: null };
    const newest = refs[refs.length - 1];
    const previous = { runId: newest.runId, sha256: createHash("sha256").update(await getBytes(s3, bucket, newest.manifestKey)).digest("hex") };
    // Only runs that can share a period with `now` matter for the tier: this ISO year/week onwards.
    const since = Date.UTC(now.getUTCFullYear(), 0, 1) - 7 * 86_400_000;
    const recent = refs.filter((r) => runIdTime(r.runId).getTime() >= since);
    const completed: CompletedRun[] = [];
    let next = 0;
    const worker = async () => {
        while (next < recent.length) {
            const ref: RunRef = recent[next++];
            try {
                const m = (await loadManifest<DbManifest>(s3, bucket, ref)).manifest;
                if (m && typeof m.tier === "string") completed.push({ tier: m.tier, startedAt: m.startedAt ?? runIdTime(ref.runId) });
            } catch (e) {
                log.warn({ manifest: ref.manifestKey, err: errorMessage(e) }, "cannot read a previous manifest; ignored for the tier choice");
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(8, recent.length) }, worker));
    return { completed, previous };
}

function pgDumpArgs(t: PgTarget, extra: string[], config: JobConfig, lockWaitTimeoutSec: number): string[] {
    const args = ["--dbname", t.dbnameArg, "--no-password", `--lock-wait-timeout=${lockWaitTimeoutSec}s`, ...extra];
    for (const s of config.dump?.excludeSchemas ?? []) args.push(`--exclude-schema=${s}`);
    return args;
}

export async function runDump(ctx: JobContext, o: DumpOptions): Promise<ExitCode> {
    const { config, log } = ctx;
    const started = new Date();
    const runId = newRunId(started);
    const env = config.env;
    const bucket = config.vault.bucket;
    const stallMs = o.stallTimeoutSec * 1000;
    const databaseUrl = ctx.secrets.databaseUrl;
    if (!databaseUrl) throw new JobFailure("missing secret: set DATABASE_URL (Postgres URL of the Supabase database)", EXIT.usage);
    const target = pgTarget(databaseUrl);
    const tables = o.tables ?? config.verify.tables;
    const recipient = o.ageRecipient ?? config.encryption?.ageRecipient;
    const log1 = log.child({ runId });
    const fail = async (stage: string, e: unknown, bytes?: number): Promise<never> => {
        const msg = `${stage}: ${errorMessage(e)}`;
        log1.error({ stage, err: errorMessage(e) }, "dump failed");
        await pushRunMetrics(config.alerts.pushgatewayUrl, env, "dump", { result: "failure", bytes, durationSeconds: (Date.now() - started.getTime()) / 1000 }, log1);
        throw new JobFailure(msg, EXIT.failed, e);
    };

    // 1. The vault: prior runs (tier, chain). Fails early on bad credentials or an unreachable bucket.
    const s3 = createVaultClient(config.vault, { requestTimeoutMs: stallMs, connectionTimeoutMs: 10_000 });
    let tier: Tier;
    let previous: DbManifest["previous"];
    try {
        const prior = await priorRuns(s3, bucket, env, started, log1);
        tier = chooseTier(started, prior.completed, config.retention);
        previous = prior.previous;
    } catch (e) {
        return fail("cannot list the vault", e);
    }
    // Whole seconds, rounded up: Azure's header has second precision and a lock must never end early.
    const retainUntil = new Date(Math.ceil(computeRetainUntil(started, tier, config.retention).getTime() / 1000) * 1000);
    const tags: VaultTags = { tier, env, kind: "dump" };

    // 2. The secondary: optional. A client that cannot even be built makes the run degraded, not failed.
    let azure: ContainerClient | undefined;
    const secondary: Secondary = { status: "disabled", objects: [] };
    const archiveWanted = o.archive && !!config.archive && config.azure?.enabled !== false;
    if (archiveWanted) {
        try {
            azure = await createArchiveClient(config.archive!, ctx.env, {
                retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000, tryTimeoutInMs: stallMs },
            });
            secondary.status = "ok";
        } catch (e) {
            secondary.status = "failed";
            secondary.error = `cannot create the Azure client: ${errorMessage(e)}`;
            log1.warn({ err: secondary.error }, "Azure copy disabled for this run");
        }
    }

    // 3. Tools and plan.
    let pgDump: { version: string; major: number };
    try {
        pgDump = await pgDumpVersion(o.pgDump);
    } catch (e) {
        return fail("pg_dump", e);
    }
    const plan: CompressionPlan = planCompression(pgDump.major, o.compression ?? config.dump?.compression ?? "zstd", o.level ?? config.dump?.level ?? 3, log1);
    log1.info({ tier, retainUntil: retainUntil.toISOString(), previous: previous?.runId ?? null, compression: { algorithm: plan.algorithm, level: plan.level, by: plan.by }, encrypted: !!recipient, archive: secondary.status }, "dump starting");

    // 4. The snapshot, held open until every pg_dump that imports it has finished.
    let snap: DbSnapshot;
    try {
        snap = await openSnapshot(databaseUrl, tables);
    } catch (e) {
        return fail("cannot open the database snapshot", e);
    }

    // S3 allows 10 000 parts: size them so even an uncompressed dump (bytea as hex) fits.
    const partSize =
        (o.partSizeMiB ?? Math.max(DUMP_DEFAULTS.minPartSizeMiB, Math.ceil((snap.databaseBytes * 2.5) / 9000 / 1024 / 1024))) * 1024 * 1024;
    const objects: ObjectResult[] = [];
    const progress = new Progress("dump", log1).start();
    let bytesTotal = 0;
    const childEnv = pgChildEnv(target, ctx.env);

    /** Stream one producer's output into the sinks; returns its stored bytes' size and sha256. */
    const transfer = async (name: ObjectResult["name"], proc: DumpProcess, transforms: Transform[], contentType: string): Promise<ObjectResult> => {
        const key = dbObjectKey(env, runId, name);
        const t: ObjectTarget = { key, contentType: recipient ? CONTENT_TYPES.age : contentType, retainUntil, tags };
        const sinks: Sink[] = [
            s3Sink(s3, t, { vault: config.vault, partSize, queueSize: o.queueSize }, log1),
        ];
        if (azure && secondary.status === "ok") sinks.push(azureSink(azure, t, { blockSize: o.blockSizeMiB * 1024 * 1024, concurrency: o.azureConcurrency }));
        const hash = createHash("sha256");
        let bytes = 0;
        try {
            let out: Readable = transforms.length ? (pipeline([proc.stdout, ...transforms], () => undefined) as unknown as Readable) : proc.stdout;
            if (recipient) out = await ageEncrypt(out, recipient);
            await pump(out, sinks, {
                stallMs,
                log: log1,
                onChunk: (c) => {
                    hash.update(c);
                    bytes += c.length;
                    progress.add(c.length);
                },
            });
            await proc.exited; // a pg_dump that failed or was killed must never look complete
            await finishSinks(sinks, stallMs);
        } catch (e) {
            proc.child.kill("SIGTERM");
            const err = e instanceof Error ? e : new Error(String(e));
            await abortSinks(sinks, err);
            throw err;
        }
        const sha256 = hash.digest("hex");
        const azureSinkDone = sinks.find((s) => !s.required);
        if (azureSinkDone) {
            if (azureSinkDone.committed) secondary.objects.push({ name, key, bytes, sha256 });
            else {
                secondary.status = "failed";
                secondary.error = `${name}: ${errorMessage(azureSinkDone.failure)}`;
                log1.warn({ object: name, err: secondary.error }, "Azure copy failed; the run completes on S3 only (degraded)");
            }
        }
        bytesTotal += bytes;
        log1.info({ object: name, key, bytes, sha256 }, `uploaded ${name} (${formatBytes(bytes)})`);
        return { name, key, bytes, sha256, contentType: t.contentType };
    };

    try {
        // 5. The data: custom format, in the snapshot.
        try {
            const args = pgDumpArgs(target, ["--format=custom", `--snapshot=${snap.id}`, ...plan.pgDumpArgs], config, o.lockWaitTimeoutSec);
            const proc = spawnDumpTool(o.pgDump, args, childEnv, "pg_dump");
            objects.push(await transfer("dump", proc, plan.transforms?.() ?? [], CONTENT_TYPES.dump));
        } catch (e) {
            return await fail("dump", e, bytesTotal);
        }
        // 6. The schema, same snapshot: plain SQL for diffs.
        try {
            const args = pgDumpArgs(target, ["--schema-only", `--snapshot=${snap.id}`], config, o.lockWaitTimeoutSec);
            objects.push(await transfer("schema.sql", spawnDumpTool(o.pgDump, args, childEnv, "pg_dump --schema-only"), [], CONTENT_TYPES.sql));
        } catch (e) {
            return await fail("schema.sql", e, bytesTotal);
        }
    } finally {
        await snap.close();
        progress.stop();
    }

    // 7. Roles, where the server lets this user read them (Supabase: without passwords). Optional.
    if (o.roles) {
        const rolesTool = o.pgDumpAll;
        const args = ["--dbname", target.dbnameArg, "--no-password", "--roles-only", "--no-role-passwords"];
        try {
            objects.push(await transfer("roles.sql", spawnDumpTool(rolesTool, args, childEnv, "pg_dumpall --roles-only"), [], CONTENT_TYPES.sql));
        } catch (e) {
            // A roles dump the server refuses is expected on managed Postgres; anything else is a failure.
            if (/^pg_dumpall --roles-only exited with code/.test(errorMessage(e))) log1.warn({ err: errorMessage(e) }, "roles.sql skipped: the server did not permit a roles dump");
            else return fail("roles.sql", e, bytesTotal);
        }
    }

    // 8. The manifest, last: it makes the run complete.
    const manifest: DbManifest = {
        schemaVersion: 1,
        kind: "db",
        env,
        runId,
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        source: { serverVersion: snap.serverVersion, host: target.host, database: target.database },
        pgDumpVersion: pgDump.version,
        compression: { algorithm: plan.algorithm, level: plan.level, by: plan.by },
        encryption: recipient ? { tool: "age", recipient } : null,
        tier,
        retainUntil: retainUntil.toISOString(),
        objects,
        secondary: {
            provider: "azure",
            status: secondary.status,
            ...(config.archive ? { container: config.archive.container } : {}),
            objects: secondary.objects,
            ...(secondary.error ? { error: secondary.error } : {}),
        },
        snapshot: snap.facts,
        previous,
    };
    assertSchema<DbManifest>(DbManifestSchema, manifest, "db manifest");
    const manifestKey = dbObjectKey(env, runId, "manifest.json");
    let written: { sha256: string; bytes: number };
    try {
        written = await putRecordOnce(s3, config.vault, { key: manifestKey, tags, retainUntil }, manifest);
    } catch (e) {
        return fail("manifest.json", e, bytesTotal);
    }
    // A copy of the manifest beside the Azure objects, so the archive is usable on its own.
    let degraded = secondary.status === "failed";
    if (azure && secondary.status === "ok") {
        try {
            const body = serializeRecord(manifest);
            await azure.getBlockBlobClient(manifestKey).upload(body, body.length, {
                blobHTTPHeaders: { blobContentType: "application/json" },
                tags: vaultTags(tags),
                conditions: { ifNoneMatch: "*" },
                immutabilityPolicy: { expiriesOn: retainUntil, policyMode: "Locked" },
            });
        } catch (e) {
            degraded = true;
            log1.warn({ err: errorMessage(e) }, "Azure copy of the manifest failed (degraded)");
        }
    }

    const seconds = (Date.now() - started.getTime()) / 1000;
    const result = degraded ? "degraded" : "success";
    await pushRunMetrics(config.alerts.pushgatewayUrl, env, "dump", { result, bytes: bytesTotal, durationSeconds: seconds }, log1);
    const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
    const dump = objects[0];
    log1.info(
        { result, tier, manifest: manifestKey, manifestSha256: written.sha256, bytes: bytesTotal, dumpBytes: dump.bytes, dumpSha256: dump.sha256, seconds, maxRssMiB, secondary: secondary.status },
        `dump ${result}: ${formatBytes(dump.bytes)} in ${seconds.toFixed(1)} s`,
    );
    if (o.json) process.stdout.write(JSON.stringify({ result, manifestKey, manifestSha256: written.sha256, maxRssMiB, seconds, manifest }) + "\n");
    else
        process.stdout.write(
            `dump ${runId} ${result}: ${formatBytes(dump.bytes)} sha256 ${dump.sha256.slice(0, 16)}… tier ${tier} → s3://${bucket}/${manifestKey}` +
                ` (azure: ${secondary.status}${degraded && secondary.status === "ok" ? ", manifest copy failed" : ""})\n`,
        );
    return degraded ? EXIT.degraded : EXIT.ok;
}
