// Policy: the vault key's policy (inline on the Key, or an aws:kms/keyPolicy:KeyPolicy) keeps an effective
// deny of key destruction (schedule deletion, disable, stop rotation, replace the policy) for everyone but
// the deployers, and allows nothing to principals outside the stack's account principals, deployers and
// roles. A Grant (aws:kms/grant:Grant) is a side door around the key policy: only the stack's roles may
// receive one, and only for encrypt/decrypt.
import { type BackupPolicy, asArray, parseDocument, readPolicyConfig, show } from "../lib/common";
import { expandDocument } from "../lib/iam-catalog";
import { breakGlassRoleArn, KEY_DESTROY_ACTIONS, knownRoleArns } from "../lib/identities";
import { foreignAllows, requireDeny } from "../lib/resource-policy";

export interface KeyPolicyConfig {
    env: string;
    accountId: string;
    deployerArns: string[];
    /** the break-glass role, where the stack has one: it alone may destroy the key (aws.breakGlass) */
    breakGlassRoleArn?: string;
}

const KEY_TYPE = "aws:kms/key:Key";
const KEY_POLICY_TYPE = "aws:kms/keyPolicy:KeyPolicy";
const GRANT_TYPE = "aws:kms/grant:Grant";
const GRANTABLE = ["Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"];

export async function keyPolicyProblems(doc: unknown, c: KeyPolicyConfig): Promise<string[]> {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`key policy is ${parsed.error}`];
    const { statements } = await expandDocument(parsed.doc);
    const out: string[] = [];
    const m = await requireDeny(statements, {
        sid: "DenyKeyDestructionExceptDeployers",
        what: "no key deletion, disabling, rotation stop or policy change but by the deployers",
        actions: [...KEY_DESTROY_ACTIONS],
        arns: [`arn:aws:kms:*:${c.accountId}:key/*`],
        exempt: [...c.deployerArns, ...(c.breakGlassRoleArn ? [c.breakGlassRoleArn] : [])],
    });
    if (m) out.push(m);
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
        "The vault key's policy keeps an effective deny of key destruction for everyone but the deployers and allows nothing to other principals; KMS grants go only to the stack's roles, for encrypt/decrypt.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Keep BackupVault's key policy (components/resource-policies.ts kmsKeyPolicy): Deny kms:ScheduleKeyDeletion, kms:DisableKey, kms:DisableKeyRotation, kms:PutKeyPolicy " +
        "to Principal \"*\" with only an ArnNotLike aws:PrincipalArn exemption of aws.deployerArns; Allow only the account root (IAM delegation). Declare no aws:kms/grant:Grant " +
        "except to the stack's roles for Encrypt/Decrypt/GenerateDataKey.",
    configSchema: {
        properties: {
            env: { type: "string", minLength: 1 },
            accountId: { type: "string", pattern: "^\\d{12}$" },
            deployerArns: { type: "array", minItems: 1, items: { type: "string", pattern: "^arn:aws:(iam|sts)::\\d{12}:[^*?\\s]+$" } },
            breakGlassRoleArn: { type: "string", pattern: "^arn:aws:iam::\\d{12}:role/[^*?\\s]+$" },
        },
        required: ["env", "accountId", "deployerArns"],
    },
    configFromStack: (cfg) => ({
        env: cfg.env,
        accountId: cfg.aws.accountId,
        deployerArns: [...cfg.aws.deployerArns],
        // aws.breakGlass (issue 13) names a role that alone may destroy the key; absent: the deployers.
        ...((cfg.aws as { breakGlass?: unknown }).breakGlass ? { breakGlassRoleArn: breakGlassRoleArn(cfg.aws.accountId, cfg.env) } : {}),
    }),
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
        for (const m of await keyPolicyProblems(p.policy, cfg)) report(m);
    },
};
