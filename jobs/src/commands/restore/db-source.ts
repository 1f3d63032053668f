// Where `restore db` reads a run from: the S3 vault (here) or the Azure archive alone (db-archive.ts).
// Everything after the choice — policy, target checks, download with sha256 and age, pg_restore, row
// counts, masking — is the same code (db.ts, db-steps.ts); only choosing, thawing and opening differ.
import type { Readable } from "node:stream";
import { EXIT, type DbManifest, type ExitCode } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import type { ThawFlags } from "../../cli/thaw";
import { chooseRun } from "../../vault/run-choice";
import { recordTrust } from "../../vault/record-signing";
import type { Verification } from "../../vault/verifications";
import { openVersion } from "../../vault/versions";
import { thawArchivedManifest, thawChosenRun } from "./db-thaw";

export type DbObject = DbManifest["objects"][number];

/** The run chosen, and how to read its objects from where it was found. */
export interface ChosenDbRun {
    from: "vault" | "archive";
    loaded: { manifest: DbManifest; versionId?: string };
    verification: Verification | undefined;
    /** one line: why this run */
    note: string;
    /** one line each: overwritten keys, forged records; the restore goes on and exits EXIT.tampered */
    tampering: string[];
    /** every object the run needs readable now, else their restore (rehydration) requested and EXIT.pending */
    thaw(): Promise<void>;
    /** an object's stored bytes at the version the run recorded (the caller checks sha256 and size) */
    open(o: DbObject): Promise<Readable>;
    /**
     * the exit code when an object's bytes differ from the manifest: in the vault a bad read (overwrites
     * are proven by the version index and read around); in the archive the only sign of an overwrite
     */
    mismatchExit: ExitCode;
}

/** --run or --at from the vault: verified runs preferred, manifests and objects at their pinned versions. */
export async function chooseVaultRun(ctx: CommandContext, opts: { run?: string; at?: string } & ThawFlags): Promise<ChosenDbRun> {
    const trust = recordTrust(ctx.config.vault);
    const chosen = await chooseRun<DbManifest>(ctx.s3, ctx.bucket, ctx.config.env, "db", { run: opts.run, at: opts.at, trust }).catch((e) => thawArchivedManifest(ctx, opts, e));
    return {
        from: "vault",
        loaded: chosen.loaded,
        verification: chosen.verification,
        note: chosen.note,
        tampering: chosen.tampering,
        thaw: () => thawChosenRun(ctx, opts, chosen),
        open: async (o) => (await openVersion(ctx.s3, ctx.bucket, chosen.versions.pin(o.key, o.versionId))).body,
        mismatchExit: EXIT.failed,
    };
}
