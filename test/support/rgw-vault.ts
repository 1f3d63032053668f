// Helpers for the tests that let Ceph RGW (test/support/rgw.ts, Pacific 16.2) enforce the vault with the
// project's own IAM documents and lifecycle rules (test/jobs/vault/*.test.ts).
//
// What Pacific cannot take as generated, found by bisecting the documents statement by statement and action
// by action against a fresh RGW (the identities test re-checks this, so a change on either side shows):
//   - any `kms:*` action: IAM PutUserPolicy answers MalformedPolicyDocument (Pacific's policy parser has no
//     kms service). The KMS statements only matter to AWS KMS; RGW's SSE-KMS talks to its key backend with its
//     own credentials, never the caller's, so removing them changes nothing RGW could enforce.
//   - S3 actions Pacific does not know (PutUserPolicy: MalformedPolicyDocument, PutBucketPolicy:
//     InvalidArgument): s3:PutEncryptionConfiguration (Pacific has no bucket default-encryption API),
//     s3:PutBucketOwnershipControls (no ownership controls: object ACLs are always live),
//     s3:PutInventoryConfiguration (no inventory), and the newer bucket-configuration actions (ABAC and
//     resource tagging, analytics, Intelligent-Tiering, metrics, replication pause, metadata tables).
//     They only appear in "never change the bucket config" lists; the APIs they guard do not exist on
//     Pacific.
// Everything else parses. Conditions on keys Pacific does not populate (aws:PrincipalArn, s3:object-lock-mode)
// are accepted but never match; the tests pin down what that leaves unenforced.
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectLockConfigurationCommand, type LifecycleRule, type S3Client } from "@aws-sdk/client-s3";
import type { PolicyDocument, PolicyStatement } from "../../components/iam-policies";
import { bucketPolicy } from "../../components/resource-policies";
import type { RgwCredentials, RgwServer } from "./rgw";

/** S3 actions in the project's documents that Pacific's policy parser rejects. */
export const PACIFIC_UNKNOWN_S3_ACTIONS = [
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutInventoryConfiguration",
    // found with a probe of every action of components/iam-policies.ts BUCKET_CONFIG_ACTIONS on RGW 16.2.15
    "s3:TagResource",
    "s3:UntagResource",
    "s3:PutBucketAbac",
    "s3:PutAnalyticsConfiguration",
    "s3:PutIntelligentTieringConfiguration",
    "s3:PutMetricsConfiguration",
    "s3:PauseReplication",
    "s3:CreateBucketMetadataTableConfiguration",
    "s3:DeleteBucketMetadataTableConfiguration",
    "s3:UpdateBucketMetadataInventoryTableConfiguration",
    "s3:UpdateBucketMetadataJournalTableConfiguration",
] as const;

/** How RGW names a user (empty tenant) in policies: `arn:aws:iam:::user/<uid>`. */
export const rgwUserArn = (uid: string) => `arn:aws:iam:::user/${uid}`;

/**
 * The project's vault bucket policy (components/resource-policies.ts) with the identities as RGW users named
 * after their roles (`writer`, `verifier`, `gc`, `drill`; the harness admin as the deployer); `writers`: the
 * users that may set retention. Raw: forPacific() before applying it.
 */
export function rgwBucketPolicy(o: { bucket: string; env: string; kmsKeyArn: string; writers: string[] }): PolicyDocument {
    return bucketPolicy({
        bucket: o.bucket,
        env: o.env,
        kmsKeyArn: o.kmsKeyArn,
        deployerArns: [rgwUserArn("rgw-admin")],
        writerRoleArns: o.writers.map(rgwUserArn),
        gcRoleArn: rgwUserArn("gc"),
        drillRoleArn: rgwUserArn("drill"),
        verifierRoleArn: rgwUserArn("verifier"),
    });
}

/** The vault bucket as components/vault.ts makes it, as far as Pacific has it: Object Lock, versioning, and a default COMPLIANCE retention of `lockDays` when given. */
export async function createRgwVaultBucket(admin: S3Client, bucket: string, lockDays?: number): Promise<void> {
    await admin.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    await admin.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
    if (lockDays === undefined) return;
    await admin.send(
        new PutObjectLockConfigurationCommand({ Bucket: bucket, ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: lockDays } } } }),
    );
}

