// The job image's one CLI. Each command lives in commands/<name>.ts and registers itself here.
import { Command } from "commander";

export type Register = (program: Command) => void;

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
    for (const register of loadCommands()) register(program);
    return program;
}

function loadCommands(): Register[] {
    // Each command module exports `register`. Listed explicitly: the image has no plugin discovery.
    const mods: Register[] = [];
    for (const name of COMMANDS) {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        mods.push(require(`./commands/${name}`).register as Register);
    }
    return mods;
}

/** Command modules, in `--help` order. */
export const COMMANDS: string[] = ["dump", "gc", "check-supabase", "sync-storage", "verify", "restore", "status", "audit"];
