// Reading the audit log (docs/security.md "Audit before action"): each record is read at its FIRST
// version — the one written with the action and locked COMPLIANCE — so an operator who puts a new
// version over their own record (a store that ignores If-None-Match lets them) cannot change what the
// log says; the extra versions are reported as tampering. Started and finished records of one action
// are joined by eventId: a started record without a finished one is an action that never reported back
// (killed, lost its network, still running).
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from "@aws-sdk/client-s3";
import { prefixes, type AuditRecord } from "@supabase-backups/contracts";
import { errorMessage, httpStatusOf } from "../runtime/errors";
import { listAll } from "./s3";

export interface AuditEntry {
    eventId: string;
    /** the finished record when there is one, else the started one */
    record: AuditRecord;
    started: boolean;
    finished: boolean;
    /** keys that have more than one version: later versions were ignored */
    overwritten: string[];
}

export interface AuditLog {
    entries: AuditEntry[];
    /** how the records were read: "first-version", or "current" when versions could not be listed */
    read: "first-version" | "current";
    note?: string;
}

interface KeyVersions {
    key: string;
    /** oldest first */
    versionIds: string[];
}

async function listVersions(s3: S3Client, bucket: string, prefix: string): Promise<KeyVersions[]> {
    const byKey = new Map<string, Array<{ id: string; at: number }>>();
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
        const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
        for (const v of r.Versions ?? []) {
            if (!v.Key || !v.VersionId) continue;
            byKey.set(v.Key, [...(byKey.get(v.Key) ?? []), { id: v.VersionId, at: v.LastModified?.getTime() ?? 0 }]);
        }
        keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
        versionMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return [...byKey].map(([key, vs]) => ({ key, versionIds: vs.sort((a, b) => a.at - b.at).map((v) => v.id) }));
}

async function readJson(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<AuditRecord> {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
    return JSON.parse(await r.Body!.transformToString("utf8")) as AuditRecord;
}

/** Every audit record of an env, read at its first version where versions can be listed. */
export async function readAuditLog(s3: S3Client, bucket: string, env: string): Promise<AuditLog> {
    const prefix = prefixes.audit(env);
    let keys: KeyVersions[];
    let read: AuditLog["read"] = "first-version";
    let note: string | undefined;
    try {
        keys = await listVersions(s3, bucket, prefix);
    } catch (e) {
        // 403: no s3:ListBucketVersions; 405/501: a store without versioning (s3rver in tests)
        const status = httpStatusOf(e);
        if (status !== 403 && status !== 405 && status !== 501) throw e;
        read = "current";
        note = `cannot list versions (${errorMessage(e)}): showing current versions, which a later put could have replaced`;
        keys = (await listAll(s3, bucket, prefix)).map((o) => ({ key: o.key, versionIds: [] }));
    }
    const byEvent = new Map<string, AuditEntry>();
    for (const k of keys) {
        const rec = await readJson(s3, bucket, k.key, k.versionIds[0]);
        const started = k.key.endsWith(".started.json");
        const e = byEvent.get(rec.eventId) ?? { eventId: rec.eventId, record: rec, started: false, finished: false, overwritten: [] };
        if (started) e.started = true;
        else {
            e.finished = true;
            e.record = rec;
        }
        if (k.versionIds.length > 1) e.overwritten.push(k.key);
        byEvent.set(rec.eventId, e);
    }
    const entries = [...byEvent.values()].sort((a, b) => (a.record.startedAt < b.record.startedAt ? -1 : a.record.startedAt > b.record.startedAt ? 1 : 0));
    return { entries, read, note };
}
