// `status`: the inventory a manager asks for before an incident. Runs per tier with sizes, retain-until
// and verification state; newest complete and newest verified run; the current RPO (now − newest
// complete run) against alerts.rpoHours; whether the hash chains hold or where they break; storage runs;
// Supabase's own backups and PITR. Exit 6 (unhealthy) when the RPO is missed or a chain is broken, so it
// can gate deploys and alert.
import type { Command } from "commander";
import { EXIT, runIdTime, TIERS, type DbManifest, type ExitCode, type StorageManifest } from "@supabase-backups/contracts";
import { action } from "../../cli/command";
import { errorMessage } from "../../runtime/errors";
import { redact } from "../../runtime/log";
import { operatorContext, type OperatorOptions } from "../../cli/operator";
import { formatBytes } from "../../runtime/progress";
import { loadVerifications } from "../../vault/verifications";
import { loadChain } from "../../vault/runs";
import { SupabaseApi } from "../../supabase/api";
import { checkSupabase, type SupabaseHealth } from "../../supabase/health";
import { formatAge, out, outJson, renderPairs, renderTable } from "../../cli/output";
import { intFlag } from "../../cli/flags";

interface StatusOptions extends OperatorOptions {
    supabase: boolean;
    all?: boolean;
    runs: number;
}

export interface StatusReport {
    env: string;
    generatedAt: string;
    vault: string;
    healthy: boolean;
    problems: string[];
    rpo: { targetHours: number; newestCompleteRunId: string | null; ageHours: number | null; met: boolean };
    newestVerified: { runId: string; verifiedAt: string; restoreSeconds: number | null } | null;
    db: {
        runs: number;
        bytes: number;
        chain: { intact: boolean; breaks: Array<{ runId: string; reason: string }> };
        tiers: Array<{ tier: string; runs: number; bytes: number; oldest: string; newest: string; retainUntil: string }>;
        list: Array<{ runId: string; tier: string; bytes: number; retainUntil: string; verification: "passed" | "failed" | "unverified"; verifiedAt: string | null; secondary: string; encrypted: boolean }>;
    };
    storage: {
        runs: number;
        chain: { intact: boolean; breaks: Array<{ runId: string; reason: string }> };
        newest: { runId: string; objects: number; bytes: number; failed: number; buckets: Array<{ name: string; objects: number; bytes: number }>; retainUntil: string } | null;
        tiers: Array<{ tier: string; runs: number }>;
    };
    supabase: (SupabaseHealth & { checked: true }) | { checked: false; reason: string };
}

function dbBytes(m: DbManifest): number {
    return m.objects.reduce((n, o) => n + o.bytes, 0);
}

