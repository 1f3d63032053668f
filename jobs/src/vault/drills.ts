// Drill records (docs/operations.md "Restore drills"): one create-only record per drill under
// `drill/{env}/{kind}/…`, locked like audit records and signed by the drill identity (record-signing.ts),
// and the newest trusted one of each kind for `status`. A record is read at its first version (the one
// the drill wrote), so a later put over it changes nothing status shows.
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from "@aws-sdk/client-s3";
import { assertSchema, DRILL_KINDS, drillKindPrefix, drillRecordKey, DrillRecordSchema, drillSigningPayload, type DrillKind, type DrillRecord } from "@supabase-backups/contracts";
import { errorMessage, httpStatusOf } from "../runtime/errors";
import { isTrusted, signatureState, type RecordTrust, type SignatureState } from "./record-signing";
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

/** A drill record newer than the newest trusted one: unsigned or with a signature that does not verify. */
export interface UntrustedDrill {
    key: string;
    record: DrillRecord;
    signature: Exclude<SignatureState, "valid">;
}

export interface LastDrill {
    kind: DrillKind;
    key?: string;
    /** the newest trusted record: signed by the drill identity's key, or any where no key is configured */
    record?: DrillRecord;
    /** "valid", or "unsigned" where no drill signing key is configured */
    signature?: SignatureState;
    /** records newer than it that are not trusted, newest first (shown; never counted as a drill) */
    untrusted: UntrustedDrill[];
    /** the newest key that could not be read or is not a drill record (newer than the trusted one), with why */
    problem?: string;
}

/** How many untrusted (or unreadable) records status reads past before it gives up looking for a trusted one. */
export const MAX_UNTRUSTED_DRILLS = 20;

async function readDrill(s3: S3Client, bucket: string, key: string): Promise<DrillRecord> {
    const versionId = await firstVersion(s3, bucket, key);
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
    return assertSchema<DrillRecord>(DrillRecordSchema, JSON.parse(await r.Body!.transformToString("utf8")), key);
}

/**
 * The newest trusted drill record of each kind (keys sort by drill id: its start time), and the untrusted
 * ones above it: a record someone else put under drill/ neither hides nor replaces the drill's own.
 */
export async function lastDrills(s3: S3Client, bucket: string, env: string, trust: RecordTrust): Promise<LastDrill[]> {
    const out: LastDrill[] = [];
    for (const kind of DRILL_KINDS) {
        let keys: string[];
        try {
            keys = (await listAll(s3, bucket, drillKindPrefix(env, kind))).map((o) => o.key).filter((k) => k.endsWith(".json")).sort();
        } catch (e) {
            // a role from before the drills (no list right on drill/<env>/): shown as no drill, not a failure of status
            if (httpStatusOf(e) !== 403) throw e;
            out.push({ kind, untrusted: [] });
            continue;
        }
        out.push(await newestTrusted(s3, bucket, { env, kind }, keys, trust));
    }
    return out;
}

async function newestTrusted(s3: S3Client, bucket: string, { env, kind }: { env: string; kind: DrillKind }, keys: string[], trust: RecordTrust): Promise<LastDrill> {
    const last: LastDrill = { kind, untrusted: [] };
    let unreadable = 0;
    for (const key of [...keys].reverse()) {
        let record: DrillRecord;
        try {
            record = await readDrill(s3, bucket, key);
        } catch (e) {
            // reported, and passed over: garbage put under drill/ must not hide the drill's own record either
            last.problem ??= `${key}: ${errorMessage(e).split("\n")[0]}`;
            if (++unreadable >= MAX_UNTRUSTED_DRILLS) break;
            continue;
        }
        // the signature binds env, kind and drill id, the key binds them to the place: a genuine record
        // copied under another key (a newer drill id, another kind) is an altered record
        const placed = record.env === env && record.drill === kind && drillRecordKey(env, kind, record.drillId) === key;
        const state = placed ? signatureState(record.signature, drillSigningPayload(record), trust) : "invalid";
        if (isTrusted(state, trust)) return { ...last, key, record, signature: state };
        last.untrusted.push({ key, record, signature: state as UntrustedDrill["signature"] });
        if (last.untrusted.length >= MAX_UNTRUSTED_DRILLS) break;
    }
    return last;
}
