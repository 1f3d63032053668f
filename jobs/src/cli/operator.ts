// What the operator commands share: the --env guard, actor/reason flags, the audit trail on the vault,
// and the Management API client from config + SUPABASE_ACCESS_TOKEN.
import type { Command } from "commander";
import type { S3Client } from "@aws-sdk/client-s3";
import { createContext, requireSecret, type JobContext } from "../runtime/context";
import { UsageError } from "../runtime/errors";
import { AuditTrail, requireReason, resolveActor } from "../vault/audit";
import { SupabaseApi } from "../supabase/api";
import { createVaultClient } from "../vault/s3";

export interface OperatorOptions {
    config?: string;
    json?: boolean;
    env?: string;
    actor?: string;
    reason?: string;
}

export function withOperatorOptions(cmd: Command): Command {
    return cmd
        .option("-c, --config <file>", "job config JSON; default $SUPABASE_BACKUPS_CONFIG")
        .option("--env <env>", "environment; must match the config's env (a guard against the wrong config file)")
        .option("--json", "machine-readable output on stdout")
        .option("--actor <who>", "who is acting, for the audit record; default $SUPABASE_BACKUPS_ACTOR, $USER")
        .option("--reason <text>", "why, for the audit record; required in prod");
}

export interface OperatorContext extends JobContext {
    s3: S3Client;
    bucket: string;
}

export function operatorContext(opts: OperatorOptions, command: string): OperatorContext {
    const ctx = createContext({ config: opts.config, command });
    if (opts.env && opts.env !== ctx.config.env) {
        throw new UsageError(`--env ${opts.env} does not match the config's env "${ctx.config.env}" (${ctx.configSource}): wrong config file?`);
    }
    return { ...ctx, s3: createVaultClient(ctx.config.vault), bucket: ctx.config.vault.bucket };
}

/** An audit trail for an action (reason checked first: prod needs one). */
export function startAudit(ctx: OperatorContext, opts: OperatorOptions, action: string, target: string, options: Record<string, unknown>): AuditTrail {
    const reason = requireReason(ctx.config.env, opts.reason);
    return new AuditTrail(ctx.s3, ctx.bucket, ctx.config.env, action, resolveActor(opts.actor, ctx.env), reason, target, options, ctx.config.vault.kmsKeyArn);
}

export function managementApi(ctx: JobContext): SupabaseApi {
    return new SupabaseApi({ baseUrl: ctx.config.supabase.apiUrl, token: requireSecret(ctx, "managementApiToken") });
}
