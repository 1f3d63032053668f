// The verification record (verify/{env}/{runId}/{verifiedAt}.json): built from one run's results by a
// pure function, then written once beside the run it proves.
import { assertSchema, MANIFEST_SCHEMA_VERSION, recordSigningPayload, verifyRecordKey, VerifyRecordSchema, type DbManifest, type VerifyRecord } from "@supabase-backups/contracts";
import { redact } from "../../runtime/log";
import { putRecordOnce } from "../../vault/s3";
import { signRecord } from "../../vault/record-signing";
import type { CheckResult } from "./checks";
import type { StorageVerifyResult } from "./storage-sample";
import type { VerifySession } from "./session";

/** The one-line reason of a failed verification: the first failed check. */
export function reasonOf(checks: CheckResult[]): string | null {
    const bad = checks.find((c) => !c.ok);
    return bad ? `${bad.name}: ${bad.detail}`.replace(/\s*\n\s*/g, " ") : null;
}

export interface RecordInput {
    env: string;
    runId: string;
    verifiedAt: Date;
    /** every check, in the order they ran (the storage check included) */
    checks: CheckResult[];
    /** sha256 of the manifest's bytes, when they could be read */
    manifestSha256: string | null;
    /** the manifest verified: key, version read, sha256 (signed with the record) */
    manifest?: VerifyRecord["manifest"];
    /** the run's keys whose current version is not the one verified */
    tampered?: Array<{ key: string; pinned: string | null; current: string | null }>;
    dumpBytes: number;
    durations: VerifyRecord["durations"];
    storage?: StorageVerifyResult;
}

/** The record: passed iff every check passed; the reason and details redacted. */
export function buildRecord(i: RecordInput): VerifyRecord {
    const reason = reasonOf(i.checks);
    const record: VerifyRecord = {
        schemaVersion: MANIFEST_SCHEMA_VERSION,
        kind: "verify",
        env: i.env,
        runId: i.runId,
        verifiedAt: i.verifiedAt.toISOString(),
        result: reason ? "failed" : "passed",
        reason: reason ? redact(reason) : null,
        manifestSha256: i.manifestSha256,
        ...(i.manifest ? { manifest: i.manifest } : {}),
        ...(i.tampered?.length ? { tampered: i.tampered.map((t) => ({ key: t.key, pinned: t.pinned, current: t.current })) } : {}),
        dumpBytes: i.dumpBytes,
        durations: i.durations,
        checks: i.checks.map((c) => ({ ...c, detail: redact(c.detail) })),
        ...(i.storage
            ? {
                  storage: {
                      runId: i.storage.runId,
                      blobsReferenced: i.storage.blobsReferenced,
                      blobsMissing: i.storage.blobsMissing,
                      sampled: i.storage.sampled,
                      sampleMismatches: i.storage.sampleMismatches,
                  },
              }
            : {}),
    };
    assertSchema(VerifyRecordSchema, record, "verification record");
    return record;
}

/**
 * Sign the record (when the stack signs records), write it once and add it to the session's index;
 * returns its key and the record as written. `manifest`: the run's valid
 * manifest, when there is one.
 */
export async function writeRecord(s: VerifySession, record: VerifyRecord, verifiedAt: Date, manifest: DbManifest | undefined): Promise<{ key: string; record: VerifyRecord }> {
    const env = s.ctx.config.env;
    const key = verifyRecordKey(env, record.runId, verifiedAt);
    // Write-once, kept as long as the run it proves (same tier tag, same retain-until); SSE-KMS with
    // the vault key like every other object (the bucket policy denies other keys). S3 refuses a
    // retain-until in the past: a run at the end of its retention gets the bucket's default lock.
    const retainUntil = manifest && new Date(manifest.retainUntil).getTime() > Date.now() + 60_000 ? new Date(manifest.retainUntil) : undefined;
    // Signed over (env, run, result, time, manifest key, version, sha256): only the verifier's key makes one.
    const signed = s.signer ? await signRecord(record, recordSigningPayload, s.signer) : record;
    await putRecordOnce(s.s3, s.ctx.config.vault, { key, tags: { ...(manifest ? { tier: manifest.tier } : {}), env, kind: "verify" }, retainUntil }, signed);
    s.records.add(key, signed);
    return { key, record: signed };
}
