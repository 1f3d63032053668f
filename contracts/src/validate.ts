// Config validation: schema (ajv) then the rules a schema cannot say (lock vs expiry, cron syntax, time
// zones). One message per problem, naming the file, the key, what was expected and what was found.
// Secret values are never echoed.
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { TSchema } from "@sinclair/typebox";
import {
    CONFIG_NAMESPACE,
    JobConfigSchema,
    SECRET_NAMES,
    SECRETS,
    secretsFor,
    StackConfigSchema,
    type JobConfig,
    type SecretName,
    type StackConfig,
} from "./config";
import { isValidCron, maxIntervalSeconds } from "./cron";
import { endpointProblem, type SupabaseEndpoint } from "./hosts";
import { activeTiers, shortestTierDays, TIERS } from "./retention";
import { drillIssues } from "./drills";
import { bucketOverrideProblem } from "./bucket-retention";

export interface ConfigIssue {
    /** Where the config came from: a stack file, a job config file. */
    source: string;
    /** Dotted key path, with the namespace for stack config: `supabase-backups:retention.daily`. */
    key: string;
    expected: string;
    found: string;
}

export function formatIssue(i: ConfigIssue): string {
    return `${i.source}: ${i.key}: expected ${i.expected}; found ${i.found}`;
}

export class ConfigError extends Error {
    constructor(readonly issues: ConfigIssue[]) {
        super(
            `invalid configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
                issues.map((i) => `  - ${formatIssue(i)}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false, verbose: true });
addFormats(ajv);
ajv.addFormat("cron", { type: "string", validate: isValidCron });

const compiled = new Map<TSchema, ValidateFunction>();
function validatorFor(schema: TSchema): ValidateFunction {
    let v = compiled.get(schema);
    if (!v) {
        v = ajv.compile(schema);
        compiled.set(schema, v);
    }
    return v;
}

function show(value: unknown): string {
    if (value === undefined) return "nothing";
    const s = JSON.stringify(value);
    return s.length > 80 ? s.slice(0, 77) + "…" : s;
}

function typeName(value: unknown): string {
    if (value === null) return "null";
    if (Array.isArray(value)) return "an array";
    return typeof value === "object" ? "an object" : `${typeof value} ${show(value)}`;
}

function valueAt(root: unknown, pointer: string): unknown {
    if (!pointer) return root;
    let cur: any = root;
    for (const part of pointer.slice(1).split("/")) {
        const k = part.replace(/~1/g, "/").replace(/~0/g, "~");
        if (cur === null || typeof cur !== "object") return undefined;
        cur = cur[k];
    }
    return cur;
}

function dotted(pointer: string): string {
    return pointer
        .slice(1)
        .split("/")
        .filter(Boolean)
        .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
        .join("")
        .replace(/^\./, "");
}

function describeSchema(schema: any): string {
    if (!schema || typeof schema !== "object") return "a valid value";
    const bits: string[] = [];
    if (schema.enum) return `one of ${schema.enum.map((e: unknown) => JSON.stringify(e)).join(", ")}`;
    if (schema.type) bits.push(schema.type === "integer" ? "an integer" : schema.type === "object" ? "an object" : schema.type === "array" ? "an array" : `a ${schema.type}`);
    if (schema.minimum !== undefined) bits.push(`≥ ${schema.minimum}`);
    if (schema.exclusiveMinimum !== undefined) bits.push(`> ${schema.exclusiveMinimum}`);
    if (schema.maximum !== undefined) bits.push(`≤ ${schema.maximum}`);
    if (schema.description) bits.push(`(${schema.description})`);
    return bits.join(" ") || "a valid value";
}

function issuesFromAjv(errors: ErrorObject[], data: unknown, source: string, keyPrefix: string): ConfigIssue[] {
    const out: ConfigIssue[] = [];
    const seen = new Set<string>();
    for (const e of errors) {
        let path = e.instancePath;
        let expected: string;
        let found: string;
        const value = valueAt(data, e.instancePath);
        switch (e.keyword) {
            case "additionalProperties": {
                const extra = (e.params as any).additionalProperty as string;
                path = `${e.instancePath}/${extra}`;
                const known = Object.keys((e.parentSchema as any)?.properties ?? {});
                expected = `no such key (known keys here: ${known.join(", ")})`;
                found = `unknown key "${extra}"`;
                break;
            }
            case "required": {
                const missing = (e.params as any).missingProperty as string;
                path = `${e.instancePath}/${missing}`;
                expected = describeSchema((e.parentSchema as any)?.properties?.[missing]);
                found = "nothing (the key is required)";
                break;
            }
            case "type":
                expected = describeSchema(e.parentSchema);
                found = typeName(value);
                break;
            case "pattern":
            case "format":
                expected = `${e.keyword === "format" ? `a ${(e.params as any).format}` : `a string matching ${(e.params as any).pattern}`}${(e.parentSchema as any)?.description ? ` (${(e.parentSchema as any).description})` : ""}`;
                found = show(value);
                break;
            case "minimum":
            case "maximum":
            case "exclusiveMinimum":
            case "exclusiveMaximum":
            case "enum":
                expected = describeSchema(e.parentSchema);
                found = show(value);
                break;
            case "minItems":
            case "minLength":
            case "maxLength":
                expected = `${e.keyword === "minItems" ? "at least" : e.keyword === "minLength" ? "at least" : "at most"} ${(e.params as any).limit} ${e.keyword === "minItems" ? "item(s)" : "character(s)"}`;
                found = show(value);
                break;
            default:
                expected = e.message ?? "a valid value";
                found = show(value);
        }
        const key = keyPrefix + dotted(path);
        const sig = `${key}|${expected}`;
        if (seen.has(sig)) continue;
        seen.add(sig);
        out.push({ source, key, expected, found });
    }
    return out;
}

/** Rules across keys that JSON Schema cannot express. */
function semanticIssues(cfg: StackConfig, source: string, k: (path: string) => string): ConfigIssue[] {
    const out: ConfigIssue[] = [];
    const r = cfg.retention;
    const shortest = shortestTierDays(r);
    if (r.objectLockMinDays > shortest) {
        out.push({
            source,
            key: k("retention.objectLockMinDays"),
            expected: `at most ${shortest} days: the shortest tier (${activeTiers(r)[0]}) expires then, and Object Lock would keep it longer than its lifecycle allows`,
            found: String(r.objectLockMinDays),
        });
    }
    try {
        new Intl.DateTimeFormat("en-US", { timeZone: cfg.schedules.timeZone });
    } catch {
        out.push({ source, key: k("schedules.timeZone"), expected: "an IANA time zone such as Asia/Manila", found: show(cfg.schedules.timeZone) });
    }
    if (cfg.supabase.pitr.required && cfg.supabase.pitr.days === undefined) {
        out.push({ source, key: k("supabase.pitr.days"), expected: "7, 14 or 28 when pitr.required is true", found: "nothing" });
    }
    const names = new Set<string>();
    (cfg.storage.buckets ?? []).forEach((b, i) => {
        if (names.has(b.name)) out.push({ source, key: k(`storage.buckets[${i}].name`), expected: "a bucket listed once", found: `"${b.name}" again` });
        names.add(b.name);
        for (const t of TIERS) {
            const keep = b.retention?.[t];
            const problem = keep === undefined ? undefined : bucketOverrideProblem(r, t, keep);
            if (problem) out.push({ source, key: k(`storage.buckets[${i}].retention.${t}`), expected: problem, found: `${keep} ${t} for bucket "${b.name}"` });
        }
    });
    if (cfg.storage.mode === "s3" && !cfg.storage.s3Endpoint) {
        out.push({ source, key: k("storage.s3Endpoint"), expected: "the project's Storage S3 endpoint when storage.mode is s3", found: "nothing" });
    }
    out.push(...endpointIssues(cfg, source, k));
    const operators = new Set<string>();
    (cfg.azure?.restoreOperators ?? []).forEach((o, i) => {
        const id = o.objectId.toLowerCase();
        if (operators.has(id)) out.push({ source, key: k(`azure.restoreOperators[${i}].objectId`), expected: "each principal listed once", found: `${o.objectId} again` });
        operators.add(id);
    });
    const logs = cfg.aws.accessLogs;
    if (logs?.enabled && !logs.bucketName && accessLogBucketName(cfg).length > 63) {
        out.push({ source, key: k("aws.accessLogs.bucketName"), expected: "a bucket name (aws.bucketName + \"-access-logs\" is longer than 63 characters)", found: "nothing" });
    }
    if (logs?.enabled && accessLogBucketName(cfg) === cfg.aws.bucketName) {
        out.push({ source, key: k("aws.accessLogs.bucketName"), expected: "a bucket other than the vault", found: show(logs.bucketName) });
    }
    return out;
}

/** The vault's access-log bucket (aws.accessLogs). */
export function accessLogBucketName(cfg: Pick<StackConfig, "aws">): string {
    return cfg.aws.accessLogs?.bucketName ?? `${cfg.aws.bucketName}-access-logs`;
}

/** Secrets go only to Supabase's hosts or the stack's allow-list (contracts/src/hosts.ts). */
function endpointIssues(cfg: StackConfig, source: string, k: (path: string) => string): ConfigIssue[] {
    const endpoints: [SupabaseEndpoint, string, string | undefined][] = [
        ["apiUrl", "supabase.apiUrl", cfg.supabase.apiUrl],
        ["url", "supabase.url", cfg.supabase.url],
        ["s3Endpoint", "storage.s3Endpoint", cfg.storage.s3Endpoint],
    ];
    const out: ConfigIssue[] = [];
    for (const [endpoint, key, url] of endpoints) {
        if (url === undefined) continue;
        const problem = endpointProblem(endpoint, url, cfg.supabase.projectRef, cfg.supabase.allowedHosts ?? []);
        if (problem) {
            out.push({
                source,
                key: k(key),
                expected: `a URL on Supabase's own host or one listed in supabase.allowedHosts, https (it receives a secret): ${problem}`,
                found: show(url),
            });
        }
    }
    return out;
}

/**
 * The RPO alert against the dump schedule (stack files only; a job config may set any target for a
 * one-off `status`). Just before a run lands, the newest complete dump is one schedule gap plus the
 * run's own time old: an RPO at or below the gap is "missed" every night.
 */
function rpoIssues(cfg: StackConfig, source: string, k: (path: string) => string): ConfigIssue[] {
    const { dump, timeZone } = cfg.schedules;
    if (!isValidCron(dump)) return [];
    let gapHours: number;
    try {
        gapHours = maxIntervalSeconds(dump, timeZone) / 3600;
    } catch {
        return []; // a bad time zone is reported by semanticIssues
    }
    if (cfg.alerts.rpoHours > gapHours) return [];
    return [
        {
            source,
            key: k("alerts.rpoHours"),
            expected: `more than ${+gapHours.toFixed(2)} h, the longest gap of schedules.dump "${dump}": just before the next dump lands the newest one is that old plus its run time, so the RPO would be missed every night (allow for the dump's run time, or dump more often)`,
            found: String(cfg.alerts.rpoHours),
        },
    ];
}

export type ValidationResult<T> = { ok: true; config: T; issues: [] } | { ok: false; issues: ConfigIssue[] };

export interface StackValidationInput {
    /** The stack file, for messages: `Pulumi.prod.yaml`. */
    source: string;
    /** Values under the `supabase-backups:` namespace, keyed without it; objects already parsed. */
    values: Record<string, unknown>;
    /** Keys (without namespace) whose values are Pulumi secrets. */
    secretKeys: Set<string>;
}

export interface ValidatedStack {
    config: StackConfig;
    secrets: Partial<Record<SecretName, string>>;
}

/**
 * Validate a stack's config before any resource is declared. Secrets must be Pulumi secrets (`pulumi
 * config set --secret`); plain text is an error and its value is not repeated in the message.
 */
export function validateStackConfig(input: StackValidationInput): ValidationResult<ValidatedStack> {
    const { source, values, secretKeys } = input;
    const k = (p: string) => `${CONFIG_NAMESPACE}:${p}`;
    const issues: ConfigIssue[] = [];
    const plain: Record<string, unknown> = {};
    const secrets: Partial<Record<SecretName, string>> = {};
    for (const [key, value] of Object.entries(values)) {
        if ((SECRET_NAMES as string[]).includes(key)) {
            if (!secretKeys.has(key)) {
                issues.push({
                    source,
                    key: k(key),
                    expected: `a secret (pulumi config set --secret ${k(key)} …)`,
                    found: "plain text (value not shown)",
                });
            } else if (typeof value !== "string" || value.length === 0) {
                issues.push({ source, key: k(key), expected: "a non-empty secret string", found: typeof value });
            } else {
                secrets[key as SecretName] = value;
            }
        } else {
            plain[key] = value;
        }
    }
    for (const name of SECRET_NAMES) {
        if (SECRETS[name].required && !(name in values)) {
            issues.push({
                source,
                key: k(name),
                expected: `a secret: ${SECRETS[name].description} (pulumi config set --secret ${k(name)} …)`,
                found: "nothing",
            });
        }
    }
    const data = structuredClone(plain);
    const validate = validatorFor(StackConfigSchema);
    if (!validate(data)) {
        // Unknown top-level keys are reported with the secret names as known keys too.
        issues.push(
            ...issuesFromAjv(validate.errors ?? [], data, source, `${CONFIG_NAMESPACE}:`).map((i) =>
                i.found.startsWith("unknown key") && i.key.split(".").length === 1
                    ? { ...i, expected: `no such key (known keys: ${[...Object.keys(StackConfigSchema.properties), ...SECRET_NAMES].join(", ")})` }
                    : i,
            ),
        );
    } else {
        issues.push(...semanticIssues(data as StackConfig, source, k));
        // The drills' cross-key rules are the stack file's (a job config may narrow verify.tables for a
        // one-off run; the drill itself refuses a table whose row count the run does not record).
        issues.push(...drillIssues(data as StackConfig, secrets.databaseUrl).map((i) => ({ source, key: k(i.key), expected: i.expected, found: i.found })));
        const cfg = data as StackConfig;
        issues.push(...rpoIssues(cfg, source, k));
        // The optional secrets this config needs (the required ones are checked above).
        for (const name of secretsFor(cfg).filter((n) => !SECRETS[n].required && !(n in values))) {
            const expected =
                name === "ageIdentity"
                    ? "a secret age identity matching encryption.ageRecipient, so verify can decrypt"
                    : `a secret: ${SECRETS[name].description} (pulumi config set --secret ${k(name)} …)`;
            issues.push({ source, key: k(name), expected, found: "nothing" });
        }
    }
    if (issues.length) return { ok: false, issues };
    return { ok: true, config: { config: data as StackConfig, secrets }, issues: [] };
}

/** Validate a job config (the ConfigMap the CronJobs mount, or `--config FILE`). */
export function validateJobConfig(raw: unknown, source: string): ValidationResult<JobConfig> {
    const data = structuredClone(raw);
    const validate = validatorFor(JobConfigSchema);
    if (!validate(data)) return { ok: false, issues: issuesFromAjv(validate.errors ?? [], data, source, "") };
    const issues = semanticIssues(data as JobConfig, source, (p) => p);
    if (issues.length) return { ok: false, issues };
    return { ok: true, config: data as JobConfig, issues: [] };
}

/** Throwing form for callers that want an exception (the jobs). */
export function parseJobConfig(raw: unknown, source: string): JobConfig {
    const r = validateJobConfig(raw, source);
    if (!r.ok) throw new ConfigError(r.issues);
    return r.config;
}

/** Validate any contract schema (manifests, records) and throw with every problem listed. */
export function assertSchema<T>(schema: TSchema, value: unknown, what: string): T {
    const validate = validatorFor(schema);
    if (!validate(value)) throw new ConfigError(issuesFromAjv(validate.errors ?? [], value, what, ""));
    return value as T;
}
