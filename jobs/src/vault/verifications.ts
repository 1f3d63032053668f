// Verification records (verify/{env}/{runId}/{verifiedAt}.json), read one way for verify, restore and
// status: listed once per env, each record fetched at most once, an unreadable record counting as no
// verification (it proves nothing).
import type { S3Client } from "@aws-sdk/client-s3";
import { parseVaultKey, prefixes, type VerifyRecord } from "@supabase-backups/contracts";
import { getJson, listAll } from "./s3";

export interface Verification {
    result: "passed" | "failed";
    verifiedAt: string;
    reason: string | null;
    /** restore seconds measured by the canary restore */
    restoreSeconds?: number;
}

export class VerificationIndex {
    private cache = new Map<string, VerifyRecord | null>();

    private constructor(
        private readonly s3: S3Client,
        private readonly bucket: string,
        /** record keys per run, sorted: compact UTC stamps sort in time order */
        private readonly keys: Map<string, string[]>,
    ) {}

    static async load(s3: S3Client, bucket: string, env: string): Promise<VerificationIndex> {
        const keys = new Map<string, string[]>();
        for (const o of await listAll(s3, bucket, prefixes.verify(env))) {
            const p = parseVaultKey(o.key);
            if (p?.kind !== "verify" || p.env !== env || !p.name.endsWith(".json")) continue;
            keys.set(p.runId, [...(keys.get(p.runId) ?? []), o.key].sort());
        }
        return new VerificationIndex(s3, bucket, keys);
    }

    runIds(): string[] {
        return [...this.keys.keys()];
    }

    private async read(key: string): Promise<VerifyRecord | null> {
        if (!this.cache.has(key)) {
            try {
                this.cache.set(key, (await getJson<VerifyRecord>(this.s3, this.bucket, key)).value);
            } catch {
                this.cache.set(key, null);
            }
        }
        return this.cache.get(key)!;
    }

    /** The newest readable record of a run that matches it, whatever its result. */
    async newest(runId: string, accept: (r: VerifyRecord) => boolean = () => true): Promise<VerifyRecord | undefined> {
        for (const key of [...(this.keys.get(runId) ?? [])].reverse()) {
            const r = await this.read(key);
            if (r && r.runId === runId && accept(r)) return r;
        }
        return undefined;
    }

    /** The newest passed record of a run. */
    passed(runId: string): Promise<VerifyRecord | undefined> {
        return this.newest(runId, (r) => r.result === "passed");
    }

    /** A record this process just wrote. */
    add(key: string, record: VerifyRecord): void {
        this.keys.set(record.runId, [...(this.keys.get(record.runId) ?? []), key].sort());
        this.cache.set(key, record);
    }
}

export function summarize(r: VerifyRecord): Verification {
    return { result: r.result, verifiedAt: r.verifiedAt, reason: r.reason, restoreSeconds: r.durations?.restoreSeconds };
}

/** The newest verification of every run of an env. */
export async function loadVerifications(s3: S3Client, bucket: string, env: string): Promise<Map<string, Verification>> {
    const index = await VerificationIndex.load(s3, bucket, env);
    const out = new Map<string, Verification>();
    for (const runId of index.runIds()) {
        const r = await index.newest(runId);
        if (r) out.set(runId, summarize(r));
    }
    return out;
}
