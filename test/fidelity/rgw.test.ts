// A throwaway Ceph RGW (test/support/rgw.ts, Debian's Ceph 16.2) as the real S3 the tests can trust on the
// points that matter for write-once backups: each test asserts on the server's own answers, so each would fail
// against a server that merely accepts the headers (s3rver does). The last block pins down where Pacific differs
// from AWS, so a test that relies on the harness knows what it cannot prove there (and a Ceph upgrade that
// changes any of it is noticed).
//
// Needs radosgw, ceph-mon and ceph-osd: `sudo bash scripts/ensure-tools.sh`. Without them the suite fails in its
// before hook with that instruction; nothing is skipped.
import { strict as assert } from "node:assert";
import { createHash, randomBytes } from "node:crypto";
import {
    CreateBucketCommand,
    DeleteObjectCommand,
    GetBucketVersioningCommand,
    GetObjectCommand,
    GetObjectLockConfigurationCommand,
    GetObjectRetentionCommand,
    GetObjectTaggingCommand,
    HeadObjectCommand,
    ListObjectVersionsCommand,
    ListObjectsV2Command,
    PutBucketLifecycleConfigurationCommand,
    PutBucketPolicyCommand,
    PutObjectCommand,
    PutObjectRetentionCommand,
    PutObjectTaggingCommand,
    type S3Client,
} from "@aws-sdk/client-s3";
import { startRgw, type RgwCredentials, type RgwServer, type RgwUser } from "../support/rgw";

/** the S3 error a refused call ends with (fails the test if the call succeeded) */
async function refused(p: Promise<unknown>, code = "AccessDenied"): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
    let result: unknown;
    try {
        result = await p;
    } catch (e) {
        const err = e as Error & { $metadata?: { httpStatusCode?: number } };
        assert.equal(err.name, code, `expected ${code}, got ${err.name}: ${err.message}`);
        return err;
    }
    assert.fail(`expected ${code}, the server accepted: ${JSON.stringify((result as { $metadata?: unknown })?.$metadata ?? result)}`);
}

async function text(c: S3Client, Bucket: string, Key: string, VersionId?: string): Promise<string> {
    const r = await c.send(new GetObjectCommand({ Bucket, Key, VersionId }));
    return r.Body!.transformToString();
}

