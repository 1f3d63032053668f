// The floors a pull request must not lower on its own: the retention periods, the Object Lock minimum,
// the KMS deletion window, the RPO, the secondary archive and the sets of principals that are exempt
// from the vault's denies (deployers) or may read it (restore operators). The gate (scripts/policy.ts
// --base-ref) reads them from the base branch's stack file and from the pull request's, and fails on
// any lowering that policy/exceptions.yaml does not cover with an entry the same pull request adds.
// Not a policy: the CrossGuard engine only ever sees one side of a change.
import { load } from "js-yaml";
import { bucketRetention, TIERS, type StackConfig } from "@supabase-backups/contracts";

export interface Floors {
    "retention.daily": number;
    "retention.weekly": number;
    "retention.monthly": number;
    "retention.yearly": number;
    "retention.objectLockMinDays": number;
    "aws.kms.deletionWindowDays": number;
    "alerts.rpoHours": number;
    "azure.enabled": boolean;
    "aws.deployerArns": string[];
    "aws.restoreOperatorArns": string[];
    /** per bucket with an override (storage.buckets[].retention), `<bucket>.<tier>` → periods it keeps */
    "storage.buckets.retention": Record<string, number>;
}

export type FloorName = keyof Floors;

export function floorsOf(cfg: StackConfig): Floors {
    const r = cfg.retention;
    return {
        "retention.daily": r.daily,
        "retention.weekly": r.weekly ?? 0,
        "retention.monthly": r.monthly ?? 0,
        "retention.yearly": r.yearly ?? 0,
        "retention.objectLockMinDays": r.objectLockMinDays,
        "aws.kms.deletionWindowDays": cfg.aws.kms.deletionWindowDays,
        "alerts.rpoHours": cfg.alerts.rpoHours,
        "azure.enabled": cfg.azure?.enabled === true,
        "aws.deployerArns": [...cfg.aws.deployerArns].sort(),
        "aws.restoreOperatorArns": [...(cfg.aws.restoreOperatorArns ?? [])].sort(),
        "storage.buckets.retention": bucketRetentionFloors(cfg),
    };
}

function bucketRetentionFloors(cfg: StackConfig): Record<string, number> {
    const out: Record<string, number> = {};
    for (const b of cfg.storage.buckets ?? []) {
        if (!b.retention) continue;
        const kept = bucketRetention(cfg.retention, b.retention);
        for (const t of TIERS) out[`${b.name}.${t}`] = kept[t] ?? 0;
    }
    return out;
}

export interface Lowering {
    floor: FloorName;
    base: unknown;
    pr: unknown;
    why: string;
}

/** A principal pattern that matches more than one principal: IAM globs in an ARN condition. */
export function isWildcardArn(arn: string): boolean {
    return /[*?]/.test(arn);
}

/**
 * A bucket's longer retention is lowered when the pull request keeps fewer periods of that tier for the
 * bucket: its override lowered, or removed (the bucket falls back to the environment's count).
 */
function bucketRetentionLowering(base: Floors, pr: Floors): Lowering | undefined {
    const before = base["storage.buckets.retention"] ?? {};
    const after = pr["storage.buckets.retention"] ?? {};
    const kept = (k: string) => after[k] ?? (pr[`retention.${k.slice(k.lastIndexOf(".") + 1)}` as FloorName] as number);
    const lowered = Object.keys(before).filter((k) => kept(k) < before[k]);
    if (!lowered.length) return undefined;
    return { floor: "storage.buckets.retention", base: before, pr: after, why: `per-bucket retention goes down: ${lowered.map((k) => `${k} from ${before[k]} to ${kept(k)}`).join(", ")}` };
}

/** Every floor the pull request lowers, compared with the base branch. Raising is always fine. */
export function lowerings(base: Floors, pr: Floors): Lowering[] {
    const out: Lowering[] = [];
    const shorter = (k: FloorName, what: string) => {
        if ((pr[k] as number) < (base[k] as number)) out.push({ floor: k, base: base[k], pr: pr[k], why: `${what} goes down from ${base[k]} to ${pr[k]}` });
    };
    shorter("retention.daily", "daily retention (periods)");
    shorter("retention.weekly", "weekly retention (periods)");
    shorter("retention.monthly", "monthly retention (periods)");
    shorter("retention.yearly", "yearly retention (periods)");
    shorter("retention.objectLockMinDays", "the Object Lock minimum (days)");
    shorter("aws.kms.deletionWindowDays", "the KMS key deletion window (days)");
    if (pr["alerts.rpoHours"] > base["alerts.rpoHours"]) {
        out.push({ floor: "alerts.rpoHours", base: base["alerts.rpoHours"], pr: pr["alerts.rpoHours"], why: `the RPO grows from ${base["alerts.rpoHours"]} h to ${pr["alerts.rpoHours"]} h` });
    }
    const bucketLowered = bucketRetentionLowering(base, pr);
    if (bucketLowered) out.push(bucketLowered);
    if (base["azure.enabled"] && !pr["azure.enabled"]) out.push({ floor: "azure.enabled", base: true, pr: false, why: "the secondary archive in Azure is switched off" });
    // More principals exempt from the config/key-destruction denies, or able to restore, is weaker.
    for (const k of ["aws.deployerArns", "aws.restoreOperatorArns"] as const) {
        const added = pr[k].filter((a) => !base[k].includes(a));
        const wild = pr[k].filter(isWildcardArn);
        if (added.length || wild.length) {
            out.push({ floor: k, base: base[k], pr: pr[k], why: `${k} gains ${[...new Set([...added, ...wild])].join(", ")}${wild.length ? " (a wildcard exempts every principal it matches)" : ""}` });
        }
    }
    return out;
}

