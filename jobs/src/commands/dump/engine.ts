// The dump run: snapshot → pg_dump → [zstd] → [age] → sha256 → S3 + Azure at once → schema.sql →
// roles.sql → manifest.json last. Any failure before the manifest aborts the uploads and writes no
// manifest; an Azure-only failure completes on S3 and is recorded as a degraded secondary.
//
// runDump runs the steps in order, passing the run's state along: prior runs (tier, chain link) → the
// archive client → tools and compression plan → the snapshot → each object (transfer.ts) → the manifest
// → its archive copy → metrics and the summary. The pure parts are in plan.ts.
import type { ContainerClient } from "@azure/storage-blob";
import {
    ARCHIVE_TAG,
    assertSchema,
    chooseTier,
    configSnapshot,
    dbObjectKey,
    DbManifestSchema,
    EXIT,
    METRICS,
    newRunId,
    retainUntil as computeRetainUntil,
    runIdTime,
    serializeRecord,
    type CompletedRun,
    type DbManifest,
    type ExitCode,
    type Tier,
} from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { archiveWriteOptions, createArchiveClient } from "../../vault/archive";
import { errorMessage, JobFailure } from "../../runtime/errors";
import type { Logger } from "../../runtime/log";
import { pushRunMetrics } from "../../runtime/metrics";
import { formatBytes, Progress } from "../../runtime/progress";
import { listCompleteRuns, loadManifest, type RunRef } from "../../vault/runs";
import { putRecordOnce, type VaultClientOptions } from "../../vault/s3";
import { readVersion } from "../../vault/versions";
import { type VaultTags } from "../../vault/write-params";
import { pgDumpVersion, planCompression, spawnDumpTool, type Algorithm, type CompressionPlan, type DumpProcess } from "../../postgres/client-tools";
import { pgChildEnv, pgTarget, type PgTarget } from "../../postgres/connection";
import { pgTlsPolicy, securePgUrl } from "../../postgres/tls";
import { openSnapshot, type DbSnapshot, type SnapshotFacts } from "../../postgres/snapshot";
import { dumpRoleWarning } from "../../postgres/dump-role";
import { buildManifest, isRolesRefusal, lockUntil, MIN_PART_SIZE_MIB, partSizeBytes, pgDumpArgs, rolesArgs, summaryLine } from "./plan";
import { CONTENT_TYPES, transfer, type ObjectResult, type Producer, type Secondary, type TransferSettings } from "./transfer";
import { prefetch } from "./prefetch";

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
    minPartSizeMiB: MIN_PART_SIZE_MIB,
    queueSize: 4,
    blockSizeMiB: 4,
    azureConcurrency: 4,
    stallTimeoutSec: 120,
    lockWaitTimeoutSec: 300,
} as const;

/** The vault client a dump runs with: a stalled S3 request fails (and is retried) after the stall timeout. */
export function dumpVaultOptions(stallTimeoutSec: number): VaultClientOptions {
    return { requestTimeoutMs: stallTimeoutSec * 1000, connectionTimeoutMs: 10_000 };
}

/** The run's state: fixed at the start, except the bytes stored so far. */
interface DumpRun {
    readonly ctx: CommandContext;
    readonly o: DumpOptions;
    readonly log: Logger;
    readonly started: Date;
    readonly runId: string;
    readonly databaseUrl: string;
    readonly target: PgTarget;
    readonly childEnv: NodeJS.ProcessEnv;
    readonly tables: string[];
    readonly recipient: string | undefined;
    readonly stallMs: number;
    bytesTotal: number;
    /** pg_database_size at the snapshot, for the capacity gauge */
    databaseBytes?: number;
    /** the source role can change the source (dump-role.ts): a warning and a gauge */
    roleCanWrite?: boolean;
}

/** Where the run's objects go and how long they are locked, from the prior runs. */
interface Placement {
    tier: Tier;
    previous: DbManifest["previous"];
    retainUntil: Date;
    tags: VaultTags;
}

/** The Azure copy: its client while there is one, and what has become of it. */
interface Archive {
    client?: ContainerClient;
    secondary: Secondary;
}

interface Tools {
    pgDump: { version: string; major: number };
    plan: CompressionPlan;
}

