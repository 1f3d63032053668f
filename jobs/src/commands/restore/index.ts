// `restore db | storage | pitr | branch`: what on-call reaches for. Every subcommand that touches data
// writes an audit record (audit/{env}/…): who, when, why, what, target without credentials, result,
// durations — also when it refuses.
//
// Each subcommand's action: flags checked (usage errors before anything runs) → the command context →
// the engine in db.ts, storage.ts or pitr.ts.
import { Command } from "commander";
import { action, commandContext, contextWithoutVault, withCommonOptions } from "../../cli/command";
import { withOperatorOptions } from "../../cli/operator";
import { checkBranchFlags, checkPitrFlags, restoreBranch, restorePitr, type BranchOptions, type PitrOptions } from "./pitr";
import { checkRestoreDbFlags, restoreDb, type RestoreDbOptions } from "./db";
import { checkRestoreStorageFlags, restoreStorage, type RestoreStorageOptions } from "./storage";
import { restoreStorageFromArchive } from "./storage-archive";
import { restoreDbFromArchive } from "./db-archive";
import { restoreConfig, restoreConfigFromArchive, type RestoreConfigOptions } from "./config";
import { choiceFlag, intFlag } from "../../cli/flags";
import { PENDING_HELP, withThawOptions } from "../../cli/thaw";
import { EXIT } from "@supabase-backups/contracts";

export function register(program: Command): void {
    const restore = program
        .command("restore")
        .summary("restore the database or Storage from the vault, or ask Supabase for a PITR restore or a branch")
        .description("Restore from the vault (db, storage) or through Supabase (pitr, branch). Every action is written to the audit log in the vault.");
    registerDb(restore);
    registerStorage(restore);
    registerPitr(restore);
    registerBranch(restore);
    registerConfig(restore);
}

function registerDb(restore: Command): void {
    withOperatorOptions(
        withThawOptions(restore.command("db"))
            .description(
                "Restore a database dump from the vault (or --from archive: the Azure archive) into a target Postgres: the newest complete run at or before --at " +
                    "(verified runs preferred), or --run. Checks the dump's sha256, refuses a target that already has user tables " +
                    "unless --clean --yes, checks row counts against the manifest afterwards.",
            ),
    )
        .option("--run <id>", "restore this run")
        .option("--at <time>", "newest complete run at or before this time (ISO 8601 or unix seconds)")
        .requiredOption("--target-url <url>", "Postgres URL to restore into, without a password (the password: $SUPABASE_BACKUPS_TARGET_PASSWORD, --target-password-file or PGPASSFILE)")
        .option("--target-password-file <file>", "a file holding the target's password (never put it in --target-url: argv is visible to every user of the machine)")
        .option("--tables <list>", "only these tables, comma-separated schema.table (data and definition; no indexes or constraints)")
        .option("--into-schema <schema>", "restore --tables into this schema instead of their own (side-by-side, e.g. to copy deleted rows back)")
        .option("--mask", "apply the config's masking rules after the restore and prove no unmasked value remains")
        .option("--target-env <env>", "what the target is (e.g. staging); restoring prod data without --mask needs --target-env prod")
        .option("--clean", "drop and recreate objects that already exist in the target (needs --yes)")
        .option("--yes", "confirm --clean")
        .option("--jobs <n>", "parallel pg_restore jobs (1-64)", intFlag(1, 64), 2)
        .option("--from <vault|archive>", "read the run from the S3 vault (default) or the Azure archive alone (no AWS credentials needed; audit records go to the archive)", choiceFlag(["vault", "archive"] as const))
        .addHelpText(
            "after",
            "\nExamples:\n" +
                "  restore db --env staging --at 2026-11-22T09:00:00Z --target-url postgresql://postgres@localhost/scratch\n" +
                "  restore db --env prod --at 2026-11-22T09:00Z --target-url $URL --tables public.profiles --into-schema restored_20261122 --reason 'INC-42 rows deleted'\n" +
                "  restore db --env prod --run 20261122T033000Z-k3x9qa --target-url $STAGING_URL --target-env staging --mask --clean --yes --reason 'staging refresh'\n" +
                "  restore db --env prod --from archive --at now --target-url $URL --reason 'INC-7 AWS account lost'\n" +
                "Needs AGE_IDENTITY when the run is encrypted. --from archive: Azure workload identity / az login (DefaultAzureCredential) or AZURE_STORAGE_CONNECTION_STRING; needs blob read and create on the container (Set Blob Tier too for an archived run).\n" +
                `Exit ${EXIT.pending}: ${PENDING_HELP}.\n`,
        )
        .action(
            action("restore db", (opts: RestoreDbOptions) => {
                const tables = checkRestoreDbFlags(opts);
                if (opts.from === "archive") return restoreDbFromArchive(contextWithoutVault(opts, "restore db"), opts, tables);
                return restoreDb(commandContext(opts, "restore db"), opts, tables);
            }),
        );
}

