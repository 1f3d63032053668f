// What the schedule declares, as plain data: the CronJobs (one per kind, and one sync-storage per
// distinct bucket schedule), their periods, and the alert rules derived from them. Pure, so the tests
// and the policy pack can reason about it without Pulumi.
import {
    METRIC_LABELS,
    METRICS,
    maxIntervalSeconds,
    type JobKind,
    type StackConfig,
} from "@supabase-backups/contracts";
import { drillAlertRules, plannedDrills } from "./drills";

export interface PlannedJob {
    /** CronJob name (namespace-scoped) */
    name: string;
    kind: JobKind;
    schedule: string;
    timeZone: string;
    /** CLI arguments after the image's entrypoint */
    args: string[];
    /** buckets this sync-storage CronJob covers; undefined = all buckets */
    buckets?: string[];
    /** longest gap between two firings, seconds (contracts: maxIntervalSeconds) */
    periodSeconds: number;
    activeDeadlineSeconds: number;
    startingDeadlineSeconds: number;
}

/** Upper bounds on a run's wall time, before the schedule's own period caps them. */
const MAX_RUN_SECONDS: Record<JobKind, number> = {
    dump: 4 * 3600,
    "sync-storage": 6 * 3600,
    verify: 4 * 3600,
    "check-supabase": 10 * 60,
    gc: 2 * 3600,
    // a drill restores the whole database or every bucket, then cleans up
    drill: 12 * 3600,
};

function slug(s: string, max: number): string {
    return s.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, max).replace(/-+$/, "");
}

function job(kind: JobKind, name: string, schedule: string, timeZone: string, args: string[], buckets?: string[]): PlannedJob {
    const periodSeconds = maxIntervalSeconds(schedule, timeZone);
    return {
        name,
        kind,
        schedule,
        timeZone,
        args,
        buckets,
        periodSeconds,
        // A run must end before the next one is due (concurrencyPolicy Forbid would skip it otherwise).
        activeDeadlineSeconds: Math.max(300, Math.min(MAX_RUN_SECONDS[kind], Math.floor(periodSeconds * 0.9))),
        // Minutes, not seconds: a controller restart or a busy node must not skip a night's backup,
        // but a start later than this is better skipped (and alerted) than run into the next one.
        startingDeadlineSeconds: Math.max(120, Math.min(3600, Math.floor(periodSeconds / 4))),
    };
}

export function plannedJobs(cfg: StackConfig): PlannedJob[] {
    const s = cfg.schedules;
    const tz = s.timeZone;
    const out: PlannedJob[] = [job("dump", "dump", s.dump, tz, ["dump"])];

    const buckets = cfg.storage.buckets;
    if (!buckets) {
        out.push(job("sync-storage", "sync-storage", s.syncStorage, tz, ["sync-storage"]));
    } else {
        // Group buckets by their effective schedule, in config order; the default schedule keeps the
        // plain name, others are named after their buckets.
        const groups = new Map<string, string[]>();
        for (const b of buckets) {
            const sched = b.schedule ?? s.syncStorage;
            groups.set(sched, [...(groups.get(sched) ?? []), b.name]);
        }
        const used = new Set<string>();
        for (const [sched, names] of groups) {
            let name = sched === s.syncStorage ? "sync-storage" : `sync-storage-${slug(names.join("-"), 38)}`;
            for (let i = 2; used.has(name); i++) name = `${name.slice(0, 46)}-${i}`;
            used.add(name);
            out.push(job("sync-storage", name, sched, tz, ["sync-storage", ...names.flatMap((n) => ["--bucket", n])], names));
        }
    }
    out.push(job("verify", "verify", s.verify, tz, ["verify"]));
    out.push(job("check-supabase", "check-supabase", s.checkSupabase, tz, ["check-supabase"]));
    out.push(job("gc", "gc", s.gc, tz, ["gc"]));
    out.push(...plannedDrills(cfg, (name, schedule, args) => job("drill", name, schedule, tz, args)));
    return out;
}

