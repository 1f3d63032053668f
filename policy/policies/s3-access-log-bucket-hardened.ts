// Policy (validateStack): where aws.accessLogs is on, the vault's S3 server access logs land in the
// stack's own log bucket (components/access-logs.ts), recognised by its configured name, and that bucket
// is held to its own rules instead of the vault's: S3 log delivery needs SSE-S3 and no default Object
// Lock retention (both would make delivery fail, leaving the monthly access audit with nothing), so
// those vault rules do not apply; what does: every public access blocked, versioning on, Object Lock
// enabled (versioning can never be suspended), a lifecycle that keeps logs at least retentionDays, and a
// bucket policy that denies non-TLS access, every delete, and every write but S3's log delivery, keeps
// its configuration with the deployers, and allows only the logging service, only for the vault.
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import { BUCKET_CONFIG_ACTIONS } from "../lib/identities";
import { accessLogBucketName } from "@supabase-backups/contracts";
import { type BackupPolicy, asArray, parseDocument, PolicyConfigError, readPolicyConfig, show, T } from "../lib/common";
import { companionsOf, isBucket, lifecycleRulesOf, lockOf, safe, sseRulesOf, versioningOf } from "../lib/bucket-state";
import { expandDocument, type Statement } from "../lib/iam-catalog";
import { type RequiredDeny, requireDeny } from "../lib/resource-policy";

export interface AccessLogConfig {
    /** aws.accessLogs.enabled: the stack must declare the log bucket and the vault's logging into it */
    required: boolean;
    /** the log bucket (aws.accessLogs.bucketName, default <aws.bucketName>-access-logs) */
    bucketName?: string;
    /** the vault bucket whose requests are logged */
    sourceBucketName?: string;
    accountId?: string;
    deployerArns?: string[];
    retentionDays?: number;
}

const REQUIRED_WITH = ["bucketName", "sourceBucketName", "accountId", "deployerArns", "retentionDays"] as const;
export const LOG_DELIVERY = "logging.s3.amazonaws.com";
const LOGGING_TYPES = ["aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2"];

const lower = (vs: string[]) => vs.map((v) => v.toLowerCase());
const tls = (op: string, key: string, values: string[]) => /^Bool(IfExists)?$/.test(op) && key.toLowerCase() === "aws:securetransport" && lower(values).every((v) => v === "false");
const notLogDelivery = (op: string, key: string, values: string[]) => /^StringNotEquals(IfExists)?$/.test(op) && key.toLowerCase() === "aws:principalservicename" && values.length > 0 && values.every((v) => v === LOG_DELIVERY);

/** The log bucket's protective denies (components/access-logs.ts accessLogBucketPolicy). */
export function requiredLogDenies(c: Required<AccessLogConfig>): RequiredDeny[] {
    const b = `arn:aws:s3:::${c.bucketName}`;
    const log = `${b}/s3-access/${c.accountId}/region/${c.sourceBucketName}/2026/01/01/2026-01-01-00-00-00-0123456789ABCDEF`;
    return [
        { sid: "DenyInsecureTransport", what: "TLS only", actions: ["s3:*"], arns: [b, log], exempt: [], protective: tls, needsProtectiveCondition: true },
        { sid: "DenyDeletes", what: "no log version deleted, by anyone (lifecycle expiry is S3's own)", actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"], arns: [log], exempt: [] },
        {
            sid: "DenyWritesExceptLogDelivery",
            what: `no write but by S3 log delivery (StringNotEqualsIfExists aws:PrincipalServiceName ${LOG_DELIVERY})`,
            actions: ["s3:PutObject"],
            arns: [log],
            exempt: [],
            protective: notLogDelivery,
            needsProtectiveCondition: true,
        },
        { sid: "DenyConfigChangesExceptDeployers", what: "no configuration change but by the deployers", actions: [...BUCKET_CONFIG_ACTIONS], arns: [b], exempt: [...c.deployerArns] },
    ];
}

function conditionValues(s: Statement, ops: RegExp, key: string): string[] | undefined {
    for (const [op, body] of Object.entries(s.condition ?? {})) {
        if (!ops.test(op)) continue;
        for (const [k, v] of Object.entries(body ?? {})) if (k.toLowerCase() === key) return asArray<any>(v).map(String);
    }
    return undefined;
}

/** Allows: only S3 log delivery, only PutObject, only for the vault (aws:SourceArn) of this account. */
function allowProblems(statements: Statement[], c: Required<AccessLogConfig>): string[] {
    const out: string[] = [];
    const vault = `arn:aws:s3:::${c.sourceBucketName}`;
    for (const s of statements) {
        if (s.effect !== "Allow") continue;
        const label = `statement ${show(s.sid ?? "(no Sid)")}`;
        const p = s.principal as any;
        const services = p && typeof p === "object" ? asArray<string>(p.Service) : [];
        const others = s.raw?.NotPrincipal !== undefined || typeof p === "string" || !p || Object.keys(p).some((k) => k !== "Service") || services.some((x) => x !== LOG_DELIVERY);
        if (others) {
            out.push(`${label} allows ${show(s.raw?.NotPrincipal !== undefined ? { NotPrincipal: s.raw.NotPrincipal } : p)}: only S3 log delivery (Service ${LOG_DELIVERY}) may be allowed into the log bucket`);
            continue;
        }
        const extra = [...s.actions].filter((a) => a !== "s3:putobject");
        if (extra.length) out.push(`${label} allows S3 log delivery ${extra.slice(0, 4).join(", ")}${extra.length > 4 ? ", …" : ""}: it needs s3:PutObject only`);
        const source = conditionValues(s, /^Arn(Like|Equals)$/, "aws:sourcearn");
        if (!source || source.length !== 1 || source[0] !== vault) out.push(`${label} accepts log delivery from ${show(source ?? "any bucket")}: only the vault (aws:SourceArn ${vault}) may log here`);
        const account = conditionValues(s, /^StringEquals$/, "aws:sourceaccount");
        if (account && (account.length !== 1 || account[0] !== c.accountId)) out.push(`${label} accepts log delivery for account ${show(account)}, not ${c.accountId}`);
    }
    return out;
}

async function policyProblems(doc: unknown, c: Required<AccessLogConfig>): Promise<string[]> {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`the log bucket's policy is ${parsed.error}`];
    const { statements } = await expandDocument(parsed.doc);
    const out: string[] = [];
    for (const req of requiredLogDenies(c)) {
        const m = await requireDeny(statements, req);
        if (m) out.push(m);
    }
    return [...out, ...allowProblems(statements, c)];
}

