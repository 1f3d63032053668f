#!/usr/bin/env node
import { buildProgram } from "./cli";

buildProgram()
    .parseAsync(process.argv)
    .catch((e) => {
        process.stderr.write(`supabase-backups: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
    });
