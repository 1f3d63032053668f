// The key that signs verification records (docs/security.md "Tampering with the vault"): a KMS
// asymmetric key (Ed25519, ECC_NIST_EDWARDS25519, SIGN_VERIFY) that only the verifier's role may use to
// sign, so nobody holding the writer's (or even the verifier's S3) credentials can make a record that
// restore, status and verify trust. The public key goes into the job config; readers check signatures
// locally and need no KMS permission at all.
import * as pulumi from "@pulumi/pulumi";
import * as kms from "@pulumi/aws/kms";
import type { PolicyDocument, PolicyStatement } from "./iam-policies";
import { type BreakGlassKeyAccess, keyAdministrationStatements } from "./resource-policies";

export interface RecordSigningKeyPolicyContext {
    accountId: string;
    deployerArns: string[];
    /** the only principal that may call kms:Sign */
    verifierRoleArn: string;
    /** the break-glass role (aws.breakGlass): then it alone may destroy or re-policy this key, as the vault key */
    breakGlass?: BreakGlassKeyAccess;
}

/**
 * Key policy: IAM policies decide management (account root delegation), but kms:Sign is denied to every
 * principal except the verifier's role — an account admin's `kms:*` included. Destroying or re-policying
 * it is held like the vault key's (keyAdministrationStatements: the break-glass role with MFA, or
 * the deployers): whoever could delete it could stop every future record from being trusted.
 */
export function recordSigningKeyPolicy(c: RecordSigningKeyPolicyContext): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "EnableIamPolicies", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${c.accountId}:root` }, Action: "kms:*", Resource: "*" },
            {
                Sid: "SignOnlyAsTheVerifier",
                Effect: "Deny",
                Principal: { AWS: "*" },
                Action: ["kms:Sign"],
                Resource: "*",
                Condition: { ArnNotEquals: { "aws:PrincipalArn": c.verifierRoleArn } },
            },
            ...keyAdministrationStatements(c.deployerArns, c.breakGlass),
        ],
    };
}

/** The verifier's IAM statement: sign with this key, Ed25519 over the raw record payload only. */
export function recordSigningStatement(keyArn: string): PolicyStatement {
    return {
        Sid: "SignVerificationRecords",
        Effect: "Allow",
        Action: ["kms:Sign"],
        Resource: keyArn,
        Condition: { StringEquals: { "kms:SigningAlgorithm": "ED25519_SHA_512", "kms:MessageType": "RAW" } },
    };
}

/** The verifier's inline policy holding only recordSigningStatement(). */
export function recordSigningPolicy(keyArn: string): PolicyDocument {
    return { Version: "2012-10-17", Statement: [recordSigningStatement(keyArn)] };
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
                description: `supabase-backups ${args.env}: signs verification records (kms:Sign for the verifier only)`,
                keyUsage: "SIGN_VERIFY",
                customerMasterKeySpec: "ECC_NIST_EDWARDS25519",
                deletionWindowInDays: args.deletionWindowDays,
                policy: JSON.stringify(recordSigningKeyPolicy(args)),
                // As the vault key (components/vault.ts): only the break-glass role may change the policy.
                bypassPolicyLockoutSafetyCheck: args.breakGlass && !args.breakGlass.deployersMayChangeKeyPolicy ? true : undefined,
                tags: { project: "supabase-backups", env: args.env, ...args.tags },
            },
            { parent: this, protect: args.protect, dependsOn: args.breakGlassRole ? [args.breakGlassRole] : [] },
        );
        this.keyArn = this.key.arn;
        this.publicKeyPem = kms.getPublicKeyOutput({ keyId: this.key.arn }, { parent: this }).publicKeyPem;
        this.registerOutputs({ keyArn: this.keyArn, publicKeyPem: this.publicKeyPem });
    }
}
