// Attack: a compromised deploy pipeline (the deployer's own credentials) or an account admin destroys
// the vault's KMS key — ScheduleKeyDeletion, DisableKey, rotation off, or a key-policy rewrite that allows
// those — making every S3 backup unreadable. Judged by the IAM simulator on the key policy the program
// declares for the real stack files (and variants of them); KMS itself is not available here, and RGW's
// SSE-KMS never evaluates a key policy. Then: the break-glass role's trust, and the alert path
// (EventBridge rules → SNS) the attack sets off. The record-signing key (whoever destroys it stops every
// future verification record from being trusted) is held the same way and pages on the same rule.
import { strict as assert } from "node:assert";
import { decide, one, ofType, stackRun, type Decision } from "../support/components";
import { runProgramUnderMocks, type MockRunResult } from "../../scripts/lib/mockrun";

const DESTROY = ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation"];
const MFA = { "aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "120" };
const KMS_ALL = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*" }] };

interface Key {
    r: MockRunResult;
    account: string;
    keyArn: string;
    policy: any;
    deployer: string;
    breakGlass: string;
}

async function keyOf(r: MockRunResult, suffix = "-vault-key"): Promise<Key> {
    const key = one(r, "aws:kms/key:Key", suffix);
    const account = r.outputs.roleArns.writer.split(":")[4];
    const bp = JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-vault-policy").inputs.policy);
    const deployer = bp.Statement.find((s: any) => s.Sid === "DenyConfigChangesExceptDeployers").Condition.ArnNotLike["aws:PrincipalArn"][0];
    return { r, account, keyArn: key.state.arn, policy: JSON.parse(key.inputs.policy), deployer, breakGlass: r.outputs.breakGlassRoleArn };
}

/**
 * One KMS request. With `kms:*` in an IAM policy (a deployer, an admin) the whole key policy applies.
 * The break-glass role has no IAM policy: KMS reads the root statement as "IAM policies decide", the
 * simulator as "everyone in the account", so it is judged on the key policy without that statement.
 */
function kms(k: Key, principal: string, action: string, context: Record<string, string> = {}, policy = k.policy): Promise<Decision> {
    const hasIam = principal !== k.breakGlass;
    const resourcePolicy = hasIam ? policy : { ...policy, Statement: policy.Statement.filter((s: any) => s.Sid !== "EnableIamPolicies") };
    return decide({ action, resource: k.keyArn, principal, accountId: k.account, identityPolicy: hasIam ? KMS_ALL : undefined, resourcePolicy, context });
}

const withoutSid = (policy: any, sid: string) => ({ ...policy, Statement: policy.Statement.filter((s: any) => s.Sid !== sid) });

describe("attack: destroying the vault key (IAM simulator on the declared key policy)", function () {
    this.timeout(180_000);
    let prod: Key;
    let locked: Key;
    let signing: Key;
    let signingMay: Key;

    // The prod stack file with aws.breakGlass set: `prod` keeps kms:PutKeyPolicy with the deployers,
    // `locked` (the schema's default) reserves it to the break-glass role too.
    const breakGlass = (deployersMayChangeKeyPolicy: boolean) => ({
        principalArns: ["arn:aws:iam::444455556666:role/security-break-glass-operator"],
        mfaMaxAgeSeconds: 3600,
        deployersMayChangeKeyPolicy,
    });
    before(async () => {
        const may = await runProgramUnderMocks("prod", { mutate: (f) => void ((f.values.aws as any).breakGlass = breakGlass(true)) });
        const lockedRun = await runProgramUnderMocks("prod", { mutate: (f) => void ((f.values.aws as any).breakGlass = breakGlass(false)) });
        prod = await keyOf(may);
        locked = await keyOf(lockedRun);
        signingMay = await keyOf(may, "-record-signing-key");
        signing = await keyOf(lockedRun, "-record-signing-key");
    });

    it("the deployer and an admin, with kms:* and even with MFA, cannot delete, disable or stop rotating the key", async () => {
        const admin = `arn:aws:iam::${prod.account}:role/AdministratorAccess`;
        const failures: string[] = [];
        for (const k of [prod, locked, signing, signingMay])
            for (const who of [prod.deployer, admin])
                for (const action of DESTROY)
                    for (const ctx of [{}, MFA]) {
                        const got = await kms(k, who, action, ctx);
                        if (got !== "ExplicitlyDenied") failures.push(`${who} ${action} ${JSON.stringify(ctx)}: ${got}`);
                    }
        assert.deepEqual(failures, []);
        // without its deny the deployer could (the test can fail)
        assert.equal(await kms(prod, prod.deployer, "kms:ScheduleKeyDeletion", MFA, withoutSid(prod.policy, "DenyKeyDestructionExceptBreakGlass")), "Allowed");
    });

    it("the break-glass role: denied without MFA or with an MFA sign-in older than the limit, allowed with a recent one (vault and record-signing key)", async () => {
        for (const k of [prod, locked, signing, signingMay]) {
            for (const action of [...DESTROY, "kms:CancelKeyDeletion"]) {
                assert.equal(await kms(k, k.breakGlass, action, MFA), "Allowed", `${action} with MFA`);
                assert.notEqual(await kms(k, k.breakGlass, action), "Allowed", `${action} without MFA`);
                assert.notEqual(await kms(k, k.breakGlass, action, { "aws:MultiFactorAuthPresent": "false" }), "Allowed", `${action} MFA false`);
            }
            for (const action of DESTROY) {
                assert.equal(await kms(k, k.breakGlass, action, { "aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "7200" }), "ExplicitlyDenied", `${action} stale MFA`);
            }
            assert.equal(await kms(k, k.breakGlass, "kms:Decrypt", MFA), "ImplicitlyDenied", "break-glass never reads backups");
            assert.notEqual(await kms(k, k.breakGlass, "kms:Sign", MFA), "Allowed", "break-glass never signs records");
        }
        // the stale-MFA deny is what refuses the old sign-in
        assert.equal(await kms(prod, prod.breakGlass, "kms:ScheduleKeyDeletion", { "aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "7200" }, withoutSid(prod.policy, "DenyKeyDestructionWithStaleMfa")), "Allowed");
    });

    it("key-policy rewrite: only the break-glass role when aws.breakGlass.deployersMayChangeKeyPolicy is false (the key is then created with the lockout check bypassed, on purpose)", async () => {
        const admin = `arn:aws:iam::${locked.account}:role/AdministratorAccess`;
        assert.equal(await kms(locked, locked.deployer, "kms:PutKeyPolicy", MFA), "ExplicitlyDenied");
        assert.equal(await kms(locked, admin, "kms:PutKeyPolicy", MFA), "ExplicitlyDenied");
        assert.equal(await kms(locked, locked.breakGlass, "kms:PutKeyPolicy", MFA), "Allowed");
        assert.notEqual(await kms(locked, locked.breakGlass, "kms:PutKeyPolicy"), "Allowed");
        assert.equal(one(locked.r, "aws:kms/key:Key", "-vault-key").inputs.bypassPolicyLockoutSafetyCheck, true);
        // the record-signing key alike
        assert.equal(await kms(signing, signing.deployer, "kms:PutKeyPolicy", MFA), "ExplicitlyDenied");
        assert.equal(await kms(signing, signing.breakGlass, "kms:PutKeyPolicy", MFA), "Allowed");
        assert.equal(one(locked.r, "aws:kms/key:Key", "-record-signing-key").inputs.bypassPolicyLockoutSafetyCheck, true);
        assert.ok(one(locked.r, "aws:kms/key:Key", "-record-signing-key").dependencies?.some((u: string) => u.endsWith("-break-glass-role")), "the key waits for the role its policy names");
        // with deployersMayChangeKeyPolicy, PutKeyPolicy stays with the deployers (and only them and break-glass)
        assert.equal(await kms(prod, prod.deployer, "kms:PutKeyPolicy"), "Allowed");
        assert.equal(await kms(prod, admin, "kms:PutKeyPolicy"), "ExplicitlyDenied");
        assert.notEqual(one(prod.r, "aws:kms/key:Key", "-vault-key").inputs.bypassPolicyLockoutSafetyCheck, true);
    });

    it("the break-glass role trusts only the configured people, with a recent MFA sign-in, and holds no IAM policy", async () => {
        const r = prod.r;
        const role = one(r, "aws:iam/role:Role", "-break-glass-role");
        assert.equal(role.inputs.name, prod.breakGlass.split("/").pop());
        assert.ok(!ofType(r, "aws:iam/rolePolicy:RolePolicy").some((p) => String(p.inputs.role).includes("break-glass")), "no inline policy");
        assert.ok(!ofType(r, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").length, "no attached policy");
        assert.deepEqual(role.inputs.inlinePolicies ?? [], []);
        const trust = JSON.parse(role.inputs.assumeRolePolicy);
        const person = trust.Statement[0].Principal.AWS[0];
        const caller = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }] };
        const assume = (principal: string, context: Record<string, string>) =>
            decide({ action: "sts:AssumeRole", resource: prod.breakGlass, principal, accountId: prod.account, identityPolicy: caller, resourcePolicy: trust, context });
        assert.equal(await assume(person, MFA), "Allowed");
        assert.notEqual(await assume(person, {}), "Allowed");
        assert.notEqual(await assume(person, { "aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "7200" }), "Allowed");
        assert.notEqual(await assume(prod.deployer, MFA), "Allowed", "the deployer is not trusted");
    });

    it("the attack pages: the key rule matches ScheduleKeyDeletion/PutKeyPolicy on this key only, and only the rules may publish to the topic", async () => {
        const r = prod.r;
        const rules = ofType(r, "aws:cloudwatch/eventRule:EventRule");
        const keyRule = rules.find((x) => x.name.endsWith("-key"))!;
        const bucketRule = rules.find((x) => x.name.endsWith("-bucket"))!;
        const pattern = JSON.parse(keyRule.inputs.eventPattern);
        const event = (eventName: string, keyArn: string) => ({
            source: "aws.kms",
            "detail-type": "AWS API Call via CloudTrail",
            detail: {
                eventSource: "kms.amazonaws.com",
                eventName,
                userIdentity: { type: "AssumedRole", arn: `${prod.deployer}/session` },
                requestParameters: { keyId: keyArn, pendingWindowInDays: 30 },
                resources: [{ accountId: prod.account, type: "AWS::KMS::Key", ARN: keyArn }],
            },
        });
        for (const keyArn of [prod.keyArn, signingMay.keyArn])
            for (const e of ["ScheduleKeyDeletion", "DisableKey", "DisableKeyRotation", "PutKeyPolicy"]) assert.ok(matches(pattern, event(e, keyArn)), `${e} on ${keyArn}`);
        assert.notEqual(prod.keyArn, signingMay.keyArn);
        assert.ok(!matches(pattern, event("ScheduleKeyDeletion", `${prod.keyArn}-another-key`)), "another key");
        assert.ok(!matches(pattern, event("Decrypt", prod.keyArn)), "use of the key");
        const bucketPattern = JSON.parse(bucketRule.inputs.eventPattern);
        const s3Event = (eventName: string, bucketName: string) => ({
            source: "aws.s3",
            "detail-type": "AWS API Call via CloudTrail",
            detail: { eventSource: "s3.amazonaws.com", eventName, requestParameters: { bucketName, policy: "…" } },
        });
        for (const e of ["PutBucketPolicy", "DeleteBucketPolicy", "PutBucketNotification", "PutBucketLifecycle", "PutBucketVersioning"]) assert.ok(matches(bucketPattern, s3Event(e, r.outputs.bucketName)), e);
        assert.ok(!matches(bucketPattern, s3Event("PutBucketPolicy", "someone-elses-bucket")));

        const targets = ofType(r, "aws:cloudwatch/eventTarget:EventTarget");
        assert.deepEqual(targets.map((t) => t.inputs.rule).sort(), rules.map((x) => x.inputs.name).sort());
        for (const t of targets) assert.equal(t.inputs.arn, r.outputs.securityAlertsTopicArn);
        const topicPolicy = JSON.parse(one(r, "aws:sns/topicPolicy:TopicPolicy").inputs.policy);
        const publish = (sourceArn: string) =>
            decide({
                action: "sns:Publish",
                resource: r.outputs.securityAlertsTopicArn,
                principal: "events.amazonaws.com",
                accountId: prod.account,
                resourcePolicy: topicPolicy,
                context: { "aws:SourceArn": sourceArn, "aws:PrincipalServiceName": "events.amazonaws.com" },
            });
        for (const rule of rules) assert.equal(await publish(rule.state.arn), "Allowed", rule.name);
        assert.notEqual(await publish(`arn:aws:events:ap-southeast-1:${prod.account}:rule/other`), "Allowed");
        const subs = ofType(r, "aws:sns/topicSubscription:TopicSubscription");
        assert.ok(subs.length >= 1, "the stack file subscribes someone");
        assert.deepEqual(subs.map((x) => x.inputs.topic), subs.map(() => r.outputs.securityAlertsTopicArn));
    });

    it("the committed stack files have aws.breakGlass on: neither the deployer nor an admin can destroy either key", async () => {
        for (const stack of ["staging", "prod"] as const) {
            const r = await stackRun(stack);
            assert.equal(ofType(r, "aws:iam/role:Role").filter((x) => x.name.includes("break-glass")).length, 1, stack);
            for (const suffix of ["-vault-key", "-record-signing-key"]) {
                const k = await keyOf(r, suffix);
                for (const who of [k.deployer, `arn:aws:iam::${k.account}:role/AdministratorAccess`]) assert.equal(await kms(k, who, "kms:ScheduleKeyDeletion", MFA), "ExplicitlyDenied", `${stack} ${suffix} ${who}`);
                assert.equal(await kms(k, k.breakGlass, "kms:ScheduleKeyDeletion", MFA), "Allowed", `${stack} ${suffix} break-glass`);
            }
        }
    });

    it("without aws.breakGlass the deployers keep both keys: no break-glass role, no bypass", async () => {
        const r = await runProgramUnderMocks("staging", { mutate: (f) => void delete (f.values.aws as any).breakGlass });
        assert.equal(ofType(r, "aws:iam/role:Role").filter((x) => x.name.includes("break-glass")).length, 0);
        for (const suffix of ["-vault-key", "-record-signing-key"]) {
            const k = await keyOf(r, suffix);
            assert.equal(await kms(k, k.deployer, "kms:ScheduleKeyDeletion"), "Allowed", suffix);
            assert.equal(await kms(k, `arn:aws:iam::${k.account}:role/AdministratorAccess`, "kms:ScheduleKeyDeletion"), "ExplicitlyDenied", suffix);
            assert.notEqual(one(r, "aws:kms/key:Key", suffix).inputs.bypassPolicyLockoutSafetyCheck, true);
        }
    });
});

/**
 * EventBridge pattern matching, the subset the rules use: a pattern array lists allowed values (an event
 * array matches if any element is listed), a pattern object descends, and an event array of objects
 * matches if any element matches (EventBridge User Guide, "Event patterns").
 */
function matches(pattern: any, event: any): boolean {
    return Object.entries(pattern).every(([k, p]) => {
        const v = event?.[k];
        if (v === undefined) return false;
        if (Array.isArray(p)) return (Array.isArray(v) ? v : [v]).some((x) => p.includes(x));
        return (Array.isArray(v) ? v : [v]).some((x) => typeof x === "object" && matches(p, x));
    });
}
