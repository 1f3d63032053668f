// Verification records (verify/{env}/{runId}/{verifiedAt}.json), read one way for verify, restore and
// status: listed once per env, each record fetched at most once, an unreadable record counting as no
// verification (it proves nothing), and — once the stack signs records (record-signing.ts) — a record
// counting only with a valid signature; one with an invalid signature is forged or altered (tampering).
import type { S3Client } from "@aws-sdk/client-s3";
import { parseVaultKey, prefixes, recordSigningPayload, type VerifyRecord } from "@supabase-backups/contracts";
import { getJson, listAll } from "./s3";
import { isTrusted, signatureState, type RecordTrust, type SignatureState } from "./record-signing";

export interface Verification {
    result: "passed" | "failed";
    verifiedAt: string;
    reason: string | null;
    /** restore seconds measured by the canary restore */
    restoreSeconds?: number;
    /** "valid": signed by the verifier's key; "unsigned": trusted only because no key is configured */
    signature: SignatureState;
    /** the manifest version and sha256 the record proves (absent in records older than version pinning) */
    manifest?: NonNullable<VerifyRecord["manifest"]>;
    /** the manifest sha256 the record proves (also in records older than version pinning) */
    manifestSha256: string | null;
}

interface Read {
    record: VerifyRecord;
    state: SignatureState;
}

export class VerificationIndex {
    private cache = new Map<string, Read | null>();
    /** keys of records whose signature did not verify, as met while reading */
    private readonly invalid = new Set<string>();

    private constructor(
        private readonly s3: S3Client,
        private readonly bucket: string,
        /** record keys per run, sorted: compact UTC stamps sort in time order */
        private readonly keys: Map<string, string[]>,
        readonly trust: RecordTrust,
    ) {}

    static async load(s3: S3Client, bucket: string, env: string, trust: RecordTrust): Promise<VerificationIndex> {
        const keys = new Map<string, string[]>();
        for (const o of await listAll(s3, bucket, prefixes.verify(env))) {
            const p = parseVaultKey(o.key);
            if (p?.kind !== "verify" || p.env !== env || !p.name.endsWith(".json")) continue;
            keys.set(p.runId, [...(keys.get(p.runId) ?? []), o.key].sort());
        }
        return new VerificationIndex(s3, bucket, keys, trust);
    }

    runIds(): string[] {
        return [...this.keys.keys()];
    }

    private async read(key: string): Promise<Read | null> {
        if (!this.cache.has(key)) {
            try {
                const record = (await getJson<VerifyRecord>(this.s3, this.bucket, key)).value;
                const state = signatureState(record.signature, recordSigningPayload(record), this.trust);
                if (state === "invalid") this.invalid.add(key);
                this.cache.set(key, { record, state });
            } catch {
                this.cache.set(key, null);
            }
        }
        return this.cache.get(key)!;
    }

    /** The newest trusted record of a run that matches `accept`, whatever its result. */
    async newest(runId: string, accept: (r: VerifyRecord) => boolean = () => true): Promise<VerifyRecord | undefined> {
        return (await this.newestRead(runId, accept))?.record;
    }

    private async newestRead(runId: string, accept: (r: VerifyRecord) => boolean): Promise<Read | undefined> {
        for (const key of [...(this.keys.get(runId) ?? [])].reverse()) {
            const r = await this.read(key);
            if (r && r.record.runId === runId && isTrusted(r.state, this.trust) && accept(r.record)) return r;
        }
        return undefined;
    }

    /** The newest trusted passed record of a run. */
    passed(runId: string): Promise<VerifyRecord | undefined> {
        return this.newest(runId, (r) => r.result === "passed");
    }

    /** The newest trusted record of a run, summarized. */
    async verification(runId: string): Promise<Verification | undefined> {
        const r = await this.newestRead(runId, () => true);
        return r ? summarize(r.record, r.state) : undefined;
    }

    /** Records whose signature is invalid (forged or altered), among those read so far; `all` reads every record first. */
    async forged(all = false): Promise<string[]> {
        if (all) for (const keys of this.keys.values()) for (const k of keys) await this.read(k);
        return [...this.invalid].sort();
    }

    /** A record this process just wrote (and signed). */
    add(key: string, record: VerifyRecord): void {
        this.keys.set(record.runId, [...(this.keys.get(record.runId) ?? []), key].sort());
        this.cache.set(key, { record, state: signatureState(record.signature, recordSigningPayload(record), this.trust) });
    }
}

export function summarize(r: VerifyRecord, signature: SignatureState): Verification {
    return {
        result: r.result,
        verifiedAt: r.verifiedAt,
        reason: r.reason,
        restoreSeconds: r.durations?.restoreSeconds,
        signature,
        manifestSha256: r.manifestSha256,
        ...(r.manifest ? { manifest: r.manifest } : {}),
    };
}

/** The newest trusted verification of every run of an env, and the records whose signature is invalid. */
export async function loadVerifications(s3: S3Client, bucket: string, env: string, trust: RecordTrust): Promise<{ byRun: Map<string, Verification>; forged: string[] }> {
    const index = await VerificationIndex.load(s3, bucket, env, trust);
    const byRun = new Map<string, Verification>();
    for (const runId of index.runIds()) {
        const v = await index.verification(runId);
        if (v) byRun.set(runId, v);
    }
    return { byRun, forged: await index.forged(true) };
}
