#!/usr/bin/env node
import { buildProgram } from "./cli";

// Until a command has finished, the exit code is 1: a command whose work stops with nothing left to
// wait for (a promise that can never settle) must not end as a success by the event loop running dry.
let finished = false;
process.exitCode = 1;
process.on("beforeExit", () => {
    if (!finished) process.stderr.write("supabase-backups: the command stopped before it finished (an internal error): exit 1\n");
});

buildProgram()
    .parseAsync(process.argv)
    .then(() => {
        finished = true;
    })
    .catch((e) => {
        finished = true;
        process.stderr.write(`supabase-backups: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
    });
