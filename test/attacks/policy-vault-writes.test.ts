// Attacks on the vault's contents with a stolen identity's own rights, judged by the IAM simulator
// (@cloud-copilot/iam-simulate) on the exact documents the program declares for the real prod stack
// file (the role's inline policy + the bucket policy, read back from the mocked resources).
//
// S3 evaluates these; Ceph RGW (the vault in the job tests) cannot: it ignores If-None-Match on PUT and
// knows neither s3:if-none-match nor s3:ObjectCreationOperation, so an overwrite succeeds there (shown in
// policy-rgw.test.ts). What RGW can enforce of these documents is tested there.
//
// Each attack also runs against the bucket policy with its defending statement removed and must then
// succeed: the statement, not something else, is what stops it.
import { strict as assert } from "node:assert";
import { auditKey, dbObjectKey, drillRecordKey, newRunId, storageBlobKey, verifyRecordKey } from "@supabase-backups/contracts";
import { decide, one, stackRun, type Decision } from "../support/components";
import type { MockRunResult } from "../../scripts/lib/mockrun";

const RUN = newRunId(new Date("2026-11-22T19:30:00Z"), "k3x9qa");
type Ctx = Record<string, string>;

describe("attack: a stolen writer, verifier or operator token against the vault's objects (IAM simulator, prod documents)", function () {
    let r: MockRunResult;
    let account: string;
    let bucket: string;
    let keyArn: string;
    let env: string;
    let bucketPolicy: any;
    let deployer: string;
    const role = (id: string) => `arn:aws:iam::${account}:role/supabase-backups-${env}-${id}`;
    const identityPolicy = (id: string) => JSON.parse(one(r, "aws:iam/rolePolicy:RolePolicy", `-${id}-vault`).inputs.policy);
    const without = (sid: string) => ({ ...bucketPolicy, Statement: bucketPolicy.Statement.filter((s: any) => s.Sid !== sid) });

    before(async () => {
        r = await stackRun("prod");
        env = r.outputs.env;
        account = r.outputs.roleArns.writer.split(":")[4];
        bucket = r.outputs.bucketName;
        keyArn = r.outputs.kmsKeyArn;
        bucketPolicy = JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-vault-policy").inputs.policy);
        deployer = bucketPolicy.Statement.find((s: any) => s.Sid === "DenyConfigChangesExceptDeployers").Condition.ArnNotLike["aws:PrincipalArn"][0];
    });

    /** The request context AWS builds: SSE-KMS with the vault key, a COMPLIANCE lock, plus `extra`. */
    const sse = (): Ctx => ({
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn,
        "s3:object-lock-mode": "COMPLIANCE",
    });
    const put = (principal: string, idPolicy: unknown, key: string, context: Ctx, resourcePolicy = bucketPolicy): Promise<Decision> =>
        decide({ action: "s3:PutObject", resource: `arn:aws:s3:::${bucket}/${key}`, principal, accountId: account, identityPolicy: idPolicy, resourcePolicy, context });

    // PutObject and CompleteMultipartUpload are both authorized as s3:PutObject with
    // s3:ObjectCreationOperation true; CreateMultipartUpload and UploadPart as s3:PutObject with it false.
    const OVERWRITE: Ctx = { "s3:ObjectCreationOperation": "true" };
    const CREATE_ONLY: Ctx = { "s3:ObjectCreationOperation": "true", "s3:if-none-match": "*" };
    const UPLOAD_PART: Ctx = { "s3:ObjectCreationOperation": "false" };

    it("each identity: PutObject / CompleteMultipartUpload over an existing key without If-None-Match is denied; with it allowed", async () => {
        const targets: [string, string][] = [
            ["writer", dbObjectKey(env, RUN, "manifest.json")],
            ["writer", storageBlobKey(env, "ab".repeat(32))],
            ["verifier", verifyRecordKey(env, RUN, new Date("2026-11-23T06:00:00Z"))],
            ["restore-operator", auditKey(env, new Date("2026-11-23T07:00:00Z"), "evt1")],
        ];
        const failures: string[] = [];
        for (const [id, key] of targets) {
            const p = identityPolicy(id);
            const got = {
                overwrite: await put(role(id), p, key, { ...sse(), ...OVERWRITE }),
                overwriteIfMatch: await put(role(id), p, key, { ...sse(), ...OVERWRITE, "s3:if-match": '"etag-of-the-current-version"' }),
                createOnly: await put(role(id), p, key, { ...sse(), ...CREATE_ONLY }),
                uploadPart: await put(role(id), p, key, UPLOAD_PART),
                defenceRemoved: await put(role(id), p, key, { ...sse(), ...OVERWRITE }, without("DenyOverwrites")),
            };
            const want = { overwrite: "ExplicitlyDenied", overwriteIfMatch: "ExplicitlyDenied", createOnly: "Allowed", uploadPart: "Allowed", defenceRemoved: "Allowed" };
            for (const [k, v] of Object.entries(want)) if ((got as any)[k] !== v) failures.push(`${id} ${key} ${k}: expected ${v}, got ${(got as any)[k]}`);
        }
        assert.deepEqual(failures, []);
    });

    it("an account admin with s3:* cannot overwrite either, nor copy over a key (CopyObject carries no If-None-Match)", async () => {
        const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
        const all = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
        const dump = dbObjectKey(env, RUN, "dump");
        assert.equal(await put(admin, all, dump, { ...sse(), ...OVERWRITE }), "ExplicitlyDenied");
        assert.equal(await put(admin, all, dump, { ...sse(), ...OVERWRITE, "s3:x-amz-copy-source": `${bucket}/${dbObjectKey(env, newRunId(new Date("2026-11-20T19:30:00Z"), "aaaaaa"), "dump")}` }), "ExplicitlyDenied");
        assert.equal(await put(deployer, all, dump, { ...sse(), ...OVERWRITE }), "ExplicitlyDenied", "deployers are not exempt");
        assert.equal(await put(admin, all, dump, { ...sse(), ...CREATE_ONLY }), "Allowed");
    });

    it("SSE-C: a put (or an UploadPart) encrypted with a key the attacker chose is denied, for the writer and an admin", async () => {
        const ssec: Ctx = { "s3:x-amz-server-side-encryption-customer-algorithm": "AES256" };
        const dump = dbObjectKey(env, RUN, "dump");
        const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
        const all = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
        const w = identityPolicy("writer");
        assert.equal(await put(role("writer"), w, dump, { ...CREATE_ONLY, ...ssec }), "ExplicitlyDenied");
        assert.equal(await put(role("writer"), w, dump, { ...UPLOAD_PART, ...ssec }), "ExplicitlyDenied");
        assert.equal(await put(admin, all, dump, { ...CREATE_ONLY, ...ssec }), "ExplicitlyDenied");
        // the SSE-KMS denies alone never saw SSE-C: without its own statement the put goes through
        assert.equal(await put(role("writer"), w, dump, { ...CREATE_ONLY, ...ssec }, without("DenyCustomerProvidedKeys")), "Allowed");
        // and a put naming another KMS key or SSE-S3 stays denied
        assert.equal(await put(role("writer"), w, dump, { ...CREATE_ONLY, "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": `${keyArn}-other` }), "ExplicitlyDenied");
        assert.equal(await put(role("writer"), w, dump, { ...CREATE_ONLY, "s3:x-amz-server-side-encryption": "AES256" }), "ExplicitlyDenied");
    });

    /**
     * A "passed" record put by each principal that is not its signer: the writer with its own document and
     * widened to puts everywhere (a mistake), the other record signer and an operator widened alike, an
     * admin and a deployer with s3:*. Only `signer` may; without `deny` the widened writer may too.
     */
    async function forgeRecord(key: string, signer: "drill" | "verifier", deny: string) {
        const all = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
        const widened = (id: string) => ({ ...identityPolicy(id), Statement: [...identityPolicy(id).Statement, { Effect: "Allow", Action: "s3:PutObject", Resource: `arn:aws:s3:::${bucket}/*` }] });
        const other = signer === "drill" ? "verifier" : "drill";
        const ctx = { ...sse(), ...CREATE_ONLY };
        const got = {
            writer: await put(role("writer"), identityPolicy("writer"), key, ctx),
            writerWidened: await put(role("writer"), widened("writer"), key, ctx),
            otherSignerWidened: await put(role(other), widened(other), key, ctx),
            operatorWidened: await put(role("restore-operator"), widened("restore-operator"), key, ctx),
            admin: await put(`arn:aws:iam::${account}:role/AdministratorAccess`, all, key, ctx),
            deployer: await put(deployer, all, key, ctx),
            signer: await put(role(signer), identityPolicy(signer), key, ctx),
            writerWidenedDefenceRemoved: await put(role("writer"), widened("writer"), key, ctx, without(deny)),
        };
        assert.deepEqual(got, {
            writer: "ExplicitlyDenied",
            writerWidened: "ExplicitlyDenied",
            otherSignerWidened: "ExplicitlyDenied",
            operatorWidened: "ExplicitlyDenied",
            admin: "ExplicitlyDenied",
            deployer: "ExplicitlyDenied",
            signer: "Allowed",
            writerWidenedDefenceRemoved: "Allowed",
        });
    }

    it("a fake passed drill record: only the drill identity may put one — not the writer granted puts everywhere by mistake, an admin, the verifier or an operator", async () => {
        await forgeRecord(drillRecordKey(env, "table", newRunId(new Date("2026-11-23T03:05:00Z"), "fake01")), "drill", "DenyDrillRecordsExceptDrill");
    });

    it("a fake passed verification record: only the verifier may put one — not the writer granted puts everywhere by mistake, an admin, the drill identity or an operator", async () => {
        await forgeRecord(verifyRecordKey(env, newRunId(new Date("2026-11-23T03:05:00Z"), "fake02"), new Date("2026-11-23T05:00:00Z")), "verifier", "DenyVerifyRecordsExceptVerifier");
    });

    it("notifications, tags and other bucket configuration: denied to the writer and to an admin who is not a deployer; allowed to deployers", async () => {
        const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
        const all = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
        const onBucket = (principal: string, idPolicy: unknown, action: string, resourcePolicy = bucketPolicy) =>
            decide({ action, resource: `arn:aws:s3:::${bucket}`, principal, accountId: account, identityPolicy: idPolicy, resourcePolicy });
        const failures: string[] = [];
        for (const action of ["s3:PutBucketNotification", "s3:PutBucketTagging", "s3:PutBucketLogging", "s3:PutBucketRequestPayment", "s3:PutMetricsConfiguration"]) {
            for (const id of ["writer", "verifier", "gc", "restore-operator"]) {
                const got = await onBucket(role(id), identityPolicy(id), action);
                if (got !== "ExplicitlyDenied") failures.push(`${id} ${action}: ${got}`);
            }
            const byAdmin = await onBucket(admin, all, action);
            if (byAdmin !== "ExplicitlyDenied") failures.push(`admin ${action}: ${byAdmin}`);
            const byDeployer = await onBucket(deployer, all, action);
            if (byDeployer !== "Allowed") failures.push(`deployer ${action}: ${byDeployer}`);
            const weakened = await onBucket(admin, all, action, without("DenyConfigChangesExceptDeployers"));
            if (weakened !== "Allowed") failures.push(`admin ${action} without the deny: ${weakened} (the test could not fail)`);
        }
        assert.deepEqual(failures, []);
    });
});