export async function buildStatus(opts: StatusOptions): Promise<StatusReport> {
    const ctx = operatorContext(opts, "status");
    const { config } = ctx;
    const env = config.env;
    const now = new Date();
    const [db, storage, verifications] = await Promise.all([
        loadChain<DbManifest>(ctx.s3, ctx.bucket, env, "db"),
        loadChain<StorageManifest>(ctx.s3, ctx.bucket, env, "storage"),
        loadVerifications(ctx.s3, ctx.bucket, env),
    ]);
    const problems: string[] = [];

    const list = db.manifests.map((l) => {
        const m = l.manifest;
        const v = verifications.get(l.ref.runId);
        return {
            runId: l.ref.runId,
            tier: m.tier,
            bytes: dbBytes(m),
            retainUntil: m.retainUntil,
            verification: (v?.result ?? "unverified") as "passed" | "failed" | "unverified",
            verifiedAt: v?.verifiedAt ?? null,
            secondary: m.secondary?.status ?? "-",
            encrypted: !!m.encryption,
        };
    });
    const tiers = TIERS.map((tier) => {
        const rs = list.filter((r) => r.tier === tier);
        if (!rs.length) return undefined;
        return {
            tier,
            runs: rs.length,
            bytes: rs.reduce((n, r) => n + r.bytes, 0),
            oldest: rs[0].runId,
            newest: rs[rs.length - 1].runId,
            retainUntil: rs.map((r) => r.retainUntil).sort().at(-1)!,
        };
    }).filter((x): x is NonNullable<typeof x> => !!x);

    const newest = list.at(-1);
    const ageHours = newest ? (now.getTime() - runIdTime(newest.runId).getTime()) / 3_600_000 : null;
    const rpoMet = ageHours !== null && ageHours <= config.alerts.rpoHours;
    if (!newest) problems.push(`no complete database run in the vault for ${env}: RPO target of ${config.alerts.rpoHours} h missed`);
    else if (!rpoMet) problems.push(`RPO missed: the newest complete database run ${newest.runId} is ${ageHours!.toFixed(1)} h old (target ${config.alerts.rpoHours} h)`);
    for (const b of db.breaks) problems.push(`database hash chain broken at ${b.runId}: ${b.reason}`);
    for (const b of storage.breaks) problems.push(`storage hash chain broken at ${b.runId}: ${b.reason}`);

    const verified = [...list].reverse().find((r) => r.verification === "passed");
    const sNewest = storage.manifests.at(-1)?.manifest;
    const report: StatusReport = {
        env,
        generatedAt: now.toISOString(),
        vault: `s3://${ctx.bucket}`,
        healthy: false,
        problems,
        rpo: { targetHours: config.alerts.rpoHours, newestCompleteRunId: newest?.runId ?? null, ageHours, met: rpoMet },
        newestVerified: verified ? { runId: verified.runId, verifiedAt: verified.verifiedAt!, restoreSeconds: verifications.get(verified.runId)?.restoreSeconds ?? null } : null,
        db: {
            runs: list.length,
            bytes: list.reduce((n, r) => n + r.bytes, 0),
            chain: { intact: db.breaks.length === 0, breaks: db.breaks },
            tiers,
            list,
        },
        storage: {
            runs: storage.manifests.length,
            chain: { intact: storage.breaks.length === 0, breaks: storage.breaks },
            newest: sNewest
                ? {
                      runId: sNewest.runId,
                      objects: sNewest.objects.length,
                      bytes: sNewest.objects.reduce((n, o) => n + o.size, 0),
                      failed: sNewest.failed.length,
                      buckets: sNewest.buckets,
                      retainUntil: sNewest.retainUntil,
                  }
                : null,
            tiers: TIERS.map((tier) => ({ tier, runs: storage.manifests.filter((m) => m.manifest.tier === tier).length })).filter((t) => t.runs > 0),
        },
        supabase: { checked: false, reason: "" },
    };

    if (!opts.supabase) report.supabase = { checked: false, reason: "skipped (--no-supabase)" };
    else if (!ctx.secrets.managementApiToken) report.supabase = { checked: false, reason: "SUPABASE_ACCESS_TOKEN not set" };
    else {
        try {
            const api = new SupabaseApi({ baseUrl: config.supabase.apiUrl, token: ctx.secrets.managementApiToken });
            report.supabase = { checked: true, ...(await checkSupabase(api, config, now)) };
        } catch (e) {
            report.supabase = { checked: false, reason: redact(errorMessage(e)) };
        }
    }
    report.healthy = problems.length === 0;
    return report;
}

