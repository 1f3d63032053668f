// gc's pass over the Azure archive: sync-storage copies each content-addressed blob there (create-only,
// no `tier` tag: many runs share it, so no lifecycle rule may delete it) and nothing else removes them.
// The same rules as in the vault, by the same pure plan (plan.ts, unreadable.ts): a blob goes only when
// no storage manifest in the archive or in the vault names it (archive-refs.ts adds the archive's to the
// vault's references, never removes), it is older than the grace period, and its immutability policy has
// ended. A version Azure still reports locked is not asked; one Azure refuses to delete (its policy or a
// legal hold the listing did not show) is counted as kept, not as a failure. The S3 vault is the primary:
// a failure here marks the gc run degraded, it never undoes or blocks the vault's pass.
import type { ContainerClient } from "@azure/storage-blob";
import { parseVaultKey, prefixes, type JobConfig } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { Semaphore } from "../../runtime/concurrency";
import { errorMessage } from "../../runtime/errors";
import type { Logger } from "../../runtime/log";
import { createArchiveClient, isImmutabilityRefusal } from "../../vault/archive";
import { listArchiveVersions, type ArchiveVersion } from "../../vault/archive-runs";
import { addArchiveReferences } from "./archive-refs";
import { planGc, type BlobListing, type GcPlan } from "./plan";
import { keepForUnreadable, type Unreadable } from "./unreadable";

/** gc collects the archive too when the config has one and Azure is not switched off. */
export function archiveGcEnabled(cfg: JobConfig): cfg is JobConfig & { archive: NonNullable<JobConfig["archive"]> } {
    return !!cfg.archive && cfg.azure?.enabled !== false;
}

export interface ArchiveBlob extends BlobListing {
    versions: ArchiveVersion[];
    unknownAge?: boolean;
}

export interface ArchiveGcOutcome {
    container: string;
    /** archived storage manifest versions read */
    manifests: number;
    blobs: number;
    referenced: number;
    keptTooYoung: number;
    candidates: number;
    /** versions deleted (blobs, where the store keeps no versions) */
    deleted: number;
    /** versions kept because their immutability policy or a legal hold has not ended (listed so, or refused) */
    keptLocked: number;
    keptUnreadable: number;
    failed: number;
    bytesReclaimed: number;
    keys: string[];
    /** what stopped the pass, when something did (nothing more was deleted) */
    error?: string;
}

/** The vault pass's knowledge the archive pass builds on. */
export interface VaultKnowledge {
    referenced: Set<string>;
    unreadable: Unreadable;
}

/** The archive pass; never throws (a failure is the outcome's `error`, and the run is degraded). */
export async function collectArchive(ctx: CommandContext, vault: VaultKnowledge, opts: { dryRun: boolean; graceDays: number }, now = new Date()): Promise<ArchiveGcOutcome> {
    const archive = ctx.config.archive!;
    const out: ArchiveGcOutcome = { container: archive.container, manifests: 0, blobs: 0, referenced: 0, keptTooYoung: 0, candidates: 0, deleted: 0, keptLocked: 0, keptUnreadable: 0, failed: 0, bytesReclaimed: 0, keys: [] };
    try {
        const c = await createArchiveClient(archive, ctx.env, { retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000 } });
        const env = ctx.config.env;
        // the vault's pass is over: the archive's manifests add to its references (one set, however many)
        const referenced = vault.referenced;
        const unreadable: Unreadable = { keys: [...vault.unreadable.keys], newest: vault.unreadable.newest, unknownTime: vault.unreadable.unknownTime };
        out.manifests = await addArchiveReferences(c, env, referenced, unreadable);
        const blobs = archiveBlobs(await listArchiveVersions(c, prefixes.storageBlobs(env)));
        const plan = planGc(blobs, referenced, now, opts.graceDays);
        out.keptUnreadable = keepForUnreadable(plan, unreadable);
        if (out.keptUnreadable) {
            ctx.log.warn({ manifests: unreadable.keys, kept: out.keptUnreadable }, `archive: ${unreadable.keys.length} storage manifest(s) cannot be read: kept ${out.keptUnreadable} unreferenced blob(s) they may name`);
        }
        Object.assign(out, { blobs: blobs.length, referenced: plan.referenced, keptTooYoung: plan.tooYoung, candidates: plan.delete.length, bytesReclaimed: plan.bytesReclaimed, keys: plan.delete.map((b) => b.key) });
        ctx.log.info({ container: out.container, manifests: out.manifests, blobs: out.blobs, referenced: out.referenced, tooYoung: out.keptTooYoung, toDelete: out.candidates }, "gc plan (archive)");
        if (!opts.dryRun) await deleteArchiveBlobs(c, plan, now, out, ctx.log);
    } catch (e) {
        out.error = errorMessage(e);
        ctx.log.error({ err: out.error }, "gc of the Azure archive failed, nothing more deleted there (the vault's gc is unaffected): degraded");
    }
    return out;
}