/** The bucket's settings that S3 log delivery and the audit depend on. */
function settingProblems(bucket: PolicyResource, comps: Map<string, PolicyResource[]>, c: Required<AccessLogConfig>): string[] {
    const out: string[] = [];
    const one = (t: string) => (comps.get(t) ?? [])[0];
    if (safe(() => bucket.props.objectLockEnabled) !== true && lockOf(bucket.type, bucket.props)?.objectLockEnabled !== "Enabled") {
        out.push("Object Lock is not enabled: without it versioning could be suspended and an investigator could not put a legal hold on a log");
    }
    const lock = one(T.objectLock);
    const retention = lock ? lockOf(lock.type, lock.props)?.rule?.defaultRetention : undefined;
    if (retention) out.push(`a default Object Lock retention (${show(retention)}): S3 server access log delivery refuses such a bucket, so no log would arrive`);
    const pab = one(T.publicAccessBlock)?.props as any;
    const flags = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
    if (!pab) out.push("no BucketPublicAccessBlock: public access is not blocked");
    else for (const f of flags) if (pab[f] !== true) out.push(`public access block: ${f} is ${show(pab[f])}, expected true`);
    const v = one(T.versioning);
    const status = v ? versioningOf(v.type, v.props)?.status : undefined;
    if (status !== "Enabled") out.push(`versioning is ${show(status)}, expected "Enabled"`);
    const sse = one(T.sse);
    const algos = sse ? (sseRulesOf(sse.type, sse.props) ?? []).map((r) => r.applyServerSideEncryptionByDefault?.sseAlgorithm) : [];
    if (!algos.length || algos.some((a) => a !== "AES256")) out.push(`default encryption is ${show(algos.length ? algos : "unset")}: S3 server access log delivery takes SSE-S3 (AES256) only`);
    const lc = one(T.lifecycle);
    for (const r of lc ? (lifecycleRulesOf(lc.type, lc.props) ?? []) : []) {
        if (r.status === "Disabled") continue;
        const days = r.expiration?.days;
        if (r.expiration?.date) out.push(`lifecycle rule ${show(r.id)} expires logs on a date (${r.expiration.date}), not after ${c.retentionDays} days`);
        else if (typeof days === "number" && days < c.retentionDays) out.push(`lifecycle rule ${show(r.id)} expires logs after ${days} days, fewer than aws.accessLogs.retentionDays (${c.retentionDays})`);
    }
    if (!comps.get(T.bucketPolicy)?.length) out.push("no bucket policy: anyone in the account with s3:* could delete or forge logs");
    return out;
}

