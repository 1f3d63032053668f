// Policy 10: the backup CronJobs (and any Job the program declares) run hardened, never overlap, cannot
// hang forever, keep secrets in Secrets, and run often enough for the environment's RPO.
import { JOB_ENV, SECRETS, maxIntervalSeconds } from "@supabase-backups/contracts";
import { type BackupPolicy, asArray, isSet, readPolicyConfig, show, T } from "../lib/common";
import { isKind, jobKindOf } from "../lib/job-kinds";

export interface CronJobConfig {
    /** alerts.rpoHours of the stack */
    rpoHours: number;
    /** job kinds (CronJob name or app.kubernetes.io/component) whose schedule must meet the RPO */
    rpoKinds: string[];
    /** storage.buckets[].schedule: a bucket synced on its own schedule must run at least that often */
    bucketSchedules: Record<string, string>;
    minStartingDeadlineSeconds: number;
}

/** Env var names that always hold a secret, from the contracts, plus the usual suspects. */
const SECRET_ENV_NAMES = new Set<string>([...Object.values(SECRETS).map((s) => s.env), JOB_ENV.azureConnectionString, JOB_ENV.canaryDatabaseUrl]);
const SECRET_NAME_RE = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|SERVICE_ROLE|CONNECTION_STRING|CREDENTIAL|(^|_)IDENTITY$|DATABASE_URL|DSN$)/i;
const CREDENTIAL_URL_RE = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^@\s/]+@/i;
const CREDENTIAL_KV_RE = /(AccountKey|SharedAccessSignature|password|pwd)=/i;

/** Names that hold a URL: a literal is fine unless it carries credentials (e.g. a local, password-less sidecar). */
const URL_NAME_RE = /(_URL|_URI|DSN)$/i;

export function literalSecretProblem(env: any): string | undefined {
    if (!env || typeof env !== "object" || !isSet(env.value) || env.value === "") return undefined;
    const name = String(env.name ?? "");
    const value = String(env.value);
    if (CREDENTIAL_URL_RE.test(value)) return `env ${name} holds a URL with credentials as a literal value`;
    if (CREDENTIAL_KV_RE.test(value)) return `env ${name} holds a connection string with a key or password as a literal value`;
    if (URL_NAME_RE.test(name)) return undefined;
    if (SECRET_ENV_NAMES.has(name) || SECRET_NAME_RE.test(name)) return `env ${name} is a secret given as a literal value`;
    return undefined;
}

function podSpecProblems(spec: any, where: string): string[] {
    const out: string[] = [];
    if (!spec || typeof spec !== "object") return [`${where}: no pod spec`];
    const podSc = spec.securityContext ?? {};
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push(`${where}: uses the host's network/PID/IPC namespace`);
    const containers = [
        ...asArray<any>(spec.initContainers).map((c) => ({ c, kind: "init container" })),
        ...asArray<any>(spec.containers).map((c) => ({ c, kind: "container" })),
    ];
    if (!asArray(spec.containers).length) out.push(`${where}: no containers`);
    for (const { c, kind } of containers) {
        const at = `${where} ${kind} ${show(c?.name)}`;
        const sc = c?.securityContext ?? {};
        const nonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
        const uid = sc.runAsUser ?? podSc.runAsUser;
        if (nonRoot !== true) out.push(`${at}: runAsNonRoot is ${show(nonRoot)}, expected true`);
        if (uid === 0) out.push(`${at}: runAsUser is 0 (root)`);
        if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem is ${show(sc.readOnlyRootFilesystem)}, expected true (use an emptyDir for scratch)`);
        if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is ${show(sc.allowPrivilegeEscalation)}, expected false`);
        if (sc.privileged === true) out.push(`${at}: privileged`);
        const limits = c?.resources?.limits ?? {};
        const missing = ["cpu", "memory"].filter((r) => !isSet(limits[r]));
        if (missing.length) out.push(`${at}: no resource limit for ${missing.join(" and ")}`);
        for (const e of asArray<any>(c?.env)) {
            const p = literalSecretProblem(e);
            if (p) out.push(`${at}: ${p}; use valueFrom.secretKeyRef`);
            if (e?.valueFrom?.configMapKeyRef && (SECRET_ENV_NAMES.has(e.name) || SECRET_NAME_RE.test(String(e.name)))) {
                out.push(`${at}: env ${e.name} reads a secret from a ConfigMap; use valueFrom.secretKeyRef`);
            }
        }
    }
    return out;
}

function bucketOf(meta: any, buckets: string[]): string | undefined {
    const label = meta?.labels?.["supabase-backups/bucket"] ?? meta?.annotations?.["supabase-backups/bucket"];
    if (typeof label === "string") return label;
    const name = String(meta?.name ?? "");
    return buckets.find((b) => name.endsWith(`-${b}`));
}

const periodCache = new Map<string, number>();
/** maxIntervalSeconds walks a year of firings; a preview asks for the same few schedules many times. */
export function schedulePeriodSeconds(expr: string, timeZone: string): number {
    const key = `${timeZone}|${expr}`;
    let v = periodCache.get(key);
    if (v === undefined) {
        v = maxIntervalSeconds(expr, timeZone);
        periodCache.set(key, v);
    }
    return v;
}