function registerStorage(restore: Command): void {
    withOperatorOptions(
        restore
            .command("storage")
            .description(
                "Recreate a bucket's objects as of a storage run (content type, cache control, user metadata), into a new bucket " +
                    "restored-<bucket>-<yyyymmdd> by default, through Supabase Storage's REST API or its S3 protocol. Each object's bytes are checked " +
                    "against its sha256; identical objects already in the target are skipped, so an interrupted restore resumes.",
            ),
    )
        .option("--run <id>", "restore this storage run")
        .option("--at <time>", "newest complete storage run at or before this time")
        .requiredOption("--bucket <name>", "the bucket to restore")
        .option("--into <bucket>", "target bucket (default restored-<bucket>-<yyyymmdd of the run>)")
        .option("--prefix <p>", "only objects whose name starts with this")
        .option("--concurrency <n>", "parallel transfers (1-128)", intFlag(1, 128), 8)
        .option("--overwrite", "allow restoring into the source bucket itself (replaces objects with the run's version)")
        .option("--skip-unsafe-names", "restore the other objects when the run lists names that could address another object or path (refused by default)")
        .option("--via <rest|s3>", "Storage REST API (SUPABASE_SERVICE_ROLE_KEY) or S3 protocol (SUPABASE_S3_ACCESS_KEY_ID/SECRET); default storage.mode")
        .option("--from <vault|archive>", "read runs and blobs from the S3 vault (default) or the Azure archive alone (no AWS credentials needed; audit records go to the archive)")
        .addHelpText(
            "after",
            "\nREST: <supabase.url>/storage/v1 with SUPABASE_SERVICE_ROLE_KEY. S3: storage.s3Endpoint (or <project url>/storage/v1/s3) with SUPABASE_S3_ACCESS_KEY_ID and SUPABASE_S3_SECRET_ACCESS_KEY.\n" +
                "--from archive: Azure workload identity / az login (DefaultAzureCredential) or AZURE_STORAGE_CONNECTION_STRING; needs blob read and create on the container.\n",
        )
        .action(
            action("restore storage", (opts: RestoreStorageOptions) => {
                checkRestoreStorageFlags(opts);
                if (opts.from === "archive") return restoreStorageFromArchive(contextWithoutVault(opts, "restore storage"), opts);
                return restoreStorage(commandContext(opts, "restore storage"), opts);
            }),
        );
}

function registerPitr(restore: Command): void {
    withOperatorOptions(
        restore
            .command("pitr")
            .description(
                "Ask Supabase to restore the project's database to --incident-time minus --before (default 5 min) with point-in-time " +
                    "recovery: shows the PITR window first and refuses when it does not cover that time. Without --yes nothing is requested.",
            ),
    )
        .option("--incident-time <time>", "when the incident happened (ISO 8601, UTC if no zone, or unix seconds)")
        .option("--before-incident", "use the open incident's time (recorded by `incident start`) instead of --incident-time")
        .option("--before <duration>", "how long before the incident to restore to", "5m")
        .option("--yes", "really request the restore (the project's database is replaced and unavailable meanwhile)")
        .addHelpText("after", "\nNeeds SUPABASE_ACCESS_TOKEN. Calls GET /v1/projects/{ref}/database/backups, then POST …/database/backups/restore-pitr.\n")
        .action(
            action("restore pitr", (opts: PitrOptions) => {
                const times = checkPitrFlags(opts);
                return restorePitr(commandContext(opts, "restore pitr"), opts, times);
            }),
        );
}

function registerBranch(restore: Command): void {
    withOperatorOptions(
        restore
            .command("branch")
            .description("Create a Supabase branch of the project for a side-by-side check instead of rewinding the project (POST /v1/projects/{ref}/branches).")
    )
        .option("--name <name>", "branch name (default restore-<yyyymmddhhmm>)")
        .option("--incident-time <time>", "recorded in the audit record")
        .option("--no-with-data", "schema only (default: with the project's data)")
        .option("--persistent", "a persistent branch (default: ephemeral)")
        .action(
            action("restore branch", (opts: BranchOptions) => {
                const branch = checkBranchFlags(opts);
                return restoreBranch(commandContext(opts, "restore branch"), opts, branch);
            }),
        );
}

function registerConfig(restore: Command): void {
    withCommonOptions(
        restore
            .command("config")
            .description(
                "Print the stack file (Pulumi.<env>.yaml) a database run was made with, and the secrets to set again, from the config " +
                    "snapshot in its manifest: for rebuilding the stack after losing it. Reads the vault, or --from archive the Azure archive alone; never prints a secret value.",
            ),
    )
        .option("--env <env>", "environment; must match the config's env")
        .option("--run <id>", "this run's config")
        .option("--at <time>", "the config of the newest complete run at or before this time (--at now for the newest)")
        .option("--out <file>", "write the stack file here (never overwrites)")
        .option("--from <vault|archive>", "read the run from the S3 vault (default) or the Azure archive alone (no AWS credentials needed)", choiceFlag(["vault", "archive"] as const))
        .action(
            action("restore config", (opts: RestoreConfigOptions) => {
                if (opts.from === "archive") return restoreConfigFromArchive(contextWithoutVault(opts, "restore config"), opts);
                return restoreConfig(commandContext(opts, "restore config"), opts);
            }),
        );
}