export async function runDump(ctx: CommandContext, o: DumpOptions): Promise<ExitCode> {
    const run = startRun(ctx, o);
    // The vault first: fails early on bad credentials or an unreachable bucket.
    const placement = await step(run, "cannot list the vault", () => placeRun(run));
    const archive = await openArchive(run);
    const tools = await step(run, "pg_dump", () => planTools(run));
    const { plan } = tools;
    run.log.info(
        { tier: placement.tier, retainUntil: placement.retainUntil.toISOString(), previous: placement.previous?.runId ?? null, compression: { algorithm: plan.algorithm, level: plan.level, by: plan.by }, encrypted: !!run.recipient, archive: archive.secondary.status },
        "dump starting",
    );
    // The snapshot, held open until every pg_dump that imports it has finished.
    const snap = await step(run, "cannot open the database snapshot", () => openSnapshot(run.databaseUrl, run.tables));
    run.databaseBytes = snap.databaseBytes;
    run.roleCanWrite = snap.role && snap.role.writes.length > 0;
    const roleWarning = snap.role && dumpRoleWarning(snap.role);
    if (roleWarning) run.log.warn({ role: snap.role!.role, superuser: snap.role!.superuser, writes: snap.role!.writes }, roleWarning);
    const t = transferSettings(run, placement, archive, snap);
    const { objects, facts } = await dumpInSnapshot(run, t, tools, snap);

    const manifest = buildManifest({
        env: ctx.config.env,
        runId: run.runId,
        started: run.started,
        finished: new Date(),
        target: run.target,
        snap: { serverVersion: snap.serverVersion, facts },
        pgDumpVersion: tools.pgDump.version,
        plan,
        recipient: run.recipient,
        tier: placement.tier,
        retainUntil: placement.retainUntil,
        objects,
        secondary: archive.secondary,
        container: ctx.config.archive?.container,
        previous: placement.previous,
        // The config as this run used it: an --age-recipient flag counts as the config's recipient.
        config: configSnapshot(run.recipient ? { ...ctx.config, encryption: { ageRecipient: run.recipient } } : ctx.config),
    });
    assertSchema<DbManifest>(DbManifestSchema, manifest, "db manifest");
    const manifestKey = dbObjectKey(ctx.config.env, run.runId, "manifest.json");
    // The manifest, last: it makes the run complete.
    const written = await step(run, "manifest.json", () => putRecordOnce(ctx.s3, ctx.config.vault, { key: manifestKey, tags: placement.tags, retainUntil: placement.retainUntil }, manifest));
    const copied = await copyManifestToArchive(run, archive, placement, manifestKey, manifest);
    return finish(run, { manifest, manifestKey, manifestSha256: written.sha256, manifestVersionId: written.versionId, secondary: archive.secondary.status, degraded: archive.secondary.status === "failed" || !copied });
}

function startRun(ctx: CommandContext, o: DumpOptions): DumpRun {
    const started = new Date();
    const runId = newRunId(started);
    const secret = ctx.secrets.databaseUrl;
    if (!secret) throw new JobFailure("missing secret: set DATABASE_URL (Postgres URL of the Supabase database)", EXIT.usage);
    const databaseUrl = securePgUrl(secret, pgTlsPolicy(ctx.config, ctx.env), ctx.log, "DATABASE_URL");
    const target = pgTarget(databaseUrl);
    return {
        ctx,
        o,
        log: ctx.log.child({ runId }),
        started,
        runId,
        databaseUrl,
        target,
        childEnv: pgChildEnv(target, ctx.env),
        tables: o.tables ?? ctx.config.verify.tables,
        recipient: o.ageRecipient ?? ctx.config.encryption?.ageRecipient,
        stallMs: o.stallTimeoutSec * 1000,
        bytesTotal: 0,
    };
}

/** A failed run: logged, its metrics pushed (no size: nothing it wrote counts), one JobFailure naming the stage. No manifest is written. */
async function fail(run: DumpRun, stage: string, e: unknown): Promise<never> {
    const { config } = run.ctx;
    run.log.error({ stage, err: errorMessage(e) }, "dump failed");
    await pushRunMetrics(config.alerts.pushgatewayUrl, config.env, "dump", { result: "failure", durationSeconds: (Date.now() - run.started.getTime()) / 1000 }, run.log);
    throw new JobFailure(`${stage}: ${errorMessage(e)}`, EXIT.failed, e);
}

/** One step of the run: its failure fails the run. */
async function step<T>(run: DumpRun, stage: string, fn: () => Promise<T>): Promise<T> {
    try {
        return await fn();
    } catch (e) {
        return fail(run, stage, e);
    }
}

/** Tier and chain link from the vault's complete runs; the lock's end from the tier. */
async function placeRun(run: DumpRun): Promise<Placement> {
    const { ctx, started } = run;
    const prior = await priorRuns(ctx, started, run.log);
    const tier = chooseTier(started, prior.completed, ctx.config.retention);
    const retainUntil = lockUntil(computeRetainUntil(started, tier, ctx.config.retention));
    return { tier, previous: prior.previous, retainUntil, tags: { tier, env: ctx.config.env, kind: "dump" } };
}

