// supabase-backups: off-site, write-once, verified backups of a Supabase project (README.md).
// Config is validated before any resource is declared; the stack outputs are the module's exports.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "@supabase-backups/contracts";
import { program } from "./components/program";

function main() {
    try {
        return program();
    } catch (e) {
        // A RunError prints just the message (every config problem, one per line), no stack trace.
        if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
        throw e;
    }
}

export = main();
