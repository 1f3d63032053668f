// What the operator commands share: the --env guard, actor/reason flags, the audit trail on the vault
// (or, for `--from archive`, in the Azure archive),
// the Management API client from config + SUPABASE_ACCESS_TOKEN, and time flags read as usage errors.
import type { Command } from "commander";
import type { ContainerClient } from "@azure/storage-blob";
import { storageRetention } from "@supabase-backups/contracts";
import { requireSecret, type JobContext } from "../runtime/context";
import { UsageError, errorMessage } from "../runtime/errors";
import { parseDuration, parseInstant } from "../runtime/time";
import { AuditTrail, auditRetainUntil, requireReason, resolveActor } from "../vault/audit";
import { callerIdentity } from "../vault/identity";
import { createArchiveClient } from "../vault/archive";
import { ArchiveAuditTrail, archiveIdentity } from "../vault/archive-runs";
import { parseAt } from "../vault/run-choice";
import { SupabaseApi } from "../supabase/api";
import type { CommandContext, CommandOptions } from "./command";

export interface OperatorOptions extends CommandOptions {
    actor?: string;
    reason?: string;
}

export function withOperatorOptions(cmd: Command): Command {
    return cmd
        .option("-c, --config <file>", "job config JSON; default $SUPABASE_BACKUPS_CONFIG")
        .option("--env <env>", "environment; must match the config's env (a guard against the wrong config file)")
        .option("--json", "machine-readable output on stdout")
        .option("--actor <who>", "who you say you are, recorded beside your cloud identity (which is the actor); default $SUPABASE_BACKUPS_ACTOR, $USER")
        .option("--reason <text>", "why, for the audit record; required in prod");
}

/**
 * An audit trail for an action (reason checked first: prod needs one). `audited()` writes its
 * "started" record, with the caller's cloud identity as the actor, before the action runs.
 */
export function startAudit(ctx: CommandContext, opts: OperatorOptions, action: string, target: string, options: Record<string, unknown>, how: { scheduled?: boolean } = {}): AuditTrail {
    // A scheduled job (gc's CronJob) has no one to give a reason: a given one is recorded, none is required.
    const reason = how.scheduled ? opts.reason?.trim() || null : requireReason(ctx.config.env, opts.reason);
    // as long as the longest-kept backup, a bucket's longer retention included
    const lockUntil = auditRetainUntil(new Date(), storageRetention(ctx.config));
    const identify = () => callerIdentity(ctx.s3, ctx.config.vault);
    return new AuditTrail(ctx.s3, ctx.bucket, ctx.config.env, action, resolveActor(opts.actor, ctx.env), reason, target, options, ctx.config.vault.kmsKeyArn, lockUntil, identify);
}

/**
 * `--from archive`: the archive's container and an audit trail into it (archive-runs.ts), built without
 * any AWS client or credential — for the day the AWS account or region is lost.
 */
export async function startArchiveAudit(ctx: JobContext, opts: OperatorOptions, action: string, target: string, options: Record<string, unknown>): Promise<{ container: ContainerClient; trail: AuditTrail }> {
    const archive = ctx.config.archive;
    if (!archive) throw new UsageError("--from archive: the config has no archive (azure.enabled, and archive.accountUrl / archive.container in the job config)");
    const reason = requireReason(ctx.config.env, opts.reason);
    const container = await createArchiveClient(archive, ctx.env);
    const trail = new ArchiveAuditTrail(container, {
        env: ctx.config.env,
        action,
        actorClaim: resolveActor(opts.actor, ctx.env),
        reason,
        target,
        options,
        lockUntil: auditRetainUntil(new Date(), storageRetention(ctx.config)),
        identify: () => archiveIdentity(ctx.env),
    });
    return { container, trail };
}

export function managementApi(ctx: JobContext): SupabaseApi {
    return new SupabaseApi({ baseUrl: ctx.config.supabase.apiUrl, token: requireSecret(ctx, "managementApiToken") });
}

/** A flag value that does not parse is the operator's mistake: a usage error (exit 2, one line). */
function asUsage<T>(parse: () => T, flag?: string): T {
    try {
        return parse();
    } catch (e) {
        throw new UsageError(flag ? `${flag}: ${errorMessage(e)}` : errorMessage(e));
    }
}

/** A time flag (--incident-time, --since): ISO 8601 or unix seconds. */
export function timeFlag(flag: string, value: string): Date {
    return asUsage(() => parseInstant(value, flag));
}

/** A duration flag (--before): 5m, 90s, 2h, 1d. */
export function durationFlag(flag: string, value: string): number {
    return asUsage(() => parseDuration(value), flag);
}

/** --at as the run choice reads it (`now` or a time), checked before anything runs. */
export function checkAtFlag(at: string | undefined): void {
    asUsage(() => parseAt(at));
}
