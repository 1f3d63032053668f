// `supabase-backups verify`: prove that a backup restores and equals its source, without ever touching
// the source. For the newest complete run (or --run ID, or --unverified): hash chain back to the last
// verified run, every object's sha256 (streamed, decrypted with the verifier's age identity), the
// Azure copy's sha256, a canary restore with pg_restore -j into a throw-away database, then checks
// against the dump's own snapshot. Writes verify/{env}/{runId}/{verifiedAt}.json once, pushes metrics,
// and always drops the canary database (also on failure, SIGINT and SIGTERM).
// Flags → VerifyOptions → engine.ts (targets, metrics, exit code) → run.ts (one run's steps).
//
// Exit codes: 0 passed; 7 (EXIT.tampered) objects overwritten after the jobs wrote them, or a forged
// record; 5 (EXIT.verifyFailed) the backup is wrong — a failed record is written with a
// one-line reason; 1 (EXIT.failed) the verifier could not judge — canary server down, vault
// unreachable, AGE_IDENTITY not set, interrupted — no record is written (nothing was judged); 2 usage.
import { availableParallelism, tmpdir } from "node:os";
import type { Command } from "commander";
import { EXIT, isRunId, JOB_ENV, SECRETS } from "@supabase-backups/contracts";
import { action, commandContext, withCommonOptions } from "../../cli/command";
import { intFlag } from "../../cli/flags";
import { UsageError } from "../../runtime/errors";
import { runVerify } from "./engine";
import { pgTlsPolicy, securePgUrl } from "../../postgres/tls";
import { PENDING_HELP, thawOptionsOf, withThawOptions, type ThawFlags } from "../../cli/thaw";
import { urlPassword, urlWithPassword } from "../../postgres/connection";

interface Flags extends ThawFlags {
    config?: string;
    json?: boolean;
    run?: string;
    unverified?: boolean;
    jobs?: number;
    scratch?: string;
    storage?: boolean;
    statementTimeout?: number;
}

/** The source's credentials are never read: verify gets an environment without them. */
export function withoutSourceSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    const out = { ...env };
    for (const k of [SECRETS.databaseUrl.env, SECRETS.serviceRoleKey.env, SECRETS.managementApiToken.env]) delete out[k];
    return out;
}

/** The canary's password from its own variable (the Secret), unless the URL carries one. */
export function canaryUrlWithPassword(url: string, env: NodeJS.ProcessEnv): string {
    const password = env[JOB_ENV.canaryDatabasePassword];
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        throw new UsageError(`${JOB_ENV.canaryDatabaseUrl} is not a URL`);
    }
    if (!password || urlPassword(u) !== undefined) return url;
    return urlWithPassword(url, password);
}