export interface AlertRule {
    alert: string;
    expr: string;
    for: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
}

const minutes = (seconds: number) => `${Math.max(1, Math.round(seconds / 60))}m`;

function human(seconds: number): string {
    if (seconds % 86400 === 0) return `${seconds / 86400}d`;
    if (seconds % 3600 === 0) return `${seconds / 3600}h`;
    return `${Math.round(seconds / 60)}m`;
}

// Expressions the alerts and the Grafana dashboard (components/dashboard.ts) share, so a panel draws
// exactly the line an alert fires at. `selector` is the inside of a label matcher list.
/** The size below which SupabaseBackupSizeAnomaly fires: `ratio` × the last 7 days' median dump size. */
export function sizeAnomalyFloorExpr(selector: string, ratio: number): string {
    return `${ratio} * quantile_over_time(0.5, ${METRICS.bytes}{${selector}}[7d])`;
}
/** The size above which it fires too: 1/`ratio` × the same median. */
export function sizeAnomalyCeilingExpr(selector: string, ratio: number): string {
    return `${+(1 / ratio).toFixed(4)} * quantile_over_time(0.5, ${METRICS.bytes}{${selector}}[7d])`;
}
/** The RPO now: seconds since the newest complete dump, per env (SupabaseBackupRpoMissed). */
export function rpoAgeExpr(selector: string): string {
    return `time() - max by (${METRIC_LABELS.env}) (${METRICS.lastSuccessTimestamp}{${selector}})`;
}

const CRITICAL_KINDS: JobKind[] = ["dump", "sync-storage", "verify"];

/** Share of failed runs over the rate window above which SupabaseBackupFailureRateHigh fires. */
export const FAILURE_RATIO = 0.25;

/**
 * PrometheusRule alerts, derived from the schedules (docs/architecture.md "Kubernetes"): a job failed
 * twice in a row, verification failed, no complete run within the schedule's period + grace (dead
 * man's switch, and never ran at all), backup size anomaly; plus the RPO target, a degraded secondary
 * copy and Supabase's own backups (check-supabase).
 */
