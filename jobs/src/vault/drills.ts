// Drill records (docs/operations.md "Restore drills"): one create-only record per drill under
// `drill/{env}/{kind}/…`, locked like audit records, and the newest one of each kind for `status`. A
// record is read at its first version (the one the drill wrote), so a later put over it changes nothing
// status shows.
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from "@aws-sdk/client-s3";
import { assertSchema, DRILL_KINDS, drillKindPrefix, drillRecordKey, DrillRecordSchema, type DrillKind, type DrillRecord } from "@supabase-backups/contracts";
import { errorMessage, httpStatusOf } from "../runtime/errors";
import { listAll, putRecordOnce } from "./s3";

export interface DrillRecordWrite {
    bucket: string;
    kmsKeyArn?: string;
    retainUntil: Date;
}

/** Write the drill's record once (If-None-Match, COMPLIANCE lock, no tier tag: no lifecycle expires it). */
export async function writeDrillRecord(s3: S3Client, w: DrillRecordWrite, record: DrillRecord): Promise<string> {
    assertSchema(DrillRecordSchema, record, "drill record");
    const key = drillRecordKey(record.env, record.drill, record.drillId);
    await putRecordOnce(s3, { bucket: w.bucket, kmsKeyArn: w.kmsKeyArn }, { key, tags: { env: record.env, kind: "drill" }, retainUntil: w.retainUntil }, record);
    return key;
}

/** The first version of a key, where the store lists versions (undefined: read the current one). */
async function firstVersion(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
    try {
        const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
        const vs = (r.Versions ?? []).filter((v) => v.Key === key && v.VersionId).sort((a, b) => (a.LastModified?.getTime() ?? 0) - (b.LastModified?.getTime() ?? 0));
        return vs[0]?.VersionId ?? undefined;
    } catch (e) {
        const status = httpStatusOf(e);
        if (status === 403 || status === 405 || status === 501) return undefined;
        throw e;
    }
}

export interface LastDrill {
    kind: DrillKind;
    key?: string;
    record?: DrillRecord;
    /** the newest key could not be read or is not a drill record */
    problem?: string;
}

/** The newest drill record of each kind (keys sort by drill id: its start time). */
export async function lastDrills(s3: S3Client, bucket: string, env: string): Promise<LastDrill[]> {
    const out: LastDrill[] = [];
    for (const kind of DRILL_KINDS) {
        let keys: string[];
        try {
            keys = (await listAll(s3, bucket, drillKindPrefix(env, kind))).map((o) => o.key).filter((k) => k.endsWith(".json")).sort();
        } catch (e) {
            // a role from before the drills (no list right on drill/<env>/): shown as no drill, not a failure of status
            if (httpStatusOf(e) !== 403) throw e;
            out.push({ kind });
            continue;
        }
        const key = keys.at(-1);
        if (!key) {
            out.push({ kind });
            continue;
        }
        try {
            const versionId = await firstVersion(s3, bucket, key);
            const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
            const record = assertSchema<DrillRecord>(DrillRecordSchema, JSON.parse(await r.Body!.transformToString("utf8")), key);
            out.push({ kind, key, record });
        } catch (e) {
            out.push({ kind, key, problem: errorMessage(e).split("\n")[0] });
        }
    }
    return out;
}
