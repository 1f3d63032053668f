// What every kind of drill gets from the engine: the command's context, the drill's state (the steps add
// to it), the drills' config, the restores' audit reason, the run to use and the abort signal.
import type { DrillsConfig } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import type { DrillState } from "./outcome";

export interface DrillContext {
    ctx: CommandContext;
    d: DrillState;
    drills: DrillsConfig;
    /** the restore's audit reason */
    reason: string;
    run?: string;
    signal: AbortSignal;
}
