// The vault's promises enforced by a real S3 — Ceph RGW (test/support/rgw.ts, Debian's Ceph 16.2 "Pacific") —
// with the project's own IAM documents: one bucket made like components/vault.ts makes it (Object Lock,
// versioning, default COMPLIANCE retention of retention.objectLockMinDays, public access block, the
// bucketPolicy() document), and one RGW user per identity carrying writerPolicy(), verifierPolicy(), gcPolicy()
// or restoreOperatorPolicy() as its user policy. The real CLI (dump, sync-storage, verify, restore db, gc) runs
// with each identity's credentials; then each identity tries what it must not do. Nothing here is a recording
// proxy: every refusal is RGW's.
//
// The documents go to RGW as the functions build them, minus what Pacific cannot parse (kms:* and the S3
// actions, see test/support/rgw-vault.ts; the first test proves both halves of that). Where Pacific (16.2.15)
// differs from AWS in a way that matters here, a test pins down what RGW really does and says what AWS does
// instead, so a reader knows what these tests cannot prove:
//   - statements it cannot evaluate: conditions on aws:PrincipalArn (no such key: every "except X" Deny of the
//     bucket policy never matches) and on s3:object-lock-mode, StringNotEquals+Null on an absent header,
//     aws:SecureTransport over http (grouped at the end);
//   - BlockPublicAcls refuses every PutObject; If-None-Match is ignored on PUT (also at the end).
// These tests first found five defects, each now fixed; the tests assert the fixed behaviour and, where RGW's
// own behaviour can still be shown, show it next to the fix (so either side changing shows):
//   - `*` in resource ARNs does not backtrack: `db/{env}/*/manifest.json` matches no manifest on RGW (shown
//     with that pattern put back for a moment); writerReadableKeys() now writes one `*` per key segment, and a
//     second dump with the writer's credentials reads the previous manifest and chains;
//   - CreateMultipartUpload drops Object Lock and tags (shown with a raw SDK upload): the jobs re-state both
//     after a multipart upload (sealUpload), so the multipart dump and the multipart blob carry the run's
//     COMPLIANCE retain-until and tags;
//   - RGW's error bodies carry no <Message> (the SDK says "UnknownError"): the jobs' error lines now name the
//     code and HTTP status ("AccessDenied (HTTP 403)");
//   - DeleteObjects is checked against the bucket ARN and refused as a whole: gc falls back to one
//     DeleteObject per version; the real gc CLI runs with gc's credentials. gc's grace period is measured on the
//     listing's LastModified, which RGW stamps itself: the test backdates the bucket-index list entries
//     (radosgw-admin bi put, test/support/rgw-vault.ts backdateListing) — the only vault state these tests
//     make outside S3;
//   - object ACLs are always live (the writer, as uploader, could grant another user read access to a dump):
//     every identity document now denies s3:PutObjectAcl/PutObjectVersionAcl (NeverShareObjects), and the
//     writer's grant is refused (shown to be that Deny's doing with the document without it).
//
// Principals: RGW users are `arn:aws:iam:::user/<uid>` (empty tenant). bucketPolicy() gets those ARNs for the
// deployer (the harness's admin, which creates the bucket), the writer roles and the gc role.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
    CompleteMultipartUploadCommand,
    CreateBucketCommand,
    CreateMultipartUploadCommand,
    DeleteBucketCommand,
    DeleteBucketPolicyCommand,
    DeleteObjectCommand,
    DeleteObjectsCommand,
    GetBucketPolicyCommand,
    GetObjectCommand,
    GetObjectLockConfigurationCommand,
    GetObjectRetentionCommand,
    GetObjectTaggingCommand,
    HeadObjectCommand,
    ListObjectsV2Command,
    ListObjectVersionsCommand,
    PutBucketLifecycleConfigurationCommand,
    PutBucketPolicyCommand,
    PutBucketVersioningCommand,
    PutObjectAclCommand,
    PutObjectCommand,
    PutObjectLockConfigurationCommand,
    PutObjectRetentionCommand,
    PutPublicAccessBlockCommand,
    UploadPartCommand,
    type S3Client,
} from "@aws-sdk/client-s3";
import {
    ARCHIVE_TAG,
    AuditRecordSchema,
    assertSchema,
    DbManifestSchema,
    EXIT,
    prefixes,
    storageBlobKey,
    StorageManifestSchema,
    VerifyRecordSchema,
    type DbManifest,
    type JobConfig,
    type StorageManifest,
    type StorageManifestWithObjects,
} from "@supabase-backups/contracts";
import { gcPolicy, restoreOperatorPolicy, verifierPolicy, writerPolicy, writerReadableKeys, type PolicyDocument, type VaultPolicyContext } from "../../../components/iam-policies";
import { runCli, writeJobConfig, type CliResult } from "../../support/cli";
import { startPostgres, type PgServer } from "../../support/postgres";
import { startRgw, type RgwServer, type RgwUser } from "../../support/rgw";
import { awsEnv, backdateListing, createRgwVaultBucket, forPacific, PACIFIC_UNKNOWN_S3_ACTIONS, putUserPolicy, refused, rgwBucketPolicy, sleep } from "../../support/rgw-vault";
import { seedSupabase } from "../../support/seed";
import { startStorageRest, type StorageRestServer } from "../../support/storage-rest";
import { passwordOutOfArgv } from "../../support/target-url";
import { withObjects } from "../../../jobs/src/vault/object-list";