const userArn = (u: string) => `arn:aws:iam:::user/${u}`;
const xmlField = (xml: string, tag: string) => xml.match(new RegExp(`<${tag}>([^<]*)</${tag}>`))?.[1] ?? "";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Ceph RGW harness: a real S3 that enforces Object Lock, policies, SSE-KMS and lifecycle", function () {
    let rgw: RgwServer;
    let admin: S3Client;
    /** an ordinary user: no caps, not --admin */
    let alice: RgwUser;
    let aliceS3: S3Client;

    before(async function () {
        this.timeout(90_000);
        rgw = await startRgw();
        console.log(`      rgw: cold start ${rgw.startMs} ms at ${rgw.endpoint}`);
        admin = rgw.client();
        alice = await rgw.createUser("alice");
        aliceS3 = rgw.client(alice);
    });

    after(async function () {
        await rgw?.stop();
    });

    describe("COMPLIANCE Object Lock", function () {
        const Bucket = "lock-" + randomBytes(3).toString("hex");
        let versionId: string;
        const firstUntil = new Date(Date.now() + 24 * 3600_000);

        before(async function () {
            await admin.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
            const put = await admin.send(
                new PutObjectCommand({ Bucket, Key: "dump/1", Body: "locked backup", ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: firstUntil }),
            );
            assert.ok(put.VersionId, "a put into an Object Lock bucket gets a version id");
            versionId = put.VersionId;
        });

        it("a bucket created with ObjectLockEnabledForBucket has Object Lock and versioning enabled", async function () {
            const lock = await admin.send(new GetObjectLockConfigurationCommand({ Bucket }));
            assert.equal(lock.ObjectLockConfiguration?.ObjectLockEnabled, "Enabled");
            const ver = await admin.send(new GetBucketVersioningCommand({ Bucket }));
            assert.equal(ver.Status, "Enabled");
        });

        it("stores the version's retention as sent", async function () {
            const r = await admin.send(new GetObjectRetentionCommand({ Bucket, Key: "dump/1", VersionId: versionId }));
            assert.equal(r.Retention?.Mode, "COMPLIANCE");
            assert.equal(Math.floor(r.Retention!.RetainUntilDate!.getTime() / 1000), Math.floor(firstUntil.getTime() / 1000));
        });

        it("refuses to delete the locked version, even with BypassGovernanceRetention; the bytes stay readable", async function () {
            await refused(admin.send(new DeleteObjectCommand({ Bucket, Key: "dump/1", VersionId: versionId })));
            await refused(admin.send(new DeleteObjectCommand({ Bucket, Key: "dump/1", VersionId: versionId, BypassGovernanceRetention: true })));
            assert.equal(await text(admin, Bucket, "dump/1", versionId), "locked backup");
        });

        it("a DELETE without version id only adds a delete marker: the locked version is still there", async function () {
            const del = await admin.send(new DeleteObjectCommand({ Bucket, Key: "dump/1" }));
            assert.equal(del.DeleteMarker, true);
            await refused(admin.send(new HeadObjectCommand({ Bucket, Key: "dump/1" })), "NotFound");
            const versions = await admin.send(new ListObjectVersionsCommand({ Bucket, Prefix: "dump/1" }));
            assert.deepEqual(versions.Versions?.map((v) => v.VersionId), [versionId]);
            assert.equal(versions.DeleteMarkers?.length, 1);
            assert.equal(await text(admin, Bucket, "dump/1", versionId), "locked backup");
        });

        it("refuses to shorten the retention or switch it to GOVERNANCE; accepts an extension", async function () {
            const shorter = new Date(Date.now() + 3600_000);
            await refused(admin.send(new PutObjectRetentionCommand({ Bucket, Key: "dump/1", VersionId: versionId, Retention: { Mode: "COMPLIANCE", RetainUntilDate: shorter } })));
            const later = new Date(Date.now() + 3 * 24 * 3600_000);
            await refused(admin.send(new PutObjectRetentionCommand({ Bucket, Key: "dump/1", VersionId: versionId, Retention: { Mode: "GOVERNANCE", RetainUntilDate: later } })));
            const unchanged = await admin.send(new GetObjectRetentionCommand({ Bucket, Key: "dump/1", VersionId: versionId }));
            assert.equal(Math.floor(unchanged.Retention!.RetainUntilDate!.getTime() / 1000), Math.floor(firstUntil.getTime() / 1000));

            await admin.send(new PutObjectRetentionCommand({ Bucket, Key: "dump/1", VersionId: versionId, Retention: { Mode: "COMPLIANCE", RetainUntilDate: later } }));
            const extended = await admin.send(new GetObjectRetentionCommand({ Bucket, Key: "dump/1", VersionId: versionId }));
            assert.equal(extended.Retention?.Mode, "COMPLIANCE");
            assert.equal(Math.floor(extended.Retention!.RetainUntilDate!.getTime() / 1000), Math.floor(later.getTime() / 1000));
        });

        it("keeps tags per version", async function () {
            await admin.send(new PutObjectTaggingCommand({ Bucket, Key: "dump/1", VersionId: versionId, Tagging: { TagSet: [{ Key: "run", Value: "2024-01-01" }] } }));
            const tags = await admin.send(new GetObjectTaggingCommand({ Bucket, Key: "dump/1", VersionId: versionId }));
            assert.deepEqual(tags.TagSet, [{ Key: "run", Value: "2024-01-01" }]);
        });
    });

    describe("bucket policy, for an ordinary (non --admin) user", function () {
        const Bucket = "policy-" + randomBytes(3).toString("hex");
        const arn = `arn:aws:s3:::${Bucket}`;

        before(async function () {
            await admin.send(new CreateBucketCommand({ Bucket }));
            const Policy = JSON.stringify({
                Version: "2012-10-17",
                Statement: [
                    { Sid: "AliceReadWrite", Effect: "Allow", Principal: { AWS: [userArn(alice.uid)] }, Action: ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"], Resource: [arn, `${arn}/*`] },
                    { Sid: "DenyAliceDelete", Effect: "Deny", Principal: { AWS: [userArn(alice.uid)] }, Action: "s3:DeleteObject", Resource: `${arn}/*` },
                    // Pacific: StringNotEquals on an absent key never matches, so this denies only a put that names another algorithm
                    { Sid: "DenyNonKms", Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `${arn}/*`, Condition: { StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" } } },
                ],
            });
            await admin.send(new PutBucketPolicyCommand({ Bucket, Policy }));
        });

        it("Allow lets alice put and read; Deny s3:DeleteObject refuses her delete while the owner's goes through", async function () {
            await aliceS3.send(new PutObjectCommand({ Bucket, Key: "a", Body: "alice", ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId }));
            assert.equal(await text(aliceS3, Bucket, "a"), "alice");
            await refused(aliceS3.send(new DeleteObjectCommand({ Bucket, Key: "a" })));
            assert.equal(await text(aliceS3, Bucket, "a"), "alice");
            await admin.send(new DeleteObjectCommand({ Bucket, Key: "a" }));
            await refused(aliceS3.send(new HeadObjectCommand({ Bucket, Key: "a" })), "NotFound");
        });

        it("Deny PutObject unless aws:kms refuses an AES256 put, from alice and from the bucket owner alike", async function () {
            await refused(aliceS3.send(new PutObjectCommand({ Bucket, Key: "aes", Body: "x", ServerSideEncryption: "AES256" })));
            await refused(admin.send(new PutObjectCommand({ Bucket, Key: "aes", Body: "x", ServerSideEncryption: "AES256" })));
            await admin.send(new PutObjectCommand({ Bucket, Key: "kms", Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId, BucketKeyEnabled: true }));
            const listed = await admin.send(new ListObjectsV2Command({ Bucket }));
            assert.deepEqual(listed.Contents?.map((o) => o.Key), ["kms"]);
        });

        it("a user without caps is not let in without a policy", async function () {
            const other = await rgw.createUser("outsider");
            await refused(rgw.client(other).send(new GetObjectCommand({ Bucket, Key: "kms" })));
            await refused(rgw.client(other).send(new PutObjectCommand({ Bucket, Key: "o", Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId })));
        });
    });

    describe("IAM user policy (PutUserPolicy on the same endpoint)", function () {
        const Bucket = "userpol-" + randomBytes(3).toString("hex");
        const arn = `arn:aws:s3:::${Bucket}`;
        let writer: RgwUser;
        let writerS3: S3Client;

        before(async function () {
            await admin.send(new CreateBucketCommand({ Bucket }));
            await admin.send(new PutObjectCommand({ Bucket, Key: "incoming/from-admin", Body: "admin" }));
            writer = await rgw.createUser("writer");
            writerS3 = rgw.client(writer);
        });

        it("an ordinary user cannot give itself a policy; a user with user-policy caps can, and reads it back", async function () {
            const doc = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] });
            const self = await rgw.query(writer, { Action: "PutUserPolicy", UserName: writer.uid, PolicyName: "all", PolicyDocument: doc });
            assert.equal(self.status, 403, self.body);
            assert.match(self.body, /AccessDenied/);

            const putOnly = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:PutObject", Resource: `${arn}/incoming/*` }] };
            await rgw.queryOk(rgw.admin, { Action: "PutUserPolicy", UserName: writer.uid, PolicyName: "put-only", PolicyDocument: JSON.stringify(putOnly) });
            const got = await rgw.queryOk(rgw.admin, { Action: "GetUserPolicy", UserName: writer.uid, PolicyName: "put-only" });
            assert.deepEqual(JSON.parse(xmlField(got, "PolicyDocument").replace(/&quot;/g, '"')), putOnly);
        });

        it("the policy that allows only PutObject on incoming/*: put there allowed; put elsewhere, get, delete and list refused", async function () {
            await writerS3.send(new PutObjectCommand({ Bucket, Key: "incoming/w1", Body: "writer" }));
            await refused(writerS3.send(new PutObjectCommand({ Bucket, Key: "other/w1", Body: "writer" })));
            await refused(writerS3.send(new GetObjectCommand({ Bucket, Key: "incoming/from-admin" })));
            await refused(writerS3.send(new DeleteObjectCommand({ Bucket, Key: "incoming/w1" })));
            await refused(writerS3.send(new DeleteObjectCommand({ Bucket, Key: "incoming/from-admin" })));
            await refused(writerS3.send(new ListObjectsV2Command({ Bucket })));
            const listed = await admin.send(new ListObjectsV2Command({ Bucket }));
            assert.deepEqual(listed.Contents?.map((o) => o.Key), ["incoming/from-admin", "incoming/w1"]);
        });
    });

    describe("roles and STS AssumeRole", function () {
        const Bucket = "sts-" + randomBytes(3).toString("hex");

        it("only a trusted user may assume the role, and the session is limited to the role's policy", async function () {
            await admin.send(new CreateBucketCommand({ Bucket }));
            await admin.send(new PutObjectCommand({ Bucket, Key: "r", Body: "readable" }));
            const trust = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: [userArn(alice.uid)] }, Action: ["sts:AssumeRole"] }] };
            await rgw.queryOk(rgw.admin, { Action: "CreateRole", RoleName: "reader", Path: "/", AssumeRolePolicyDocument: JSON.stringify(trust) });
            const read = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["s3:GetObject"], Resource: `arn:aws:s3:::${Bucket}/*` }] };
            await rgw.queryOk(rgw.admin, { Action: "PutRolePolicy", RoleName: "reader", PolicyName: "read", PolicyDocument: JSON.stringify(read) });

            const untrusted = await rgw.createUser("mallory");
            const no = await rgw.query(untrusted, { Action: "AssumeRole", RoleArn: "arn:aws:iam:::role/reader", RoleSessionName: "mallory-session" }, "sts");
            assert.equal(no.status, 403, no.body);

            const yes = await rgw.queryOk(alice, { Action: "AssumeRole", RoleArn: "arn:aws:iam:::role/reader", RoleSessionName: "alice-session", DurationSeconds: "900" }, "sts");
            const session: RgwCredentials = { accessKeyId: xmlField(yes, "AccessKeyId"), secretAccessKey: xmlField(yes, "SecretAccessKey"), sessionToken: xmlField(yes, "SessionToken") };
            assert.ok(session.accessKeyId && session.secretAccessKey && session.sessionToken, yes);
            const s3 = rgw.client(session);
            assert.equal(await text(s3, Bucket, "r"), "readable");
            await refused(s3.send(new PutObjectCommand({ Bucket, Key: "w", Body: "x" })));
            // the session key without its token is refused
            await refused(rgw.client({ ...session, sessionToken: undefined }).send(new GetObjectCommand({ Bucket, Key: "r" })));
        });
    });

    describe("SSE-KMS (testing KMS backend)", function () {
        const Bucket = "sse-" + randomBytes(3).toString("hex");

        it("round-trips, reports aws:kms and the key id, and stores ciphertext (the raw RADOS object has no plaintext)", async function () {
            await admin.send(new CreateBucketCommand({ Bucket }));
            const plain = "PLAINTEXT-MARKER-" + randomBytes(16).toString("hex");
            const put = await admin.send(new PutObjectCommand({ Bucket, Key: "kms", Body: plain, ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId }));
            assert.equal(put.ServerSideEncryption, "aws:kms");
            assert.equal(put.SSEKMSKeyId, rgw.kmsKeyId);
            const got = await admin.send(new GetObjectCommand({ Bucket, Key: "kms" }));
            assert.equal(got.ServerSideEncryption, "aws:kms");
            assert.equal(got.SSEKMSKeyId, rgw.kmsKeyId);
            assert.equal(await got.Body!.transformToString(), plain);
            // control: the same check finds the plaintext of an unencrypted object
            await admin.send(new PutObjectCommand({ Bucket, Key: "clear", Body: plain }));
            assert.equal((await rawObject(rgw, Bucket, "clear")).includes(plain), true, "the raw-bytes check sees plaintext when it is there");
            const raw = await rawObject(rgw, Bucket, "kms");
            assert.ok(raw.length >= plain.length, `raw object has ${raw.length} bytes`);
            assert.equal(raw.includes(plain), false, "SSE-KMS object stored in plaintext");
        });

        it("refuses a key id the KMS does not know", async function () {
            const err = await refused(admin.send(new PutObjectCommand({ Bucket, Key: "bad", Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: "no-such-key" })), "InvalidAccessKeyId");
            assert.equal(err.$metadata?.httpStatusCode, 403);
            await refused(admin.send(new HeadObjectCommand({ Bucket, Key: "bad" })), "NotFound");
        });
    });

    describe("integrity headers", function () {
        it("verifies Content-MD5 (a wrong digest is refused with BadDigest)", async function () {
            const Bucket = "md5-" + randomBytes(3).toString("hex");
            await admin.send(new CreateBucketCommand({ Bucket }));
            await refused(admin.send(new PutObjectCommand({ Bucket, Key: "k", Body: "hello", ContentMD5: createHash("md5").update("other").digest("base64") })), "BadDigest");
            await admin.send(new PutObjectCommand({ Bucket, Key: "k", Body: "hello", ContentMD5: createHash("md5").update("hello").digest("base64") }));
            assert.equal(await text(admin, Bucket, "k"), "hello");
        });
    });

    describe("lifecycle (rgw lc debug interval = 10: a lifecycle day is 10 s)", function () {
        it("expires a 1-day prefix rule in an unversioned bucket, and in an Object Lock bucket removes noncurrent versions but never a locked one", async function () {
            this.timeout(80_000);
            const t0 = Date.now();
            const plain = "lc-" + randomBytes(3).toString("hex");
            await admin.send(new CreateBucketCommand({ Bucket: plain }));
            await admin.send(
                new PutBucketLifecycleConfigurationCommand({ Bucket: plain, LifecycleConfiguration: { Rules: [{ ID: "tmp", Status: "Enabled", Filter: { Prefix: "tmp/" }, Expiration: { Days: 1 } }] } }),
            );
            await admin.send(new PutObjectCommand({ Bucket: plain, Key: "tmp/a", Body: "x" }));
            await admin.send(new PutObjectCommand({ Bucket: plain, Key: "keep/b", Body: "x" }));

            const locked = "lclock-" + randomBytes(3).toString("hex");
            await admin.send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true }));
            await admin.send(
                new PutBucketLifecycleConfigurationCommand({
                    Bucket: locked,
                    LifecycleConfiguration: { Rules: [{ ID: "tmp", Status: "Enabled", Filter: { Prefix: "tmp/" }, Expiration: { Days: 1 }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }] },
                }),
            );
            const lockedPut = await admin.send(
                new PutObjectCommand({ Bucket: locked, Key: "tmp/locked", Body: "kept", ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: new Date(Date.now() + 24 * 3600_000) }),
            );
            const freePut = await admin.send(new PutObjectCommand({ Bucket: locked, Key: "tmp/free", Body: "x" }));

            let plainGoneAt = 0;
            let freeGoneAt = 0;
            let markersAt = 0;
            const deadline = t0 + 70_000;
            while (Date.now() < deadline && !(plainGoneAt && freeGoneAt)) {
                if (!plainGoneAt) {
                    const gone = await admin.send(new HeadObjectCommand({ Bucket: plain, Key: "tmp/a" })).then(
                        () => false,
                        (e: Error) => e.name === "NotFound",
                    );
                    if (gone) plainGoneAt = Date.now() - t0;
                }
                const v = await admin.send(new ListObjectVersionsCommand({ Bucket: locked }));
                if (!markersAt && (v.DeleteMarkers ?? []).some((m) => m.Key === "tmp/locked" && m.IsLatest)) markersAt = Date.now() - t0;
                if (!freeGoneAt && markersAt && !(v.Versions ?? []).some((x) => x.VersionId === freePut.VersionId)) freeGoneAt = Date.now() - t0;
                if (!(plainGoneAt && freeGoneAt)) await sleep(500);
            }
            console.log(`      lifecycle: unversioned object expired after ${plainGoneAt} ms; delete markers after ${markersAt} ms; unlocked noncurrent version removed after ${freeGoneAt} ms`);
            assert.ok(plainGoneAt, "tmp/a in the unversioned bucket was not expired within 70 s");
            assert.ok(markersAt, "no delete marker was placed on the current versions in the Object Lock bucket within 70 s");
            assert.ok(freeGoneAt, "the unlocked noncurrent version was not removed within 70 s");
            // the rule left the other prefix alone ...
            assert.equal(await text(admin, plain, "keep/b"), "x");
            // ... and the same lifecycle pass that removed the unlocked noncurrent version kept the locked one
            const after = await admin.send(new ListObjectVersionsCommand({ Bucket: locked, Prefix: "tmp/locked" }));
            assert.deepEqual(after.Versions?.map((x) => x.VersionId), [lockedPut.VersionId]);
            assert.equal(await text(admin, locked, "tmp/locked", lockedPut.VersionId), "kept");
        });
    });

    describe("where Pacific differs from AWS (what a test on this harness cannot prove)", function () {
        const Bucket = "diff-" + randomBytes(3).toString("hex");
        before(async function () {
            await admin.send(new CreateBucketCommand({ Bucket }));
        });

        it("SSE-S3 (AES256) is accepted but not reported, and the bytes are stored in plaintext", async function () {
            const plain = "PLAINTEXT-MARKER-" + randomBytes(16).toString("hex");
            const put = await admin.send(new PutObjectCommand({ Bucket, Key: "aes", Body: plain, ServerSideEncryption: "AES256" }));
            assert.equal(put.ServerSideEncryption, undefined);
            assert.equal((await admin.send(new HeadObjectCommand({ Bucket, Key: "aes" }))).ServerSideEncryption, undefined);
            assert.equal((await rawObject(rgw, Bucket, "aes")).includes(plain), true);
        });

        it("x-amz-checksum-* is ignored: a wrong SHA-256 checksum is accepted and none is stored", async function () {
            await admin.send(new PutObjectCommand({ Bucket, Key: "ck", Body: "hello", ChecksumSHA256: createHash("sha256").update("other").digest("base64") }));
            const head = await admin.send(new HeadObjectCommand({ Bucket, Key: "ck", ChecksumMode: "ENABLED" }));
            assert.equal(head.ChecksumSHA256, undefined);
        });

        it("policy conditions: an absent key never matches StringNotEquals, Null ignores its value, aws:SecureTransport is absent over http", async function () {
            const arn = `arn:aws:s3:::${Bucket}`;
            const statement = (Sid: string, Condition: object) => ({ Sid, Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `${arn}/${Sid}/*`, Condition });
            const Policy = JSON.stringify({
                Version: "2012-10-17",
                Statement: [
                    statement("notkms", { StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" } }),
                    // the project's DenyNonKmsEncryption shape (components/iam-policies.ts): AWS refuses an AES256 put
                    statement("notkmsnull", { StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" }, Null: { "s3:x-amz-server-side-encryption": "false" } }),
                    statement("nulltrue", { Null: { "s3:x-amz-server-side-encryption": "true" } }),
                    statement("nullfalse", { Null: { "s3:x-amz-server-side-encryption": "false" } }),
                    statement("insecure", { Bool: { "aws:SecureTransport": "false" } }),
                ],
            });
            await admin.send(new PutBucketPolicyCommand({ Bucket, Policy }));
            const put = (prefix: string, sse?: "AES256") =>
                admin.send(new PutObjectCommand({ Bucket, Key: `${prefix}/k`, Body: "x", ...(sse ? { ServerSideEncryption: sse } : {}) })).then(
                    () => "ok",
                    (e: Error) => e.name,
                );
            const seen = {
                notkms: [await put("notkms"), await put("notkms", "AES256")],
                notkmsnull: [await put("notkmsnull"), await put("notkmsnull", "AES256")],
                nulltrue: [await put("nulltrue"), await put("nulltrue", "AES256")],
                nullfalse: [await put("nullfalse"), await put("nullfalse", "AES256")],
                insecure: [await put("insecure")],
            };
            assert.deepEqual(seen, {
                notkms: ["ok", "AccessDenied"], // AWS: AccessDenied for both (absent key: StringNotEquals is true)
                notkmsnull: ["ok", "ok"], // AWS: ok, AccessDenied
                nulltrue: ["AccessDenied", "ok"], // as AWS
                nullfalse: ["AccessDenied", "ok"], // AWS: ok, AccessDenied
                insecure: ["ok"], // AWS: AccessDenied over http
            });
        });

        it("object ACLs still apply: the writer can read back its own upload though its policy only allows PutObject, and the bucket owner cannot read it", async function () {
            const arn = `arn:aws:s3:::${Bucket}`;
            const w = await rgw.createUser("acl-writer");
            await rgw.queryOk(rgw.admin, {
                Action: "PutUserPolicy",
                UserName: w.uid,
                PolicyName: "put-only",
                PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:PutObject", Resource: `${arn}/acl/*` }] }),
            });
            const ws3 = rgw.client(w);
            await ws3.send(new PutObjectCommand({ Bucket, Key: "acl/own", Body: "mine" }));
            assert.equal(await text(ws3, Bucket, "acl/own"), "mine"); // AWS (BucketOwnerEnforced): AccessDenied
            await refused(admin.send(new GetObjectCommand({ Bucket, Key: "acl/own" }))); // AWS (BucketOwnerEnforced): allowed
        });
    });
});

/** the raw bytes RADOS holds for a small (single RADOS object) S3 object: `<bucket marker>_<key>` in the data pool */
async function rawObject(rgw: RgwServer, bucket: string, key: string): Promise<Buffer> {
    const stats = await rgw.execJson<{ marker: string }>(["bucket", "stats", "--bucket", bucket]);
    return rgw.radosRaw(["-p", "default.rgw.buckets.data", "get", `${stats.marker}_${key}`, "-"]);
}
