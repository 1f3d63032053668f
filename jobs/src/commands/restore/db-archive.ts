// `restore db --from archive`: the same restore as from the vault (db.ts), but the run, its manifest and
// its objects come from the Azure archive alone — for the day the AWS account or region is lost. No S3
// client is created and no AWS credential is read; the audit records go to the archive.
//
// What the archive can prove, it proves the vault's way: the archived manifests' hash chain is walked by
// the same code as verify and status (runs.ts loadChainFrom over the archive's copies), and a manifest
// its successor links with other bytes is refused (EXIT.tampered: the archive keeps no earlier version
// to read around it); each object's sha256 and size are checked by the same download as the vault's
// (db-steps.ts), and a mismatch there is the only sign of an overwrite, so it too exits EXIT.tampered.
// Verification records live in the vault only: the choice says the run's verification is unknown.
import type { ContainerClient } from "@azure/storage-blob";
import { assertSchema, dbRunPrefix, DbManifestSchema, EXIT, type DbManifest, type ExitCode } from "@supabase-backups/contracts";
import { startArchiveAudit } from "../../cli/operator";
import { thawOptionsOf, type ThawFlags } from "../../cli/thaw";
import type { JobContext } from "../../runtime/context";
import { JobFailure, errorMessage } from "../../runtime/errors";
import { archiveRuns, openArchiveBlob } from "../../vault/archive-runs";
import { Refusal } from "../../vault/audit";
import { pickRun, requireRunOrAt } from "../../vault/run-choice";
import { loadChainFrom, type LoadedManifest, type RunRef } from "../../vault/runs";
import { azureThawTarget } from "../../vault/thaw-azure";
import { requireThawed } from "../../vault/thaw";
import type { TableRef } from "./db-tables";
import type { ChosenDbRun, DbObject } from "./db-source";
import { restoreDbAuditOptions, restoreDbWith, type RestoreDbOptions } from "./db";

export async function restoreDbFromArchive(ctx: JobContext, opts: RestoreDbOptions, tables: TableRef[] | undefined): Promise<ExitCode> {
    requireRunOrAt(opts);
    const { container, trail } = await startArchiveAudit(ctx, opts, "restore-db", opts.targetUrl, restoreDbAuditOptions(opts, tables));
    return restoreDbWith(ctx, opts, tables, trail, () => chooseArchiveDbRun(ctx, container, opts));
}

/** --run, or the newest archived run at or before --at; its manifest checked against the chain. */
export async function chooseArchiveDbRun(ctx: JobContext, c: ContainerClient, opts: { run?: string; at?: string } & ThawFlags): Promise<ChosenDbRun> {
    const env = ctx.config.env;
    // open at its start: the oldest runs expire from the archive too
    const chain = await loadChainFrom<DbManifest>(archiveRuns(c), env, "db", { sinceRunId: "0" });
    const runs = [...chain.manifests.map((m) => m.ref), ...chain.archived].sort((a, b) => (a.runId < b.runId ? -1 : 1));
    const { ref, note } = pickRun(runs, undefined, "db", env, opts, "the archive");
    const loaded = chain.manifests.find((m) => m.ref.runId === ref.runId) ?? (await thawArchivedManifest(ctx, c, opts, ref));
    const altered = chain.breaks.filter((b) => b.altered === ref.runId);
    if (altered.length) {
        throw new Refusal(`TAMPERING in the archive: ${altered[0].reason} (found at run ${altered[0].runId}): refusing to restore a forged or altered manifest`, EXIT.tampered);
    }
    if (!runs.some((r) => r.runId > ref.runId)) ctx.log.warn({ runId: ref.runId }, "the newest run in the archive: no later manifest links to it, so its manifest is taken as found");
    const m = archivedManifest(loaded);
    const copyOf = archiveCopies(m);
    return {
        from: "archive",
        loaded: { manifest: m, versionId: loaded.versionId },
        verification: undefined,
        note: `${note}; from the archive`,
        tampering: [],
        async thaw() {
            const targets = m.objects.map((o) => azureThawTarget(c, copyOf(o).key, copyOf(o).versionId));
            await requireThawed(`run ${m.runId}`, targets, thawOptionsOf(opts), ctx.log);
        },
        open: (o) => openArchiveBlob(c, copyOf(o).key, copyOf(o).versionId),
        mismatchExit: EXIT.tampered,
    };
}

/** The chosen copy, as a database manifest of the run its key names (else refused). */
function archivedManifest(l: LoadedManifest<DbManifest>): DbManifest {
    try {
        assertSchema<DbManifest>(DbManifestSchema, l.manifest, l.ref.manifestKey);
    } catch (e) {
        throw new Refusal(`${l.ref.manifestKey} in the archive is not a valid database manifest: ${errorMessage(e)}`, EXIT.failed);
    }
    if (l.manifest.secondary.status !== "ok") {
        throw new JobFailure(`run ${l.ref.runId}'s archive copy is incomplete (secondary ${l.manifest.secondary.status}): restore a run whose copy is ok (status --from archive)`);
    }
    return l.manifest;
}

/** Each object's archive copy (key, version) as the manifest records it, the same bytes as the vault's. */
function archiveCopies(m: DbManifest): (o: DbObject) => { key: string; versionId?: string } {
    const byName = new Map(m.secondary.objects.map((o) => [o.name, o]));
    for (const o of m.objects) {
        const a = byName.get(o.name);
        if (!a) throw new JobFailure(`run ${m.runId}'s manifest records no archive copy of ${o.name}: restore it from the vault, or another run`);
        if (a.sha256 !== o.sha256 || a.bytes !== o.bytes) throw new Refusal(`run ${m.runId}'s manifest records an archive copy of ${o.name} that differs from the object it lists: refusing`, EXIT.tampered);
    }
    return (o) => byName.get(o.name)!;
}

/** The manifest itself is in the Archive tier: rehydrate every blob of the run at once, and stop pending. */
async function thawArchivedManifest(ctx: JobContext, c: ContainerClient, opts: ThawFlags, ref: RunRef): Promise<never> {
    const prefix = dbRunPrefix(ctx.config.env, ref.runId);
    const keys: string[] = [];
    for await (const b of c.listBlobsFlat({ prefix })) keys.push(b.name);
    await requireThawed(`the run under ${prefix} (its manifest too)`, keys.map((k) => azureThawTarget(c, k)), thawOptionsOf(opts), ctx.log);
    // every blob reads as online, yet the manifest read failed: say so
    throw new JobFailure(`the archived manifest ${ref.manifestKey} could not be read although no blob of the run is in the Archive tier any more: run again`);
}
