// Attack: after reading or destroying backups, the intruder (an admin, a deployer, a stolen role) erases
// the trace — deletes or overwrites the vault's S3 server access logs, or points logging elsewhere.
// Defence: aws.accessLogs — a separate log bucket that only S3's log delivery writes to (only for the
// vault), whose versions nobody may delete (lifecycle expiry, done by S3 itself, after retentionDays),
// Object Lock on (versioning can never be suspended; an investigator can put a legal hold), no public
// access, and the vault's logging configuration changeable only by the deployers (and alerted on).
// Judged by the IAM simulator on the documents the program declares for the committed prod stack file
// (aws.accessLogs on); the pack's s3-access-log-bucket-hardened holds the same bucket to these rules
// (its weakened stacks: test/policy/mutations/issue13.ts).
import { strict as assert } from "node:assert";
import { decide, one, ofType, stackRun } from "../support/components";
import type { MockRunResult } from "../../scripts/lib/mockrun";

describe("attack: erasing the vault's access logs (IAM simulator, the prod stack file: aws.accessLogs on)", function () {
    this.timeout(120_000);
    let r: MockRunResult;
    let account: string;
    let vault: string;
    let logs: string;
    let policy: any;
    let deployer: string;

    before(async () => {
        r = await stackRun("prod");
        account = r.outputs.roleArns.writer.split(":")[4];
        vault = r.outputs.bucketName;
        logs = r.outputs.accessLogBucketName;
        policy = JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-access-logs-policy").inputs.policy);
        deployer = JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-vault-policy").inputs.policy).Statement.find((s: any) => s.Sid === "DenyConfigChangesExceptDeployers").Condition.ArnNotLike["aws:PrincipalArn"][0];
    });

    const everything = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
    const asPrincipal = (principal: string, action: string, key: string | undefined, context: Record<string, string> = {}, resourcePolicy = () => policy) =>
        decide({ action, resource: key === undefined ? `arn:aws:s3:::${logs}` : `arn:aws:s3:::${logs}/${key}`, principal, accountId: account, identityPolicy: everything, resourcePolicy: resourcePolicy(), context });
    const LOG = "s3-access/444455556666/ap-southeast-1/acme-supabase-backups-prod/2026/11/23/2026-11-23-00-00-00-ABCDEF0123456789";

    it("the vault logs into its own bucket, partitioned by day, and the log bucket is locked, versioned, private", () => {
        assert.equal(logs, `${vault}-access-logs`);
        const logging = one(r, "aws:s3/bucketLogging:BucketLogging");
        assert.equal(logging.inputs.bucket, vault);
        assert.equal(logging.inputs.targetBucket, logs);
        assert.equal(logging.inputs.targetPrefix, "s3-access/");
        assert.equal(logging.inputs.targetObjectKeyFormat.partitionedPrefix.partitionDateSource, "EventTime");
        const bucket = ofType(r, "aws:s3/bucket:Bucket").find((b) => b.inputs.bucket === logs)!;
        assert.equal(bucket.inputs.objectLockEnabled, true);
        assert.equal(bucket.protect, true);
        assert.equal(one(r, "aws:s3/bucketVersioning:BucketVersioning", "-access-logs-versioning").inputs.versioningConfiguration.status, "Enabled");
        const pab = one(r, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "-access-logs-public-access").inputs;
        assert.deepEqual([pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets], [true, true, true, true]);
        // S3 log delivery takes SSE-S3 only and refuses a default retention: both are what S3 requires
        assert.equal(one(r, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "-access-logs-sse").inputs.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
        assert.equal(ofType(r, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").filter((x) => x.name.includes("access-logs")).length, 0);
        const rule = one(r, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "-access-logs-lifecycle").inputs.rules[0];
        assert.equal(rule.expiration.days, 400);
        assert.ok(rule.expiration.days >= 31, "a monthly audit finds the whole month");
        // and a change of the log bucket's policy or configuration pages like the vault's
        const bucketRule = JSON.parse(ofType(r, "aws:cloudwatch/eventRule:EventRule").find((x) => x.name.endsWith("-bucket"))!.inputs.eventPattern);
        assert.deepEqual(bucketRule.detail.requestParameters.bucketName.sort(), [vault, logs].sort());
    });

    it("nobody deletes a log version: not an admin with s3:*, not a deployer", async () => {
        const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
        for (const who of [admin, deployer, r.outputs.roleArns.gc])
            for (const action of ["s3:DeleteObject", "s3:DeleteObjectVersion"]) assert.equal(await asPrincipal(who, action, LOG), "ExplicitlyDenied", `${who} ${action}`);
        // the deny is what stops them
        assert.equal(await asPrincipal(admin, "s3:DeleteObjectVersion", LOG, {}, () => ({ ...policy, Statement: policy.Statement.filter((s: any) => s.Sid !== "DenyDeletes") })), "Allowed");
    });

    it("nobody but S3's log delivery writes a log (no forged or overwritten logs); delivery is accepted for the vault only", async () => {
        const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
        assert.equal(await asPrincipal(admin, "s3:PutObject", LOG), "ExplicitlyDenied");
        assert.equal(await asPrincipal(r.outputs.roleArns.writer, "s3:PutObject", LOG), "ExplicitlyDenied");
        const delivery = (sourceArn: string) =>
            decide({
                action: "s3:PutObject",
                resource: `arn:aws:s3:::${logs}/${LOG}`,
                principal: "logging.s3.amazonaws.com",
                accountId: account,
                resourcePolicy: policy,
                context: { "aws:SourceArn": sourceArn, "aws:SourceAccount": account, "aws:PrincipalServiceName": "logging.s3.amazonaws.com" },
            });
        assert.equal(await delivery(`arn:aws:s3:::${vault}`), "Allowed");
        assert.notEqual(await delivery("arn:aws:s3:::someone-elses-bucket"), "Allowed");
    });

    it("the log bucket's configuration and the vault's logging setting: deployers only", async () => {
        const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
        for (const action of ["s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning", "s3:PutBucketNotification"]) {
            assert.equal(await asPrincipal(admin, action, undefined), "ExplicitlyDenied", `admin ${action}`);
            assert.equal(await asPrincipal(deployer, action, undefined), "Allowed", `deployer ${action}`);
        }
        const vaultPolicy = JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-vault-policy").inputs.policy);
        const onVault = (who: string) => decide({ action: "s3:PutBucketLogging", resource: `arn:aws:s3:::${vault}`, principal: who, accountId: account, identityPolicy: everything, resourcePolicy: vaultPolicy });
        assert.equal(await onVault(admin), "ExplicitlyDenied");
        assert.equal(await onVault(deployer), "Allowed");
    });
});
