// Policy: who can become a role. Trust policies are parsed (principals, actions, conditions), not
// matched as strings: the workload roles trust only this cluster's OIDC provider, for exactly their
// service account (StringEquals on :sub, never a wildcard) and the STS audience; the restore-operator and
// break-glass roles only the configured people, with MFA; no role trusts "*", another account, or an AWS
// service.
import { type BackupPolicy, asArray, parseDocument, readPolicyConfig, show } from "../lib/common";
import { breakGlassRoleName, classifyIdentity, exactIdentities, type IdentityName } from "../lib/identities";

export interface TrustConfig {
    env: string;
    accountId: string;
    oidcProviderArn: string;
    namespace: string;
    restoreOperatorArns: string[];
    /** aws.breakGlass.principalArns: the only people the break-glass role may trust (with MFA) */
    breakGlassPrincipalArns?: string[];
}

const SERVICE_ACCOUNTS: Partial<Record<IdentityName, string>> = { writer: "supabase-backups-writer", verifier: "supabase-backups-verifier", gc: "supabase-backups-gc", drill: "supabase-backups-drill" };

function cond(c: any, op: string, key: string): string[] | undefined {
    for (const [o, body] of Object.entries(c ?? {})) {
        if (o !== op) continue;
        for (const [k, v] of Object.entries((body as object) ?? {})) if (k.toLowerCase() === key.toLowerCase()) return asArray<any>(v).map(String);
    }
    return undefined;
}

/** The roles people assume: who may, from the stack config, and what the config key is called. */
type PeopleRole = { label: string; allowed: string[]; key: string };

export function trustProblems(doc: unknown, identity: IdentityName | undefined, c: TrustConfig, breakGlass = false): string[] {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`trust policy is ${parsed.error}`];
    const out: string[] = [];
    const issuer = c.oidcProviderArn.split(":oidc-provider/")[1];
    const people: PeopleRole | undefined = breakGlass
        ? { label: "break-glass", allowed: c.breakGlassPrincipalArns ?? [], key: "aws.breakGlass.principalArns" }
        : identity === "restoreOperator"
          ? { label: "restore-operator", allowed: c.restoreOperatorArns, key: "aws.restoreOperatorArns" }
          : undefined;
    for (const s of asArray<any>(parsed.doc?.Statement)) {
        if (s?.Effect !== "Allow") continue;
        const label = `trust statement ${show(s.Sid ?? "(no Sid)")}`;
        if (s.NotPrincipal !== undefined || s.Principal === "*") {
            out.push(`${label} trusts everyone`);
            continue;
        }
        const p = s.Principal ?? {};
        for (const a of asArray<string>(p.AWS)) {
            if (a === "*") out.push(`${label} trusts everyone (AWS "*")`);
            else if (!new RegExp(`^(arn:aws:iam::${c.accountId}:|${c.accountId}$)`).test(a)) out.push(`${label} trusts ${a}, outside account ${c.accountId}`);
            else if (people && !people.allowed.includes(a)) out.push(`${label} trusts ${a}, which is not in ${people.key}`);
            else if (identity && !people) out.push(`${label}: the ${identity} role is for its service account only, but trusts ${a}`);
        }
        if (asArray(p.AWS).length && people) {
            if (!(cond(s.Condition, "Bool", "aws:MultiFactorAuthPresent") ?? []).includes("true")) out.push(`${label} lets people assume the ${people.label} role without MFA (Bool aws:MultiFactorAuthPresent "true" is required)`);
        }
        for (const svc of asArray<string>(p.Service)) out.push(`${label} trusts the AWS service ${svc}: no backup role is for a service`);
        for (const f of asArray<string>(p.Federated)) {
            if (f !== c.oidcProviderArn) {
                out.push(`${label} trusts the identity provider ${f}, not this cluster's (${c.oidcProviderArn})`);
                continue;
            }
            const sub = cond(s.Condition, "StringEquals", `${issuer}:sub`);
            const want = identity && SERVICE_ACCOUNTS[identity] ? `system:serviceaccount:${c.namespace}:${SERVICE_ACCOUNTS[identity]}` : undefined;
            const wild = Object.entries(s.Condition ?? {}).some(([op, body]) => /Like/.test(op) && Object.keys(body as object).some((k) => k.toLowerCase() === `${issuer}:sub`.toLowerCase()));
            if (wild || !sub || sub.length !== 1 || /[*?]/.test(sub[0])) out.push(`${label} does not pin the service account: expected StringEquals ${issuer}:sub = one exact subject, found ${show(s.Condition)}`);
            else if (want && sub[0] !== want) out.push(`${label} trusts ${sub[0]}, expected ${want}`);
            if (!(cond(s.Condition, "StringEquals", `${issuer}:aud`) ?? []).every((v) => v === "sts.amazonaws.com") || !cond(s.Condition, "StringEquals", `${issuer}:aud`)) {
                out.push(`${label} does not require the STS audience (StringEquals ${issuer}:aud "sts.amazonaws.com")`);
            }
        }
    }
    return out;
}

export const trustPolicy: BackupPolicy = {
    name: "iam-role-trust-restricted",
    description:
        "Trust policies, parsed: workload roles trust only the cluster's OIDC provider for exactly their service account and the STS audience; the restore-operator role " +
        "only aws.restoreOperatorArns, with MFA; no role trusts \"*\", another account or an AWS service.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Keep BackupIdentities' trust policies (components/iam-policies.ts irsaTrustPolicy, restoreOperatorTrustPolicy): Federated = aws.oidcProviderArn with StringEquals " +
        "<issuer>:sub = system:serviceaccount:<namespace>:<service account> and <issuer>:aud = sts.amazonaws.com; people only from aws.restoreOperatorArns with Bool aws:MultiFactorAuthPresent \"true\".",
    configSchema: {
        properties: {
            env: { type: "string", minLength: 1 },
            accountId: { type: "string", pattern: "^\\d{12}$" },
            oidcProviderArn: { type: "string", minLength: 20 },
            namespace: { type: "string", minLength: 1 },
            restoreOperatorArns: { type: "array", items: { type: "string" }, default: [] },
            breakGlassPrincipalArns: { type: "array", items: { type: "string" }, description: "aws.breakGlass.principalArns; absent: the stack has no break-glass role" },
        },
        required: ["env", "accountId", "oidcProviderArn", "namespace"],
    },
    configFromStack: (cfg) => ({
        env: cfg.env,
        accountId: cfg.aws.accountId,
        oidcProviderArn: cfg.aws.oidcProviderArn,
        namespace: cfg.kubernetes.namespace,
        restoreOperatorArns: [...(cfg.aws.restoreOperatorArns ?? [])],
        ...(cfg.aws.breakGlass ? { breakGlassPrincipalArns: [...cfg.aws.breakGlass.principalArns] } : {}),
    }),
    validateResource: (args, report) => {
        if (args.type !== "aws:iam/role:Role") return;
        const cfg = readPolicyConfig<TrustConfig>(trustPolicy, args);
        const p = args.props as any;
        const identity = classifyIdentity([p.name], exactIdentities(cfg.env));
        // The break-glass role (components/break-glass.ts) is people's, like the restore operator's.
        const breakGlass = p.name === breakGlassRoleName(cfg.env);
        for (const m of trustProblems(p.assumeRolePolicy, identity, cfg, breakGlass)) report(m);
    },
};
