// The vault-policy attacks on a real S3 — Ceph RGW 16.2 (test/support/rgw.ts) — with the project's own
// documents installed as components/resource-policies.ts bucketPolicy() and iam-policies.ts writerPolicy()
// build them (minus what Pacific cannot parse: test/support/rgw-vault.ts forPacific). RGW enforces part of
// what AWS does; each test says which part, and policy-vault-writes.test.ts judges the rest with the IAM
// simulator:
//   - enforced here: the identity documents' explicit denies of bucket configuration (notifications,
//     tags, …) for the writer, even when a mistake also grants it s3:*;
//   - not enforced here (shown, so a change on RGW's side shows too): the create-only deny (RGW ignores
//     If-None-Match on PUT and fills in neither s3:if-none-match nor s3:ObjectCreationOperation, so an
//     overwrite goes through), the SSE-C deny (RGW never fills in
//     s3:x-amz-server-side-encryption-customer-algorithm; and its Null operator matches every request,
//     which is why the deny is written StringLike "*"), and every "except the deployers" deny (no
//     aws:PrincipalArn). Both documents still parse and let the jobs' own puts through.
import { strict as assert } from "node:assert";
import { randomBytes, createHash } from "node:crypto";
import {
    GetObjectCommand,
    ListObjectVersionsCommand,
    PutBucketNotificationConfigurationCommand,
    PutBucketPolicyCommand,
    PutBucketTaggingCommand,
    PutObjectCommand,
    type S3Client,
} from "@aws-sdk/client-s3";
import { dbObjectKey, newRunId } from "@supabase-backups/contracts";
import { writerPolicy, type PolicyDocument } from "../../components/iam-policies";
import { startRgw, type RgwServer } from "../support/rgw";
import { createRgwVaultBucket, forPacific, putUserPolicy, refused, rgwBucketPolicy } from "../support/rgw-vault";

const BUCKET = "policy-attacks";
const ENV = "test";
const RUN = newRunId(new Date("2026-11-22T19:30:00Z"), "k3x9qa");

describe("attack on RGW: the project's vault documents enforced by a real S3 (Ceph RGW 16.2)", function () {
    this.timeout(180_000);
    let rgw: RgwServer;
    let admin: S3Client;
    let writer: S3Client;
    let careless: S3Client;
    let accountAdmin: S3Client;

    before(async () => {
        // SSE-C over plain http: RGW refuses customer keys without TLS unless told otherwise.
        rgw = await startRgw({ config: { "client.rgw.gw": { "rgw crypt require ssl": false } } });
        admin = rgw.client();
        await createRgwVaultBucket(admin, BUCKET);
        const doc = rgwBucketPolicy({ bucket: BUCKET, env: ENV, kmsKeyArn: rgw.kmsKeyId, writers: ["writer"] });
        await admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(forPacific(doc).doc) }));
        const ctx = { bucket: BUCKET, env: ENV, region: "us-east-1", accountId: "000000000000", kmsKeyArn: rgw.kmsKeyId };
        const u = await rgw.createUser("writer");
        await putUserPolicy(rgw, "writer", "vault", forPacific(writerPolicy(ctx)).doc);
        writer = rgw.client(u);
        // the writer's document plus a mistaken "Allow s3:*" (a too-broad grant added later)
        const c = await rgw.createUser("careless-writer");
        const broad: PolicyDocument = forPacific(writerPolicy(ctx)).doc;
        await putUserPolicy(rgw, "careless-writer", "vault", { ...broad, Statement: [...broad.Statement, { Sid: "Mistake", Effect: "Allow", Action: "s3:*", Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`] }] });
        careless = rgw.client(c);
        const a = await rgw.createUser("account-admin");
        await putUserPolicy(rgw, "account-admin", "vault", { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`] }] });
        accountAdmin = rgw.client(a);
    });
    after(async () => rgw?.stop());

    it("the writer's own document refuses bucket tagging and notifications, even with a mistaken Allow s3:* beside it", async () => {
        const tagging = { Bucket: BUCKET, Tagging: { TagSet: [{ Key: "tier", Value: "none" }] } };
        await refused(writer.send(new PutBucketTaggingCommand(tagging)));
        await refused(careless.send(new PutBucketTaggingCommand(tagging)));
        await refused(careless.send(new PutBucketNotificationConfigurationCommand({ Bucket: BUCKET, NotificationConfiguration: {} })));
        // control: an s3:* user without the writer's denies may tag the bucket (RGW cannot apply the bucket
        // policy's "except the deployers" deny: no aws:PrincipalArn) — so the refusal above is the document's
        await accountAdmin.send(new PutBucketTaggingCommand(tagging));
    });

    it("what RGW cannot enforce: an SSE-C put goes through (AWS refuses it: policy-vault-writes.test.ts)", async () => {
        const key = randomBytes(32);
        const ssec = { SSECustomerAlgorithm: "AES256", SSECustomerKey: key.toString("base64"), SSECustomerKeyMD5: createHash("md5").update(key).digest("base64") };
        const put = await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: dbObjectKey(ENV, RUN, "dump"), Body: "readable only with the attacker's key", IfNoneMatch: "*", ...ssec }));
        assert.equal(put.SSECustomerAlgorithm, "AES256", "stored under the attacker's key");
    });

    it("what RGW cannot enforce: an overwrite without If-None-Match goes through (AWS refuses it: policy-vault-writes.test.ts)", async () => {
        const target = dbObjectKey(ENV, RUN, "manifest.json");
        await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: target, Body: "the real manifest", IfNoneMatch: "*" }));
        // RGW 16.2 ignores If-None-Match on PUT, and the create-only deny's condition keys are unknown to it
        await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: target, Body: "a forged manifest", IfNoneMatch: "*" }));
        await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: target, Body: "another forged manifest" }));
        const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: target }));
        assert.equal(versions.Versions?.length, 3, "versioning keeps all three; readers must pin the verified version (issue 13 item 2)");
        // (read back as the writer, which may read manifests: on RGW the uploader owns the object)
        const current = await writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: target }));
        assert.equal(await current.Body!.transformToString(), "another forged manifest");
    });
});