export function alertRules(cfg: StackConfig, jobs: PlannedJob[]): AlertRule[] {
    const env = cfg.env;
    const grace = cfg.alerts.graceMinutes * 60;
    const extra = cfg.alerts.labels ?? {};
    const perKind = new Map<JobKind, number>();
    for (const j of jobs) perKind.set(j.kind, (perKind.get(j.kind) ?? 0) + 1);
    const sel = (kind: JobKind, cronJob?: string) =>
        `${METRIC_LABELS.env}="${env}",${METRIC_LABELS.kind}="${kind}"` + (cronJob ? `,${METRIC_LABELS.cronJob}="${cronJob}"` : "");
    const labels = (severity: string, j?: PlannedJob): Record<string, string> => ({
        severity,
        ...extra,
        env,
        ...(j ? { kind: j.kind, cronjob: j.name } : {}),
    });
    const rules: AlertRule[] = [];

    // Drills have their own alerts (components/drills.ts): failed, late, slower than the RTO target.
    for (const j of jobs.filter((x) => x.kind !== "drill")) {
        const s = sel(j.kind, (perKind.get(j.kind) ?? 0) > 1 ? j.name : undefined);
        const severity = CRITICAL_KINDS.includes(j.kind) ? "critical" : "warning";
        const limit = j.periodSeconds + grace;
        const by = `max by (${METRIC_LABELS.env}, ${METRIC_LABELS.kind})`;
        // Two consecutive failed runs: the jobs' consecutive-failure gauge, or — for jobs that do not
        // push it — the last status stayed "failure" across at least two pushes (the Pushgateway's own
        // push_time_seconds changed) within two periods + grace.
        const window = `${Math.round((2 * j.periodSeconds + grace) / 60)}m`;
        rules.push({
            alert: "SupabaseBackupFailedTwice",
            expr:
                `(${by} (${METRICS.consecutiveFailures}{${s}}) >= 2) or ` +
                `(${by} (max_over_time(${METRICS.lastRunStatus}{${s}}[${window}])) == 0 ` +
                `and on (${METRIC_LABELS.env}, ${METRIC_LABELS.kind}) ${by} (changes(push_time_seconds{${s}}[${window}])) >= 1)`,
            for: "1m",
            labels: labels(severity, j),
            annotations: {
                summary: `${env}: ${j.name} failed twice in a row`,
                description: `CronJob ${cfg.kubernetes.namespace}/${j.name} (${j.schedule} ${j.timeZone}) has failed {{ $value }} runs in a row. Check its pod logs.`,
            },
        });
        // Intermittent failures (every other night) never trip "twice in a row": the failure share of the
        // runs in the last 7 days (4 periods at least), from runs_total, which the jobs carry forward
        // from the gateway so increase() sees every run.
        const rateWindow = human(Math.max(7 * 86400, 4 * j.periodSeconds));
        const runs = (extra: string) => `sum by (${METRIC_LABELS.env}, ${METRIC_LABELS.kind}) (increase(${METRICS.runsTotal}{${s}${extra}}[${rateWindow}]))`;
        rules.push({
            alert: "SupabaseBackupFailureRateHigh",
            expr: `${runs(`,result="failure"`)} / ${runs("")} > ${FAILURE_RATIO}`,
            for: "15m",
            labels: labels("warning", j),
            annotations: {
                summary: `${env}: more than ${FAILURE_RATIO * 100}% of ${j.name} runs failed in the last ${rateWindow}`,
                description: `{{ $value | humanizePercentage }} of the runs of CronJob ${cfg.kubernetes.namespace}/${j.name} failed within ${rateWindow}. Read the failed runs' logs: intermittent failures (network, credentials, timeouts) tend to become permanent.`,
            },
        });
        rules.push({
            alert: "SupabaseBackupNoCompleteRun",
            expr: `time() - ${by} (${METRICS.lastSuccessTimestamp}{${s}}) > ${limit}`,
            for: "5m",
            labels: labels(severity, j),
            annotations: {
                summary: `${env}: no complete ${j.name} run within ${human(j.periodSeconds)} + ${cfg.alerts.graceMinutes}m grace`,
                description: `Schedule ${j.schedule} (${j.timeZone}) fires at least every ${human(j.periodSeconds)}; the newest complete run is older than that plus the grace.`,
            },
        });
        rules.push({
            alert: "SupabaseBackupNeverRan",
            expr: `absent(${METRICS.lastSuccessTimestamp}{${s}})`,
            for: minutes(limit),
            labels: labels(severity, j),
            annotations: {
                summary: `${env}: ${j.name} has not reported a complete run`,
                description: `No ${METRICS.lastSuccessTimestamp} series for ${j.name} for ${human(limit)} (period + grace): the job never succeeded or its metrics do not arrive.`,
            },
        });
    }

    const verify = jobs.find((j) => j.kind === "verify");
    rules.push({
        alert: "SupabaseBackupVerificationFailed",
        expr: `max by (${METRIC_LABELS.env}) (${METRICS.lastRunStatus}{${sel("verify")}}) == 0`,
        for: "1m",
        labels: labels("critical", verify),
        annotations: {
            summary: `${env}: the newest verification failed or could not run`,
            description:
                "Exit 5: the backup is wrong (a check or the canary restore failed; the record under verify/ says which). " +
                "Exit 1: the verifier could not judge (canary, vault or identity problem; no record). Either way the newest backup is not proven to restore.",
        },
    });
    rules.push(tamperingRule(env, sel("verify"), labels("critical", verify)));
    // Both directions: a drop (wrong database, dropped table, truncated dump) and a jump (runaway
    // inserts, a bulk import, an attacker's junk) are worth a look.
    const ratio = cfg.alerts.sizeAnomalyRatio;
    const dumpBytes = `${METRICS.bytes}{${sel("dump")}}`;
    rules.push({
        alert: "SupabaseBackupSizeAnomaly",
        expr: `(${dumpBytes} < ${sizeAnomalyFloorExpr(sel("dump"), ratio)}) or (${dumpBytes} > ${sizeAnomalyCeilingExpr(sel("dump"), ratio)})`,
        for: "5m",
        labels: labels("warning", jobs.find((j) => j.kind === "dump")),
        annotations: {
            summary: `${env}: the newest dump is under ${ratio} × or over ${+(1 / ratio).toFixed(2)} × last week's median`,
            description: "A sudden drop in dump size often means a wrong database, a dropped table or a truncated dump; a sudden jump, runaway writes or a bulk load.",
        },
    });
    rules.push(...capacityRules(cfg, jobs, labels));
    rules.push(...drillAlertRules(cfg, jobs.filter((j) => j.kind === "drill"), labels));
    rules.push(unsafeNamesRule(env, sel("sync-storage"), labels("warning", jobs.find((j) => j.kind === "sync-storage"))));
    rules.push({
        alert: "SupabaseBackupRpoMissed",
        expr: `${rpoAgeExpr(sel("dump"))} > ${Math.round(cfg.alerts.rpoHours * 3600)}`,
        for: "5m",
        labels: labels("critical", jobs.find((j) => j.kind === "dump")),
        annotations: {
            summary: `${env}: newest complete database backup is older than the ${cfg.alerts.rpoHours}h RPO`,
            description: "The recovery point objective is missed: a restore now would lose more data than agreed.",
        },
    });
    if (cfg.azure?.enabled) {
        rules.push({
            alert: "SupabaseBackupSecondaryCopyFailed",
            expr: `max by (${METRIC_LABELS.env}, ${METRIC_LABELS.kind}) (${METRICS.lastRunStatus}{${METRIC_LABELS.env}="${env}"}) == 2`,
            for: "1m",
            labels: labels("warning"),
            annotations: {
                summary: `${env}: the newest {{ $labels.${METRIC_LABELS.kind} }} run is degraded: its Azure archive part failed`,
                description:
                    "dump / sync-storage: the Azure archive copy failed, so the run is only in the S3 vault. gc: its pass over the archive failed, so the archive was not collected (the vault was). Exit code 3 (degraded); the next run retries. The job's log names the Azure error.",
            },
        });
    }
    rules.push({
        alert: "SupabaseOwnBackupStale",
        expr: `max by (${METRIC_LABELS.env}) (${METRICS.supabaseBackupAgeSeconds}{${METRIC_LABELS.env}="${env}"}) > ${Math.round(cfg.supabase.backupMaxAgeHours * 3600)}`,
        for: "10m",
        labels: labels("warning", jobs.find((j) => j.kind === "check-supabase")),
        annotations: {
            summary: `${env}: Supabase's own newest backup is older than ${cfg.supabase.backupMaxAgeHours}h`,
            description: "Supabase's platform backups have stopped; ours still run, but check the project.",
        },
    });
    if (cfg.supabase.pitr.required) {
        rules.push({
            alert: "SupabasePitrOff",
            expr: `max by (${METRIC_LABELS.env}) (${METRICS.supabasePitrOk}{${METRIC_LABELS.env}="${env}"}) == 0`,
            for: "10m",
            labels: labels("critical", jobs.find((j) => j.kind === "check-supabase")),
            annotations: {
                summary: `${env}: Supabase PITR is off or shorter than ${cfg.supabase.pitr.days} days`,
                description: "Config requires point-in-time recovery on this project; the Management API says it is not enabled.",
            },
        });
    }
    return rules;
}

