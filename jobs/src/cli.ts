// The job image's one CLI. Each command lives in commands/<name>/ and registers itself here; the imports
// are static so type checks, go-to-definition and the dependency checker see every command.
import { Command } from "commander";
import { register as audit } from "./commands/audit";
import { register as checkSupabase } from "./commands/check-supabase";
import { register as drill } from "./commands/drill";
import { register as dump } from "./commands/dump";
import { register as gc } from "./commands/gc";
import { register as incident } from "./commands/incident";
import { register as restore } from "./commands/restore";
import { register as status } from "./commands/status";
import { register as syncStorage } from "./commands/sync-storage";
import { register as verify } from "./commands/verify";

export type Register = (program: Command) => void;

/** Command modules, in `--help` order. */
export const COMMANDS: ReadonlyArray<readonly [string, Register]> = [
    ["dump", dump],
    ["gc", gc],
    ["check-supabase", checkSupabase],
    ["sync-storage", syncStorage],
    ["verify", verify],
    ["restore", restore],
    ["drill", drill],
    ["status", status],
    ["incident", incident],
    ["audit", audit],
];

export function buildProgram(): Command {
    const program = new Command("supabase-backups")
        .description("Off-site, write-once, verified backups of a Supabase project (database and Storage)")
        .version("0.1.0")
        .showHelpAfterError()
        .configureOutput({ outputError: (s, write) => write(s) })
        .exitOverride((err) => {
            // commander's own usage errors exit 2, like ours
            process.exit(err.exitCode === 0 ? 0 : 2);
        });
    for (const [, register] of COMMANDS) register(program);
    return program;
}
