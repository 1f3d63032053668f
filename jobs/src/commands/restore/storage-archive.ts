// `restore storage --from archive`: the same restore as from the vault (storage.ts), but runs, manifests
// and blobs come from the Azure archive alone — for the day the AWS account or region is lost. No S3
// client is created and no AWS credential is read; the audit records go to the archive (archive-runs.ts).
// Every blob is checked against the manifest's sha256 and size; the chosen manifest is checked against
// the next archived run's `previous` link when there is one (a forged or altered copy is refused).
import { assertSchema, EXIT, runIdTime, StorageManifestSchema, type ExitCode, type StorageManifest, type StorageObject } from "@supabase-backups/contracts";
import type { ContainerClient } from "@azure/storage-blob";
import type { JobContext } from "../../runtime/context";
import { JobFailure, errorMessage } from "../../runtime/errors";
import { startArchiveAudit } from "../../cli/operator";
import { listArchiveStorageRuns, openArchiveBlob, readArchiveBytes } from "../../vault/archive-runs";
import { audited, Refusal } from "../../vault/audit";
import { withObjectsVia } from "../../vault/object-list";
import { parseAt, requireRunOrAt } from "../../vault/run-choice";
import type { RunRef } from "../../vault/runs";
import { storageTarget } from "./storage-targets";
import { restoreStorageAuditOptions, runStorageRestore, type ChosenStorageRun, type RestoreStorageOptions } from "./storage";

export async function restoreStorageFromArchive(ctx: JobContext, opts: RestoreStorageOptions): Promise<ExitCode> {
    const dest = storageTarget(ctx, opts.via);
    const { container, trail } = await startArchiveAudit(ctx, opts, "restore-storage", `storage:${opts.into ?? `restored-${opts.bucket}-?`}`, restoreStorageAuditOptions(opts));
    const source = {
        choose: () => chooseArchiveRun(container, ctx.config.env, opts),
        open: (o: StorageObject) => openArchiveBlob(container, o.blobKey, o.archive?.versionId),
        // the object list's copy beside the manifest (its sha256 in the manifest checks it)
        entries: (m: StorageManifest) => withObjectsVia(m, (ref) => openArchiveBlob(container, ref.key)),
    };
    try {
        return await audited(trail, () => runStorageRestore(ctx, opts, dest, trail, source), ctx.log);
    } catch (e) {
        // a blob the (degraded) run never got into the archive: say which run to try instead
        if (e instanceof JobFailure || !/is not in the archive/.test(errorMessage(e))) throw e;
        throw new JobFailure(`${errorMessage(e)}: that run's archive copy is incomplete (its manifest's archive.missing); restore a run whose archive status is "ok" (--run)`, EXIT.failed, e);
    }
}

/** --run, or the newest archived run at or before --at; its manifest's bytes checked against its successor's link. */
export async function chooseArchiveRun(c: ContainerClient, env: string, opts: { run?: string; at?: string }): Promise<ChosenStorageRun> {
    requireRunOrAt(opts);
    const runs = await listArchiveStorageRuns(c, env);
    let ref: RunRef | undefined;
    let note: string;
    if (opts.run) {
        ref = runs.find((r) => r.runId === opts.run);
        if (!ref) throw new JobFailure(`storage run ${opts.run} has no manifest in the archive for env ${env} (${runs.length} archived run(s))`);
        note = `run ${ref.runId} (as asked), from the archive`;
    } else {
        const at = parseAt(opts.at)!;
        ref = runs.filter((r) => runIdTime(r.runId) <= at).pop();
        if (!ref) throw new JobFailure(runs.length ? `no archived storage run at or before ${at.toISOString()} (the oldest is ${runs[0].runId})` : `no storage run in the archive for env ${env}`);
        note = `newest archived run at or before ${at.toISOString()}: ${ref.runId}`;
    }
    const { bytes, sha256 } = await readArchiveBytes(c, ref.manifestKey);
    const manifest = parseManifest(bytes, ref);
    await checkSuccessorLink(c, runs, ref, sha256);
    const a = manifest.archive;
    if (a && a.missing > 0) note += ` — its archive copy is DEGRADED (${a.missing} entr${a.missing === 1 ? "y" : "ies"} not in the archive)`;
    return { loaded: { manifest }, note, tampering: [] };
}

function parseManifest(bytes: Buffer, ref: RunRef): StorageManifest {
    let m: StorageManifest;
    try {
        m = JSON.parse(bytes.toString("utf8")) as StorageManifest;
        assertSchema<StorageManifest>(StorageManifestSchema, m, ref.manifestKey);
    } catch (e) {
        throw new Refusal(`${ref.manifestKey} in the archive is not a valid storage manifest: ${errorMessage(e)}`, EXIT.failed);
    }
    if (m.runId !== ref.runId) throw new Refusal(`${ref.manifestKey} in the archive says run ${m.runId}: refusing (moved or forged)`, EXIT.failed);
    return m;
}

/** The next archived run links to this one by the sha256 of its manifest bytes: a copy that differs is refused. */
async function checkSuccessorLink(c: ContainerClient, runs: RunRef[], ref: RunRef, sha256: string): Promise<void> {
    const next = runs[runs.findIndex((r) => r.runId === ref.runId) + 1];
    if (!next) return;
    let prev: StorageManifest["previous"];
    try {
        prev = (JSON.parse((await readArchiveBytes(c, next.manifestKey)).bytes.toString("utf8")) as StorageManifest).previous;
    } catch {
        return; // an unreadable successor proves nothing either way; its own restore would refuse it
    }
    if (prev?.runId === ref.runId && prev.sha256 !== sha256) {
        throw new Refusal(
            `the archived manifest of ${ref.runId} (sha256 ${sha256.slice(0, 12)}…) is not the one run ${next.runId} links to (${prev.sha256.slice(0, 12)}…): refusing to restore a forged or altered manifest`,
            EXIT.tampered,
        );
    }
}
