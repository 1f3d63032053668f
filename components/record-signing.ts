// The key that signs verification records (docs/security.md "Tampering with the vault"): a KMS
// asymmetric key (Ed25519, ECC_NIST_EDWARDS25519, SIGN_VERIFY) that only the verifier's role may use to
// sign, so nobody holding the writer's (or even the verifier's S3) credentials can make a record that
// restore, status and verify trust. The public key goes into the job config; readers check signatures
// locally and need no KMS permission at all.
import * as pulumi from "@pulumi/pulumi";
import * as kms from "@pulumi/aws/kms";
import { denyKeyDestructionExceptDeployers, type PolicyDocument, type PolicyStatement } from "./iam-policies";

export interface RecordSigningKeyPolicyContext {
    accountId: string;
    deployerArns: string[];
    /** the only principal that may call kms:Sign */
    verifierRoleArn: string;
}

/**
 * Key policy: IAM policies decide management (account root delegation), but kms:Sign is denied to every
 * principal except the verifier's role — an account admin's `kms:*` included — and only deployers may
 * destroy or re-policy the key.
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
            denyKeyDestructionExceptDeployers(c.deployerArns),
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
                tags: { project: "supabase-backups", env: args.env, ...args.tags },
            },
            { parent: this, protect: args.protect },
        );
        this.keyArn = this.key.arn;
        this.publicKeyPem = kms.getPublicKeyOutput({ keyId: this.key.arn }, { parent: this }).publicKeyPem;
        this.registerOutputs({ keyArn: this.keyArn, publicKeyPem: this.publicKeyPem });
    }
}
