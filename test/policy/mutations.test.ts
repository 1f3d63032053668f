// The mutation corpus (test/policy/mutations/corpus.ts) on the real program: prod is run once under
// mocks, each named weakening is applied to a copy of what it declared, and the pack (evaluated
// in-process, as the offline gate does) must fail it with the expected policy. The unmodified staging
// and prod stacks pass. One end-to-end run through the CrossGuard gRPC server is in crossguard.test.ts.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { toPolicyResources } from "../../scripts/policy";
import { evaluatePack, type DeclaredResource } from "../../policy/evaluate";
import { readPackConfigFile } from "../../policy/config";
import { policies } from "../../policy/policies";
import { MUTANTS } from "./mutations/corpus";
import { ROOT } from "../support/policy-fixtures";

function edit(rs: DeclaredResource[], type: string, f: (doc: any) => void, suffix = "-vault-policy"): void {
    const r = rs.find((x) => x.type === type && x.name.endsWith(suffix))!;
    const d = JSON.parse(r.props.policy);
    f(d);
    r.props.policy = JSON.stringify(d);
}

describe("mutation corpus: every weakening of the real prod program fails the gate", function () {
    this.timeout(300_000);
    let base: DeclaredResource[];
    const config = () => readPackConfigFile(join(ROOT, "policy", "config.prod.json"));

    before(async () => {
        base = toPolicyResources((await runProgramUnderMocks("prod")).resources);
    });

    for (const stack of ["staging", "prod"]) {
        it(`the unmodified ${stack} stack passes every policy`, async () => {
            const rs = stack === "prod" ? base : toPolicyResources((await runProgramUnderMocks(stack)).resources);
            const vs = await evaluatePack(rs, readPackConfigFile(join(ROOT, "policy", `config.${stack}.json`)), { stack });
            assert.deepEqual(vs.map((v) => `${v.policy}: ${v.message}`), []);
        });
    }

    it("the corpus has at least 60 named weakenings, unique names, each naming a policy of the pack", () => {
        assert.ok(MUTANTS.length >= 60, `only ${MUTANTS.length}`);
        assert.equal(new Set(MUTANTS.map((m) => m.name)).size, MUTANTS.length);
        for (const m of MUTANTS) assert.ok(policies.some((p) => p.name === m.policy), `${m.name}: unknown policy ${m.policy}`);
    });

    // Not weakenings: the pack judges effect, so these must pass (no false alarms that teach people to ignore it).
    const harmless: [string, (rs: DeclaredResource[]) => void][] = [
        ["the bucket policy's statements reversed", (rs) => edit(rs, "aws:s3/bucketPolicy:BucketPolicy", (d) => d.Statement.reverse())],
        ["an Allow for gc next to the denies (an Allow cannot undo an explicit Deny)", (rs) => edit(rs, "aws:s3/bucketPolicy:BucketPolicy", (d) => d.Statement.push({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::444455556666:role/supabase-backups-prod-gc" }, Action: "s3:DeleteObject", Resource: "arn:aws:s3:::acme-supabase-backups-prod/*" }))],
        ["the delete deny widened to s3:Delete*", (rs) => edit(rs, "aws:s3/bucketPolicy:BucketPolicy", (d) => (d.Statement.find((x: any) => x.Sid === "DenyDeleteOutsideBlobs").Action = "s3:Delete*"))],
        [
            "another bucket of the stack (neither the vault nor its log bucket) with SSE-S3, its own expiry and S3 log delivery allowed",
            (rs) => {
                const b = "acme-supabase-backups-prod-exports";
                const add = (type: string, name: string, props: any) => rs.push({ type, name, props, urn: `urn:pulumi:prod::supabase-backups::${type}::${name}` });
                add("aws:s3/bucket:Bucket", "logs", { bucket: b });
                add("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "logs-sse", { bucket: b, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] });
                add("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "logs-lc", { bucket: b, rules: [{ id: "expire", status: "Enabled", filter: { prefix: "" }, expiration: { days: 400 } }] });
                add("aws:s3/bucketPolicy:BucketPolicy", "logs-policy", { bucket: b, policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "logging.s3.amazonaws.com" }, Action: "s3:PutObject", Resource: `arn:aws:s3:::${b}/*` }] }) });
            },
        ],
        // the log bucket is not the vault: SSE-S3, no default lock and its own expiry are what it needs
        ["the log bucket keeps logs longer (800 days)", (rs) => void (rs.find((r) => r.name.endsWith("-access-logs-lifecycle"))!.props.rules[0].expiration.days = 800)],
        ["the log bucket policy's statements reversed", (rs) => edit(rs, "aws:s3/bucketPolicy:BucketPolicy", (d) => d.Statement.reverse(), "-access-logs-policy")],
        [
            "the restore operators' condition laid out on several lines, as Azure's docs write it",
            (rs) => {
                const a = rs.find((r) => r.type === "azure-native:authorization:RoleAssignment" && r.name.includes("-archive-restore-operators-"))!.props;
                a.condition = a.condition.replace(/\(\(!/, "(\n (\n  !").replace(/\)\) OR \(/, ")\n )\n OR\n (\n  ").replace(/\)\)$/, "\n )\n)");
            },
        ],
        ["the vault key's stale-MFA bound tightened to 15 minutes", (rs) => edit(rs, "aws:kms/key:Key", (d) => (d.Statement.find((x: any) => x.Sid === "DenyKeyDestructionWithStaleMfa").Condition.NumericGreaterThanIfExists["aws:MultiFactorAuthAge"] = "900"), "-vault-key")],
    ];
    for (const [name, apply] of harmless) {
        it(`not a weakening, passes: ${name}`, async () => {
            const rs = structuredClone(base);
            apply(rs);
            const vs = await evaluatePack(rs, config(), { stack: "prod" });
            assert.deepEqual(vs.map((v) => `[${v.policy}] ${v.resourceName}: ${v.message}`), []);
        });
    }

    for (const m of MUTANTS) {
        it(`${m.name} → ${m.policy}`, async () => {
            const rs = structuredClone(base);
            m.apply(rs);
            const vs = await evaluatePack(rs, config(), { stack: "prod" });
            const hit = vs.filter((v) => v.policy === m.policy && v.enforcementLevel === "mandatory");
            assert.ok(hit.length > 0, `not caught by ${m.policy}; got: ${vs.map((v) => `[${v.policy}] ${v.message}`).join("\n") || "(nothing)"}`);
        });
    }
});
