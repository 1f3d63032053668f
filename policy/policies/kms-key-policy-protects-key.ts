// Policy: a key's policy (inline on the Key, or an aws:kms/keyPolicy:KeyPolicy) — the vault key and the
// record-signing key alike — keeps an effective deny of key destruction (schedule deletion, disable, stop
// rotation, replace the policy) for everyone but the configured administrators, and allows nothing to
// principals outside the stack's account principals, deployers and roles. With aws.breakGlass the
// administrator is the break-glass role alone, and only with MFA: the exemption names exactly that role
// (no deployer, no wildcard), and two unconditional denies refuse destruction without an MFA sign-in
// (BoolIfExists aws:MultiFactorAuthPresent false) or with one older than aws.breakGlass.mfaMaxAgeSeconds;
// the role's own Allow carries the MFA condition and no use of the key. A signing key also keeps its
// deny of kms:Sign to all but its one signer (tag supabase-backups/signs: the verifier for verification
// records, the drill identity for drill records). A Grant (aws:kms/grant:Grant) is a side door around the key
// policy: only the stack's roles may receive one, and only for encrypt/decrypt.
import { type BackupPolicy, asArray, parseDocument, readPolicyConfig, show } from "../lib/common";
import { expandActions, expandDocument, type Statement } from "../lib/iam-catalog";
import { breakGlassRoleArn, KEY_DESTROY_ACTIONS, knownRoleArns } from "../lib/identities";
import { foreignAllows, type RequiredDeny, requireDeny } from "../lib/resource-policy";

export interface KeyPolicyConfig {
    env: string;
    accountId: string;
    deployerArns: string[];
    /** the break-glass role, where the stack has one: it alone may destroy the key (aws.breakGlass) */
    breakGlassRoleArn?: string;
    /** aws.breakGlass.mfaMaxAgeSeconds: the age bound the stale-MFA deny may not exceed */
    breakGlassMfaMaxAgeSeconds?: number;
    /** aws.breakGlass.deployersMayChangeKeyPolicy: the deployers keep kms:PutKeyPolicy (and only that) */
    deployersMayChangeKeyPolicy?: boolean;
}

const KEY_TYPE = "aws:kms/key:Key";
const KEY_POLICY_TYPE = "aws:kms/keyPolicy:KeyPolicy";
const GRANT_TYPE = "aws:kms/grant:Grant";
const GRANTABLE = ["Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"];
/** What the break-glass role must never be allowed: using the key (reading backups, signing records, granting). */
const KEY_USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:Sign", "kms:CreateGrant"];
const PUT_KEY_POLICY = "kms:PutKeyPolicy";

const lower = (vs: string[]) => vs.map((v) => v.toLowerCase());
const mfaAbsent = (op: string, key: string, values: string[]) => op === "BoolIfExists" && key.toLowerCase() === "aws:multifactorauthpresent" && lower(values).every((v) => v === "false");
const mfaOlderThan = (max: number) => (op: string, key: string, values: string[]) =>
    /^NumericGreaterThan(Equals)?(IfExists)?$/.test(op) && key.toLowerCase() === "aws:multifactorauthage" && values.length > 0 && values.every((v) => /^\d+$/.test(v) && Number(v) <= max);

/** The denies the key's administration relies on (components/resource-policies.ts keyAdministrationStatements). */
export function requiredKeyDenies(c: KeyPolicyConfig): RequiredDeny[] {
    const arns = [`arn:aws:kms:*:${c.accountId}:key/*`];
    if (!c.breakGlassRoleArn) {
        return [{ sid: "DenyKeyDestructionExceptDeployers", what: "no key deletion, disabling, rotation stop or policy change but by the deployers", actions: [...KEY_DESTROY_ACTIONS], arns, exempt: [...c.deployerArns] }];
    }
    const bg = c.breakGlassRoleArn;
    const maxAge = c.breakGlassMfaMaxAgeSeconds ?? 3600;
    const destroy = KEY_DESTROY_ACTIONS.filter((a) => !c.deployersMayChangeKeyPolicy || a !== PUT_KEY_POLICY);
    const out: RequiredDeny[] = [
        { sid: "DenyKeyDestructionExceptBreakGlass", what: `no key ${destroy.length < KEY_DESTROY_ACTIONS.length ? "deletion, disabling or rotation stop" : "deletion, disabling, rotation stop or policy change"} but by the break-glass role`, actions: destroy, arns, exempt: [bg] },
        { sid: "DenyKeyDestructionWithoutMfa", what: "no key destruction without an MFA sign-in (BoolIfExists aws:MultiFactorAuthPresent false)", actions: destroy, arns, exempt: [], protective: mfaAbsent, needsProtectiveCondition: true },
        {
            sid: "DenyKeyDestructionWithStaleMfa",
            what: `no key destruction with an MFA sign-in older than ${maxAge} s (NumericGreaterThanIfExists aws:MultiFactorAuthAge)`,
            actions: destroy,
            arns,
            exempt: [],
            protective: mfaOlderThan(maxAge),
            needsProtectiveCondition: true,
        },
    ];
    if (c.deployersMayChangeKeyPolicy) {
        out.push({ sid: "DenyKeyPolicyChangesExceptDeployersAndBreakGlass", what: "no key policy change but by the deployers and the break-glass role", actions: [PUT_KEY_POLICY], arns, exempt: [...c.deployerArns, bg] });
    }
    return out;
}

