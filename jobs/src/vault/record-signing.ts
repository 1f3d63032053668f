// Signed vault records (docs/security.md "Tampering with the vault"): verification records, signed by
// verify, and drill records, signed by drill. Each signer signs with an Ed25519 key only it can use — a
// KMS key (ECC_NIST_EDWARDS25519) on which only its role has kms:Sign, or, where there is no KMS (tests,
// S3-compatible vaults), a private key from its secret — and every reader checks the signature with the
// public key from the job config. Anyone who can put objects under verify/ or drill/ but cannot use the
// signer's key can only write records that fail. One implementation for both kinds; what differs is in
// SIGNED_KINDS (the config section, the secret, the payload's domain: contracts record-signature.ts).
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { JOB_ENV, type JobConfig, type RecordSignature, type SignedRecordKind } from "@supabase-backups/contracts";
import { EXIT } from "@supabase-backups/contracts";
import { errorMessage, JobFailure } from "../runtime/errors";
import { registerSecret } from "../runtime/log";

/** What a reader trusts: the public key, when the stack signs records. */
export interface RecordTrust {
    publicKey?: KeyObject;
}

export type SignatureState = "valid" | "unsigned" | "invalid";

type SigningConfig = NonNullable<JobConfig["vault"]["recordSigning"]>;

/** Per kind of signed record: its config section, the secret its signer may sign with, what it is called. */
const SIGNED_KINDS: Record<SignedRecordKind, { section: "recordSigning" | "drillRecordSigning"; secretEnv: string; records: string }> = {
    verify: { section: "recordSigning", secretEnv: JOB_ENV.recordSigningKey, records: "verification records" },
    drill: { section: "drillRecordSigning", secretEnv: JOB_ENV.drillSigningKey, records: "drill records" },
};

function signingConfig(vault: JobConfig["vault"], kind: SignedRecordKind): SigningConfig | undefined {
    return vault[SIGNED_KINDS[kind].section];
}

/** The public key that checks `kind` records (verification records unless said otherwise). */
export function recordTrust(vault: JobConfig["vault"], kind: SignedRecordKind = "verify"): RecordTrust {
    const pem = signingConfig(vault, kind)?.publicKeyPem;
    if (!pem) return {};
    try {
        return { publicKey: createPublicKey(pem) };
    } catch (e) {
        throw new JobFailure(`vault.${SIGNED_KINDS[kind].section}.publicKeyPem is not a public key: ${errorMessage(e)}`, EXIT.usage);
    }
}

/** A short id of a public key (sha256 of its SPKI DER): which key signed a record. */
export function keyIdOf(key: KeyObject): string {
    return createHash("sha256").update(key.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

/** Is a record's signature (over `payload`, its kind's signing payload) valid under the configured key? */
export function signatureState(signature: RecordSignature | undefined, payload: Buffer, trust: RecordTrust): SignatureState {
    if (!signature) return "unsigned";
    if (!trust.publicKey) return "unsigned"; // nothing to check it with: it proves no more than an unsigned one
    try {
        return cryptoVerify(null, payload, trust.publicKey, Buffer.from(signature.value, "base64")) ? "valid" : "invalid";
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

/** The KMS key (kms:Sign, the signer's role only): Ed25519 over the raw payload. */
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
function secretSigner(pem: string, name: string): (payload: Buffer) => Promise<Buffer> {
    registerSecret(pem);
    let key: KeyObject;
    try {
        key = createPrivateKey(pem);
    } catch {
        throw new JobFailure(`${name} is not a PKCS#8 PEM private key`, EXIT.usage);
    }
    if (key.asymmetricKeyType !== "ed25519") throw new JobFailure(`${name} must be an Ed25519 key, not ${key.asymmetricKeyType}`, EXIT.usage);
    return async (payload) => cryptoSign(null, payload, key);
}

/**
 * The signer of `kind` records (verify's or drill's), checked once against the configured public key (a
 * signer whose records nobody could verify is a configuration fault, found before any work is done).
 * Undefined: no signing set up for that kind.
 */
export async function recordSigner(vault: JobConfig["vault"], env: NodeJS.ProcessEnv, kind: SignedRecordKind = "verify"): Promise<RecordSigner | undefined> {
    const { section, secretEnv, records } = SIGNED_KINDS[kind];
    const cfg = signingConfig(vault, kind);
    if (!cfg) return undefined;
    const trust = recordTrust(vault, kind);
    const secret = env[secretEnv];
    const raw = cfg.kmsKeyArn ? kmsSigner(cfg.kmsKeyArn, vault.region) : secret ? secretSigner(secret, secretEnv) : undefined;
    if (!raw) throw new JobFailure(`vault.${section} is set but has no kmsKeyArn and ${secretEnv} is not set: cannot sign ${records}`, EXIT.failed);
    const probe = Buffer.from(`supabase-backups/${kind}-record/probe/${Date.now()}`);
    let ok = false;
    try {
        ok = cryptoVerify(null, probe, trust.publicKey!, await raw(probe));
    } catch (e) {
        throw new JobFailure(`cannot sign ${records}${cfg.kmsKeyArn ? ` with ${cfg.kmsKeyArn}` : ""}: ${errorMessage(e)}`, EXIT.failed, e);
    }
    if (!ok) throw new JobFailure(`the ${kind} record signing key does not match vault.${section}.publicKeyPem: records signed with it would not verify`, EXIT.failed);
    const keyId = keyIdOf(trust.publicKey!);
    return { keyId, sign: async (payload) => (await raw(payload)).toString("base64") };
}

/** A record with its signature over `payload(record)` (the record kind's signing payload). */
export async function signRecord<R extends { signature?: RecordSignature }>(record: R, payload: (r: R) => Buffer, signer: RecordSigner): Promise<R> {
    return { ...record, signature: { alg: "ed25519", keyId: signer.keyId, value: await signer.sign(payload(record)) } };
}
