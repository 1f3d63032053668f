// The pack on the real program: both real stacks, run under mocks with their own config, pass the whole
// pack through the offline gate; mutated variants (of the program's declared resources, or of the stack
// config) fail with the right policy's name and a useful message.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { policyGate, toPolicyResources } from "../../scripts/policy";
import { runProgramUnderMocks, type MockRunResult } from "../../scripts/lib/mockrun";
import { evaluatePack, type DeclaredResource, type Violation } from "../../policy/evaluate";
import { readPackConfigFile, type PackConfig } from "../../policy/config";
import { ROOT } from "../support/policy-fixtures";

const runs = new Map<string, Promise<MockRunResult>>();
function run(stack: string): Promise<MockRunResult> {
    if (!runs.has(stack)) runs.set(stack, runProgramUnderMocks(stack));
    return runs.get(stack)!;
}
function packConfigOf(stack: string): PackConfig {
    return readPackConfigFile(join(ROOT, "policy", `config.${stack}.json`));
}
function summary(vs: Violation[]): string {
    return vs.map((v) => `[${v.policy}] ${v.resourceName ?? "(stack)"}: ${v.message}`).join("\n") || "(none)";
}

/** The real program's resources with the one resource of `type` (whose name ends with `suffix`) changed. */
async function mutated(stack: string, type: string, change: (inputs: any) => void, suffix = ""): Promise<DeclaredResource[]> {
    const rs = structuredClone(toPolicyResources((await run(stack)).resources));
    const hits = rs.filter((r) => r.type === type && r.name.endsWith(suffix));
    assert.equal(hits.length, 1, `expected one ${type} *${suffix}, found ${hits.map((h) => h.name).join(", ")}`);
    change(hits[0].props);
    return rs;
}

async function expectFails(rs: DeclaredResource[], stack: string, policy: string, message: RegExp): Promise<void> {
    const vs = await evaluatePack(rs, packConfigOf(stack), { stack });
    assert.ok(vs.some((v) => v.policy === policy && message.test(v.message) && v.enforcementLevel === "mandatory"), `expected ${policy} ~ ${message}; got:\n${summary(vs)}`);
}

function editDoc(inputs: any, f: (doc: any) => void): void {
    const d = JSON.parse(inputs.policy);
    f(d);
    inputs.policy = JSON.stringify(d);
}

