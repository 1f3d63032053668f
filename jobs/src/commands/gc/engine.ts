// `supabase-backups gc`: deletes storage blobs that no retained run manifest references, with the gc
// identity (the only one allowed to delete). Object Lock still applies: a delete of a blob whose
// retain-until has not passed only adds a delete marker, and the locked version stays until it may go
// (the bucket's noncurrent-version lifecycle rule removes it then). Any doubt aborts without deleting.
// The decision itself is the pure plan in plan.ts. Like every action that removes data, a run is audited
// (vault/audit.ts): the "started" record before anything is deleted (no record, no delete), the result after.
// With an Azure archive configured, a second pass collects the archive's copies of the blobs by the same
// rules (archive.ts); its failure degrades the run (exit 3, result "degraded"), never the vault's pass.
import {
    METRICS,
    EXIT,
    type ExitCode,
    parseVaultKey,
    prefixes,
    type StorageManifest,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { startAudit, type OperatorOptions } from "../../cli/operator";
import { audited, type AuditTrail } from "../../vault/audit";
import { errorMessage, JobFailure, UsageError } from "../../runtime/errors";
import { pushRunMetrics } from "../../runtime/metrics";
import { formatBytes } from "../../runtime/progress";
import { listCompleteRuns, loadManifest } from "../../vault/runs";
import { getJson, listAll } from "../../vault/s3";
import { VaultReadError, VersionIndex } from "../../vault/versions";
import { keepForUnreadable, noteUnreadable, type Unreadable } from "./unreadable";
import { planGc, type BlobListing } from "./plan";
import { deleteBlobs } from "./delete";
import { archiveGcEnabled, collectArchive, type ArchiveGcOutcome } from "./archive";
import { storageEntries } from "../../vault/object-list";

export interface GcOptions extends OperatorOptions {
    dryRun?: boolean;
    graceDays: string;
}

/** The flags, checked before anything runs: --grace-days (a number ≥ 1). */
export function checkGcFlags(opts: GcOptions): number {
    const graceDays = Number(opts.graceDays);
    if (!Number.isFinite(graceDays) || graceDays < 1) throw new UsageError(`--grace-days must be a number ≥ 1, got "${opts.graceDays}"`);
    return graceDays;
}

export async function runGc(ctx: CommandContext, opts: GcOptions, graceDays: number): Promise<ExitCode> {
    // Scheduled (the gc CronJob): no one to give a reason, so none is required even in prod.
    const trail = startAudit(ctx, opts, "gc", `s3://${ctx.bucket}/${prefixes.storageBlobs(ctx.config.env)}`, { graceDays, dryRun: !!opts.dryRun }, { scheduled: true });
    const started = Date.now();
    try {
        return await audited(trail, (t) => collect(ctx, opts, graceDays, t), ctx.log);
    } catch (e) {
        // one failure push for every way gc fails, the audit record it could not write included: the
        // consecutive-failure and failure-rate alerts must see a gc that never got to start
        await pushRunMetrics(ctx.config.alerts.pushgatewayUrl, ctx.config.env, "gc", { result: "failure", durationSeconds: (Date.now() - started) / 1000 }, ctx.log);
        throw e;
    } finally {
        ctx.s3.destroy();
    }
}

async function collect(ctx: CommandContext, opts: GcOptions, graceDays: number, trail: AuditTrail): Promise<ExitCode> {
    const { config, log } = ctx;
    const env = config.env;
    const started = Date.now();
    try {
        const vault = await collectVault(ctx, opts, graceDays, trail);
        // the archive's blobs after the vault's: the vault's references (and doubts) keep archive blobs too
        const archive = archiveGcEnabled(config) ? await trail.time("archive", () => collectArchive(ctx, vault, { dryRun: !!opts.dryRun, graceDays })) : undefined;
        const { keys: archiveKeys, ...archiveSummary } = archive ?? { keys: [] };
        const summary = { ...vault.summary, ...(archive ? { archive: archiveSummary } : {}) };
        trail.addOptions({ outcome: summary });
        if (opts.json) process.stdout.write(JSON.stringify({ ...summary, keys: vault.keys, ...(archive ? { archive: { ...archiveSummary, keys: archiveKeys } } : {}) }, null, 2) + "\n");
        else process.stdout.write(vaultLine(vault.summary, graceDays) + (archive ? archiveLine(archive, graceDays, !!opts.dryRun) : ""));
        for (const f of vault.failures) log.error({ failure: f }, "delete failed");
        // an Azure-only failure degrades the run, as a failed archive copy degrades dump and sync-storage
        const archiveFailed = !!archive && (archive.error !== undefined || archive.failed > 0);
        const result = vault.failures.length ? "partial" : archiveFailed ? "degraded" : "success";
        const extra = [
            { name: METRICS.gcKeptUnreadable, help: "unreferenced blobs (vault and archive) kept because a storage manifest that cannot be read may name them", value: (vault.summary.keptUnreadable ?? 0) + (archive?.keptUnreadable ?? 0) },
            { name: METRICS.vaultStorageBytes, help: "bytes of every storage blob in the vault before this gc", value: vault.storageBytes },
        ];
        await pushRunMetrics(config.alerts.pushgatewayUrl, env, "gc", { result, durationSeconds: (Date.now() - started) / 1000, bytes: vault.summary.bytesReclaimed, extra }, log);
        return result === "partial" ? EXIT.partial : result === "degraded" ? EXIT.degraded : EXIT.ok;
    } catch (e) {
        if (e instanceof JobFailure) throw e;
        throw new JobFailure(`gc failed, nothing more deleted: ${errorMessage(e)}`);
    }
}

type VaultSummary = Awaited<ReturnType<typeof collectVault>>["summary"];

function vaultLine(s: VaultSummary, graceDays: number): string {
    return (
        `gc ${s.env}: ${s.blobs} blobs, ${s.referenced} referenced by ${s.runs} runs, ${s.keptTooYoung} unreferenced but younger than ${graceDays} d, ` +
        `${s.dryRun ? `${s.candidates} would be deleted` : `${s.deleted} version(s) deleted, ${s.keptLocked} kept until their lock ends, ${s.markersRemoved} delete marker(s) removed`} (${formatBytes(s.bytesReclaimed)})${s.keptUnreadable ? `; ${s.keptUnreadable} unreferenced blob(s) kept: an archived manifest may name them` : ""}\n`
    );
}

function archiveLine(a: ArchiveGcOutcome, graceDays: number, dryRun: boolean): string {
    const done = dryRun ? `${a.candidates} would be deleted` : `${a.deleted} version(s) deleted, ${a.keptLocked} kept until their immutability ends`;
    return (
        `gc archive ${a.container}: ${a.blobs} blobs, ${a.referenced} referenced (${a.manifests} archived manifest(s) read, and the vault's), ${a.keptTooYoung} unreferenced but younger than ${graceDays} d, ${done} (${formatBytes(a.bytesReclaimed)})` +
        `${a.keptUnreadable ? `; ${a.keptUnreadable} unreferenced blob(s) kept: a storage manifest cannot be read` : ""}${a.failed ? `; ${a.failed} delete(s) failed` : ""}${a.error ? `; FAILED (degraded): ${a.error}` : ""}\n`
    );
}

/** The vault's pass: plan, then delete (unless a dry run); what the archive pass builds on. */
async function collectVault(ctx: CommandContext, opts: GcOptions, graceDays: number, trail: AuditTrail) {
    const { config, log } = ctx;
    const env = config.env;
    const { runs, referenced, unreadable } = await trail.time("plan", () => referencedBlobs(ctx));
    const versions = await VersionIndex.load(ctx.s3, ctx.bucket, prefixes.storageBlobs(env));
    const blobs = await listBlobs(ctx, versions);
    const plan = planGc(blobs, referenced, new Date(), graceDays);
    const keptUnreadable = keepForUnreadable(plan, unreadable);
    if (unreadable.keys.length) {
        const upTo = unreadable.unknownTime ? "every unreferenced blob" : `unreferenced blobs written up to ${unreadable.newest!.toISOString()}`;
        log.warn({ manifests: unreadable.keys, kept: keptUnreadable }, `${unreadable.keys.length} storage manifest(s) are archived and cannot be read: kept ${upTo} (${keptUnreadable}), which they may name`);
    }
    log.info({ runs, blobs: blobs.length, referenced: plan.referenced, tooYoung: plan.tooYoung, toDelete: plan.delete.length, unhide: plan.unhide.length, bytes: plan.bytesReclaimed }, "gc plan");
    const { deleted, locked, markersRemoved, failures } = opts.dryRun ? { deleted: 0, locked: 0, markersRemoved: 0, failures: [] } : await trail.time("delete", () => deleteBlobs(ctx, plan, versions));
    const summary = {
        env,
        runs,
        blobs: blobs.length,
        referenced: plan.referenced,
        keptTooYoung: plan.tooYoung,
        candidates: plan.delete.length,
        deleted,
        keptLocked: locked,
        // only when an archived manifest made gc keep blobs (the usual summary stays as it was)
        ...(keptUnreadable ? { keptUnreadable } : {}),
        markersRemoved,
        failed: failures.length,
        bytesReclaimed: plan.bytesReclaimed,
        dryRun: !!opts.dryRun,
    };
    return { summary, keys: plan.delete.map((b) => b.key), failures, referenced, unreadable, storageBytes: blobs.reduce((n, b) => n + b.size, 0) };
}

/** Every complete run's manifest, and the shard manifests of runs still in progress: the blobs they name. */
async function referencedBlobs(ctx: CommandContext): Promise<{ runs: number; referenced: Set<string>; unreadable: Unreadable }> {
    const { s3, bucket } = ctx;
    const env = ctx.config.env;
    const referenced = new Set<string>();
    const unreadable: Unreadable = { keys: [], unknownTime: false };
    // an archived manifest (issue 17) is noted with its write time, never fatal: see unreadable.ts
    const archived = (key: string, written: Date | undefined) => (e: unknown) => {
        if (!(e instanceof VaultReadError) || e.kind !== "archived") throw e;
        noteUnreadable(unreadable, key, written);
        return undefined;
    };
    // a manifest's entries; an archived object list is noted like an archived manifest
    const addEntries = async (m: StorageManifest | StorageShardManifest, written: Date | undefined) => {
        try {
            for await (const o of storageEntries(s3, bucket, m)) referenced.add(o.sha256);
        } catch (e) {
            archived(m.objectList?.key ?? `${m.runId} entries`, written)(e);
        }
    };
    const runs = await listCompleteRuns(s3, bucket, env, "storage");
    // Every version of every manifest: an overwrite with a stolen writer token can add references, never
    // take away those of the version the job wrote.
    const versions = await VersionIndex.load(s3, bucket, prefixes.storageRuns(env));
    const listed = await listAll(s3, bucket, prefixes.storageRuns(env));
    const listedAt = new Map(listed.map((o) => [o.key, o.lastModified]));
    for (const ref of runs) {
        const vs = versions.versions(ref.manifestKey);
        for (const versionId of vs.length && versions.available ? vs.map((v) => v.versionId) : [undefined]) {
            const written = vs.find((v) => v.versionId === versionId)?.lastModified ?? listedAt.get(ref.manifestKey);
            const loaded = await loadManifest<StorageManifest>(s3, bucket, ref, versionId).catch(archived(`${ref.manifestKey}${versionId ? ` (version ${versionId})` : ""}`, written));
            if (!loaded) continue;
            const { manifest } = loaded;
            if (manifest.kind !== "storage" || (!Array.isArray(manifest.objects) && !manifest.objectList)) {
                throw new JobFailure(`${ref.manifestKey} is not a storage manifest: refusing to collect on partial knowledge`);
            }
            // streamed (a version-2 object list at the version this manifest version pins, sha256-checked)
            await addEntries(manifest, written);
        }
    }
    const shardKeys = listed.filter((o) => /\/shards\/[^/]+\.json$/.test(o.key));
    for (const o of shardKeys) {
        const got = await getJson<StorageShardManifest>(s3, bucket, o.key).catch(archived(o.key, o.lastModified));
        if (got && (got.value.objects || got.value.objectList)) await addEntries(got.value, o.lastModified);
    }
    return { runs: runs.length, referenced, unreadable };
}

/** The content-addressed blobs in the vault, with size and age; also those an earlier gc hid under a delete marker. */
async function listBlobs(ctx: CommandContext, versions: VersionIndex): Promise<BlobListing[]> {
    const blobs: BlobListing[] = [];
    for (const o of await listAll(ctx.s3, ctx.bucket, prefixes.storageBlobs(ctx.config.env))) {
        const p = parseVaultKey(o.key);
        if (p?.kind === "storage-blob") blobs.push({ key: o.key, sha256: p.sha256, size: o.size, lastModified: o.lastModified });
    }
    for (const key of versions.hiddenKeys()) {
        const p = parseVaultKey(key);
        const newest = versions.versions(key).at(-1)!;
        if (p?.kind === "storage-blob") blobs.push({ key, sha256: p.sha256, size: newest.size ?? 0, lastModified: newest.lastModified, hidden: true });
    }
    return blobs;
}
