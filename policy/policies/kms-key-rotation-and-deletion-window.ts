// Policy 7: the vault key rotates and cannot be deleted on short notice (a deleted key makes every
// backup unreadable, Object Lock or not).
import type { KeyArgs } from "@pulumi/aws/kms";
import type { Unwrap } from "@pulumi/pulumi";
import { type BackupPolicy, asArray, isSet, parseDocument, readPolicyConfig, show, T } from "../lib/common";
import { expandDocument } from "../lib/iam-catalog";
import { breakGlassRoleArn } from "../lib/identities";

export interface KmsConfig {
    minDeletionWindowDays: number;
    maxRotationPeriodDays: number;
    /** with aws.breakGlass (deployersMayChangeKeyPolicy false) the keys are created with the lockout check bypassed, on purpose */
    lockoutBypassFor?: string;
}

/**
 * KMS refuses a policy that stops the caller from changing it again unless the lockout check is bypassed;
 * with a break-glass role that is the point. Accepted only when the stack has such a role and the key's own
 * policy lets exactly that role put a new policy (so the key stays manageable): anything else is a key
 * that could be locked for good.
 */
async function lockoutBypassProblem(policy: unknown, role: string | undefined): Promise<string | undefined> {
    const base = "bypassPolicyLockoutSafetyCheck is true: a key policy mistake could lock everyone out of the backups";
    if (!role) return base;
    const parsed = parseDocument(policy);
    if (!parsed.ok) return `${base} (and the key policy is ${parsed.error})`;
    const { statements } = await expandDocument(parsed.doc);
    const named = (p: any) => (typeof p === "string" ? [p] : asArray<any>(p?.AWS).map(String));
    const keeps = statements.some((s) => s.effect === "Allow" && s.actions.has("kms:putkeypolicy") && named(s.principal).includes(role));
    return keeps ? undefined : `${base}: the key policy does not let the break-glass role ${role} put a new policy`;
}

export const kmsPolicy: BackupPolicy = {
    name: "kms-key-rotation-and-deletion-window",
    description: "KMS keys have automatic rotation on and a deletion window of at least 30 days, and are symmetric encryption keys that stay enabled (the record-signing key: Ed25519 SIGN_VERIFY, which KMS cannot rotate).",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Declare the key with enableKeyRotation: true (rotationPeriodInDays ≤ 365 if set), deletionWindowInDays: 30 and isEnabled left true " +
        "(BackupVault does, from aws.kms in the stack file).",
    configSchema: {
        properties: {
            minDeletionWindowDays: { type: "integer", minimum: 7, maximum: 30, default: 30 },
            maxRotationPeriodDays: { type: "integer", minimum: 90, maximum: 2560, default: 365 },
            lockoutBypassFor: { type: "string", pattern: "^arn:aws:iam::\\d{12}:role/[^*?\\s]+$", description: "the break-glass role that keeps a key whose lockout check was bypassed manageable" },
        },
    },
    configFromStack: (cfg) => {
        const bg = cfg.aws.breakGlass;
        return bg && !bg.deployersMayChangeKeyPolicy ? { lockoutBypassFor: breakGlassRoleArn(cfg.aws.accountId, cfg.env) } : {};
    },
    validateResource: async (args, report) => {
        if (args.type !== T.kmsKey) return;
        const cfg = readPolicyConfig<KmsConfig>(kmsPolicy, args);
        const k = args.props as Unwrap<KeyArgs>;
        // The record-signing key (components/record-signing.ts) is asymmetric: KMS cannot rotate it, and
        // its spec is fixed; the deletion window, enabled and lockout checks below still apply.
        const signing = k.keyUsage === "SIGN_VERIFY";
        if (signing && k.customerMasterKeySpec !== "ECC_NIST_EDWARDS25519") report(`a SIGN_VERIFY key must be ECC_NIST_EDWARDS25519 (Ed25519, what verify signs records with), not ${show(k.customerMasterKeySpec)}`);
        if (!signing && k.enableKeyRotation !== true) report(`enableKeyRotation is ${show(k.enableKeyRotation)}, expected true`);
        if (isSet(k.rotationPeriodInDays) && k.rotationPeriodInDays > cfg.maxRotationPeriodDays) {
            report(`rotationPeriodInDays is ${k.rotationPeriodInDays}, at most ${cfg.maxRotationPeriodDays}`);
        }
        // Unset means AWS's default of 30 days.
        const window = k.deletionWindowInDays ?? 30;
        if (window < cfg.minDeletionWindowDays) {
            report(`deletionWindowInDays is ${window}, at least ${cfg.minDeletionWindowDays} required: a key scheduled for deletion makes every backup unreadable when the window ends`);
        }
        if (k.isEnabled === false) report("the key is disabled: nothing can be written or restored");
        if (isSet(k.keyUsage) && k.keyUsage !== "ENCRYPT_DECRYPT" && !signing) report(`keyUsage is ${show(k.keyUsage)}, expected "ENCRYPT_DECRYPT"`);
        if (!signing && isSet(k.customerMasterKeySpec) && k.customerMasterKeySpec !== "SYMMETRIC_DEFAULT") report(`key spec is ${show(k.customerMasterKeySpec)}, expected "SYMMETRIC_DEFAULT" (rotation needs it)`);
        if (k.bypassPolicyLockoutSafetyCheck === true) {
            const m = await lockoutBypassProblem(k.policy, cfg.lockoutBypassFor);
            if (m) report(m);
        }
    },
};
