// `check-supabase`: Supabase's own backups, seen from outside. Alerts (exit code and metrics) when
// Supabase's newest backup is older than supabase.backupMaxAgeHours, or PITR is off (or on the wrong
// window) where supabase.pitr.required says it must be on.
import { EXIT, METRICS, type ExitCode } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { managementApi } from "../../cli/operator";
import { formatAge, out, outJson, renderPairs } from "../../cli/output";
import { pushRunMetrics } from "../../runtime/metrics";
import { checkSupabase, type SupabaseHealth } from "../../supabase/health";

export interface CheckSupabaseOptions {
    config?: string;
    json?: boolean;
    metrics: boolean;
}

export async function runCheckSupabase(ctx: CommandContext, opts: CheckSupabaseOptions): Promise<ExitCode> {
    const started = Date.now();
    const api = managementApi(ctx);
    const push = opts.metrics ? ctx.config.alerts.pushgatewayUrl : undefined;
    let h: SupabaseHealth;
    try {
        h = await checkSupabase(api, ctx.config);
    } catch (e) {
        await pushRunMetrics(push, ctx.config.env, "check-supabase", { result: "failure", durationSeconds: (Date.now() - started) / 1000 }, ctx.log);
        throw e;
    }
    const healthy = h.problems.length === 0;
    await pushRunMetrics(
        push,
        ctx.config.env,
        "check-supabase",
        {
            result: "success",
            durationSeconds: (Date.now() - started) / 1000,
            extra: [
                { name: METRICS.supabaseBackupAgeSeconds, help: "age in seconds of Supabase's own newest backup", value: h.backupAgeSeconds },
                { name: METRICS.supabasePitrOk, help: "1 when PITR is on as config requires", value: h.pitrOk ? 1 : 0 },
            ],
        },
        ctx.log,
    );
    if (opts.json) outJson({ env: ctx.config.env, healthy, ...h, backupAgeSeconds: Number.isFinite(h.backupAgeSeconds) ? h.backupAgeSeconds : null });
    else printHuman(h, healthy);
    for (const p of h.problems) ctx.log.warn({ projectRef: h.projectRef }, p);
    return healthy ? EXIT.ok : EXIT.unhealthy;
}

function printHuman(h: SupabaseHealth, healthy: boolean): void {
    out(
        renderPairs([
            ["project", `${h.projectRef} (${h.region})`],
            ["newest backup", h.newestBackupAt ?? "none"],
            ["newest restore point", h.newestRestorePointAt ? `${h.newestRestorePointAt} (${formatAge(h.backupAgeSeconds)} ago; limit ${h.maxAgeHours} h)` : "none"],
            ["PITR", h.pitrEnabled ? `on${h.pitrAddon ? ` (${h.pitrAddon})` : ""}${h.pitrWindow ? `, window ${h.pitrWindow.earliest} .. ${h.pitrWindow.latest}` : ""}` : "off"],
            ["PITR required", h.pitrRequired ? `yes${h.pitrWantedDays ? ` (${h.pitrWantedDays} days)` : ""}` : "no"],
            ...(h.computeAddon !== undefined ? [["compute", h.computeAddon ?? "no add-on (the plan's default size)"] as [string, string]] : []),
            ["Postgres", `${h.postgresVersion.project ?? "not reported"} (stack file: ${h.postgresVersion.configured})`],
            ["result", healthy ? "healthy" : "UNHEALTHY"],
        ]),
    );
    for (const p of h.problems) out(`  ! ${p}\n`);
    for (const n of h.notes) out(`  note: ${n}\n`);
}