const ENV = "test";
const BUCKET = "vault";
const SERVICE_ROLE_KEY = "service-role-" + "r".repeat(24);
const POLICY_NAME = "vault";
/** components/vault.ts sets all four; see "BlockPublicAcls refuses every PutObject" for why not here */
const PUBLIC_ACCESS_BLOCK = { BlockPublicAcls: false, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const seconds = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

function lastJson(r: CliResult): any {
    const line = r.stdout.trim().split("\n").filter(Boolean).pop();
    if (!line) throw new Error(`no JSON on stdout; stderr:\n${r.stderr.slice(-3000)}`);
    return JSON.parse(line.slice(line.indexOf("{")));
}

describe("vault on Ceph RGW: the project's IAM documents enforced by a real S3", function () {
    this.timeout(120_000);
    let rgw: RgwServer;
    let pg: PgServer;
    let canary: PgServer;
    let storage: StorageRestServer;
    let admin: S3Client;
    let config: { path: string; config: JobConfig };
    let dbUrl: string;
    const users = {} as Record<"writer" | "verifier" | "gc" | "restore-operator" | "inspector" | "account-admin" | "mallory", RgwUser>;
    const s3 = {} as Record<keyof typeof users, S3Client>;
    let policyCtx: VaultPolicyContext;
    let appliedBucketPolicy: PolicyDocument;
    let appliedWriterPolicy: PolicyDocument;
    let db: { manifest: DbManifest; manifestKey: string; manifestSha256: string };
    let storageRun: { manifest: StorageManifestWithObjects; manifestKey: string };
    /** version id of each object of the first dump (and its manifest), by key */
    const versions = new Map<string, string>();
    const storageFiles = new Map<string, Buffer>();

    // The inspector: an RGW user with a read-only policy on the whole bucket, not one of the project's
    // identities. Needed because on Pacific object ACLs still apply: the bucket owner (the harness admin)
    // cannot read, tag-read or retention-read objects another user uploaded (test/fidelity/rgw.test.ts).
    const inspectorPolicy = {
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetObjectTagging", "s3:GetObjectVersionTagging", "s3:ListBucket", "s3:ListBucketVersions"],
                Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`],
            },
        ],
    };

    const inspect = {
        async bytes(Key: string, VersionId?: string): Promise<Buffer> {
            const r = await s3.inspector.send(new GetObjectCommand({ Bucket: BUCKET, Key, VersionId }));
            return Buffer.from(await r.Body!.transformToByteArray());
        },
        async retention(Key: string, VersionId?: string) {
            return (await s3.inspector.send(new GetObjectRetentionCommand({ Bucket: BUCKET, Key, VersionId }))).Retention!;
        },
        async tags(Key: string, VersionId?: string): Promise<Record<string, string>> {
            const r = await s3.inspector.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key, VersionId }));
            return Object.fromEntries((r.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
        },
        async versions(Prefix: string) {
            const r = await s3.inspector.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix }));
            return { versions: r.Versions ?? [], markers: r.DeleteMarkers ?? [] };
        },
    };

    /** the job config, with the given identity's credentials */
    function run(who: RgwUser, args: string[], extra: Record<string, string | undefined> = {}): Promise<CliResult> {
        return runCli(...passwordOutOfArgv([...args, "--config", config.path], { ...awsEnv(who), LOG_LEVEL: "warn", SUPABASE_BACKUPS_RUN_ID: undefined, JOB_COMPLETION_INDEX: undefined, JOB_COMPLETIONS: undefined, JOB_NAME: undefined, ...extra }));
    }
    const dumpEnv = () => ({ DATABASE_URL: dbUrl, AZURE_STORAGE_CONNECTION_STRING: undefined });

    before(async function () {
        this.timeout(120_000);
        [rgw, pg, canary] = await Promise.all([startRgw({ lcDebugInterval: 0 }), startPostgres(), startPostgres()]);
        admin = rgw.client();
        dbUrl = await pg.createDatabase("app");
        // ~6 MiB of poorly compressible session payloads: with --part-size 5 the dump is a 2-part multipart upload.
        await seedSupabase(dbUrl, { users: 2000, sessionsPerUser: 3, payloadBytes: 1024, messagesPerUser: 3 });

        // Supabase Storage: files in a directory behind the local REST route, rows in storage.objects.
        const dir = mkdtempSync(join(tmpdir(), "sb-rgw-storage-"));
        for (let i = 0; i < 6; i++) storageFiles.set(`u/${i}.bin`, Buffer.from(`object ${i} `.repeat(100 + i * 37)));
        storageFiles.set("u/dup.bin", storageFiles.get("u/0.bin")!);
        storageFiles.set("u/big.bin", Buffer.alloc(6 * 1024 * 1024, "big object "));
        await pg.query(`insert into storage.buckets (id, name) values ('user-media', 'user-media')`, "app");
        for (const [name, bytes] of storageFiles) {
            mkdirSync(join(dir, "user-media", "u"), { recursive: true });
            writeFileSync(join(dir, "user-media", name), bytes);
            const md5 = createHash("md5").update(bytes).digest("hex");
            const metadata = { eTag: `"${md5}"`, size: bytes.length, mimetype: "application/octet-stream", cacheControl: "max-age=3600", lastModified: new Date().toISOString(), contentLength: bytes.length, httpStatusCode: 200 };
            await pg.query(`insert into storage.objects (bucket_id, name, metadata, user_metadata, version) values ('user-media', ${lit(name)}, ${lit(JSON.stringify(metadata))}::jsonb, '{}'::jsonb, gen_random_uuid()::text)`, "app");
        }
        storage = await startStorageRest({ serviceRoleKey: SERVICE_ROLE_KEY, backend: { dir } });

        config = writeJobConfig({ vault: { bucket: BUCKET, region: "us-east-1", endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.env = ENV;
            delete c.alerts.pushgatewayUrl;
            c.supabase.url = storage.url;
            c.storage = { mode: "rest", concurrency: 4, shards: 1, retries: 2, buckets: [{ name: "user-media" }] };
            c.verify.storageSampleMin = 3;
        });

        // The bucket, as components/vault.ts makes it. Not possible on Pacific: BucketOwnershipControls
        // (BucketOwnerEnforced; object ACLs stay live) and the default SSE-KMS configuration (no API; every
        // writer sends SSE-KMS itself, writeParams()).
        await createRgwVaultBucket(admin, BUCKET, config.config.retention.objectLockMinDays);
        // BlockPublicAcls stays off: on Pacific 16.2 it refuses every PutObject (see the last group of tests).
        await admin.send(new PutPublicAccessBlockCommand({ Bucket: BUCKET, PublicAccessBlockConfiguration: PUBLIC_ACCESS_BLOCK }));

        for (const name of ["writer", "verifier", "gc", "restore-operator", "inspector", "account-admin", "mallory"] as const) {
            users[name] = await rgw.createUser(name);
            s3[name] = rgw.client(users[name]);
        }
        appliedBucketPolicy = forPacific(
            rgwBucketPolicy({ bucket: BUCKET, env: ENV, kmsKeyArn: rgw.kmsKeyId, writers: ["writer", "verifier", "restore-operator"] }),
        ).doc;
        await admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(appliedBucketPolicy) }));

        // accountId is only used in role ARNs, none of which appear in these documents.
        policyCtx = { bucket: BUCKET, env: ENV, region: "us-east-1", accountId: "", kmsKeyArn: rgw.kmsKeyId };
        appliedWriterPolicy = forPacific(writerPolicy(policyCtx)).doc;
        await putUserPolicy(rgw, "writer", POLICY_NAME, appliedWriterPolicy);
        await putUserPolicy(rgw, "verifier", POLICY_NAME, forPacific(verifierPolicy(policyCtx)).doc);
        await putUserPolicy(rgw, "gc", POLICY_NAME, forPacific(gcPolicy(policyCtx)).doc);
        await putUserPolicy(rgw, "restore-operator", POLICY_NAME, forPacific(restoreOperatorPolicy(policyCtx)).doc);
        await putUserPolicy(rgw, "inspector", POLICY_NAME, inspectorPolicy);
        // An "account admin": its own policy allows every S3 action on the vault. Only the bucket policy
        // stands between it and the backups (on AWS; see "where Pacific cannot evaluate" below).
        await putUserPolicy(rgw, "account-admin", POLICY_NAME, { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`] }] });
        // mallory: an RGW user with no policy at all (someone else's account on the same RGW)
    });

    after(async () => {
        await Promise.allSettled([storage?.stop(), pg?.stop(), canary?.stop(), rgw?.stop()]);
    });

    it("RGW refuses the documents as generated only for kms:* and the S3 actions Pacific does not know (PACIFIC_UNKNOWN_S3_ACTIONS); it takes them with exactly those removed", async () => {
        const docs = { writer: writerPolicy(policyCtx), verifier: verifierPolicy(policyCtx), gc: gcPolicy(policyCtx), "restore-operator": restoreOperatorPolicy(policyCtx) };
        const probe = await rgw.createUser("policy-probe");
        for (const [name, doc] of Object.entries(docs)) {
            const raw = await rgw.query(rgw.admin, { Action: "PutUserPolicy", UserName: probe.uid, PolicyName: name, PolicyDocument: JSON.stringify(doc) });
            assert.equal(raw.status, 400, `${name}: ${raw.body}`);
            assert.match(raw.body, /MalformedPolicyDocument/);
            const adapted = forPacific(doc);
            assert.deepEqual(adapted.removedActions.filter((a) => !a.startsWith("kms:")), [...PACIFIC_UNKNOWN_S3_ACTIONS].sort(), name);
            assert.deepEqual(adapted.droppedSids, ["KmsThroughS3", "NeverDestroyTheKey"], name);
            await putUserPolicy(rgw, probe.uid, name, adapted.doc);
            // one unknown action alone is enough to refuse the document
            for (const action of PACIFIC_UNKNOWN_S3_ACTIONS) {
                const one = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: [action], Resource: `arn:aws:s3:::${BUCKET}` }] };
                assert.equal((await rgw.query(rgw.admin, { Action: "PutUserPolicy", UserName: probe.uid, PolicyName: "one", PolicyDocument: JSON.stringify(one) })).status, 400, action);
            }
        }
        const rawBucket = rgwBucketPolicy({ bucket: BUCKET, env: ENV, kmsKeyArn: rgw.kmsKeyId, writers: ["writer"] });
        await refused(admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(rawBucket) })), { code: "InvalidArgument" });
        assert.deepEqual(forPacific(rawBucket).removedActions, [...PACIFIC_UNKNOWN_S3_ACTIONS].sort());
        // the refused attempt left the applied policy as it was
        const applied = await admin.send(new GetBucketPolicyCommand({ Bucket: BUCKET }));
        assert.deepEqual(JSON.parse(applied.Policy!), appliedBucketPolicy);
        const lock = await admin.send(new GetObjectLockConfigurationCommand({ Bucket: BUCKET }));
        assert.deepEqual(lock.ObjectLockConfiguration?.Rule?.DefaultRetention, { Mode: "COMPLIANCE", Days: config.config.retention.objectLockMinDays });
    });

    describe("the writer runs the jobs", function () {
        it("dump with the writer's credentials succeeds: SSE-KMS, one version per object; the single PUTs are COMPLIANCE-locked until the manifest's retainUntil and tagged tier/env/kind", async () => {
            const r = await run(users.writer, ["dump", "--json", "--no-archive", "--part-size", "5"], dumpEnv());
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const out = lastJson(r);
            db = { manifest: assertSchema<DbManifest>(DbManifestSchema, out.manifest, "manifest"), manifestKey: out.manifestKey, manifestSha256: out.manifestSha256 };
            const m = db.manifest;
            assert.equal(m.previous, null);
            assert.equal(m.tier, "monthly", "the first run of the month takes the highest tier");
            assert.deepEqual(m.objects.map((o) => o.name), ["dump", "schema.sql", "roles.sql"]);
            const keys = [...m.objects.map((o) => o.key), db.manifestKey];
            const { versions: listed, markers } = await inspect.versions(prefixes.db(ENV));
            assert.deepEqual(listed.map((v) => v.Key).sort(), [...keys].sort(), "exactly the run's objects, one version each");
            assert.equal(markers.length, 0);
            for (const v of listed) {
                assert.equal(v.IsLatest, true);
                versions.set(v.Key!, v.VersionId!);
            }
            for (const key of keys) {
                const head = await s3.inspector.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
                assert.equal(head.ServerSideEncryption, "aws:kms", key);
                assert.equal(head.SSEKMSKeyId, rgw.kmsKeyId, key);
                assert.equal(head.ObjectLockMode, "COMPLIANCE", key);
            }
            // schema.sql, roles.sql and manifest.json: single PUTs carrying their own lock and tags
            for (const key of keys.slice(1)) {
                const ret = await inspect.retention(key, versions.get(key));
                assert.equal(ret.Mode, "COMPLIANCE", key);
                assert.equal(seconds(ret.RetainUntilDate!), seconds(m.retainUntil), `${key} locked until the manifest's retainUntil`);
                // the run's data may go to colder classes; its manifest (the record of it) never does
                const data = key.endsWith("manifest.json") ? {} : { [ARCHIVE_TAG.key]: ARCHIVE_TAG.value };
                assert.deepEqual(await inspect.tags(key, versions.get(key)), { tier: m.tier, env: ENV, kind: "dump", ...data }, key);
            }
            for (const o of m.objects) assert.equal(sha(await inspect.bytes(o.key, versions.get(o.key))), o.sha256, o.name);
            assert.equal(sha(await inspect.bytes(db.manifestKey)), db.manifestSha256);
        });

        it("RGW itself drops Object Lock and tags sent on CreateMultipartUpload (a raw SDK upload gets the bucket default lock and no tags)", async () => {
            // Ceph 16.2 ignores x-amz-object-lock-mode/-retain-until-date and x-amz-tagging on
            // CreateMultipartUpload: the completed object gets the bucket's default retention (from its
            // completion) and no tags. AWS keeps both. This is why the jobs seal every multipart upload
            // afterwards (sealUpload, next tests). A bucket of its own, the harness admin as the uploader.
            const Bucket = "vault-mpu-probe";
            await admin.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
            await admin.send(new PutObjectLockConfigurationCommand({ Bucket, ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: 1 } } } }));
            const Key = "raw-multipart";
            const asked = new Date(Date.now() + 30 * 86_400_000);
            const mpu = await admin.send(new CreateMultipartUploadCommand({ Bucket, Key, ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: asked, Tagging: "tier=monthly&env=test&kind=dump" }));
            const part = await admin.send(new UploadPartCommand({ Bucket, Key, UploadId: mpu.UploadId, PartNumber: 1, Body: Buffer.alloc(1024, "x") }));
            const done = await admin.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: mpu.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
            const ret = (await admin.send(new GetObjectRetentionCommand({ Bucket, Key, VersionId: done.VersionId }))).Retention!;
            assert.equal(ret.Mode, "COMPLIANCE");
            assert.ok(Math.abs(ret.RetainUntilDate!.getTime() - (Date.now() + 86_400_000)) < 120_000, `lock ${ret.RetainUntilDate!.toISOString()}: the bucket default (1 day), not ${asked.toISOString()}`);
            assert.deepEqual((await admin.send(new GetObjectTaggingCommand({ Bucket, Key, VersionId: done.VersionId }))).TagSet ?? [], []);
        });

        it("the dump's multipart upload is COMPLIANCE-locked until the manifest's retainUntil and tagged tier/env/kind (sealed after completion, with the writer's own credentials), one version", async () => {
            const m = db.manifest;
            const dumpKey = m.objects[0].key;
            const VersionId = versions.get(dumpKey)!;
            const head = await s3.inspector.send(new HeadObjectCommand({ Bucket: BUCKET, Key: dumpKey, VersionId }));
            assert.match(head.ETag ?? "", /-2"$/, `a 2-part multipart upload (ETag ${head.ETag}, ${m.objects[0].bytes} bytes at 5 MiB parts)`);
            // not the bucket default: that would end objectLockMinDays after completion, long before retainUntil
            const defaultUntil = head.LastModified!.getTime() + config.config.retention.objectLockMinDays * 86_400_000;
            assert.ok(Date.parse(m.retainUntil) - defaultUntil > 86_400_000, `retainUntil ${m.retainUntil} is well past the bucket default ${new Date(defaultUntil).toISOString()}`);
            const ret = await inspect.retention(dumpKey, VersionId);
            assert.equal(ret.Mode, "COMPLIANCE");
            assert.equal(seconds(ret.RetainUntilDate!), seconds(m.retainUntil), `${dumpKey} locked until the manifest's retainUntil`);
            assert.deepEqual(await inspect.tags(dumpKey, VersionId), { tier: m.tier, env: ENV, kind: "dump", [ARCHIVE_TAG.key]: ARCHIVE_TAG.value });
            // the seal added no version and changed no byte
            assert.deepEqual((await inspect.versions(dumpKey)).versions.map((v) => v.VersionId), [VersionId]);
            assert.equal(sha(await inspect.bytes(dumpKey, VersionId)), m.objects[0].sha256);
        });

        it("sync-storage with the writer's credentials succeeds: content-addressed blobs locked until lockedUntil, tagged without a tier — the multipart blob too (sealed after completion) — the run manifest with it", async () => {
            // --multipart-threshold 5 MiB: u/big.bin (6 MiB) goes up in two parts, the rest as single PUTs
            const r = await run(users.writer, ["sync-storage", "--json", "--retry-base-ms", "20", "--multipart-threshold", String(5 * 1024 * 1024)], { DATABASE_URL: dbUrl, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY });
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const listed = await s3.inspector.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefixes.storageRuns(ENV) }));
            const manifests = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith("/manifest.json"));
            assert.equal(manifests.length, 1, JSON.stringify(listed.Contents?.map((o) => o.Key)));
            const m = await withObjects(s3.inspector, BUCKET, assertSchema<StorageManifest>(StorageManifestSchema, JSON.parse((await inspect.bytes(manifests[0])).toString("utf8")), "storage manifest"));
            storageRun = { manifest: m, manifestKey: manifests[0] };
            assert.deepEqual(m.objects.map((o) => o.name).sort(), [...storageFiles.keys()].sort());
            assert.equal(new Set(m.objects.map((o) => o.blobKey)).size, storageFiles.size - 1, "u/dup.bin shares u/0.bin's blob");
            const { versions: blobs } = await inspect.versions(prefixes.storageBlobs(ENV));
            assert.equal(blobs.length, storageFiles.size - 1, "one version per distinct blob");
            const blobTags = { env: ENV, kind: "sync-storage", content: "blob" };
            for (const o of m.objects) {
                assert.equal(o.sha256, sha(storageFiles.get(o.name)!));
                assert.equal(sha(await inspect.bytes(o.blobKey)), o.sha256);
                assert.ok(o.lockedUntil, "lockedUntil recorded");
                const ret = await inspect.retention(o.blobKey);
                assert.equal(ret.Mode, "COMPLIANCE");
                const tags = await inspect.tags(o.blobKey);
                if (o.name === "u/big.bin") {
                    const head = await s3.inspector.send(new HeadObjectCommand({ Bucket: BUCKET, Key: o.blobKey }));
                    assert.match(head.ETag ?? "", /-2"$/, "u/big.bin went multipart");
                    // not the bucket default (days from the upload, where RGW leaves a multipart upload)
                    assert.ok(Date.parse(o.lockedUntil!) - (head.LastModified!.getTime() + config.config.retention.objectLockMinDays * 86_400_000) > 86_400_000, `lockedUntil ${o.lockedUntil} is well past the bucket default`);
                    assert.equal((await inspect.versions(o.blobKey)).versions.length, 1, "the seal added no version");
                }
                assert.equal(seconds(ret.RetainUntilDate!), seconds(o.lockedUntil!), `${o.blobKey} locked until lockedUntil`);
                assert.equal(tags.tier, undefined, "blobs carry no tier: gc, not lifecycle, removes them");
                assert.deepEqual(tags, blobTags);
            }
            assert.deepEqual(await inspect.tags(storageRun.manifestKey), { tier: m.tier, env: ENV, kind: "sync-storage" });
            const ret = await inspect.retention(storageRun.manifestKey);
            assert.equal(ret.Mode, "COMPLIANCE");
            assert.equal(seconds(ret.RetainUntilDate!), seconds(m.retainUntil));
        });

        it("a dump with credentials that may not list db/test/ (gc's) fails before writing anything, and its error line names the refusal: AccessDenied (HTTP 403)", async () => {
            // RGW's error bodies carry an empty <Message>: the SDK's message is "UnknownError", so the job
            // names the error code and the HTTP status itself (errorMessage).
            const before = (await inspect.versions(prefixes.db(ENV))).versions.length;
            const failed = await run(users.gc, ["dump", "--json", "--no-archive"], dumpEnv());
            assert.equal(failed.code, EXIT.failed, failed.stderr.slice(-2000));
            assert.match(failed.stderr, /supabase-backups dump: cannot list the vault: AccessDenied \(HTTP 403\)/, failed.stderr.slice(-2000));
            assert.doesNotMatch(failed.stderr, /UnknownError/);
            assert.equal((await inspect.versions(prefixes.db(ENV))).versions.length, before, "the failed run wrote nothing");
        });

        it("a second dump with the writer's credentials reads the previous manifest (one `*` per key segment; RGW's `*` does not backtrack) and chains", async () => {
            // RGW 16.2's match_wildcards() ends a `*` at the first input character equal to the pattern's next
            // character, without backtracking: `db/test/*/manifest.json` stops the `*` at the first `/` and never
            // matches db/test/2026/12/02/<runId>/manifest.json (AWS matches it). writerReadableKeys() is used by
            // both ReadManifestsOnly (Allow) and NeverReadData (Deny ... NotResource), so with that pattern the
            // writer could read no db manifest at all and every dump after the first failed.
            const depth = `${prefixes.db(ENV)}*/*/*/*/manifest.json`;
            assert.equal(writerReadableKeys(ENV)[0], depth);
            assert.ok(JSON.stringify(appliedWriterPolicy).includes(`${BUCKET}/${depth}`), "the applied writer policy carries the pattern");
            const read = await s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: db.manifestKey }));
            assert.equal(sha(Buffer.from(await read.Body!.transformToByteArray())), db.manifestSha256);
            // still no data: the dump and a blob stay unreadable to the writer
            await refused(s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: db.manifest.objects[0].key })));
            await refused(s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: storageRun.manifest.objects[0].blobKey })));

            // RGW's side, still true: the same document with the single-`*` pattern (as it was) refuses the read.
            const single = `${prefixes.db(ENV)}*/manifest.json`;
            const old = JSON.parse(JSON.stringify(appliedWriterPolicy).split(`${BUCKET}/${depth}`).join(`${BUCKET}/${single}`)) as PolicyDocument;
            assert.notDeepEqual(old, appliedWriterPolicy);
            await putUserPolicy(rgw, "writer", POLICY_NAME, old);
            try {
                await refused(s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: db.manifestKey })));
            } finally {
                await putUserPolicy(rgw, "writer", POLICY_NAME, appliedWriterPolicy);
            }
            const again = await s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: db.manifestKey }));
            assert.equal(sha(Buffer.from(await again.Body!.transformToByteArray())), db.manifestSha256, "the applied policy is back");

            const r = await run(users.writer, ["dump", "--json", "--no-archive"], dumpEnv());
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const second = lastJson(r);
            // the link names the previous manifest's version too (the one the writer read: the only one there)
            const [prevVersion] = (await inspect.versions(db.manifestKey)).versions;
            assert.deepEqual(second.manifest.previous, { runId: db.manifest.runId, sha256: db.manifestSha256, versionId: prevVersion.VersionId });
            assert.equal(second.manifest.tier, "daily");
            assert.equal(sha(await inspect.bytes(second.manifestKey)), second.manifestSha256);
            for (const o of second.manifest.objects as DbManifest["objects"]) assert.equal(sha(await inspect.bytes(o.key)), o.sha256, o.name);
        });
    });

    describe("the verifier", function () {
        it("runs the real verify (canary restore) and writes its record under verify/test/, COMPLIANCE-locked", async () => {
            const r = await run(users.verifier, ["verify", "--json", "--jobs", "2"], { CANARY_DATABASE_URL: canary.url, DATABASE_URL: undefined });
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000) + "\nSTDOUT:" + r.stdout.slice(-6000));
            const out = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
            assert.equal(out.records.length, 1);
            const rec = out.records[0];
            assertSchema(VerifyRecordSchema, (({ key, ...x }) => x)(rec), "verify record");
            assert.equal(rec.result, "passed", JSON.stringify(rec.checks, null, 1));
            assert.match(rec.key, new RegExp(`^${prefixes.verify(ENV)}${rec.runId}/\\d{8}T\\d{6}Z\\.json$`));
            assert.ok(rec.checks.some((c: { name: string }) => c.name === "storage"), "the storage run was checked too");
            const ret = await inspect.retention(rec.key);
            assert.equal(ret.Mode, "COMPLIANCE");
            assert.equal((await inspect.tags(rec.key)).kind, "verify");
        });

        it("reads the dump; cannot delete it, overwrite it, lock it longer, or write outside verify/test/", async () => {
            const dumpKey = db.manifest.objects[0].key;
            const got = await s3.verifier.send(new GetObjectCommand({ Bucket: BUCKET, Key: dumpKey }));
            assert.equal(sha(Buffer.from(await got.Body!.transformToByteArray())), db.manifest.objects[0].sha256);
            await refused(s3.verifier.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey })));
            await refused(s3.verifier.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey, VersionId: versions.get(dumpKey) })));
            await refused(s3.verifier.send(new PutObjectCommand({ Bucket: BUCKET, Key: dumpKey, Body: "x" })));
            await refused(s3.verifier.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefixes.audit(ENV)}x.json`, Body: "x" })));
            const later = new Date(Date.parse(db.manifest.retainUntil) + 86_400_000);
            await refused(s3.verifier.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: dumpKey, VersionId: versions.get(dumpKey), Retention: { Mode: "COMPLIANCE", RetainUntilDate: later } })));
            const { versions: v, markers } = await inspect.versions(dumpKey);
            assert.deepEqual(v.map((x) => x.VersionId), [versions.get(dumpKey)]);
            assert.equal(markers.length, 0);
        });
    });

    describe("the restore operator", function () {
        it("runs the real restore db into a fresh database and its audit record lands under audit/test/", async () => {
            const target = await canary.createDatabase("restored");
            const r = await run(users["restore-operator"], ["restore", "db", "--json", "--run", db.manifest.runId, "--target-url", target, "--actor", "rgw-test", "--reason", "rgw identities test", "--jobs", "2"], {
                DATABASE_URL: undefined,
            });
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            assert.equal(Number((await canary.query("select count(*) n from auth.users", "restored"))[0].n), db.manifest.snapshot.rowCounts["auth.users"]);
            const audit = await s3.inspector.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefixes.audit(ENV) }));
            const keys = (audit.Contents ?? []).map((o) => o.Key!);
            assert.ok(keys.length >= 1, "an audit record was written");
            for (const key of keys) {
                const rec = JSON.parse((await inspect.bytes(key)).toString("utf8"));
                assertSchema(AuditRecordSchema, rec, key);
                assert.equal((await inspect.retention(key)).Mode, "COMPLIANCE");
                assert.equal((await inspect.tags(key)).kind, "audit");
            }
        });

        it("reads the env; writes only under audit/test/; deletes nothing", async () => {
            const op = s3["restore-operator"];
            const dumpKey = db.manifest.objects[0].key;
            const got = await op.send(new GetObjectCommand({ Bucket: BUCKET, Key: dumpKey }));
            assert.equal(sha(Buffer.from(await got.Body!.transformToByteArray())), db.manifest.objects[0].sha256);
            const until = new Date(Date.now() + 3600_000);
            const put = await op.send(
                new PutObjectCommand({ Bucket: BUCKET, Key: `${prefixes.audit(ENV)}manual.json`, Body: "{}", ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: until, ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId }),
            );
            assert.ok(put.VersionId);
            for (const key of [`${prefixes.db(ENV)}x`, `${prefixes.verify(ENV)}x.json`, `${prefixes.storageBlobs(ENV)}00/x`, `${prefixes.audit("prod")}x.json`]) {
                await refused(op.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "x" })), { code: "AccessDenied" });
            }
            await refused(op.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefixes.audit(ENV)}manual.json` })));
            await refused(op.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey })));
            await refused(op.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefixes.db("prod") })));
        });
    });

    describe("a stolen writer token (the writer's own credentials)", function () {
        it("cannot read a dump, a blob or any version of them: NeverReadData's explicit Deny wins over the object ACL that makes the writer their owner", async () => {
            // Without a Deny, Pacific lets an object's uploader read it back through the object ACL
            // (test/fidelity/rgw.test.ts); the writer policy's Deny on GetObject/GetObjectVersion stops that.
            const dumpKey = db.manifest.objects[0].key;
            await refused(s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: dumpKey })));
            await refused(s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: dumpKey, VersionId: versions.get(dumpKey) })));
            await refused(s3.writer.send(new HeadObjectCommand({ Bucket: BUCKET, Key: dumpKey })), { status: 403 });
            await refused(s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: storageRun.manifest.objects[0].blobKey })));
            await refused(s3.writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: db.manifest.objects[1].key })));
        });

        it("cannot delete the locked version, and a DELETE without version leaves not even a delete marker", async () => {
            const dumpKey = db.manifest.objects[0].key;
            await refused(s3.writer.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey, VersionId: versions.get(dumpKey) })));
            await refused(s3.writer.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey, VersionId: versions.get(dumpKey), BypassGovernanceRetention: true })));
            await refused(s3.writer.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey })));
            // DeleteObjects: Pacific refuses the whole request (it checks s3:DeleteObject on the bucket ARN first)
            await refused(s3.writer.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: dumpKey }, { Key: dumpKey, VersionId: versions.get(dumpKey) }], Quiet: true } })));
            const { versions: v, markers } = await inspect.versions(dumpKey);
            assert.deepEqual(v.map((x) => [x.VersionId, x.IsLatest]), [[versions.get(dumpKey), true]]);
            assert.equal(markers.length, 0);
            assert.equal(sha(await inspect.bytes(dumpKey)), db.manifest.objects[0].sha256);
        });

        it("cannot shorten the lock or switch it to GOVERNANCE (COMPLIANCE refuses it, while an extension goes through)", async () => {
            const key = db.manifest.objects[2].key; // roles.sql: the extension below leaves the dump's lock as recorded
            const VersionId = versions.get(key);
            const shorter = new Date(Date.now() + 3600_000);
            await refused(s3.writer.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: key, VersionId, Retention: { Mode: "COMPLIANCE", RetainUntilDate: shorter } })));
            await refused(s3.writer.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: key, VersionId, Retention: { Mode: "GOVERNANCE", RetainUntilDate: new Date(Date.parse(db.manifest.retainUntil) + 86_400_000) } })));
            assert.equal(seconds((await inspect.retention(key, VersionId)).RetainUntilDate!), seconds(db.manifest.retainUntil), "unchanged");
            // the writer may extend (sync-storage extends reused blobs): so the refusals above are the lock's
            const later = new Date(Date.parse(db.manifest.retainUntil) + 86_400_000);
            await s3.writer.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: key, VersionId, Retention: { Mode: "COMPLIANCE", RetainUntilDate: later } }));
            assert.equal(seconds((await inspect.retention(key, VersionId)).RetainUntilDate!), seconds(later));
        });

        it("cannot change the bucket: policy, lifecycle, versioning, Object Lock default, or delete it", async () => {
            const w = s3.writer;
            await refused(w.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:*", Resource: `arn:aws:s3:::${BUCKET}/*` }] }) })));
            await refused(w.send(new DeleteBucketPolicyCommand({ Bucket: BUCKET })));
            await refused(w.send(new PutBucketLifecycleConfigurationCommand({ Bucket: BUCKET, LifecycleConfiguration: { Rules: [{ ID: "wipe", Status: "Enabled", Filter: { Prefix: "" }, Expiration: { Days: 1 }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }] } })));
            await refused(w.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: "Suspended" } })));
            await refused(w.send(new PutObjectLockConfigurationCommand({ Bucket: BUCKET, ObjectLockConfiguration: { ObjectLockEnabled: "Enabled" } })));
            await refused(w.send(new DeleteBucketCommand({ Bucket: BUCKET })));
            assert.deepEqual(JSON.parse((await admin.send(new GetBucketPolicyCommand({ Bucket: BUCKET }))).Policy!), appliedBucketPolicy);
            const lock = await admin.send(new GetObjectLockConfigurationCommand({ Bucket: BUCKET }));
            assert.equal(lock.ObjectLockConfiguration?.Rule?.DefaultRetention?.Mode, "COMPLIANCE");
        });

        it("lists and writes only under its own env's db/ and storage/ prefixes", async () => {
            const w = s3.writer;
            const own = await w.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefixes.db(ENV) }));
            assert.ok((own.KeyCount ?? 0) >= 4);
            for (const Prefix of ["", prefixes.verify(ENV), prefixes.audit(ENV), prefixes.db("prod"), "db/"]) {
                await refused(w.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix })), { code: "AccessDenied" });
            }
            await refused(w.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: prefixes.db(ENV) })));
            for (const Key of [`${prefixes.verify(ENV)}forged.json`, `${prefixes.audit(ENV)}forged.json`, `${prefixes.db("prod")}forged`, "forged"]) {
                await refused(w.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: "x" })));
            }
        });
    });

    describe("gc", function () {
        it("the gc CLI with gc's credentials: RGW refuses its DeleteObjects as a whole, gc deletes version by version — an old unreferenced unlocked blob is gone (no delete marker), a locked one is kept until its lock ends, referenced and young ones are untouched, a refused version is a failure (exit 4), not a crash", async () => {
            const day = 86_400_000;
            // Orphans: blobs a run uploaded but whose manifest never came (what gc is for), written like
            // sync-storage writes blobs, by the writer.
            const put = async (body: string, retainUntil: Date) => {
                const Key = storageBlobKey(ENV, sha(body));
                const r = await s3.writer.send(
                    new PutObjectCommand({ Bucket: BUCKET, Key, Body: body, ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: retainUntil, ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId, Tagging: `env=${ENV}&kind=sync-storage&content=blob` }),
                );
                return { Key, VersionId: r.VersionId!, bytes: Buffer.byteLength(body) };
            };
            const unlockedUntil = new Date(Date.now() + 2000);
            const orphan = {
                unlocked: await put("gc orphan whose lock runs out", unlockedUntil),
                locked: await put("gc orphan still locked", new Date(Date.now() + day)),
                refused: await put("gc orphan the test refuses", unlockedUntil),
                young: await put("gc orphan younger than the grace period", new Date(Date.now() + day)),
            };
            const old = [orphan.unlocked, orphan.locked, orphan.refused];
            const oldKeys = old.map((o) => o.Key).sort();
            const referencedOld = storageRun.manifest.objects[1].blobKey;
            // Older than --grace-days 2, as the listing says (backdateListing: RGW stamps LastModified itself).
            for (const Key of [...oldKeys, referencedOld]) await backdateListing(rgw, BUCKET, Key, 3 * day);
            const listed = new Map(((await s3.gc.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefixes.storageBlobs(ENV) }))).Contents ?? []).map((o) => [o.Key!, o.LastModified!.getTime()]));
            for (const Key of [...oldKeys, referencedOld]) assert.ok(Date.now() - listed.get(Key)! > 2.9 * day, `${Key} listed as 3 days old`);
            assert.ok(Date.now() - listed.get(orphan.young.Key)! < 600_000, "the young orphan is listed as just written");

            const distinct = new Set(storageRun.manifest.objects.map((o) => o.blobKey)).size;
            const gcJson = (r: CliResult) => JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
            const dry = await run(users.gc, ["gc", "--json", "--dry-run", "--grace-days", "2"]);
            assert.equal(dry.code, EXIT.ok, dry.stderr.slice(-3000));
            const bytesReclaimed = old.reduce((n, o) => n + o.bytes, 0);
            const none = { keptLocked: 0, markersRemoved: 0 };
            assert.deepEqual(gcJson(dry), { env: ENV, runs: 1, blobs: distinct + 4, referenced: distinct, keptTooYoung: 1, candidates: 3, deleted: 0, ...none, failed: 0, bytesReclaimed, dryRun: true, keys: oldKeys });
            assert.deepEqual((await inspect.versions(prefixes.storageBlobs(ENV))).markers, [], "the dry run deleted nothing");

            // One version the gc identity may not delete: a Deny added for this run only (gc deletes by VersionId,
            // which RGW authorizes as s3:DeleteObjectVersion). The unlocked orphans' locks have run out by then.
            await sleep(Math.max(0, unlockedUntil.getTime() + 1000 - Date.now()));
            const gcApplied = forPacific(gcPolicy(policyCtx)).doc;
            await putUserPolicy(rgw, "gc", POLICY_NAME, { ...gcApplied, Statement: [...gcApplied.Statement, { Sid: "TestRefusesOneBlob", Effect: "Deny", Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"], Resource: `arn:aws:s3:::${BUCKET}/${orphan.refused.Key}` }] });
            let r: CliResult;
            try {
                r = await run(users.gc, ["gc", "--json", "--grace-days", "2"], { LOG_LEVEL: "info" });
            } finally {
                await putUserPolicy(rgw, "gc", POLICY_NAME, gcApplied);
            }
            assert.equal(r.code, EXIT.partial, r.stderr.slice(-3000));
            assert.deepEqual(gcJson(r), { env: ENV, runs: 1, blobs: distinct + 4, referenced: distinct, keptTooYoung: 1, candidates: 3, deleted: 1, keptLocked: 1, markersRemoved: 0, failed: 1, bytesReclaimed, dryRun: false, keys: oldKeys });
            const logs = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
            assert.ok(logs.some((l) => l.msg === "the batch delete was refused as a whole: deleting one version at a time" && l.versions === 2), r.stderr.slice(-3000));
            assert.deepEqual(logs.filter((l) => l.msg === "delete failed").map((l) => l.failure), [`${orphan.refused.Key} (version ${orphan.refused.VersionId}): AccessDenied (HTTP 403)`]);

            // deleted by version: the unlocked orphan is gone, no delete marker anywhere; the rest untouched
            assert.deepEqual(await inspect.versions(orphan.unlocked.Key), { versions: [], markers: [] });
            for (const o of [orphan.locked, orphan.refused, orphan.young]) {
                const v = await inspect.versions(o.Key);
                assert.deepEqual(v.versions.map((x) => [x.VersionId, x.IsLatest]), [[o.VersionId, true]], o.Key);
                assert.equal(v.markers.length, 0, o.Key);
            }
            const after = await inspect.versions(prefixes.storageBlobs(ENV));
            for (const o of storageRun.manifest.objects) assert.ok(after.versions.some((v) => v.Key === o.blobKey && v.IsLatest), `${o.name}'s blob is still current`);
            assert.deepEqual(after.markers, []);
            // Object Lock alone keeps the locked one, whatever gc's policy allows:
            await refused(s3.gc.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: orphan.locked.Key, VersionId: orphan.locked.VersionId })));

            // the next run retries what failed and keeps what is still locked
            const next = await run(users.gc, ["gc", "--json", "--grace-days", "2"]);
            assert.equal(next.code, EXIT.ok, next.stderr.slice(-3000));
            const retried = [orphan.locked, orphan.refused];
            assert.deepEqual(gcJson(next), {
                env: ENV,
                runs: 1,
                blobs: distinct + 3,
                referenced: distinct,
                keptTooYoung: 1,
                candidates: 2,
                deleted: 1,
                keptLocked: 1,
                markersRemoved: 0,
                failed: 0,
                bytesReclaimed: retried.reduce((n, o) => n + o.bytes, 0),
                dryRun: false,
                keys: retried.map((o) => o.Key).sort(),
            });
            assert.deepEqual((await inspect.versions(orphan.refused.Key)).versions, []);
        });

        it("lists storage/test/ and reads run manifests; nothing of db/, no blob's bytes", async () => {
            const g = s3.gc;
            assert.ok(((await g.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefixes.storage(ENV) }))).KeyCount ?? 0) > 0);
            await g.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: prefixes.storageBlobs(ENV) }));
            const m = await g.send(new GetObjectCommand({ Bucket: BUCKET, Key: storageRun.manifestKey }));
            assert.ok((await m.Body!.transformToString()).includes(storageRun.manifest.runId));
            await refused(g.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefixes.db(ENV) })));
            await refused(g.send(new GetObjectCommand({ Bucket: BUCKET, Key: storageRun.manifest.objects[0].blobKey })));
            await refused(g.send(new GetObjectCommand({ Bucket: BUCKET, Key: db.manifest.objects[0].key })));
        });

        it("cannot delete a locked blob version (Object Lock alone refuses: gc's policy allows the delete); a DELETE without version only adds a delete marker", async () => {
            const blobKey = storageRun.manifest.objects[0].blobKey;
            const [blob] = (await inspect.versions(blobKey)).versions;
            await refused(s3.gc.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: blobKey, VersionId: blob.VersionId })));
            const del = await s3.gc.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: blobKey }));
            assert.equal(del.DeleteMarker, true);
            const after = await inspect.versions(blobKey);
            assert.deepEqual(after.versions.map((v) => v.VersionId), [blob.VersionId], "the locked version is still there");
            assert.equal(after.markers.length, 1);
            assert.equal(sha(await inspect.bytes(blobKey, blob.VersionId)), storageRun.manifest.objects[0].sha256);
        });

        it("deletes an unlocked blob version for good, but nothing outside storage/test/blobs/", async () => {
            // a blob whose lock ran out: written by the bucket owner with a 2 s COMPLIANCE lock
            const key = `${prefixes.storageBlobs(ENV)}ff/${"f".repeat(64)}`;
            const put = await admin.send(
                new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "expired", ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: new Date(Date.now() + 2000), ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId }),
            );
            await refused(s3.gc.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: put.VersionId })), { code: "AccessDenied" });
            await sleep(3000);
            // DeleteObjects (what the gc job tries first) is refused as a whole on Pacific: RGWDeleteMultiObj first
            // evaluates s3:DeleteObject against the *bucket* ARN, which gcPolicy only allows on
            // storage/test/blobs/* and which both DeleteOnlyBlobs (gc) and DenyDeleteOutsideBlobs (bucket
            // policy) deny through NotResource. AWS evaluates each key. Per-key DeleteObject works (the gc job
            // falls back to it, test above):
            await refused(s3.gc.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: key, VersionId: put.VersionId }], Quiet: true } })));
            assert.deepEqual((await inspect.versions(key)).versions.map((v) => v.VersionId), [put.VersionId]);
            await s3.gc.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: put.VersionId }));
            assert.deepEqual(await inspect.versions(key), { versions: [], markers: [] });
            // outside the blobs: the run manifest, the dump, a verification record — with and without version
            const { versions: rec } = await inspect.versions(prefixes.verify(ENV));
            for (const [Key, VersionId] of [
                [storageRun.manifestKey, undefined],
                [db.manifest.objects[0].key, undefined],
                [db.manifest.objects[0].key, versions.get(db.manifest.objects[0].key)],
                [rec[0].Key!, rec[0].VersionId],
            ] as Array<[string, string | undefined]>) {
                await refused(s3.gc.send(new DeleteObjectCommand({ Bucket: BUCKET, Key, VersionId })));
            }
            assert.equal((await inspect.versions(storageRun.manifestKey)).markers.length, 0);
            assert.equal((await inspect.versions(db.manifest.objects[0].key)).markers.length, 0);
            await refused(s3.gc.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefixes.storageBlobs(ENV)}00/x`, Body: "x" })));
        });
    });

    describe("where Pacific cannot evaluate the project's documents (what these tests cannot prove; AWS behaviour noted)", function () {
        it("bucketPolicy: the unconditional DenyDeleteOutsideBlobs holds even for an s3:* principal; the aws:PrincipalArn-conditioned denies never match (Pacific has no aws:PrincipalArn)", async () => {
            const a = s3["account-admin"];
            const dumpKey = db.manifest.objects[0].key;
            // enforced: NotResource storage/test/blobs/*, no condition
            await refused(a.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey })));
            await refused(a.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: dumpKey, VersionId: versions.get(dumpKey) })));
            assert.equal((await inspect.versions(dumpKey)).markers.length, 0);
            // not enforced: DenyDeleteExceptGc (ArnNotLike aws:PrincipalArn gc). AWS: AccessDenied.
            const blobKey = storageRun.manifest.objects[1].blobKey;
            const [blob] = (await inspect.versions(blobKey)).versions;
            const del = await a.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: blobKey }));
            assert.equal(del.DeleteMarker, true, "Pacific: a non-gc principal may place a delete marker on a blob");
            // ... but Object Lock still holds the version, whoever asks
            await refused(a.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: blobKey, VersionId: blob.VersionId })));
            assert.deepEqual((await inspect.versions(blobKey)).versions.map((v) => v.VersionId), [blob.VersionId]);
            // not enforced: DenyRetentionChangesExceptWriters. AWS: AccessDenied. (An extension only.)
            await a.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: blobKey, VersionId: blob.VersionId, Retention: { Mode: "COMPLIANCE", RetainUntilDate: new Date(Date.parse(storageRun.manifest.objects[1].lockedUntil!) + 86_400_000) } }));
            // not enforced: DenyConfigChangesExceptDeployers. AWS: AccessDenied. (The same document again.)
            await a.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(appliedBucketPolicy) }));
        });

        it("writer: LockModeComplianceOnly and the bucket's DenyNonKmsEncryption never match (StringNotEquals+Null on Pacific); a GOVERNANCE or an SSE-S3 put goes through", async () => {
            // Pacific: StringNotEquals never matches an absent key, Null tests absence only (its value is
            // ignored), and s3:object-lock-mode is not populated at all — so neither Deny ever applies.
            // AWS: both puts are AccessDenied.
            const gov = await s3.writer.send(
                new PutObjectCommand({ Bucket: BUCKET, Key: `${prefixes.db(ENV)}governance-probe`, Body: "x", ObjectLockMode: "GOVERNANCE", ObjectLockRetainUntilDate: new Date(Date.now() + 3600_000) }),
            );
            assert.equal((await inspect.retention(`${prefixes.db(ENV)}governance-probe`, gov.VersionId)).Mode, "GOVERNANCE");
            await s3.writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefixes.db(ENV)}sse-s3-probe`, Body: "x", ServerSideEncryption: "AES256" }));
            // NeverBypassRetention (no condition) does hold: not even the writer's own GOVERNANCE object goes
            await refused(s3.writer.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefixes.db(ENV)}governance-probe`, VersionId: gov.VersionId, BypassGovernanceRetention: true })));
        });

        it("object ACLs are live (no BucketOwnerEnforced on Pacific), so the documents deny s3:PutObjectAcl/PutObjectVersionAcl: the writer cannot grant another RGW user read access to a dump", async () => {
            const dumpKey = db.manifest.objects[0].key;
            const VersionId = versions.get(dumpKey);
            for (const doc of [appliedWriterPolicy, forPacific(verifierPolicy(policyCtx)).doc, forPacific(gcPolicy(policyCtx)).doc, forPacific(restoreOperatorPolicy(policyCtx)).doc]) {
                assert.deepEqual(
                    doc.Statement.filter((st) => st.Sid === "NeverShareObjects").map((st) => [st.Effect, st.Action, st.Resource]),
                    [["Deny", ["s3:PutObjectAcl", "s3:PutObjectVersionAcl"], [`arn:aws:s3:::${BUCKET}/*`]]],
                );
            }
            await refused(s3.mallory.send(new GetObjectCommand({ Bucket: BUCKET, Key: dumpKey })));
            // The writer uploaded the dump, so the object ACL makes it the owner; only the Deny refuses these.
            // AWS (BucketOwnerEnforced): AccessControlListNotSupported.
            await refused(s3.writer.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: dumpKey, GrantRead: `id=${users.mallory.uid}` })));
            await refused(s3.writer.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: dumpKey, VersionId, GrantRead: `id=${users.mallory.uid}` })));
            await refused(s3.writer.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: dumpKey, ACL: "public-read" })));
            await refused(s3.mallory.send(new GetObjectCommand({ Bucket: BUCKET, Key: dumpKey })));
            await refused(s3.mallory.send(new GetObjectCommand({ Bucket: BUCKET, Key: dumpKey, VersionId })));

            // That it is the Deny's doing: the writer document without NeverShareObjects (as it was) lets the
            // writer share an object of its own — a probe, not a dump — with mallory, who then reads it.
            const probeKey = `${prefixes.db(ENV)}acl-probe`;
            const probeBody = "shared through an object ACL";
            const withoutDeny: PolicyDocument = { ...appliedWriterPolicy, Statement: appliedWriterPolicy.Statement.filter((st) => st.Sid !== "NeverShareObjects") };
            assert.equal(withoutDeny.Statement.length, appliedWriterPolicy.Statement.length - 1);
            await putUserPolicy(rgw, "writer", POLICY_NAME, withoutDeny);
            try {
                await s3.writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: probeKey, Body: probeBody, ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId }));
                await refused(s3.mallory.send(new GetObjectCommand({ Bucket: BUCKET, Key: probeKey })));
                // A public ACL is taken (BlockPublicAcls is off here) but ignored (IgnorePublicAcls): no anonymous read.
                await s3.writer.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: probeKey, ACL: "public-read" }));
                assert.equal((await fetch(`${rgw.endpoint}/${BUCKET}/${probeKey}`)).status, 403, "anonymous GET");
                // A grant to a named user is neither.
                await s3.writer.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: probeKey, GrantRead: `id=${users.mallory.uid}` }));
                const stolen = await s3.mallory.send(new GetObjectCommand({ Bucket: BUCKET, Key: probeKey }));
                assert.equal(await stolen.Body!.transformToString(), probeBody, "SSE-KMS is transparent to a reader RGW lets in");
            } finally {
                await putUserPolicy(rgw, "writer", POLICY_NAME, appliedWriterPolicy);
            }
            // the applied document again: refused, on the probe too
            await refused(s3.writer.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: probeKey, GrantRead: `id=${users.writer.uid}` })));
        });

        it("BlockPublicAcls (components/vault.ts sets it) refuses every PutObject on Pacific 16.2, the bucket owner's too; multipart uploads still start", async () => {
            // RGWPutObj::verify_permission tests the canned ACL with `compare(...)` as if it returned a bool:
            // any canned ACL that is not exactly "public-read" (including none) counts as public. Fixed in later
            // Ceph releases. With it the writer could not store a single manifest, so the vault bucket above
            // leaves it off.
            const Bucket = "vault-bpa";
            await admin.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
            await admin.send(new PutObjectCommand({ Bucket, Key: "before", Body: "x" }));
            await admin.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { ...PUBLIC_ACCESS_BLOCK, BlockPublicAcls: true } }));
            await refused(admin.send(new PutObjectCommand({ Bucket, Key: "after", Body: "x" })));
            await refused(admin.send(new PutObjectCommand({ Bucket, Key: "after", Body: "x", ACL: "private" })));
            const mpu = await admin.send(new CreateMultipartUploadCommand({ Bucket, Key: "mpu" }));
            assert.ok(mpu.UploadId);
            await admin.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: PUBLIC_ACCESS_BLOCK }));
            await admin.send(new PutObjectCommand({ Bucket, Key: "after", Body: "x" }));
        });

        it("write-once: Pacific ignores If-None-Match on PUT, so the writer can put a new current version over a manifest; the locked original stays, byte for byte", async () => {
            // AWS: 412 PreconditionFailed (the job sends If-None-Match: * on every vault write). On Pacific only
            // versioning + Object Lock keep the original; readers that take the current version (verify,
            // restore) would see the forgery — the hash chain (the next manifest's `previous.sha256`) is what
            // exposes it there.
            const original = versions.get(db.manifestKey)!;
            const forged = await s3.writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: db.manifestKey, Body: "{}", IfNoneMatch: "*", ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId }));
            assert.notEqual(forged.VersionId, original);
            const { versions: v } = await inspect.versions(db.manifestKey);
            assert.deepEqual(v.map((x) => [x.VersionId, x.IsLatest]), [
                [forged.VersionId, true],
                [original, false],
            ]);
            assert.equal(sha(await inspect.bytes(db.manifestKey, original)), db.manifestSha256);
            assert.equal((await inspect.retention(db.manifestKey, original)).Mode, "COMPLIANCE");
            // the forgery itself took the bucket's default COMPLIANCE lock: the writer cannot take it back either
            assert.equal((await inspect.retention(db.manifestKey, forged.VersionId)).Mode, "COMPLIANCE");
        });
    });
});