export function register(program: Command): void {
    const cmd = program
        .command("verify")
        .summary("prove the newest backup restores and equals its source (canary restore)")
        .description(
            "Verify a database backup without touching the source. Checks the hash chain back to the last verified run; " +
                "streams every object of the run from the vault (decrypting with AGE_IDENTITY when encrypted) and compares its sha256 " +
                "with the manifest; compares the Azure copy's sha256 with the primary's; restores with pg_restore -j into a throw-away " +
                "database on the canary server; then checks exact row counts against the dump's snapshot, the newest migration, RLS, " +
                "extensions, app_version, health and the SQL checks in verify.checks. Also checks the newest storage run: every blob " +
                "exists, and a sample (verify.storageSampleRatio, at least verify.storageSampleMin) is re-hashed. Writes " +
                "verify/{env}/{runId}/{verifiedAt}.json once, pushes metrics, and always drops the canary database.",
        )
        .option("--run <runId>", "verify this run (e.g. 20261122T193000Z-k3x9qa) instead of the newest complete one")
        .option("--unverified", "verify every complete run without a passed verification, oldest first")
        .option("-j, --jobs <n>", "pg_restore parallel jobs and check connections, 1-64 (default: the CPU count, at most 64)", intFlag(1, 64))
        .option("--scratch <dir>", "where the dump is spooled for pg_restore (needs the decompressed dump's size; default $TMPDIR)")
        .option("--no-storage", "skip the storage check (blobs of the newest storage run)")
        .option("--statement-timeout <seconds>", "limit for each check query (default 1800)", intFlag(1));
    withCommonOptions(withThawOptions(cmd))
        .addHelpText(
            "after",
            `
Environment:
  ${JOB_ENV.canaryDatabaseUrl}   Postgres URL of a superuser on the canary server (required); the dump is
                        restored into a new database there, dropped afterwards. In Kubernetes: the
                        canary's own pod (no egress, no credentials) behind its Service, with TLS.
  ${JOB_ENV.canaryDatabasePassword}   that superuser's password, when the URL has none
  ${SECRETS.ageIdentity.env}          age identity (AGE-SECRET-KEY-1…) when dumps are encrypted
  ${JOB_ENV.azureConnectionString}   Azure connection string (else workload identity) for the secondary copy
  ${JOB_ENV.recordSigningKey}    Ed25519 key (PKCS#8 PEM) that signs records when vault.recordSigning has no kmsKeyArn
  ${SECRETS.databaseUrl.env} is never read: verify does not connect to the source database.

Exit codes:
  ${EXIT.ok}  verification passed (record written)
  ${EXIT.verifyFailed}  the backup is wrong: corrupt/truncated/altered object, broken hash chain, missing manifest,
     undecryptable with AGE_IDENTITY, Azure copy differs, restore or a check failed (failed record written)
  ${EXIT.tampered}  tampering: a vault object has a newer version than the one the job wrote, or a
     verification record's signature is invalid (the runs are judged on the versions the jobs wrote)
  ${EXIT.failed}  could not verify: canary server down, vault unreachable, AGE_IDENTITY unset, interrupted
     (no record written)
  ${EXIT.usage}  bad flags or config
  ${EXIT.pending}  --run: ${PENDING_HELP} (no record written)`,
        )
        .action(run);
}

const run = action("verify", async (flags: Flags) => {
    if (flags.run && flags.unverified) throw new UsageError("--run and --unverified cannot be combined");
    if (!flags.run && (flags.restoreTier || flags.restoreDays)) throw new UsageError("--restore-tier and --restore-days go with --run (the nightly verify never requests a restore)");
    if (flags.run && !isRunId(flags.run)) throw new UsageError(`--run: not a run id: "${flags.run}" (expected e.g. 20261122T193000Z-k3x9qa)`);
    const jobs = flags.jobs ?? Math.min(64, availableParallelism());
    const env = withoutSourceSecrets(process.env);
    const ctx = commandContext(flags, "verify", {}, env);
    const rawCanaryUrl = env[JOB_ENV.canaryDatabaseUrl];
    if (!rawCanaryUrl) throw new UsageError(`no canary server: set ${JOB_ENV.canaryDatabaseUrl} (a Postgres URL of a superuser on a throw-away server)`);
    // Kubernetes: the canary's own pod behind a Service, verify-full against its pinned certificate
    // (the URL's sslrootcert); a loopback canary (tests, a laptop) needs no TLS
    const canaryUrl = securePgUrl(canaryUrlWithPassword(rawCanaryUrl, env), pgTlsPolicy(ctx.config, env), ctx.log, JOB_ENV.canaryDatabaseUrl);
    return runVerify(ctx, {
        run: flags.run,
        unverified: !!flags.unverified,
        jobs,
        scratch: flags.scratch ?? tmpdir(),
        storage: flags.storage !== false,
        statementTimeoutMs: (flags.statementTimeout ?? 1800) * 1000,
        canaryUrl,
        json: !!flags.json,
        thaw: flags.run ? thawOptionsOf(flags) : undefined,
    });
});
