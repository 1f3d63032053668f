// gc's deletes, by version (issue 13): on a versioned bucket a DELETE without a VersionId deletes nothing;
// it adds a delete marker that hides the blob — also a locked one a retained run may reference again —
// from every listing and plain GET. So gc deletes each data version by its VersionId, keeps the versions
// whose Object Lock has not ended (asking first, rather than counting refusals as failures), removes the
// delete markers earlier gc runs left, and un-hides referenced blobs such a marker hid.
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectRetentionCommand } from "@aws-sdk/client-s3";
import type { CommandContext } from "../../cli/command";
import { errorMessage, httpStatusOf } from "../../runtime/errors";
import type { VersionIndex } from "../../vault/versions";
import type { BlobListing, GcPlan } from "./plan";

export interface DeleteOutcome {
    /** data versions deleted (or keys, on a store without versions) */
    deleted: number;
    /** data versions kept because their lock has not ended */
    locked: number;
    markersRemoved: number;
    failures: string[];
}

interface Target {
    Key: string;
    VersionId?: string;
}

/** The retain-until of one version, when it is still in the future. */
async function lockedUntil(ctx: CommandContext, key: string, versionId: string, now: Date): Promise<Date | undefined> {
    try {
        const r = await ctx.s3.send(new GetObjectRetentionCommand({ Bucket: ctx.bucket, Key: key, VersionId: versionId }));
        const until = r.Retention?.RetainUntilDate;
        return until && until.getTime() > now.getTime() ? until : undefined;
    } catch (e: any) {
        // No retention on this version: nothing keeps it.
        if (e?.name === "NoSuchObjectLockConfiguration" || httpStatusOf(e) === 404) return undefined;
        throw e;
    }
}

/** What to delete for one blob: each unlocked data version and every delete marker (or the key itself without versions). */
async function targetsOf(ctx: CommandContext, b: BlobListing, versions: VersionIndex, now: Date, out: DeleteOutcome): Promise<Target[]> {
    const data = versions.versions(b.key);
    if (!versions.available || !data.length) return [{ Key: b.key }];
    const targets: Target[] = [];
    for (const v of data) {
        if (await lockedUntil(ctx, b.key, v.versionId, now)) out.locked++;
        else targets.push({ Key: b.key, VersionId: v.versionId });
    }
    for (const m of versions.deleteMarkers(b.key)) targets.push({ Key: b.key, VersionId: m });
    return targets;
}

/** Delete the plan's blobs by version, and the markers over referenced blobs; failures per version. */
export async function deleteBlobs(ctx: CommandContext, plan: GcPlan, versions: VersionIndex, now = new Date()): Promise<DeleteOutcome> {
    const out: DeleteOutcome = { deleted: 0, locked: 0, markersRemoved: 0, failures: [] };
    const targets: Target[] = [];
    for (const b of plan.delete) targets.push(...(await targetsOf(ctx, b, versions, now, out)));
    for (const b of plan.unhide) for (const m of versions.deleteMarkers(b.key)) targets.push({ Key: b.key, VersionId: m });
    const markers = new Set(plan.delete.concat(plan.unhide).flatMap((b) => versions.deleteMarkers(b.key).map((m) => `${b.key}\n${m}`)));
    for (let i = 0; i < targets.length; i += 1000) {
        const batch = targets.slice(i, i + 1000);
        const failed = await deleteBatch(ctx, batch);
        out.failures.push(...failed.map((f) => f.line));
        const failedIds = new Set(failed.map((f) => `${f.Key}\n${f.VersionId ?? ""}`));
        for (const t of batch) {
            if (failedIds.has(`${t.Key}\n${t.VersionId ?? ""}`)) continue;
            if (t.VersionId && markers.has(`${t.Key}\n${t.VersionId}`)) out.markersRemoved++;
            else out.deleted++;
        }
    }
    return out;
}

/**
 * One DeleteObjects call; where the store refuses the batch as a whole (Ceph RGW checks it against the
 * bucket, which gc's policy does not name), one DeleteObject per version — the same deletes, each judged
 * against its own key. Returns the versions that were not deleted, with one line each.
 */
async function deleteBatch(ctx: CommandContext, batch: Target[]): Promise<Array<Target & { line: string }>> {
    try {
        const r = await ctx.s3.send(new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: batch, Quiet: true } }));
        return (r.Errors ?? []).map((e) => ({ Key: e.Key!, VersionId: e.VersionId, line: `${e.Key}${e.VersionId ? ` (version ${e.VersionId})` : ""}: ${e.Code ?? ""} ${e.Message ?? ""}`.trim() }));
    } catch (e) {
        if (httpStatusOf(e) !== 403) throw e;
        ctx.log.info({ versions: batch.length }, "the batch delete was refused as a whole: deleting one version at a time");
        const failures: Array<Target & { line: string }> = [];
        for (const t of batch) {
            await ctx.s3
                .send(new DeleteObjectCommand({ Bucket: ctx.bucket, ...t }))
                .catch((err) => failures.push({ ...t, line: `${t.Key}${t.VersionId ? ` (version ${t.VersionId})` : ""}: ${errorMessage(err)}` }));
        }
        return failures;
    }
}
