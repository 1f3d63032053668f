// The keys that sign vault records (docs/security.md "Tampering with the vault"): KMS asymmetric keys
// (Ed25519, ECC_NIST_EDWARDS25519, SIGN_VERIFY), one per signer — verification records by the verifier's
// role, drill records by the drill identity's role — each usable to sign by its signer alone, so nobody
// holding the writer's (or even the signer's S3) credentials can make a record that restore, status and
// verify trust, and neither signer can make the other's records. The public keys go into the job config;
// readers check signatures locally and need no KMS permission at all.
import * as pulumi from "@pulumi/pulumi";
import * as kms from "@pulumi/aws/kms";
import type { PolicyDocument, PolicyStatement } from "./iam-policies";
import { type BreakGlassKeyAccess, keyAdministrationStatements } from "./resource-policies";

/** Who signs with a key, and what: the key's tag (SIGNER_TAG) says it, the policy pack holds it to that. */
export const RECORD_SIGNERS = {
    verify: { identity: "verifier", denySid: "SignOnlyAsTheVerifier", allowSid: "SignVerificationRecords", records: "verification records" },
    drill: { identity: "drill", denySid: "SignOnlyAsTheDrill", allowSid: "SignDrillRecords", records: "drill records" },
} as const;
export type SignedRecords = keyof typeof RECORD_SIGNERS;
/** The key tag naming the records a signing key signs ("verify" or "drill"). */
export const SIGNER_TAG = "supabase-backups/signs";

export interface RecordSigningKeyPolicyContext {
    accountId: string;
    deployerArns: string[];
    /** which records the key signs (verification records when absent) */
    signs?: SignedRecords;
    /** the only principal that may call kms:Sign: the verifier's role, or the drill identity's */
    signerRoleArn: string;
    /** the break-glass role (aws.breakGlass): then it alone may destroy or re-policy this key, as the vault key */
    breakGlass?: BreakGlassKeyAccess;
}

/**
 * Key policy: IAM policies decide management (account root delegation), but kms:Sign is denied to every
 * principal except the signer's role — an account admin's `kms:*` included. Destroying or re-policying
 * it is held like the vault key's (keyAdministrationStatements: the break-glass role with MFA, or
 * the deployers): whoever could delete it could stop every future record from being trusted.
 */
export function recordSigningKeyPolicy(c: RecordSigningKeyPolicyContext): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "EnableIamPolicies", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${c.accountId}:root` }, Action: "kms:*", Resource: "*" },
            {
                Sid: RECORD_SIGNERS[c.signs ?? "verify"].denySid,
                Effect: "Deny",
                Principal: { AWS: "*" },
                Action: ["kms:Sign"],
                Resource: "*",
                Condition: { ArnNotEquals: { "aws:PrincipalArn": c.signerRoleArn } },
            },
            ...keyAdministrationStatements(c.deployerArns, c.breakGlass),
        ],
    };
}

/** The signer's IAM statement: sign with this key, Ed25519 over the raw record payload only. */
export function recordSigningStatement(keyArn: string, signs: SignedRecords = "verify"): PolicyStatement {
    return {
        Sid: RECORD_SIGNERS[signs].allowSid,
        Effect: "Allow",
        Action: ["kms:Sign"],
        Resource: keyArn,
        Condition: { StringEquals: { "kms:SigningAlgorithm": "ED25519_SHA_512", "kms:MessageType": "RAW" } },
    };
}

/** The signer's inline policy holding only recordSigningStatement(). */
export function recordSigningPolicy(keyArn: string, signs: SignedRecords = "verify"): PolicyDocument {
    return { Version: "2012-10-17", Statement: [recordSigningStatement(keyArn, signs)] };
}

export interface RecordSigningKeyArgs extends RecordSigningKeyPolicyContext {
    env: string;
    /** the break-glass role resource: KMS refuses a policy naming a role that does not exist yet */
    breakGlassRole?: pulumi.Resource;
    deletionWindowDays: number;
    protect: boolean;
    tags?: Record<string, string>;
}

export class RecordSigningKey extends pulumi.ComponentResource {
    readonly key: kms.Key;
    readonly keyArn: pulumi.Output<string>;
    /** SPKI PEM of the public key, for the job config (vault.recordSigning.publicKeyPem) */
    readonly publicKeyPem: pulumi.Output<string>;

    constructor(name: string, args: RecordSigningKeyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:RecordSigningKey", name, {}, opts);
        this.key = new kms.Key(
            `${name}-key`,
            {
                description: `supabase-backups ${args.env}: signs ${RECORD_SIGNERS[args.signs ?? "verify"].records} (kms:Sign for the ${RECORD_SIGNERS[args.signs ?? "verify"].identity} only)`,
                keyUsage: "SIGN_VERIFY",
                customerMasterKeySpec: "ECC_NIST_EDWARDS25519",
                deletionWindowInDays: args.deletionWindowDays,
                policy: JSON.stringify(recordSigningKeyPolicy(args)),
                // As the vault key (components/vault.ts): only the break-glass role may change the policy.
                bypassPolicyLockoutSafetyCheck: args.breakGlass && !args.breakGlass.deployersMayChangeKeyPolicy ? true : undefined,
                tags: { project: "supabase-backups", env: args.env, [SIGNER_TAG]: args.signs ?? "verify", ...args.tags },
            },
            { parent: this, protect: args.protect, dependsOn: args.breakGlassRole ? [args.breakGlassRole] : [] },
        );
        this.keyArn = this.key.arn;
        this.publicKeyPem = kms.getPublicKeyOutput({ keyId: this.key.arn }, { parent: this }).publicKeyPem;
        this.registerOutputs({ keyArn: this.keyArn, publicKeyPem: this.publicKeyPem });
    }
}