/**
 * The document minus what Pacific cannot parse: `kms:*` actions and PACIFIC_UNKNOWN_S3_ACTIONS. A statement
 * left without actions is dropped (only the KMS ones: every S3 list keeps other actions). Returns what was
 * removed, so a test can assert it is exactly that and nothing else.
 */
export function forPacific(doc: PolicyDocument): { doc: PolicyDocument; removedActions: string[]; droppedSids: string[] } {
    const removedActions: string[] = [];
    const droppedSids: string[] = [];
    const unknown = new Set<string>(PACIFIC_UNKNOWN_S3_ACTIONS);
    const statements: PolicyStatement[] = [];
    for (const s of doc.Statement) {
        if (s.NotAction !== undefined) throw new Error(`forPacific: NotAction in ${s.Sid} is not handled`);
        const actions = ([] as string[]).concat(s.Action ?? []);
        const kept = actions.filter((a) => !a.startsWith("kms:") && !unknown.has(a));
        removedActions.push(...actions.filter((a) => !kept.includes(a)));
        if (!kept.length) {
            droppedSids.push(s.Sid ?? "(no sid)");
            continue;
        }
        statements.push(kept.length === actions.length ? s : { ...s, Action: kept });
    }
    return { doc: { ...doc, Statement: statements }, removedActions: [...new Set(removedActions)].sort(), droppedSids };
}

/** PutUserPolicy through RGW's IAM API (as the harness admin, which has the user-policy caps). */
export async function putUserPolicy(rgw: RgwServer, uid: string, policyName: string, doc: PolicyDocument | object): Promise<void> {
    await rgw.queryOk(rgw.admin, { Action: "PutUserPolicy", UserName: uid, PolicyName: policyName, PolicyDocument: JSON.stringify(doc) });
}

export type S3Error = Error & { $metadata?: { httpStatusCode?: number }; Code?: string };

/**
 * The error a refused call ends with; fails the test if the call succeeded or failed otherwise. RGW sends
 * empty <Message>s, so the SDK's message is "UnknownError": the code is in `name`. A HEAD has no body: the
 * SDK names it after the status ("Unknown" for 403), so pass `status` for those.
 */
export async function refused(p: Promise<unknown>, expect: { code?: string; status?: number } = { code: "AccessDenied" }): Promise<S3Error> {
    let result: unknown;
    try {
        result = await p;
    } catch (e) {
        const err = e as S3Error;
        if (expect.code) assert.equal(err.name, expect.code, `expected ${expect.code}, got ${err.name} (HTTP ${err.$metadata?.httpStatusCode}): ${err.message}`);
        if (expect.status) assert.equal(err.$metadata?.httpStatusCode, expect.status, `expected HTTP ${expect.status}, got ${err.$metadata?.httpStatusCode} (${err.name})`);
        return err;
    }
    assert.fail(`expected ${expect.code ?? `HTTP ${expect.status}`}, the server accepted: ${JSON.stringify((result as { $metadata?: unknown })?.$metadata ?? result)}`);
}

/** Credentials as the job's child process gets them (the SDK's default chain reads these). */
export function awsEnv(c: RgwCredentials): Record<string, string | undefined> {
    return { AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_SESSION_TOKEN: c.sessionToken, AWS_REGION: "us-east-1", AWS_PROFILE: undefined };
}

/**
 * components/vault.ts vaultLifecycleRules() (Pulumi aws.s3.BucketLifecycleConfiguration `rules`, camelCase) in
 * the SDK's PutBucketLifecycleConfiguration shape. Every field the rules use is mapped; any other field
 * throws, so a rule the project adds later is never dropped silently.
 */
