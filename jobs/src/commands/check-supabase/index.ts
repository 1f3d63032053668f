// `check-supabase`: Supabase's own backups, seen from outside. Alerts (exit code and metrics) when
// Supabase's newest backup is older than supabase.backupMaxAgeHours, or PITR is off (or on the wrong
// window) where supabase.pitr.required says it must be on.
import type { Command } from "commander";
import { EXIT, METRICS } from "@supabase-backups/contracts";
import { action, withCommonOptions } from "../../cli/command";
import { createContext, requireSecret } from "../../runtime/context";
import { pushRunMetrics } from "../../runtime/metrics";
import { SupabaseApi } from "../../supabase/api";
import { checkSupabase } from "../../supabase/health";
import { formatAge, out, outJson, renderPairs } from "../../cli/output";

export function register(program: Command): void {
    withCommonOptions(
        program
            .command("check-supabase")
            .description(
                "Check Supabase's own backups through the Management API: alert when the newest is older than " +
                    "supabase.backupMaxAgeHours or PITR is off where supabase.pitr.required. Exit 0 healthy, 6 unhealthy, 1 API error.",
            ),
    )
        .option("--no-metrics", "do not push metrics even when alerts.pushgatewayUrl is set")
        .addHelpText("after", "\nNeeds SUPABASE_ACCESS_TOKEN (Management API token). Reads GET /v1/projects/{ref}/database/backups and, when PITR is required, GET /v1/projects/{ref}/billing/addons.\n")
        .action(
            action("check-supabase", async (opts: { config?: string; json?: boolean; metrics: boolean }) => {
                const ctx = createContext({ config: opts.config, command: "check-supabase" });
                const started = Date.now();
                const api = new SupabaseApi({ baseUrl: ctx.config.supabase.apiUrl, token: requireSecret(ctx, "managementApiToken") });
                const push = opts.metrics ? ctx.config.alerts.pushgatewayUrl : undefined;
                let h;
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
                else {
                    out(
                        renderPairs([
                            ["project", `${h.projectRef} (${h.region})`],
                            ["newest backup", h.newestBackupAt ?? "none"],
                            ["newest restore point", h.newestRestorePointAt ? `${h.newestRestorePointAt} (${formatAge(h.backupAgeSeconds)} ago; limit ${h.maxAgeHours} h)` : "none"],
                            ["PITR", h.pitrEnabled ? `on${h.pitrAddon ? ` (${h.pitrAddon})` : ""}${h.pitrWindow ? `, window ${h.pitrWindow.earliest} .. ${h.pitrWindow.latest}` : ""}` : "off"],
                            ["PITR required", h.pitrRequired ? `yes${h.pitrWantedDays ? ` (${h.pitrWantedDays} days)` : ""}` : "no"],
                            ["result", healthy ? "healthy" : "UNHEALTHY"],
                        ]),
                    );
                    for (const p of h.problems) out(`  ! ${p}\n`);
                    for (const n of h.notes) out(`  note: ${n}\n`);
                }
                for (const p of h.problems) ctx.log.warn({ projectRef: h.projectRef }, p);
                return healthy ? EXIT.ok : EXIT.unhealthy;
            }),
        );
}
