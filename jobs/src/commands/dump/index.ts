// `supabase-backups dump`: the nightly database backup. Flags → DumpOptions → engine.ts.
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT } from "@supabase-backups/contracts";
import { action, commandContext, withCommonOptions } from "../../cli/command";
import { intFlag } from "../../cli/flags";
import { UsageError } from "../../runtime/errors";
import { checkRecipient } from "../../codec/age-encrypt";
import { DUMP_DEFAULTS, dumpVaultOptions, runDump, type DumpOptions } from "./engine";
import { DEFAULT_DUMP_ROLE, dumpRoleSetupSql } from "../../postgres/dump-role";

function tableList(v: string): string[] {
    const list = v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    for (const t of list) if (!/^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$/.test(t)) throw new InvalidArgumentError(`"${t}" is not a schema-qualified table (e.g. public.profiles)`);
    return list;
}

interface Flags {
    config?: string;
    json?: boolean;
    tables?: string[];
    archive: boolean;
    roles: boolean;
    compression?: DumpOptions["compression"];
    level?: number;
    ageRecipient?: string;
    partSize?: number;
    queueSize: number;
    blockSize: number;
    azureConcurrency: number;
    stallTimeout: number;
    lockWaitTimeout: number;
    pgDump: string;
    pgDumpall: string;
    printRoleSql?: string | true;
}

export function register(program: Command): void {
    const cmd = program
        .command("dump")
        .summary("back up the database: one pg_dump snapshot, streamed to S3 and Azure, manifest last")
        .description(
            [
                "Back up the database in one pass: a REPEATABLE READ snapshot (exact row counts of verify.tables, newest",
                "migration, RLS tables, extensions), pg_dump --format=custom in that snapshot, compressed (pg_dump's own",
                "zstd/lz4/gzip when the client is >= 16, else -Z0 + zstd in the job), optionally age-encrypted, sha256'd and",
                "uploaded at once to the S3 vault (multipart, Object Lock COMPLIANCE, SHA256 checksums, tags) and the Azure",
                "archive (block blob, immutability policy, index tags). Then schema.sql and roles.sql, and manifest.json",
                "last: a run is complete iff its manifest exists.",
                "",
                "Config: the job config file (--config or $SUPABASE_BACKUPS_CONFIG); the flags below override it.",
                "Secrets from the environment: DATABASE_URL (required), AZURE_STORAGE_CONNECTION_STRING (else workload",
                "identity), AWS credentials (the SDK's default chain).",
                "",
                `Exit codes: ${EXIT.ok} complete; ${EXIT.degraded} complete on S3 but the Azure copy failed (degraded);`,
                `${EXIT.failed} failed (no manifest written, uploads aborted); ${EXIT.usage} usage or config error.`,
            ].join("\n"),
        );
    withCommonOptions(cmd)
        .option("--tables <list>", "comma-separated schema-qualified tables whose exact row counts are recorded (overrides verify.tables)", tableList)
        .addOption(new Option("--compression <algorithm>", "compression (overrides dump.compression; default zstd)").choices(["zstd", "lz4", "gzip", "none"]))
        .option("--level <n>", "compression level (overrides dump.level; default 1; zstd 1-19, lz4 1-12, gzip 1-9)", intFlag(1, 19))
        .option("--no-archive", "skip the Azure copy for this run (the manifest records the secondary as disabled)")
        .option("--no-roles", "skip roles.sql (pg_dumpall --roles-only --no-role-passwords)")
        .option("--age-recipient <recipient>", "encrypt every object to this age recipient (age1…) (overrides encryption.ageRecipient)")
        .option("--part-size <MiB>", "S3 multipart part size (default: 5, or larger for databases over ~18 GB so 10 000 parts suffice); memory ≈ (queue size + 2) × part size", intFlag(5, 512))
        .option("--queue-size <n>", "S3 parts uploaded concurrently", intFlag(1, 32), DUMP_DEFAULTS.queueSize)
        .option("--block-size <MiB>", "Azure block size", intFlag(1, 100), DUMP_DEFAULTS.blockSizeMiB)
        .option("--azure-concurrency <n>", "Azure blocks uploaded concurrently", intFlag(1, 32), DUMP_DEFAULTS.azureConcurrency)
        .option("--stall-timeout <seconds>", "fail the run (S3) or drop the copy (Azure) when an upload makes no progress this long", intFlag(5, 3600), DUMP_DEFAULTS.stallTimeoutSec)
        .option("--lock-wait-timeout <seconds>", "pg_dump --lock-wait-timeout: fail instead of queueing behind a long lock", intFlag(1, 86400), DUMP_DEFAULTS.lockWaitTimeoutSec)
        .option("--pg-dump <path>", "pg_dump binary (default $PG_DUMP or pg_dump on PATH)", process.env.PG_DUMP ?? "pg_dump")
        .option("--pg-dumpall <path>", "pg_dumpall binary (default $PG_DUMPALL or pg_dumpall on PATH)", process.env.PG_DUMPALL ?? "pg_dumpall")
        .option("--print-role-sql [role]", `print the SQL that makes the read-only role the dump should connect as (default ${DEFAULT_DUMP_ROLE}; run it once as postgres) and exit`)
        .action(async (flags: Flags) => {
            if (flags.printRoleSql !== undefined) return printRoleSql(flags.printRoleSql);
            await run(flags);
            // The run is over and its outcome reported: do not let a socket a failed upload left behind
            // (a stalled server never answering) keep the pod alive. Logs are written synchronously.
            setTimeout(() => process.exit(), 2000).unref();
        });
}

/** The setup SQL of the read-only role, for the operator to run once; nothing is connected to. */
const printRoleSql = action("dump", async (asked: string | true) => {
    const role = asked === true ? DEFAULT_DUMP_ROLE : asked;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new UsageError(`--print-role-sql: "${role}" is not a plain role name (lowercase letters, digits, _)`);
    process.stdout.write(dumpRoleSetupSql(role));
});

const run = action("dump", async (flags: Flags) => {
    const ctx = commandContext(flags, "dump", dumpVaultOptions(flags.stallTimeout));
    const recipient = flags.ageRecipient ?? ctx.config.encryption?.ageRecipient;
    if (recipient) {
        try {
            await checkRecipient(recipient);
        } catch (e) {
            throw new UsageError(`invalid age recipient "${recipient}": ${(e as Error).message}`);
        }
    }
    return runDump(ctx, {
        tables: flags.tables,
        archive: flags.archive,
        roles: flags.roles,
        compression: flags.compression,
        level: flags.level,
        ageRecipient: flags.ageRecipient,
        partSizeMiB: flags.partSize,
        queueSize: flags.queueSize,
        blockSizeMiB: flags.blockSize,
        azureConcurrency: flags.azureConcurrency,
        stallTimeoutSec: flags.stallTimeout,
        lockWaitTimeoutSec: flags.lockWaitTimeout,
        pgDump: flags.pgDump,
        pgDumpAll: flags.pgDumpall,
        json: !!flags.json,
    });
});