/** The listed versions as one listing per content-addressed blob: its newest write, all versions' bytes. */
function archiveBlobs(listed: ArchiveVersion[]): ArchiveBlob[] {
    const byKey = new Map<string, ArchiveBlob>();
    for (const v of listed) {
        const p = parseVaultKey(v.name);
        if (p?.kind !== "storage-blob") continue;
        let b = byKey.get(v.name);
        if (!b) byKey.set(v.name, (b = { key: v.name, sha256: p.sha256, size: 0, versions: [] }));
        b.versions.push(v);
        b.size += v.size;
        // the youngest version decides the age; a version of unknown age makes the blob of unknown age (kept)
        if (!v.written) b.unknownAge = true;
        else if (!b.lastModified || v.written > b.lastModified) b.lastModified = v.written;
    }
    const blobs = [...byKey.values()];
    for (const b of blobs) if (b.unknownAge) b.lastModified = undefined;
    return blobs;
}

type Attempt = "deleted" | "locked" | "gone" | "failed";

/**
 * Deletes each planned blob: the current version by deleting the blob (Azure keeps it as a previous
 * version), then every version not reported locked by its id (on a store without versions, the blob).
 */
export async function deleteArchiveBlobs(c: ContainerClient, plan: Pick<GcPlan<ArchiveBlob>, "delete">, now: Date, out: Pick<ArchiveGcOutcome, "deleted" | "keptLocked" | "failed">, log: Logger): Promise<void> {
    const failures: string[] = [];
    const attempt = async (key: string, versionId: string | undefined, go: () => Promise<unknown>): Promise<Attempt> => {
        try {
            await go();
            return "deleted";
        } catch (e) {
            if (isImmutabilityRefusal(e)) return "locked";
            if ((e as { statusCode?: number }).statusCode === 404) return "gone";
            failures.push(`${key}${versionId ? ` (version ${versionId})` : ""}: ${errorMessage(e)}`);
            return "failed";
        }
    };
    const locked = (v: ArchiveVersion) => v.legalHold || (!!v.lockedUntil && v.lockedUntil.getTime() > now.getTime());
    const slots = new Semaphore(8);
    await Promise.all(
        plan.delete.map((b) =>
            slots.run(async () => {
                const blob = c.getBlobClient(b.key);
                out.keptLocked += b.versions.filter(locked).length;
                const free = b.versions.filter((v) => !locked(v));
                const current = free.find((v) => v.current);
                if (current) {
                    const r = await attempt(b.key, undefined, () => blob.delete());
                    if (r === "locked") out.keptLocked++;
                    if (r !== "deleted" && r !== "gone") return;
                    if (!current.versionId) return void (out.deleted += r === "deleted" ? 1 : 0);
                }
                for (const v of free) {
                    if (!v.versionId) continue;
                    const r = await attempt(b.key, v.versionId, () => blob.withVersion(v.versionId!).delete());
                    if (r === "deleted") out.deleted++;
                    else if (r === "locked") out.keptLocked++;
                }
            }),
        ),
    );
    out.failed = failures.length;
    for (const f of failures.slice(0, 20)) log.error({ failure: f }, "archive delete failed");
    if (failures.length > 20) log.error({ more: failures.length - 20 }, "more archive deletes failed");
}