export function sdkLifecycleRules(rules: ReadonlyArray<Record<string, any>>): LifecycleRule[] {
    const only = (o: Record<string, any>, keys: string[], where: string) => {
        for (const k of Object.keys(o)) if (!keys.includes(k)) throw new Error(`sdkLifecycleRules: unmapped field ${where}.${k}`);
    };
    return rules.map((r) => {
        only(r, ["id", "status", "filter", "expiration", "transitions", "noncurrentVersionExpiration", "abortIncompleteMultipartUpload"], "rule");
        const out: LifecycleRule = { ID: r.id, Status: r.status };
        if (r.filter) {
            only(r.filter, ["tag", "prefix", "and"], "filter");
            if (r.filter.tag && r.filter.prefix !== undefined) throw new Error("sdkLifecycleRules: tag and prefix together need And");
            if (r.filter.and) {
                only(r.filter.and, ["tags", "prefix"], "filter.and");
                out.Filter = {
                    And: {
                        ...(r.filter.and.prefix !== undefined ? { Prefix: r.filter.and.prefix } : {}),
                        Tags: Object.entries(r.filter.and.tags ?? {}).map(([Key, Value]) => ({ Key, Value: String(Value) })),
                    },
                };
            } else out.Filter = r.filter.tag ? { Tag: { Key: r.filter.tag.key, Value: r.filter.tag.value } } : { Prefix: r.filter.prefix };
        }
        if (r.expiration) {
            only(r.expiration, ["days", "expiredObjectDeleteMarker"], "expiration");
            out.Expiration = { ...(r.expiration.days !== undefined ? { Days: r.expiration.days } : {}), ...(r.expiration.expiredObjectDeleteMarker !== undefined ? { ExpiredObjectDeleteMarker: r.expiration.expiredObjectDeleteMarker } : {}) };
        }
        if (r.transitions?.length) {
            out.Transitions = r.transitions.map((t: Record<string, any>) => {
                only(t, ["days", "storageClass"], "transition");
                return { Days: t.days, StorageClass: t.storageClass };
            });
        }
        if (r.noncurrentVersionExpiration) {
            only(r.noncurrentVersionExpiration, ["noncurrentDays"], "noncurrentVersionExpiration");
            out.NoncurrentVersionExpiration = { NoncurrentDays: r.noncurrentVersionExpiration.noncurrentDays };
        }
        if (r.abortIncompleteMultipartUpload) {
            only(r.abortIncompleteMultipartUpload, ["daysAfterInitiation"], "abortIncompleteMultipartUpload");
            out.AbortIncompleteMultipartUpload = { DaysAfterInitiation: r.abortIncompleteMultipartUpload.daysAfterInitiation };
        }
        return out;
    });
}

/** A bucket-index entry as `radosgw-admin bi list` prints it (only the fields backdateListing reads). */
interface BiEntry {
    type: "plain" | "instance" | "olh";
    idx: string;
    entry: { name: string; instance: string; exists: string; flags: number; meta: { mtime: string } };
}
/** rgw_bucket_dir_entry flags (cls_rgw_types.h) */
const DIRENT_CURRENT = 0x2;
const DIRENT_DELETE_MARKER = 0x4;

/**
 * Makes RGW list an object's current version `ms` older than it is: rewrites the LastModified of its
 * bucket-index list entry (`radosgw-admin bi list`, then `bi put` of the same entry with an earlier mtime).
 * RGW stamps every write with its own clock, so this is the only way to have an "old" object on a fresh
 * cluster. Only listings change (ListObjectsV2, ListObjectVersions read the index); HEAD/GET still read the
 * head object's own mtime, and the data, lock, tags and version are untouched. Throws unless exactly one
 * current version is found; returns the LastModified the listing now reports.
 */
export async function backdateListing(rgw: RgwServer, bucket: string, key: string, ms: number): Promise<Date> {
    const entries = await rgw.execJson<BiEntry[]>(["bi", "list", "--bucket", bucket, "--object", key]);
    // the list entries (type "plain", idx "<key>\0v<n>\0i<instance>"); the instance/olh entries' idx starts
    // with byte 0x80, which does not survive JSON as UTF-8, and listings do not read them
    const current = entries.filter(
        (e) => e.type === "plain" && e.entry.name === key && e.entry.instance !== "" && e.entry.exists === "true" && (e.entry.flags & DIRENT_CURRENT) !== 0 && (e.entry.flags & DIRENT_DELETE_MARKER) === 0,
    );
    if (current.length !== 1) throw new Error(`backdateListing: ${current.length} current list entries for ${key}: ${JSON.stringify(entries.map((e) => [e.type, e.entry.flags]))}`);
    const e = current[0];
    const mtime = new Date(Date.parse(e.entry.meta.mtime) - ms);
    e.entry.meta.mtime = mtime.toISOString();
    const file = join(rgw.dir, `bi-${randomUUID()}.json`);
    writeFileSync(file, JSON.stringify(e));
    try {
        await rgw.exec(["bi", "put", "--bucket", bucket, "--infile", file]);
    } finally {
        rmSync(file, { force: true });
    }
    return mtime;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