/** Tier and chain link from the vault: complete runs only (a manifest exists). */
async function priorRuns(ctx: CommandContext, now: Date, log: Logger): Promise<{ completed: CompletedRun[]; previous: DbManifest["previous"] }> {
    const { s3, bucket } = ctx;
    const refs = await listCompleteRuns(s3, bucket, ctx.config.env, "db");
    if (!refs.length) return { completed: [], previous: null };
    const newest = refs[refs.length - 1];
    // the version read is recorded with the link: verify and status compare it with the one the job wrote
    const prev = await readVersion(s3, bucket, { key: newest.manifestKey });
    const previous = { runId: newest.runId, sha256: prev.sha256, ...(prev.versionId ? { versionId: prev.versionId } : {}) };
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

/** The secondary: optional. A client that cannot even be built makes the run degraded, not failed. */
async function openArchive(run: DumpRun): Promise<Archive> {
    const { config } = run.ctx;
    const secondary: Secondary = { status: "disabled", objects: [] };
    if (!run.o.archive || !config.archive || config.azure?.enabled === false) return { secondary };
    try {
        const client = await createArchiveClient(config.archive, run.ctx.env, {
            retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000, tryTimeoutInMs: run.stallMs },
        });
        secondary.status = "ok";
        return { client, secondary };
    } catch (e) {
        secondary.status = "failed";
        secondary.error = `cannot create the Azure client: ${errorMessage(e)}`;
        run.log.warn({ err: secondary.error }, "Azure copy disabled for this run");
        return { secondary };
    }
}

/** pg_dump's version decides who compresses (pg_dump itself when ≥ 16, else the job). */
async function planTools(run: DumpRun): Promise<Tools> {
    const { o, ctx } = run;
    const pgDump = await pgDumpVersion(o.pgDump);
    const plan = planCompression(pgDump.major, o.compression ?? ctx.config.dump?.compression ?? "zstd", o.level ?? ctx.config.dump?.level ?? 1, run.log);
    return { pgDump, plan };
}

function transferSettings(run: DumpRun, p: Placement, a: Archive, snap: DbSnapshot): TransferSettings {
    const { ctx, o } = run;
    return {
        env: ctx.config.env,
        runId: run.runId,
        s3: ctx.s3,
        vault: ctx.config.vault,
        azure: a.client,
        secondary: a.secondary,
        recipient: run.recipient,
        retainUntil: p.retainUntil,
        // the run's data may go cold with its tier; the manifest (written with p.tags) never does
        tags: { ...p.tags, archive: ARCHIVE_TAG.value },
        partSize: partSizeBytes(o.partSizeMiB, snap.databaseBytes),
        queueSize: o.queueSize,
        blockSize: o.blockSizeMiB * 1024 * 1024,
        azureConcurrency: o.azureConcurrency,
        stallMs: run.stallMs,
        progress: new Progress("dump", run.log).start(),
        log: run.log,
    };
}

function stored(run: DumpRun, r: ObjectResult): ObjectResult {
    run.bytesTotal += r.bytes;
    return r;
}

/**
 * The data (custom format) in the snapshot; beside it the snapshot's facts (exact row counts scan whole
 * tables) and the schema (plain SQL, for diffs) and roles, produced now and stored after the data
 * (prefetch.ts); then the snapshot closes.
 */
async function dumpInSnapshot(run: DumpRun, t: TransferSettings, tools: Tools, snap: DbSnapshot): Promise<{ objects: ObjectResult[]; facts: SnapshotFacts }> {
    const { o, ctx } = run;
    const procs: DumpProcess[] = [];
    const tool = (bin: string, args: string[], what: string) => {
        const p = spawnDumpTool(bin, args, run.childEnv, what);
        procs.push(p);
        return p;
    };
    const schemaArgs = pgDumpArgs(run.target, ["--schema-only", `--snapshot=${snap.id}`], ctx.config, o.lockWaitTimeoutSec);
    const schemaTool = () => tool(o.pgDump, schemaArgs, "pg_dump --schema-only");
    const rolesTool = () => tool(o.pgDumpAll, rolesArgs(run.target), "pg_dumpall --roles-only");
    try {
        const facts = snap.readFacts();
        facts.catch(() => undefined); // awaited below, after the dump
        const early = { schema: prefetch(schemaTool()), roles: o.roles ? prefetch(rolesTool()) : undefined };
        const dump = await step(run, "dump", async () => {
            const args = pgDumpArgs(run.target, ["--format=custom", `--snapshot=${snap.id}`, ...tools.plan.pgDumpArgs], ctx.config, o.lockWaitTimeoutSec);
            return stored(run, await transfer(t, "dump", tool(o.pgDump, args, "pg_dump"), tools.plan.transforms?.() ?? [], CONTENT_TYPES.dump));
        });
        const schema = await step(run, "schema.sql", async () => stored(run, await transfer(t, "schema.sql", (await early.schema) ?? schemaTool(), [], CONTENT_TYPES.sql)));
        const roles = o.roles ? await dumpRoles(run, t, (await early.roles) ?? rolesTool()) : undefined;
        return { objects: [dump, schema, ...(roles ? [roles] : [])], facts: await step(run, "cannot read the snapshot's facts", () => facts) };
    } finally {
        for (const p of procs) p.child.kill("SIGTERM"); // a failed run's prefetches (a finished tool ignores it)
        await snap.close();
        t.progress.stop();
    }
}

