// The flags of the commands that read archived objects (restore db, verify --run): how to ask for their
// restore (vault/thaw.ts). One definition, so both commands say the same.
import type { Command } from "commander";
import { DEFAULT_THAW, RESTORE_TIERS, type RestoreTier, type ThawOptions } from "../vault/thaw";
import { choiceFlag, intFlag } from "./flags";

export interface ThawFlags {
    restoreTier?: RestoreTier;
    restoreDays?: number;
}

export function withThawOptions(cmd: Command): Command {
    return cmd
        .option(
            "--restore-tier <tier>",
            `when the run's objects are archived (S3 GLACIER/DEEP_ARCHIVE, Azure Archive): the retrieval tier to request, ${RESTORE_TIERS.join(" | ")} (default ${DEFAULT_THAW.tier}; Expedited is Azure's High priority)`,
            choiceFlag(RESTORE_TIERS),
        )
        .option("--restore-days <n>", `days S3 keeps the restored copies (1-365, default ${DEFAULT_THAW.days})`, intFlag(1, 365));
}

export function thawOptionsOf(f: ThawFlags): ThawOptions {
    return { tier: f.restoreTier ?? DEFAULT_THAW.tier, days: f.restoreDays ?? DEFAULT_THAW.days };
}

/** The help text's exit-code line, shared. */
export const PENDING_HELP = "archived objects: a restore was requested or is under way; run the same command again later (see --restore-tier)";