function printHuman(r: StatusReport, showAll: boolean, maxRuns: number): void {
    out(
        renderPairs([
            ["env", `${r.env}   vault ${r.vault}   at ${r.generatedAt}`],
            [
                "RPO",
                r.rpo.newestCompleteRunId
                    ? `newest complete run ${r.rpo.newestCompleteRunId}, ${formatAge(r.rpo.ageHours! * 3600)} ago; target ${r.rpo.targetHours} h: ${r.rpo.met ? "met" : "MISSED"}`
                    : `no complete run; target ${r.rpo.targetHours} h: MISSED`,
            ],
            ["newest verified", r.newestVerified ? `${r.newestVerified.runId} (verified ${r.newestVerified.verifiedAt}${r.newestVerified.restoreSeconds !== null ? `, restore took ${r.newestVerified.restoreSeconds.toFixed(1)} s` : ""})` : "none"],
            ["db hash chain", r.db.chain.intact ? `intact over ${r.db.runs} run(s)` : `BROKEN: ${r.db.chain.breaks.map((b) => `${b.runId}: ${b.reason}`).join("; ")}`],
            ["db runs", `${r.db.runs}, ${formatBytes(r.db.bytes)}`],
        ]),
    );
    if (r.db.tiers.length) out("\n" + renderTable(["tier", "runs", "size", "oldest", "newest", "retain until (latest)"], r.db.tiers.map((t) => [t.tier, t.runs, formatBytes(t.bytes), t.oldest, t.newest, t.retainUntil])));
    const runs = showAll ? r.db.list : r.db.list.slice(-maxRuns);
    if (runs.length) {
        out(`\nDatabase runs${showAll || r.db.list.length <= maxRuns ? "" : ` (newest ${maxRuns} of ${r.db.list.length}; --all for every run)`}:\n`);
        out(renderTable(["run", "tier", "size", "retain until", "verified", "secondary", "encrypted"], [...runs].reverse().map((x) => [x.runId, x.tier, formatBytes(x.bytes), x.retainUntil, x.verification === "passed" ? `yes ${x.verifiedAt}` : x.verification === "failed" ? "FAILED" : "no", x.secondary, x.encrypted ? "age" : "no"])));
    }
    const s = r.storage;
    out(
        "\n" +
            renderPairs([
                ["storage runs", `${s.runs}${s.tiers.length ? ` (${s.tiers.map((t) => `${t.tier} ${t.runs}`).join(", ")})` : ""}`],
                ["newest storage run", s.newest ? `${s.newest.runId}: ${s.newest.objects} objects, ${formatBytes(s.newest.bytes)}${s.newest.failed ? `, ${s.newest.failed} FAILED` : ""}; ${s.newest.buckets.map((b) => `${b.name} ${b.objects}`).join(", ")}` : "none"],
                ["storage hash chain", s.chain.intact ? "intact" : `BROKEN: ${s.chain.breaks.map((b) => `${b.runId}: ${b.reason}`).join("; ")}`],
            ]),
    );
    const sb = r.supabase;
    out(
        "\n" +
            renderPairs(
                sb.checked
                    ? [
                          ["Supabase backups", `${sb.backupsCompleted} completed, newest restore point ${sb.newestRestorePointAt ?? "none"}${Number.isFinite(sb.backupAgeSeconds) ? ` (${formatAge(sb.backupAgeSeconds)} ago)` : ""}`],
                          ["Supabase PITR", `${sb.pitrEnabled ? "on" : "off"}${sb.pitrAddon ? ` (${sb.pitrAddon})` : ""}${sb.pitrWindow ? `, window ${sb.pitrWindow.earliest} .. ${sb.pitrWindow.latest}` : ""}${sb.pitrRequired ? "; required" : ""}`],
                          ["Supabase", sb.problems.length ? sb.problems.join("; ") : "ok"],
                      ]
                    : [["Supabase", `not checked: ${sb.reason}`]],
            ),
    );
    out(`\nSTATUS: ${r.healthy ? "HEALTHY" : "UNHEALTHY"}\n`);
    for (const p of r.problems) out(`  ! ${p}\n`);
}

export function register(program: Command): void {
    program
        .command("status")
        .description(
            "Inventory of the vault for one environment: runs per tier with sizes, retain-until and verification; newest complete and " +
                "verified run; RPO against alerts.rpoHours; hash chains; storage runs; Supabase's own backups and PITR. " +
                "Exit 0 healthy, 6 when the RPO is missed or a hash chain is broken.",
        )
        .option("-c, --config <file>", "job config JSON; default $SUPABASE_BACKUPS_CONFIG")
        .option("--env <env>", "environment; must match the config's env")
        .option("--json", "machine-readable output on stdout")
        .option("--all", "list every database run (default: the newest --runs)")
        .option("--runs <n>", "how many database runs to list", intFlag(1), 10)
        .option("--no-supabase", "do not ask the Management API (SUPABASE_ACCESS_TOKEN) about Supabase's own backups")
        .action(
            action("status", async (opts: StatusOptions): Promise<ExitCode> => {
                const r = await buildStatus(opts);
                if (opts.json) outJson(r);
                else printHuman(r, !!opts.all, opts.runs);
                return r.healthy ? EXIT.ok : EXIT.unhealthy;
            }),
        );
}