function names(principal: unknown): string[] {
    if (typeof principal === "string") return [principal];
    return asArray<any>((principal as any)?.AWS).map(String);
}

/** The break-glass role's Allows: only with MFA (Bool aws:MultiFactorAuthPresent true), and never a use of the key. */
async function breakGlassAllowProblems(statements: Statement[], bg: string): Promise<string[]> {
    const use = (await expandActions(KEY_USE)).actions;
    const out: string[] = [];
    for (const s of statements) {
        if (s.effect !== "Allow" || !names(s.principal).includes(bg)) continue;
        const label = `statement ${show(s.sid ?? "(no Sid)")}`;
        const mfa = Object.entries(s.condition.Bool ?? {}).some(([k, v]) => k.toLowerCase() === "aws:multifactorauthpresent" && lower(asArray<any>(v).map(String)).join() === "true");
        if (!mfa) out.push(`${label} allows the break-glass role ${bg} without an MFA sign-in (Bool aws:MultiFactorAuthPresent "true" is required)`);
        const used = [...s.actions].filter((a) => use.has(a));
        if (used.length) out.push(`${label} lets the break-glass role use the key (${used.slice(0, 4).join(", ")}${used.length > 4 ? ", …" : ""}): it may administer the key, never read backups or sign records`);
    }
    return out;
}

/**
 * Who may sign with a SIGN_VERIFY key: its tag `supabase-backups/signs` (components/record-signing.ts
 * SIGNER_TAG) says which records it signs — "drill": drill records, the drill identity alone; anything
 * else: verification records, the verifier alone. One signer per key: neither may make the other's records.
 */
export function signerOf(tags: unknown): { identity: "verifier" | "drill"; sid: string; what: string } {
    const signs = (tags as Record<string, unknown> | undefined)?.["supabase-backups/signs"];
    return signs === "drill"
        ? { identity: "drill", sid: "SignOnlyAsTheDrill", what: "no drill record signing but by the drill identity" }
        : { identity: "verifier", sid: "SignOnlyAsTheVerifier", what: "no record signing but by the verifier" };
}

export async function keyPolicyProblems(doc: unknown, c: KeyPolicyConfig, opts: { signing?: boolean; tags?: unknown } = {}): Promise<string[]> {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`key policy is ${parsed.error}`];
    const { statements } = await expandDocument(parsed.doc);
    const out: string[] = [];
    for (const req of requiredKeyDenies(c)) {
        const m = await requireDeny(statements, req);
        if (m) out.push(m);
    }
    if (opts.signing) {
        const signer = signerOf(opts.tags);
        const m = await requireDeny(statements, { sid: signer.sid, what: signer.what, actions: ["kms:Sign"], arns: [`arn:aws:kms:*:${c.accountId}:key/*`], exempt: [knownRoleArns(c.accountId, c.env)[signer.identity]] });
        if (m) out.push(m);
    }
    if (c.breakGlassRoleArn) out.push(...(await breakGlassAllowProblems(statements, c.breakGlassRoleArn)));
    const known = [`arn:aws:iam::${c.accountId}:root`, ...c.deployerArns, ...Object.values(knownRoleArns(c.accountId, c.env)), ...(c.breakGlassRoleArn ? [c.breakGlassRoleArn] : [])];
    for (const f of foreignAllows(statements, known)) out.push(`${f}; the key decides whether any backup can be read`);
    return out;
}

