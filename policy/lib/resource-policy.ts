// Resource policies (the bucket policy, the KMS key policy) judged on what they make effective: each
// protective Deny the program relies on must cover its actions and resources for every principal, with no
// condition but the exemption of exactly the configured principals (or the condition that IS the
// protection, like aws:SecureTransport). An Allow elsewhere cannot undo an explicit Deny, so Allows do
// not weaken a Deny; but a Deny with NotPrincipal, a narrower Principal, an unknown condition or an
// exemption of more principals is not effective. Allows may only name the stack's known principals.
import { asArray, show } from "./common";
import { catalog, coversResource, expandActions, type Statement } from "./iam-catalog";

export interface RequiredDeny {
    /** the program's Sid, for messages */
    sid: string;
    /** what the deny protects, for messages */
    what: string;
    /** action ids that must be denied (`s3:*` patterns allowed; expanded against the catalog) */
    actions: string[];
    /** resource ARNs that must be covered */
    arns: string[];
    /** aws:PrincipalArn values the deny may exempt (exactly these or a subset); empty: unconditional */
    exempt: string[];
    /** conditions that are the protection itself (operator, key, values) → acceptable? */
    protective?: (operator: string, key: string, values: string[]) => boolean;
    /** conditions that must be present (at least one protective condition) */
    needsProtectiveCondition?: boolean;
}

const EXEMPTION_OPERATORS = /^(ArnNotLike|ArnNotEquals|StringNotLike|StringNotEquals)(IfExists)?$/;

export function isEveryone(principal: unknown): boolean {
    if (principal === "*") return true;
    if (principal && typeof principal === "object") return asArray((principal as any).AWS).includes("*");
    return false;
}

/** Why this Deny statement does not carry the requirement (undefined: it does). */
function ineffective(s: Statement, req: RequiredDeny): string | undefined {
    if (s.raw?.NotPrincipal !== undefined) return "it uses NotPrincipal (everyone it names is exempt)";
    if (!isEveryone(s.principal)) return `its Principal is ${show(s.principal)}, not everyone ("*")`;
    let protective = 0;
    for (const [op, body] of Object.entries(s.condition ?? {})) {
        for (const [key, raw] of Object.entries(body ?? {})) {
            const values = asArray<any>(raw).map(String);
            if (req.protective?.(op, key, values)) {
                protective++;
                continue;
            }
            if (EXEMPTION_OPERATORS.test(op) && key.toLowerCase() === "aws:principalarn") {
                const extra = values.filter((v) => !req.exempt.includes(v));
                if (extra.length) return `its condition ${op} aws:PrincipalArn exempts ${extra.join(", ")}, beyond ${req.exempt.length ? req.exempt.join(", ") : "nobody"}`;
                continue;
            }
            return `its condition ${op} ${key} ${show(values)} can make it not apply`;
        }
    }
    if (req.needsProtectiveCondition && protective === 0) return "it lacks the condition that makes it this protection";
    return undefined;
}

const expanded = new Map<string, Promise<string[]>>();
async function actionIds(patterns: string[]): Promise<string[]> {
    const key = patterns.join("|");
    let p = expanded.get(key);
    if (!p) {
        p = expandActions(patterns).then((e) => [...e.actions]);
        expanded.set(key, p);
    }
    return p;
}

/**
 * Judge a required Deny against a document's statements: one message naming what is left unprotected
 * and why the candidate statements do not protect it, or nothing.
 */
export async function requireDeny(statements: Statement[], req: RequiredDeny): Promise<string | undefined> {
    const actions = await actionIds(req.actions);
    const cat = await catalog();
    const missing: string[] = [];
    const reasons = new Set<string>();
    for (const a of actions) {
        for (const arn of req.arns) {
            const candidates = statements.filter((s) => s.effect === "Deny" && s.actions.has(a) && coversResource(s, arn));
            const why = candidates.map((s) => ({ s, why: ineffective(s, req) }));
            if (why.some((w) => w.why === undefined)) continue;
            missing.push(`${cat.get(a)?.id ?? a} on ${arn}`);
            for (const w of why) reasons.add(`statement ${show(w.s.sid ?? "(no Sid)")}: ${w.why}`);
        }
    }
    if (!missing.length) return undefined;
    const shown = missing.length > 4 ? [...missing.slice(0, 4), `… ${missing.length - 4} more`] : missing;
    const exemption = req.exempt.length ? ` except ${req.exempt.join(", ")}` : "";
    return (
        `no effective deny ${show(req.sid)} (${req.what}) for everyone${exemption}: ${shown.join("; ")} ${missing.length === 1 ? "is" : "are"} unprotected` +
        (reasons.size ? ` (${[...reasons].join("; ")})` : " (no Deny statement covers it)")
    );
}

/** Principals an Allow statement names that are not among the known ones ("*" and NotPrincipal count). */
export function foreignAllows(statements: Statement[], known: string[]): string[] {
    const out: string[] = [];
    for (const s of statements) {
        if (s.effect !== "Allow") continue;
        const label = `statement ${show(s.sid ?? "(no Sid)")}`;
        if (s.raw?.NotPrincipal !== undefined) {
            out.push(`${label} allows everyone but ${show(s.raw.NotPrincipal)} (NotPrincipal)`);
            continue;
        }
        if (isEveryone(s.principal)) {
            out.push(`${label} allows everyone (Principal "*")`);
            continue;
        }
        const p = s.principal;
        const names = typeof p === "string" ? [p] : p && typeof p === "object" ? Object.entries(p as Record<string, unknown>).flatMap(([k, v]) => asArray<any>(v).map((x) => `${k}:${x}`)) : [];
        for (const n of names) {
            const [kind, ...rest] = n.split(":");
            const value = rest.join(":");
            if (kind === "AWS" && known.includes(value)) continue;
            out.push(`${label} allows ${kind === "AWS" ? value : n}, which is not one of the stack's principals`);
        }
    }
    return out;
}