/** Roles, where the server lets this user read them (Supabase: without passwords). Optional. */
async function dumpRoles(run: DumpRun, t: TransferSettings, source: Producer): Promise<ObjectResult | undefined> {
    try {
        return stored(run, await transfer(t, "roles.sql", source, [], CONTENT_TYPES.sql));
    } catch (e) {
        // A roles dump the server refuses is expected on managed Postgres; anything else is a failure.
        if (!isRolesRefusal(errorMessage(e))) return fail(run, "roles.sql", e);
        run.log.warn({ err: errorMessage(e) }, "roles.sql skipped: the server did not permit a roles dump");
        return undefined;
    }
}

/** A copy of the manifest beside the Azure objects, so the archive is usable on its own. False: it failed. */
async function copyManifestToArchive(run: DumpRun, a: Archive, p: Placement, manifestKey: string, manifest: DbManifest): Promise<boolean> {
    if (!a.client || a.secondary.status !== "ok") return true;
    try {
        // create-only: a manifest already at this run's key is not this run's (a failure, not "existing")
        const body = serializeRecord(manifest);
        await a.client.getBlockBlobClient(manifestKey).upload(body, body.length, archiveWriteOptions({ key: manifestKey, contentType: "application/json", tags: p.tags, retainUntil: p.retainUntil }));
        return true;
    } catch (e) {
        run.log.warn({ err: errorMessage(e) }, "Azure copy of the manifest failed (degraded)");
        return false;
    }
}

interface Outcome {
    manifest: DbManifest;
    manifestKey: string;
    manifestSha256: string;
    manifestVersionId?: string;
    secondary: Secondary["status"];
    degraded: boolean;
}

/** Metrics, the last log line and the summary on stdout; the exit code. */
async function finish(run: DumpRun, r: Outcome): Promise<ExitCode> {
    const { config } = run.ctx;
    const seconds = (Date.now() - run.started.getTime()) / 1000;
    const result = r.degraded ? "degraded" : "success";
    const capacity: { name: string; help: string; value: number }[] = run.databaseBytes === undefined ? [] : [{ name: METRICS.sourceDatabaseBytes, help: "pg_database_size of the source at the newest complete dump", value: run.databaseBytes }];
    if (run.roleCanWrite !== undefined) capacity.push({ name: METRICS.dumpRoleCanWrite, help: "1: the dump's source role can change the source", value: run.roleCanWrite ? 1 : 0 });
    await pushRunMetrics(config.alerts.pushgatewayUrl, config.env, "dump", { result, bytes: run.bytesTotal, durationSeconds: seconds, extra: capacity }, run.log);
    const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
    const dump = r.manifest.objects[0];
    run.log.info(
        { result, tier: r.manifest.tier, manifest: r.manifestKey, manifestSha256: r.manifestSha256, manifestVersionId: r.manifestVersionId, bytes: run.bytesTotal, dumpBytes: dump.bytes, dumpSha256: dump.sha256, seconds, maxRssMiB, secondary: r.secondary },
        `dump ${result}: ${formatBytes(dump.bytes)} in ${seconds.toFixed(1)} s`,
    );
    if (run.o.json) process.stdout.write(JSON.stringify({ result, manifestKey: r.manifestKey, manifestSha256: r.manifestSha256, manifestVersionId: r.manifestVersionId ?? null, roleCanWrite: run.roleCanWrite ?? null, maxRssMiB, seconds, manifest: r.manifest }) + "\n");
    else process.stdout.write(summaryLine(r.manifest, r.secondary, result, run.ctx.bucket, r.manifestKey, r.degraded));
    return r.degraded ? EXIT.degraded : EXIT.ok;
}