for (const stack of ["staging", "prod"]) {
    describe(`policy gate on the real program (${stack})`, function () {
        this.timeout(120_000);

        it(`npm run policy -- --stack ${stack}: every policy passes, exit 0`, async () => {
            const r = await policyGate(stack);
            assert.equal(r.exitCode, 0, r.report);
            assert.deepEqual(r.violations, []);
            assert.ok(r.resources > 30, `the program declared only ${r.resources} resources`);
            assert.match(r.report, /✔ every policy passed/);
            assert.doesNotMatch(r.report, /is not what .* implies/, "policy/config.<stack>.json is what the stack file implies");
        });

        it("SSE AES256 fails vault-sse-kms-customer-key", async () => {
            const rs = await mutated(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", (p) => {
                p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" };
            }, "-vault-sse");
            await expectFails(rs, stack, "vault-sse-kms-customer-key", /sseAlgorithm is "AES256", expected "aws:kms"/);
        });

        it("versioning off fails vault-versioning-enabled", async () => {
            const rs = await mutated(stack, "aws:s3/bucketVersioning:BucketVersioning", (p) => (p.versioningConfiguration.status = "Suspended"), "-vault-versioning");
            await expectFails(rs, stack, "vault-versioning-enabled", /versioning status is "Suspended"/);
        });

        it("GOVERNANCE mode fails vault-object-lock-compliance", async () => {
            const rs = await mutated(stack, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", (p) => (p.rule.defaultRetention.mode = "GOVERNANCE"));
            await expectFails(rs, stack, "vault-object-lock-compliance", /"GOVERNANCE", expected "COMPLIANCE"/);
        });

        it("public access block, bucket policy without the TLS deny, short lifecycle, KMS rotation off each fail their policy", async () => {
            await expectFails(await mutated(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", (p) => (p.blockPublicPolicy = false), "-vault-public-access"), stack, "vault-public-access-blocked", /blockPublicPolicy=false/);
            await expectFails(
                await mutated(stack, "aws:s3/bucketPolicy:BucketPolicy", (p) => editDoc(p, (d) => (d.Statement = d.Statement.filter((s: any) => !JSON.stringify(s.Condition ?? {}).includes("aws:SecureTransport")))), "-vault-policy"),
                stack,
                "vault-bucket-policy-tls-and-encryption",
                /no effective deny "DenyInsecureTransport"/,
            );
            await expectFails(
                await mutated(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", (p) => {
                    for (const r of p.rules) if (r.expiration?.days) r.expiration.days = 2;
                }, "-vault-lifecycle"),
                stack,
                "vault-lifecycle-respects-retention",
                /expires objects after 2 day\(s\), shorter than/,
            );
            await expectFails(await mutated(stack, "aws:kms/key:Key", (p) => (p.enableKeyRotation = false), "-vault-key"), stack, "kms-key-rotation-and-deletion-window", /enableKeyRotation is false/);
        });

        it("writer with s3:* fails iam-backup-identities-least-privilege", async () => {
            const rs = await mutated(
                stack,
                "aws:iam/rolePolicy:RolePolicy",
                (p) => editDoc(p, (d) => (d.Statement = [{ Effect: "Allow", Action: "s3:*", Resource: "*" }])),
                "-writer-vault",
            );
            await expectFails(rs, stack, "iam-backup-identities-least-privilege", /writer must never delete anything, but the document allows s3:DeleteObject/);
            await expectFails(rs, stack, "iam-backup-identities-least-privilege", /writer must never change bucket.*s3:PutBucketPolicy/);
        });

        it("writer with s3:Delete* hidden in a wildcard (s3:De*, s3:*Object*) fails iam-backup-identities-least-privilege", async () => {
            for (const action of ["s3:De*", "s3:*Object*", "s3:Del*"]) {
                const rs = await mutated(
                    stack,
                    "aws:iam/rolePolicy:RolePolicy",
                    (p) => editDoc(p, (d) => d.Statement.push({ Sid: "Sneaky", Effect: "Allow", Action: ["s3:PutObject", action], Resource: `arn:aws:s3:::x-${stack}/storage/*` })),
                    "-writer-vault",
                );
                await expectFails(rs, stack, "iam-backup-identities-least-privilege", /writer must never delete anything, but the document allows s3:DeleteObject.*statement "Sneaky"/);
            }
        });

        it("CronJob with Allow concurrency and one with a literal password fail k8s-cronjob-hardened", async () => {
            const dump = (f: (p: any) => void) => mutated(stack, "kubernetes:batch/v1:CronJob", f, "-dump");
            await expectFails(await dump((p) => (p.spec.concurrencyPolicy = "Allow")), stack, "k8s-cronjob-hardened", /concurrencyPolicy is "Allow", expected "Forbid"/);
            await expectFails(
                await dump((p) => p.spec.jobTemplate.spec.template.spec.containers[0].env.push({ name: "PGPASSWORD", value: "correct horse battery staple" })),
                stack,
                "k8s-cronjob-hardened",
                /env PGPASSWORD is a secret given as a literal value/,
            );
            await expectFails(
                await dump((p) => {
                    const env = p.spec.jobTemplate.spec.template.spec.containers[0].env;
                    const i = env.findIndex((e: any) => e.name === "DATABASE_URL");
                    env[i] = { name: "DATABASE_URL", value: "postgresql://postgres:hunter2@db.example.com:5432/postgres" };
                }),
                stack,
                "k8s-cronjob-hardened",
                /env DATABASE_URL holds a URL with credentials/,
            );
        });

        it("schedules slower than the RPO (dump) or than a bucket's own schedule fail k8s-cronjob-hardened", async () => {
            await expectFails(
                await mutated(stack, "kubernetes:batch/v1:CronJob", (p) => (p.spec.schedule = "30 3 */2 * *"), "-dump"),
                stack,
                "k8s-cronjob-hardened",
                /schedule "30 3 \*\/2 \* \*" \(Asia\/Manila\) leaves up to 48 h between runs, more than 26 h \(alerts.rpoHours 26\)/,
            );
            await expectFails(
                await mutated(stack, "kubernetes:batch/v1:CronJob", (p) => (p.spec.schedule = "0 4 1 * *"), "-sync-storage-public-assets"),
                stack,
                "k8s-cronjob-hardened",
                /more than 168 h \(storage.buckets "public-assets" schedule "[^"]+"\)/,
            );
        });

        it("a CronJob on the wrong service account fails stack-backup-completeness", async () => {
            const rs = await mutated(stack, "kubernetes:batch/v1:CronJob", (p) => (p.spec.jobTemplate.spec.template.spec.serviceAccountName = "supabase-backups-gc"), "-dump");
            await expectFails(rs, stack, "stack-backup-completeness", /CronJob "dump" \(dump\) needs the writer identity, but service account "supabase-backups-gc" assumes .*gc \(gc\)/);
        });
    });
}

describe("policy gate on the real program: Azure workload identity (prod)", function () {
    this.timeout(120_000);

    it("a writer service account pointing at the gc Azure identity fails stack-backup-completeness", async () => {
        const rs = toPolicyResources((await run("prod")).resources);
        const gc = rs.find((r) => r.type === "azure-native:managedidentity:UserAssignedIdentity" && r.name.endsWith("-gc-azure"))!;
        const bad = await mutated("prod", "kubernetes:core/v1:ServiceAccount", (p) => (p.metadata.annotations["azure.workload.identity/client-id"] = gc.outputs!.clientId), "-sa-writer");
        await expectFails(bad, "prod", "stack-backup-completeness", /needs the writer identity, but service account "supabase-backups-writer" uses the Azure identity supabase-backups-prod-gc \(gc\)/);
        const unfederated = await mutated("prod", "azure-native:managedidentity:FederatedIdentityCredential", (p) => (p.subject = "system:serviceaccount:other:someone"), "-writer-federated");
        await expectFails(unfederated, "prod", "stack-backup-completeness", /Azure identity supabase-backups-prod-writer has no federated credential for system:serviceaccount:supabase-backups-prod:supabase-backups-writer/);
    });
});

describe("policy gate on the real program: config mutations", function () {
    this.timeout(120_000);

    it("Object Lock of 1 day in the stack file fails vault-object-lock-compliance (exit 1, grouped, with remediation)", async () => {
        const r = await policyGate("staging", { overrides: { mutate: (f) => ((f.values.retention as any).objectLockMinDays = 1) } });
        assert.equal(r.exitCode, 1, r.report);
        assert.ok(r.violations.some((v) => v.policy === "vault-object-lock-compliance" && /1 day\(s\), below the stack's minimum of 7 days/.test(v.message)), summary(r.violations));
        assert.match(r.report, /✖ vault-object-lock-compliance \(mandatory, critical\)/);
        assert.match(r.report, /aws:s3\/bucketObjectLockConfiguration:BucketObjectLockConfiguration ".*": default retention is 1 day\(s\)/);
        assert.match(r.report, /remediation: Create the bucket with objectLockEnabled: true/);
        assert.match(r.report, /✖ policy\/config\.staging\.json is not what Pulumi\.staging\.yaml implies/);
    });

    it("prod without the Azure archive fails stack-backup-completeness", async () => {
        const r = await policyGate("prod", { overrides: { mutate: (f) => ((f.values.azure as any).enabled = false) } });
        assert.equal(r.exitCode, 1, r.report);
        assert.ok(
            r.violations.some((v) => v.policy === "stack-backup-completeness" && /requires a secondary archive in another cloud, but the stack declares 0 Azure storage account/.test(v.message)),
            summary(r.violations),
        );
    });

    it("Azure TLS1_0 fails azure-archive-hardened", async () => {
        const rs = await mutated("prod", "azure-native:storage:StorageAccount", (p) => (p.minimumTlsVersion = "TLS1_0"));
        await expectFails(rs, "prod", "azure-archive-hardened", /minimumTlsVersion is "TLS1_0", expected "TLS1_2"/);
    });

    it("a bad pack config is a clear error, exit 2, before anything is judged", async () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-policy-"));
        const path = join(dir, "config.staging.json");
        writeFileSync(path, JSON.stringify({ "vault-object-lock-compliance": { minRetentionDays: "seven" }, "k8s-cronjob-hardened": "advisory" }));
        const r = await policyGate("staging", { configPath: path });
        assert.equal(r.exitCode, 2, r.report);
        assert.match(r.report, /config.staging.json: invalid policy pack config/);
        assert.match(r.report, /vault-object-lock-compliance.minRetentionDays: must be integer; found "seven"/);
        assert.doesNotMatch(r.report, /k8s-cronjob-hardened: missing required key/);
        assert.match(r.report, /k8s-cronjob-hardened: enforcement level "advisory" is not allowed/);
        assert.match(r.report, /missing the config of policy "iam-backup-identities-least-privilege"/);
    });
});