export function grantProblems(p: any, c: KeyPolicyConfig): string[] {
    const roles = Object.values(knownRoleArns(c.accountId, c.env));
    const out: string[] = [];
    if (!roles.includes(p?.granteePrincipal)) out.push(`grant to ${show(p?.granteePrincipal)}, which is not one of the stack's roles: a grant bypasses the key policy`);
    const extra = asArray<string>(p?.operations).filter((o) => !GRANTABLE.includes(o));
    if (extra.length) out.push(`grant allows ${extra.join(", ")}: only encrypt/decrypt operations may be granted`);
    return out;
}

export const keyPolicyPolicy: BackupPolicy = {
    name: "kms-key-policy-protects-key",
    description:
        "Every key's policy (vault key, record-signing keys) keeps an effective deny of key destruction for everyone but its administrators — the break-glass role with a recent MFA " +
        "sign-in where aws.breakGlass is set, else the deployers — keeps a signing key's kms:Sign to its one signer (the verifier; the drill identity for the key tagged supabase-backups/signs=drill), and allows nothing to other principals; KMS grants go only to " +
        "the stack's roles, for encrypt/decrypt.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Keep the keys' policies as components/resource-policies.ts keyAdministrationStatements builds them (BackupVault, RecordSigningKey): with aws.breakGlass, Deny " +
        "kms:ScheduleKeyDeletion, kms:DisableKey, kms:DisableKeyRotation, kms:PutKeyPolicy to Principal \"*\" with only an ArnNotLike aws:PrincipalArn exemption of the break-glass role " +
        "(PutKeyPolicy also of aws.deployerArns when deployersMayChangeKeyPolicy), plus unconditional denies on BoolIfExists aws:MultiFactorAuthPresent false and " +
        "NumericGreaterThanIfExists aws:MultiFactorAuthAge > mfaMaxAgeSeconds, and the role's Allow only with Bool aws:MultiFactorAuthPresent true; without it, the same deny " +
        "exempting exactly aws.deployerArns. A signing key (RecordSigningKey) keeps its Deny of kms:Sign to Principal \"*\" exempting (ArnNotEquals aws:PrincipalArn) exactly its signer: " +
        "the verifier's role, or the drill identity's for the key tagged supabase-backups/signs=drill. Allow only the account root (IAM delegation). Declare no aws:kms/grant:Grant except to the stack's roles for Encrypt/Decrypt/GenerateDataKey.",
    configSchema: {
        properties: {
            env: { type: "string", minLength: 1 },
            accountId: { type: "string", pattern: "^\\d{12}$" },
            deployerArns: { type: "array", minItems: 1, items: { type: "string", pattern: "^arn:aws:(iam|sts)::\\d{12}:[^*?\\s]+$" } },
            breakGlassRoleArn: { type: "string", pattern: "^arn:aws:iam::\\d{12}:role/[^*?\\s]+$" },
            breakGlassMfaMaxAgeSeconds: { type: "integer", minimum: 300, maximum: 43200 },
            deployersMayChangeKeyPolicy: { type: "boolean" },
        },
        required: ["env", "accountId", "deployerArns"],
    },
    configFromStack: (cfg) => {
        // aws.breakGlass (issue 13) names a role that alone may destroy the keys; absent: the deployers.
        const bg = cfg.aws.breakGlass;
        return {
            env: cfg.env,
            accountId: cfg.aws.accountId,
            deployerArns: [...cfg.aws.deployerArns],
            ...(bg
                ? { breakGlassRoleArn: breakGlassRoleArn(cfg.aws.accountId, cfg.env), breakGlassMfaMaxAgeSeconds: bg.mfaMaxAgeSeconds, deployersMayChangeKeyPolicy: bg.deployersMayChangeKeyPolicy }
                : {}),
        };
    },
    validateResource: async (args, report) => {
        if (![KEY_TYPE, KEY_POLICY_TYPE, GRANT_TYPE].includes(args.type)) return;
        const cfg = readPolicyConfig<KeyPolicyConfig>(keyPolicyPolicy, args);
        const p = args.props as any;
        if (args.type === GRANT_TYPE) {
            for (const m of grantProblems(p, cfg)) report(m);
            return;
        }
        // A Key without an inline policy gets AWS's default (no destruction deny) unless a KeyPolicy
        // resource sets one; stack-backup-completeness checks that one of the two exists.
        if (args.type === KEY_TYPE && p.policy === undefined) return;
        for (const m of await keyPolicyProblems(p.policy, cfg, { signing: args.type === KEY_TYPE && p.keyUsage === "SIGN_VERIFY", tags: p.tags })) report(m);
    },
};