function hours(seconds: number): string {
    return seconds % 3600 === 0 ? `${seconds / 3600} h` : `${(seconds / 3600).toFixed(1)} h`;
}

export function cronJobProblems(props: any, name: string, cfg: CronJobConfig): string[] {
    const out: string[] = [];
    const spec = props?.spec ?? {};
    if (spec.concurrencyPolicy !== "Forbid") out.push(`concurrencyPolicy is ${show(spec.concurrencyPolicy)}, expected "Forbid" (two dumps at once double the load and race the hash chain)`);
    if (!isSet(spec.startingDeadlineSeconds) || spec.startingDeadlineSeconds < cfg.minStartingDeadlineSeconds) {
        out.push(`startingDeadlineSeconds is ${show(spec.startingDeadlineSeconds)}, expected at least ${cfg.minStartingDeadlineSeconds} (a controller hiccup must not skip a run)`);
    }
    const jobSpec = spec.jobTemplate?.spec ?? {};
    if (!isSet(jobSpec.activeDeadlineSeconds) || !(jobSpec.activeDeadlineSeconds > 0)) out.push(`jobTemplate.spec.activeDeadlineSeconds is ${show(jobSpec.activeDeadlineSeconds)}: a hung job would block every later run (Forbid)`);
    out.push(...podSpecProblems(jobSpec.template?.spec, "pod"));

    const kind = jobKindOf(props?.metadata);
    const buckets = Object.keys(cfg.bucketSchedules ?? {});
    const bucket = bucketOf(props?.metadata, buckets);
    const expr = spec.schedule;
    const tz = spec.timeZone ?? "Etc/UTC";
    const checkRpo = cfg.rpoKinds.some((k) => isKind(kind, k));
    if (checkRpo && typeof expr === "string") {
        let period: number | undefined;
        try {
            period = schedulePeriodSeconds(expr, tz);
        } catch (e: any) {
            out.push(`schedule ${show(expr)} in ${tz} cannot be parsed: ${e.message}`);
        }
        if (period !== undefined) {
            const own = bucket !== undefined ? cfg.bucketSchedules[bucket] : undefined;
            const limit = own !== undefined ? schedulePeriodSeconds(own, tz) : cfg.rpoHours * 3600;
            const source = own !== undefined ? `storage.buckets "${bucket}" schedule ${show(own)}` : `alerts.rpoHours ${cfg.rpoHours}`;
            if (period > limit) out.push(`schedule ${show(expr)} (${tz}) leaves up to ${hours(period)} between runs, more than ${hours(limit)} (${source})`);
        }
    }
    return out;
}

export const cronJobPolicy: BackupPolicy = {
    name: "k8s-cronjob-hardened",
    description:
        "Backup CronJobs forbid concurrency, have startingDeadlineSeconds ≥ 60 and an activeDeadlineSeconds, set resource limits, run as non-root " +
        "with a read-only root filesystem and no privilege escalation, take secrets only through secretKeyRef, and run often enough for the RPO.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "In BackupSchedule set concurrencyPolicy \"Forbid\", startingDeadlineSeconds ≥ 60 (minutes, not seconds), jobTemplate.spec.activeDeadlineSeconds, " +
        "per container resources.limits (cpu, memory), securityContext { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }, " +
        "and env from valueFrom.secretKeyRef for every secret. Keep dump and sync-storage schedules within alerts.rpoHours.",
    configSchema: {
        properties: {
            rpoHours: { type: "number", exclusiveMinimum: 0, description: "alerts.rpoHours of the stack" },
            rpoKinds: { type: "array", items: { type: "string", minLength: 1 }, default: ["dump", "sync-storage"] },
            bucketSchedules: { type: "object", additionalProperties: { type: "string", minLength: 9 }, default: {} },
            minStartingDeadlineSeconds: { type: "integer", minimum: 60, default: 60 },
        },
        required: ["rpoHours"],
    },
    configFromStack: (cfg) => ({
        rpoHours: cfg.alerts.rpoHours,
        bucketSchedules: Object.fromEntries((cfg.storage.buckets ?? []).filter((b) => b.schedule).map((b) => [b.name, b.schedule as string])),
    }),
    validateResource: (args, report) => {
        if (args.type === T.cronJob) {
            const cfg = readPolicyConfig<CronJobConfig>(cronJobPolicy, args);
            for (const m of cronJobProblems(args.props, args.name, cfg)) report(m);
        } else if (args.type === T.job) {
            const spec = (args.props as any)?.spec ?? {};
            if (!isSet(spec.activeDeadlineSeconds) || !(spec.activeDeadlineSeconds > 0)) report(`spec.activeDeadlineSeconds is ${show(spec.activeDeadlineSeconds)}: a hung job would run forever`);
            for (const m of podSpecProblems(spec.template?.spec, "pod")) report(m);
        }
    },
};
