// `verify --run` of an archived run (issue 17): before anything is judged, every object of the run in the
// vault (manifest, dump, schema.sql, roles.sql) and, once the manifest can say where, its Azure copy are
// looked at; archived ones get a restore (rehydration) request and verify stops with EXIT.pending and
// writes no record (nothing was judged). The nightly verify (newest run, or --unverified) never requests a
// restore: a run it cannot read without one is left for `verify --run` and said in one log line.
import { dbRunPrefix, type DbManifest } from "@supabase-backups/contracts";
import { createArchiveClient } from "../../vault/archive";
import { azureThawTarget } from "../../vault/thaw-azure";
import { requireThawed, runThawTargets, type ThawOptions, type ThawTarget } from "../../vault/thaw";
import { getJson } from "../../vault/s3";
import type { VerifySession } from "./session";

async function targetsOf(s: VerifySession, runId: string): Promise<ThawTarget[]> {
    const prefix = dbRunPrefix(s.ctx.config.env, runId);
    return runThawTargets(s.s3, s.bucket, s.versions, prefix);
}

/** The Azure copy's blobs, when the manifest can be read now and the run has a copy this verifier can reach. */
async function azureTargetsOf(s: VerifySession, runId: string): Promise<ThawTarget[]> {
    const archive = s.ctx.config.archive;
    if (!archive) return [];
    const key = `${dbRunPrefix(s.ctx.config.env, runId)}manifest.json`;
    const m = await getJson<DbManifest>(s.s3, s.bucket, s.versions.pin(key)).then((r) => r.value, () => undefined);
    if (!m || m.secondary?.status !== "ok" || (m.secondary.container && m.secondary.container !== archive.container)) return [];
    const container = await createArchiveClient(archive, s.ctx.env);
    return [...m.secondary.objects.map((o) => azureThawTarget(container, o.key, o.versionId)), azureThawTarget(container, key)];
}

/** --run: readable now, or the restore requested and EXIT.pending. */
export async function thawForVerify(s: VerifySession, runId: string, opts: ThawOptions): Promise<void> {
    const targets = [...(await targetsOf(s, runId)), ...(await azureTargetsOf(s, runId))];
    await requireThawed(`run ${runId}`, targets, opts, s.ctx.log);
}

/** Nightly: does reading this run need a restore first? (looks only, requests nothing) */
export async function needsRestore(s: VerifySession, runId: string): Promise<boolean> {
    const looks = await Promise.all([...(await targetsOf(s, runId)), ...(await azureTargetsOf(s, runId))].map((t) => t.look()));
    return looks.some((o) => o.state === "archived" || o.state === "restoring");
}