/** One reviewed exception: a named owner, why, until when, for which stack and floor. */
export interface FloorException {
    stack: string;
    floor: FloorName;
    /** the value the exception allows (absent: any lowering of that floor) */
    value?: unknown;
    owner: string;
    reason: string;
    /** YYYY-MM-DD, inclusive */
    expires: string;
}

const FLOOR_NAMES: FloorName[] = [
    "retention.daily",
    "retention.weekly",
    "retention.monthly",
    "retention.yearly",
    "retention.objectLockMinDays",
    "aws.kms.deletionWindowDays",
    "alerts.rpoHours",
    "azure.enabled",
    "aws.deployerArns",
    "aws.restoreOperatorArns",
    "storage.buckets.retention",
];

export class ExceptionFileError extends Error {
    constructor(
        readonly source: string,
        readonly problems: string[],
    ) {
        super(`${source}: invalid exception file:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ExceptionFileError";
    }
}

/** Parse policy/exceptions.yaml (text; empty or absent: no exceptions). Every problem is listed. */
export function parseExceptions(text: string | undefined, source = "policy/exceptions.yaml"): FloorException[] {
    if (text === undefined || text.trim() === "") return [];
    let doc: any;
    try {
        doc = load(text);
    } catch (e: any) {
        throw new ExceptionFileError(source, [`not valid YAML: ${e.message}`]);
    }
    if (doc === null || doc === undefined) return [];
    if (typeof doc !== "object" || Array.isArray(doc)) throw new ExceptionFileError(source, ["expected a mapping with the key exceptions"]);
    const unknownTop = Object.keys(doc).filter((k) => k !== "exceptions");
    const problems: string[] = unknownTop.map((k) => `unknown key "${k}" (known: exceptions)`);
    const list = doc.exceptions ?? [];
    if (!Array.isArray(list)) throw new ExceptionFileError(source, ["exceptions must be a list"]);
    const out: FloorException[] = [];
    list.forEach((e: any, i: number) => {
        const at = `exceptions[${i}]`;
        if (!e || typeof e !== "object") return problems.push(`${at}: expected a mapping`);
        const known = ["stack", "floor", "value", "owner", "reason", "expires"];
        for (const k of Object.keys(e)) if (!known.includes(k)) problems.push(`${at}: unknown key "${k}" (known: ${known.join(", ")})`);
        if (typeof e.stack !== "string" || !e.stack) problems.push(`${at}.stack: the stack name is required`);
        if (!FLOOR_NAMES.includes(e.floor)) problems.push(`${at}.floor: must be one of ${FLOOR_NAMES.join(", ")}; found ${JSON.stringify(e.floor)}`);
        if (typeof e.owner !== "string" || !/\S+@\S+|^@\S+/.test(e.owner)) problems.push(`${at}.owner: a named owner (an e-mail address or @github-handle) is required`);
        if (typeof e.reason !== "string" || e.reason.trim().length < 10) problems.push(`${at}.reason: say why, in at least a sentence`);
        const expires = e.expires instanceof Date ? e.expires.toISOString().slice(0, 10) : e.expires;
        if (typeof expires !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(expires) || Number.isNaN(Date.parse(expires))) problems.push(`${at}.expires: a date YYYY-MM-DD is required`);
        out.push({ stack: e.stack, floor: e.floor, value: e.value, owner: e.owner, reason: e.reason, expires });
    });
    if (problems.length) throw new ExceptionFileError(source, problems);
    return out;
}

function sameValue(a: unknown, b: unknown): boolean {
    const norm = (v: unknown) => (Array.isArray(v) ? JSON.stringify([...v].map(String).sort()) : JSON.stringify(v));
    return norm(a) === norm(b);
}

export interface FloorJudgement {
    /** lowerings no exception covers: the gate fails */
    refused: (Lowering & { because: string })[];
    /** lowerings an exception added in this change covers */
    excepted: (Lowering & { exception: FloorException })[];
}

/**
 * Judge the lowerings: each must be covered by an exception for this stack and floor that is in the
 * pull request's exception file, not in the base's (the file changes with the floor, in the same
 * review), unexpired on `today`, and naming the new value when it gives one.
 */
export function judgeLowerings(stack: string, found: Lowering[], prExceptions: FloorException[], baseExceptions: FloorException[], today: string): FloorJudgement {
    const out: FloorJudgement = { refused: [], excepted: [] };
    const key = (e: FloorException) => JSON.stringify([e.stack, e.floor, e.value, e.owner, e.reason, e.expires]);
    const old = new Set(baseExceptions.map(key));
    for (const l of found) {
        const candidates = prExceptions.filter((e) => e.stack === stack && e.floor === l.floor);
        const fresh = candidates.filter((e) => !old.has(key(e)));
        const valid = fresh.filter((e) => e.expires >= today && (e.value === undefined || sameValue(e.value, l.pr)));
        if (valid.length) {
            out.excepted.push({ ...l, exception: valid[0] });
            continue;
        }
        let because = "no exception in policy/exceptions.yaml covers it";
        if (candidates.length && !fresh.length) because = "the exception for it was already in the base branch: an exception covers the one change it was added with";
        else if (fresh.some((e) => e.expires < today)) because = `the exception expired on ${fresh.find((e) => e.expires < today)!.expires}`;
        else if (fresh.length) because = `the exception names another value (${JSON.stringify(fresh[0].value)})`;
        out.refused.push({ ...l, because });
    }
    return out;
}