/**
 * Tampering (docs/security.md "Tampering with the vault"): verify found vault objects overwritten after
 * the jobs wrote them, or verification records whose signature is invalid. No `for`: one is enough.
 */
function tamperingRule(env: string, verifySelector: string, labels: Record<string, string>): AlertRule {
    return {
        alert: "SupabaseBackupTampering",
        expr: `max by (${METRIC_LABELS.env}) (${METRICS.tamperedObjects}{${verifySelector}}) > 0`,
        for: "0m",
        labels,
        annotations: {
            summary: `${env}: backup objects were overwritten after they were written, or a verification record is forged`,
            description:
                "Exit 7 of verify: someone with write access to the vault (a stolen writer or verifier credential) wrote a new version over a " +
                "manifest, dump or blob, or a record under verify/ whose signature does not verify. Restores still read the versions the jobs " +
                "wrote; run `supabase-backups status` for the list, rotate the writer's and verifier's credentials, and follow docs/security.md.",
        },
    };
}

/**
 * Capacity (runbooks: "alert before the disk or the Storage quota fills"): growth within 7 days for the
 * database and Storage, and near-quota alerts where the stack file gives the quotas.
 */
function capacityRules(cfg: StackConfig, jobs: PlannedJob[], labels: (severity: string, j?: PlannedJob) => Record<string, string>): AlertRule[] {
    const cap = cfg.alerts.capacity;
    const growth = cap?.weeklyGrowthRatio ?? 0.5;
    const near = cap?.nearRatio ?? 0.8;
    const env = cfg.env;
    const series = [
        { name: "Database", what: "database", metric: METRICS.sourceDatabaseBytes, kind: "dump" as const, quota: cap?.databaseBytes },
        { name: "Storage", what: "Storage", metric: METRICS.sourceStorageBytes, kind: "sync-storage" as const, quota: cap?.storageBytes },
        // the vault's own growth (gc measures the file copies it lists; the dumps' sizes are in bytes{kind=dump})
        { name: "VaultStorage", what: "vault's copy of the Storage files", metric: METRICS.vaultStorageBytes, kind: "gc" as const, quota: undefined },
    ];
    const rules: AlertRule[] = [];
    for (const s of series) {
        const now = `max by (${METRIC_LABELS.env}) (${s.metric}{${METRIC_LABELS.env}="${env}"})`;
        const weekAgo = `max by (${METRIC_LABELS.env}) (max_over_time(${s.metric}{${METRIC_LABELS.env}="${env}"}[1d] offset 7d))`;
        const job = jobs.find((j) => j.kind === s.kind);
        const name = s.name;
        rules.push({
            alert: `SupabaseBackup${name}GrowthFast`,
            expr: `${now} > ${+(1 + growth).toFixed(4)} * ${weekAgo}`,
            for: "1h",
            labels: labels("warning", job),
            annotations: {
                summary: `${env}: the ${s.what} grew by more than ${Math.round(growth * 100)} % in 7 days`,
                description: `Now {{ $value | humanize1024 }}B. Backups, the vault and restore times grow with it: check the cause and the quotas.`,
            },
        });
        if (s.quota === undefined) continue;
        rules.push({
            alert: `SupabaseBackup${name}NearQuota`,
            expr: `${now} > ${Math.floor(near * s.quota)}`,
            for: "1h",
            labels: labels("warning", job),
            annotations: {
                summary: `${env}: the ${s.what} is above ${Math.round(near * 100)} % of its quota (${s.quota} bytes)`,
                description: `Now {{ $value | humanize1024 }}B. Raise the quota (or the disk) before it fills: a full disk stops writes and backups.`,
            },
        });
    }
    return rules;
}

/**
 * sync-storage left objects out because their names could address another object or path
 * (docs/security.md "Hostile object names"): those objects are not in any backup until renamed.
 */
function unsafeNamesRule(env: string, selector: string, labels: Record<string, string>): AlertRule {
    return {
        alert: "SupabaseStorageUnsafeObjectNames",
        expr: `max by (${METRIC_LABELS.env}) (${METRICS.unsafeObjectNames}{${selector}}) > 0`,
        for: "1m",
        labels,
        annotations: {
            summary: `${env}: {{ $value }} Storage object(s) not backed up: their names could address another object or path`,
            description:
                "The newest sync-storage run found object names with '.'/'..' segments, a leading slash, control characters or more than 1024 bytes. " +
                "They are listed under `unsafe` in the run manifest and are not in the backup. Someone who can upload chose them: investigate, then rename or delete the objects.",
        },
    };
}
