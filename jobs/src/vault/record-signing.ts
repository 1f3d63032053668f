// Signed verification records (docs/security.md "Tampering with the vault"). verify signs each record
// with an Ed25519 key only it can use — a KMS key (ECC_NIST_EDWARDS25519) on which only the verifier's
// role has kms:Sign, or, where there is no KMS (tests, S3-compatible vaults), a private key from the
// verifier's secret — and every reader checks the signature with the public key from the job config.
// Anyone who can put objects under verify/ but cannot use the key can only write records that fail.
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { JOB_ENV, recordSigningPayload, type JobConfig, type VerifyRecord } from "@supabase-backups/contracts";
import { EXIT } from "@supabase-backups/contracts";
import { errorMessage, JobFailure } from "../runtime/errors";
import { registerSecret } from "../runtime/log";

/** What a reader trusts: the public key, when the stack signs records. */
export interface RecordTrust {
    publicKey?: KeyObject;
}

export type SignatureState = "valid" | "unsigned" | "invalid";

export function recordTrust(vault: JobConfig["vault"]): RecordTrust {
    const pem = vault.recordSigning?.publicKeyPem;
    if (!pem) return {};
    try {
        return { publicKey: createPublicKey(pem) };
    } catch (e) {
        throw new JobFailure(`vault.recordSigning.publicKeyPem is not a public key: ${errorMessage(e)}`, EXIT.usage);
    }
}

/** A short id of a public key (sha256 of its SPKI DER): which key signed a record. */
export function keyIdOf(key: KeyObject): string {
    return createHash("sha256").update(key.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

/** Is this record's signature valid under the configured key? */
export function signatureState(r: VerifyRecord, trust: RecordTrust): SignatureState {
    if (!r.signature) return "unsigned";
    if (!trust.publicKey) return "unsigned"; // nothing to check it with: it proves no more than an unsigned one
    try {
        return cryptoVerify(null, recordSigningPayload(r), trust.publicKey, Buffer.from(r.signature.value, "base64")) ? "valid" : "invalid";
    } catch {
        return "invalid";
    }
}

/**
 * Does a record prove its run? Only with a valid signature once the stack signs records; an unsigned
 * record counts only where no signing key is configured at all (a vault set up before signing).
 */
export function isTrusted(state: SignatureState, trust: RecordTrust): boolean {
    return state === "valid" || (!trust.publicKey && state === "unsigned");
}

export interface RecordSigner {
    keyId: string;
    sign(payload: Buffer): Promise<string>;
}

/** The KMS key (kms:Sign, the verifier's role only): Ed25519 over the raw payload. */
function kmsSigner(keyArn: string, region: string): (payload: Buffer) => Promise<Buffer> {
    return async (payload) => {
        const { KMSClient, SignCommand } = await import("@aws-sdk/client-kms");
        const kms = new KMSClient({ region });
        try {
            const r = await kms.send(new SignCommand({ KeyId: keyArn, Message: payload, MessageType: "RAW", SigningAlgorithm: "ED25519_SHA_512" }));
            return Buffer.from(r.Signature!);
        } finally {
            kms.destroy();
        }
    };
}

/** The secret key (tests, vaults without KMS): registered as a secret so no log line can carry it. */
function secretSigner(pem: string): (payload: Buffer) => Promise<Buffer> {
    registerSecret(pem);
    let key: KeyObject;
    try {
        key = createPrivateKey(pem);
    } catch {
        throw new JobFailure(`${JOB_ENV.recordSigningKey} is not a PKCS#8 PEM private key`, EXIT.usage);
    }
    if (key.asymmetricKeyType !== "ed25519") throw new JobFailure(`${JOB_ENV.recordSigningKey} must be an Ed25519 key, not ${key.asymmetricKeyType}`, EXIT.usage);
    return async (payload) => cryptoSign(null, payload, key);
}

/**
 * The verifier's signer, checked once against the configured public key (a signer whose records nobody
 * could verify is a configuration fault, found before anything is verified). Undefined: no signing set up.
 */
export async function recordSigner(vault: JobConfig["vault"], env: NodeJS.ProcessEnv): Promise<RecordSigner | undefined> {
    const cfg = vault.recordSigning;
    if (!cfg) return undefined;
    const trust = recordTrust(vault);
    const secret = env[JOB_ENV.recordSigningKey];
    const raw = cfg.kmsKeyArn ? kmsSigner(cfg.kmsKeyArn, vault.region) : secret ? secretSigner(secret) : undefined;
    if (!raw) throw new JobFailure(`vault.recordSigning is set but has no kmsKeyArn and ${JOB_ENV.recordSigningKey} is not set: cannot sign verification records`, EXIT.failed);
    const probe = Buffer.from(`supabase-backups/verify-record/probe/${Date.now()}`);
    let ok = false;
    try {
        ok = cryptoVerify(null, probe, trust.publicKey!, await raw(probe));
    } catch (e) {
        throw new JobFailure(`cannot sign verification records${cfg.kmsKeyArn ? ` with ${cfg.kmsKeyArn}` : ""}: ${errorMessage(e)}`, EXIT.failed, e);
    }
    if (!ok) throw new JobFailure("the record signing key does not match vault.recordSigning.publicKeyPem: records signed with it would not verify", EXIT.failed);
    const keyId = keyIdOf(trust.publicKey!);
    return { keyId, sign: async (payload) => (await raw(payload)).toString("base64") };
}

/** Sign a record in place (its manifest pin included). */
export async function signRecord(record: VerifyRecord, signer: RecordSigner): Promise<VerifyRecord> {
    return { ...record, signature: { alg: "ed25519", keyId: signer.keyId, value: await signer.sign(recordSigningPayload(record)) } };
}