export async function accessLogProblems(args: Pick<StackValidationArgs, "resources">, c: AccessLogConfig): Promise<{ message: string; urn?: string }[]> {
    if (!c.required) return [];
    const cfg = c as Required<AccessLogConfig>;
    const rs = args.resources;
    const out: { message: string; urn?: string }[] = [];
    const label = `access-log bucket ${show(cfg.bucketName)}`;
    const buckets = rs.filter((r) => isBucket(r.type) && safe(() => r.props.bucket) === cfg.bucketName);
    if (buckets.length !== 1) return [{ message: `aws.accessLogs is on, but the stack declares ${buckets.length} buckets named ${show(cfg.bucketName)} (expected one: the vault's log bucket)` }];
    const bucket = buckets[0];
    const comps = companionsOf(bucket, rs);
    for (const m of settingProblems(bucket, comps, cfg)) out.push({ urn: bucket.urn, message: `${label}: ${m}` });
    for (const p of comps.get(T.bucketPolicy) ?? []) {
        const doc = p === bucket ? safe(() => bucket.props.policy) : safe(() => p.props.policy);
        for (const m of await policyProblems(doc, cfg)) out.push({ urn: p.urn, message: `${label}: ${m}` });
    }
    // The vault must actually log there: a BucketLogging on the vault (or the Bucket's inline logging).
    const vault = rs.find((r) => isBucket(r.type) && safe(() => r.props.bucket) === cfg.sourceBucketName);
    const vaultIds = new Set([cfg.sourceBucketName, safe(() => vault?.props.id)].filter((x) => typeof x === "string"));
    const logIds = new Set([cfg.bucketName, safe(() => bucket.props.id)].filter((x) => typeof x === "string"));
    const onVault = (r: PolicyResource) => vaultIds.has(safe(() => r.props.bucket)) || (r.propertyDependencies?.bucket ?? []).some((d) => d.urn === vault?.urn);
    const intoLogs = (r: PolicyResource) => logIds.has(safe(() => r.props.targetBucket)) || (r.propertyDependencies?.targetBucket ?? []).some((d) => d.urn === bucket.urn);
    const loggings = rs.filter((r) => LOGGING_TYPES.includes(r.type) && onVault(r));
    const inline = safe(() => vault?.props.logging);
    const targets = [...loggings.map((r) => ({ r, into: intoLogs(r), to: safe(() => r.props.targetBucket) })), ...(inline ? [{ r: vault!, into: logIds.has(inline.targetBucket), to: inline.targetBucket }] : [])];
    if (!targets.length) out.push({ urn: vault?.urn, message: `the vault ${show(cfg.sourceBucketName)} has no server access logging (aws:s3/bucketLogging:BucketLogging): nothing reaches ${label}` });
    for (const t of targets) if (!t.into) out.push({ urn: t.r.urn, message: `the vault ${show(cfg.sourceBucketName)} logs to ${show(t.to)}, not to ${label}` });
    if (targets.length > 1) out.push({ urn: vault?.urn, message: `the vault has ${targets.length} logging configurations; they would overwrite each other` });
    return out;
}

export const accessLogPolicy: BackupPolicy = {
    name: "s3-access-log-bucket-hardened",
    description:
        "Where aws.accessLogs is on, the vault logs into the stack's own log bucket, which keeps its own rules (not the vault's): SSE-S3 and no default lock as S3 log delivery " +
        "requires, public access blocked, versioning and Object Lock on, logs kept at least retentionDays, TLS only, no delete by anyone, no write but S3 log delivery for the vault, " +
        "configuration by the deployers only.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Declare the log bucket through AccessLogBucket (components/access-logs.ts, from aws.accessLogs): Bucket with objectLockEnabled, BucketPublicAccessBlock all true, " +
        "BucketVersioning Enabled, SSE AES256, no BucketObjectLockConfiguration, a lifecycle expiring no earlier than retentionDays, the policy of accessLogBucketPolicy, and " +
        "BucketLogging from the vault into it.",
    configSchema: {
        properties: {
            required: { type: "boolean", default: false },
            bucketName: { type: "string", pattern: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" },
            sourceBucketName: { type: "string", minLength: 3 },
            accountId: { type: "string", pattern: "^\\d{12}$" },
            deployerArns: { type: "array", minItems: 1, items: { type: "string", pattern: "^arn:aws:(iam|sts)::\\d{12}:[^*?\\s]+$" } },
            retentionDays: { type: "integer", minimum: 1 },
        },
    },
    configFromStack: (cfg) => {
        const logs = cfg.aws.accessLogs;
        if (!logs?.enabled) return { required: false };
        return {
            required: true,
            bucketName: accessLogBucketName(cfg),
            sourceBucketName: cfg.aws.bucketName,
            accountId: cfg.aws.accountId,
            deployerArns: [...cfg.aws.deployerArns],
            retentionDays: logs.retentionDays,
        };
    },
    validateStack: async (args, report) => {
        const cfg = readPolicyConfig<AccessLogConfig>(accessLogPolicy, args);
        const missing = REQUIRED_WITH.filter((k) => cfg.required && cfg[k] === undefined);
        if (missing.length) throw new PolicyConfigError(accessLogPolicy.name, missing.map((k) => `required is true, so ${k} must be set`));
        for (const p of await accessLogProblems(args, cfg)) report(p.message, p.urn);
    },
};
