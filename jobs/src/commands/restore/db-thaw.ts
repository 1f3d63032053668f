// `restore db` of an archived run (issue 17): before the target is touched, every object the run needs is
// looked at; archived ones get a restore request (vault/thaw.ts) and the command stops with EXIT.pending.
// A manifest archived before manifests stopped going cold cannot even say what the run needs: then every
// object under the run's prefix is asked for at once, so the operator waits once.
import type { DbManifest } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { thawOptionsOf, type ThawFlags } from "../../cli/thaw";
import type { Chosen } from "../../vault/run-choice";
import { requireThawed, runThawTargets, s3ThawTarget } from "../../vault/thaw";
import { VaultReadError, VersionIndex } from "../../vault/versions";

/** The run's objects (dump, schema.sql, roles.sql, …) at their pinned versions: readable, or pending. */
export async function thawChosenRun(ctx: CommandContext, flags: ThawFlags, chosen: Chosen<DbManifest>): Promise<void> {
    const m = chosen.loaded.manifest;
    const targets = m.objects.map((o) => s3ThawTarget(ctx.s3, ctx.bucket, chosen.versions.pin(o.key, o.versionId)));
    await requireThawed(`run ${m.runId}`, targets, thawOptionsOf(flags), ctx.log);
}

/**
 * An error choosing the run: when it is the run's manifest being archived, request the restore of every
 * object under the run's prefix and stop pending; anything else is thrown on.
 */
export async function thawArchivedManifest(ctx: CommandContext, flags: ThawFlags, e: unknown): Promise<never> {
    if (!(e instanceof VaultReadError) || e.kind !== "archived" || !e.pin.key.endsWith("/manifest.json")) throw e;
    const prefix = e.pin.key.slice(0, e.pin.key.lastIndexOf("/") + 1);
    const versions = await VersionIndex.load(ctx.s3, ctx.bucket, prefix);
    const recorded = new Map([[e.pin.key, e.pin.versionId]]);
    await requireThawed(`the run under ${prefix} (its manifest too)`, await runThawTargets(ctx.s3, ctx.bucket, versions, prefix, recorded), thawOptionsOf(flags), ctx.log);
    // every object reads as restored, yet the manifest read failed: say the store's words
    throw e;
}
