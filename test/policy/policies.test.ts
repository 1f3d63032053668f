// Every policy on hand-built resources shaped like the program's: the compliant baseline passes, and
// each mutation fails with that policy's name and a message that says what is wrong.
import { strict as assert } from "node:assert";
import { evaluatePack, type DeclaredResource, type Violation } from "../../policy/evaluate";
import { policies } from "../../policy/policies";
import type { PackConfig } from "../../policy/config";
import { mutate, packConfig, resourcesFor, stackConfig, writerDocument } from "../support/policy-fixtures";

// The hand-built fixtures model the vault, identities and CronJobs; the policies about the namespace's
// workloads, trust policies and the key policy are exercised on the real program by the mutation corpus
// (mutations.test.ts), whose resources have all of those.
const ON_THE_REAL_PROGRAM = ["k8s-workloads-restricted", "iam-role-trust-restricted", "kms-key-policy-protects-key"];
const fixturePolicies = policies.filter((p) => !ON_THE_REAL_PROGRAM.includes(p.name));
const evaluateFixtures = (rs: DeclaredResource[], cfg: PackConfig) => evaluatePack(rs, cfg, { policies: fixturePolicies });

function summary(vs: Violation[]): string {
    return vs.map((v) => `[${v.policy}] ${v.resourceName ?? "(stack)"}: ${v.message}`).join("\n");
}

async function expectViolation(rs: DeclaredResource[], cfg: PackConfig, policy: string, message: RegExp): Promise<Violation[]> {
    const vs = await evaluateFixtures(rs, cfg);
    const hit = vs.filter((v) => v.policy === policy && message.test(v.message));
    assert.ok(hit.length > 0, `expected a ${policy} violation matching ${message}; got:\n${summary(vs) || "(none)"}`);
    assert.equal(hit[0].enforcementLevel, "mandatory");
    assert.ok(hit[0].remediation.length > 20, "violations carry remediation steps");
    return vs;
}

describe("policy pack: metadata", () => {
    it("has the seventeen policies, each mandatory with a description and remediation steps", () => {
        assert.equal(policies.length, 17);
        assert.equal(new Set(policies.map((p) => p.name)).size, 17);
        for (const p of policies) {
            assert.equal(p.enforcementLevel, "mandatory", p.name);
            assert.ok(p.description.length > 30, p.name);
            assert.ok(p.remediationSteps.length > 30, p.name);
            assert.ok(p.severity, p.name);
        }
    });
});

for (const stack of ["staging", "prod"]) {
    describe(`policy pack: hand-built ${stack} resources`, () => {
        const cfg = stackConfig(stack);
        const pack = packConfig(stack);
        const base = resourcesFor(cfg);

        it("the compliant baseline passes every policy", async () => {
            const vs = await evaluateFixtures(base, pack);
            assert.deepEqual(vs, [], summary(vs));
        });

        it("vault-object-lock-compliance: lock of 1 day, GOVERNANCE mode, no default retention, lock off", async () => {
            await expectViolation(mutate(base, "vault-lock", (p) => (p.rule.defaultRetention.days = 1)), pack, "vault-object-lock-compliance", new RegExp(`1 day\\(s\\), below the stack's minimum of ${cfg.retention.objectLockMinDays} days`));
            await expectViolation(mutate(base, "vault-lock", (p) => (p.rule.defaultRetention.mode = "GOVERNANCE")), pack, "vault-object-lock-compliance", /mode is "GOVERNANCE", expected "COMPLIANCE"/);
            await expectViolation(mutate(base, "vault-lock", (p) => delete p.rule), pack, "vault-object-lock-compliance", /no default retention/);
            await expectViolation(mutate(base, "vault", (p) => (p.objectLockEnabled = false)), pack, "vault-object-lock-compliance", /does not enable Object Lock/);
            // years count too
            const vs = await evaluateFixtures(mutate(base, "vault-lock", (p) => (p.rule.defaultRetention = { mode: "COMPLIANCE", years: 1 })), pack);
            assert.deepEqual(vs, [], summary(vs));
        });

        it("vault-versioning-enabled: versioning off", async () => {
            await expectViolation(mutate(base, "vault-versioning", (p) => (p.versioningConfiguration.status = "Suspended")), pack, "vault-versioning-enabled", /"Suspended", expected "Enabled"/);
            await expectViolation(mutate(base, "vault-versioning", (p) => (p.versioningConfiguration.status = "Disabled")), pack, "vault-versioning-enabled", /"Disabled"/);
        });

        it("vault-sse-kms-customer-key: AES256, the AWS-managed key, no key, bucket key off", async () => {
            await expectViolation(
                mutate(base, "vault-sse", (p) => (p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" })),
                pack,
                "vault-sse-kms-customer-key",
                /sseAlgorithm is "AES256", expected "aws:kms"/,
            );
            await expectViolation(mutate(base, "vault-sse", (p) => (p.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId = "alias/aws/s3")), pack, "vault-sse-kms-customer-key", /AWS-managed key/);
            await expectViolation(mutate(base, "vault-sse", (p) => delete p.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId), pack, "vault-sse-kms-customer-key", /kmsMasterKeyId is unset/);
            await expectViolation(mutate(base, "vault-sse", (p) => (p.rules[0].bucketKeyEnabled = false)), pack, "vault-sse-kms-customer-key", /bucketKeyEnabled is false/);
        });

        it("vault-public-access-blocked: one flag off, ACLs on", async () => {
            await expectViolation(mutate(base, "vault-pab", (p) => (p.restrictPublicBuckets = false)), pack, "vault-public-access-blocked", /restrictPublicBuckets=false/);
            await expectViolation(mutate(base, "vault-ownership", (p) => (p.rule.objectOwnership = "ObjectWriter")), pack, "vault-public-access-blocked", /"ObjectWriter", expected "BucketOwnerEnforced"/);
        });

        it("vault-bucket-policy-tls-and-encryption: TLS deny dropped, narrowed, unencrypted puts allowed, public allow", async () => {
            const edit = (f: (d: any) => void) =>
                mutate(base, "vault-policy", (p) => {
                    const d = JSON.parse(p.policy);
                    f(d);
                    p.policy = JSON.stringify(d);
                });
            await expectViolation(edit((d) => d.Statement.splice(0, 1)), pack, "vault-bucket-policy-tls-and-encryption", /no effective deny "DenyInsecureTransport"/);
            await expectViolation(edit((d) => (d.Statement[0].Action = "s3:Get*")), pack, "vault-bucket-policy-tls-and-encryption", /no effective deny "DenyInsecureTransport"/);
            await expectViolation(edit((d) => d.Statement.splice(1, 2)), pack, "vault-bucket-policy-tls-and-encryption", /no effective deny "DenyNonKmsEncryption"/);
            await expectViolation(
                edit((d) => d.Statement.push({ Sid: "Oops", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::x/*" })),
                pack,
                "vault-bucket-policy-tls-and-encryption",
                /allows everyone/,
            );
            // A Deny of `s3:*Object*` does not cover every S3 action: still a violation.
            await expectViolation(edit((d) => (d.Statement[0].Action = "s3:*Object*")), pack, "vault-bucket-policy-tls-and-encryption", /"DenyInsecureTransport"/);
            // `*` does.
            const vs = await evaluateFixtures(edit((d) => (d.Statement[0].Action = "*")), pack);
            assert.deepEqual(vs, [], summary(vs));
        });

        it("vault-lifecycle-respects-retention: expiry shorter than the tier, untagged expiry, no multipart abort", async () => {
            await expectViolation(
                mutate(base, "vault-lifecycle", (p) => (p.rules[0].expiration.days = cfg.retention.daily)),
                pack,
                "vault-lifecycle-respects-retention",
                new RegExp(`expires objects after ${cfg.retention.daily} day\\(s\\), shorter than ${cfg.retention.daily + 1}: tier "daily"`),
            );
            await expectViolation(
                mutate(base, "vault-lifecycle", (p) => p.rules.push({ id: "everything", status: "Enabled", filter: {}, expiration: { days: 90 } })),
                pack,
                "vault-lifecycle-respects-retention",
                /not limited to one tier/,
            );
            await expectViolation(mutate(base, "vault-lifecycle", (p) => p.rules.pop()), pack, "vault-lifecycle-respects-retention", /no enabled rule aborts incomplete multipart uploads/);
            // A disabled short rule is harmless.
            const vs = await evaluateFixtures(mutate(base, "vault-lifecycle", (p) => p.rules.push({ id: "off", status: "Disabled", filter: {}, expiration: { days: 1 } })), pack);
            assert.deepEqual(vs, [], summary(vs));
        });

        it("kms-key-rotation-and-deletion-window: rotation off, 7-day window", async () => {
            await expectViolation(mutate(base, "vault-key", (p) => (p.enableKeyRotation = false)), pack, "kms-key-rotation-and-deletion-window", /enableKeyRotation is false/);
            await expectViolation(mutate(base, "vault-key", (p) => (p.deletionWindowInDays = 7)), pack, "kms-key-rotation-and-deletion-window", /deletionWindowInDays is 7, at least 30/);
        });

        it("iam-backup-identities-least-privilege: writer with s3:*, s3:Delete* hidden in a wildcard, s3:*Object*, reads of dumps, config changes", async () => {
            const bucketArn = `arn:aws:s3:::${cfg.aws.bucketName}`;
            const writerWith = (extra: object) =>
                mutate(base, "writer-policy", (p) => {
                    const d = JSON.parse(p.policy);
                    d.Statement.push(extra);
                    p.policy = JSON.stringify(d);
                });
            const name = "iam-backup-identities-least-privilege";
            let vs = await expectViolation(writerWith({ Effect: "Allow", Action: "s3:*", Resource: [bucketArn, `${bucketArn}/*`] }), pack, name, /writer must never delete anything, but the document allows s3:DeleteObject/);
            for (const re of [/never change bucket, key or IAM configuration.*s3:PutBucketPolicy/, /never bypass or lift retention.*s3:BypassGovernanceRetention/, /never read dumps or storage blobs back.*s3:GetObject on dumps \(db\//]) {
                assert.ok(vs.some((v) => v.policy === name && re.test(v.message)), `s3:* should also trip ${re}:\n${summary(vs)}`);
            }
            await expectViolation(writerWith({ Effect: "Allow", Action: "s3:Del*", Resource: `${bucketArn}/*` }), pack, name, /delete anything.*s3:DeleteObject\b.*s3:DeleteObjectVersion/);
            await expectViolation(writerWith({ Effect: "Allow", Action: ["s3:List*", "s3:D*"], Resource: `${bucketArn}/*` }), pack, name, /s3:DeleteObjectVersion/);
            await expectViolation(writerWith({ Effect: "Allow", Action: "s3:*Object*", Resource: `${bucketArn}/db/${cfg.env}/*` }), pack, name, /s3:GetObject on dumps/);
            await expectViolation(writerWith({ Effect: "Allow", Action: "s3:*Object*", Resource: `${bucketArn}/db/${cfg.env}/*` }), pack, name, /delete anything.*s3:DeleteObject/);
            await expectViolation(writerWith({ Effect: "Allow", NotAction: "s3:GetObject", Resource: "*" }), pack, name, /s3:PutBucketPolicy/);
            await expectViolation(writerWith({ Effect: "Allow", Action: "s3:PutLifecycleConfiguration", Resource: bucketArn }), pack, name, /configuration.*s3:PutLifecycleConfiguration/);
            await expectViolation(writerWith({ Effect: "Allow", Action: "kms:ScheduleKeyDeletion", Resource: "*" }), pack, name, /kms:ScheduleKeyDeletion/);
            await expectViolation(writerWith({ Effect: "Allow", Action: "s3:PutObject", Resource: `${bucketArn}/*` }), pack, name, /write outside db\/\{env\}\/.*verification records/);
            // An explicit unconditional Deny takes the permission back.
            vs = await evaluateFixtures(
                writerWith({ Effect: "Allow", Action: "s3:Delete*", Resource: `${bucketArn}/*` }).map((r) =>
                    r.name !== "writer-policy" ? r : { ...r, props: { ...r.props, policy: JSON.stringify({ ...JSON.parse(r.props.policy), Statement: [...JSON.parse(r.props.policy).Statement, { Effect: "Deny", Action: "s3:Delete*", Resource: "*" }] }) } },
                ),
                pack,
            );
            assert.deepEqual(vs, [], summary(vs));
            // gc may delete blobs but not dumps.
            await expectViolation(
                mutate(base, "gc-policy", (p) => {
                    const d = JSON.parse(p.policy);
                    d.Statement[2].Resource = `${bucketArn}/*`;
                    p.policy = JSON.stringify(d);
                }),
                pack,
                name,
                /gc must never delete anything but unreferenced storage blobs.*dumps/,
            );
            // AWS-managed policy on a backup role
            await expectViolation(
                [...base, { type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", name: "writer-s3-full", props: { role: `supabase-backups-${cfg.env}-writer`, policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess" } }],
                pack,
                name,
                /AWS-managed policy arn:aws:iam::aws:policy\/AmazonS3FullAccess/,
            );
            // Azure custom role for the writer with a wildcard covering delete
            await expectViolation(
                [
                    ...base,
                    {
                        type: "azure-native:authorization:RoleDefinition",
                        name: "writer-role-def",
                        props: { roleName: `supabase-backups-${cfg.env}-writer`, permissions: [{ dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"] }] },
                    },
                ],
                pack,
                name,
                /writer must never delete, but the role allows .*blobs\/delete/,
            );
        });

        it("iam: the compliant writer document passes on its own", async () => {
            const { judgeIdentityDocument } = await import("../../policy/policies/iam-backup-identities-least-privilege");
            const doc = writerDocument(cfg, `arn:aws:s3:::${cfg.aws.bucketName}`, "arn:aws:kms:x:1:key/k");
            assert.deepEqual(await judgeIdentityDocument(doc, "writer", { env: cfg.env, bucketName: cfg.aws.bucketName, identities: {} as any }), []);
        });

        it("k8s-cronjob-hardened: Allow concurrency, literal password, credential URL, root, writable root fs, no limits, short deadline, slow schedule", async () => {
            const name = "k8s-cronjob-hardened";
            const dump = (f: (spec: any) => void) => mutate(base, "dump", (p) => f(p.spec));
            const c0 = (s: any) => s.jobTemplate.spec.template.spec.containers[0];
            await expectViolation(dump((s) => (s.concurrencyPolicy = "Allow")), pack, name, /concurrencyPolicy is "Allow", expected "Forbid"/);
            await expectViolation(dump((s) => c0(s).env.push({ name: "PGPASSWORD", value: "hunter2" })), pack, name, /env PGPASSWORD is a secret given as a literal value; use valueFrom.secretKeyRef/);
            await expectViolation(dump((s) => (c0(s).env[1] = { name: "DATABASE_URL", value: "postgresql://postgres:s3cret@db.example.com:5432/postgres" })), pack, name, /env DATABASE_URL holds a URL with credentials/);
            await expectViolation(dump((s) => c0(s).env.push({ name: "UPSTREAM", value: "https://user:pw@example.com/x" })), pack, name, /env UPSTREAM holds a URL with credentials/);
            await expectViolation(dump((s) => (c0(s).securityContext.readOnlyRootFilesystem = false)), pack, name, /readOnlyRootFilesystem is false/);
            await expectViolation(dump((s) => delete c0(s).securityContext.allowPrivilegeEscalation), pack, name, /allowPrivilegeEscalation is unset, expected false/);
            await expectViolation(
                dump((s) => {
                    s.jobTemplate.spec.template.spec.securityContext = {};
                    delete c0(s).securityContext.runAsNonRoot;
                }),
                pack,
                name,
                /runAsNonRoot is unset, expected true/,
            );
            await expectViolation(dump((s) => delete c0(s).resources.limits.memory), pack, name, /no resource limit for memory/);
            await expectViolation(dump((s) => (s.startingDeadlineSeconds = 10)), pack, name, /startingDeadlineSeconds is 10, expected at least 60/);
            await expectViolation(dump((s) => delete s.jobTemplate.spec.activeDeadlineSeconds), pack, name, /activeDeadlineSeconds is unset/);
            await expectViolation(dump((s) => (s.schedule = "30 3 */2 * *")), pack, name, new RegExp(`more than ${cfg.alerts.rpoHours} h \\(alerts.rpoHours`));
            // A bucket with its own weekly schedule may be weekly, not slower.
            const own = (cfg.storage.buckets ?? []).find((b) => b.schedule);
            if (own) {
                await expectViolation(mutate(base, `sync-storage-${own.name}`, (p) => (p.spec.schedule = "0 4 1 * *")), pack, name, new RegExp(`storage.buckets "${own.name}" schedule`));
            }
            // verify and gc are not bound by the RPO.
            const vs = await evaluateFixtures(mutate(base, "gc", (p) => (p.spec.schedule = "0 5 1 * *")), pack);
            assert.deepEqual(vs, [], summary(vs));
        });

        it("stack-backup-completeness: missing companion, foreign key, CronJob on the wrong identity", async () => {
            const name = "stack-backup-completeness";
            await expectViolation(base.filter((r) => r.name !== "vault-lock"), pack, name, /has no BucketObjectLockConfiguration/);
            await expectViolation(mutate(base, "vault-pab", (p) => (p.bucket = "some-other-bucket")), pack, name, /has no BucketPublicAccessBlock/);
            await expectViolation(mutate(base, "verify", (p) => (p.spec.jobTemplate.spec.template.spec.serviceAccountName = "supabase-backups-writer")), pack, name, /CronJob "verify" \(verify\) needs the verifier identity, but service account "supabase-backups-writer" assumes .*writer \(writer\)/);
            await expectViolation(mutate(base, "dump", (p) => delete p.spec.jobTemplate.spec.template.spec.serviceAccountName), pack, name, /default service account/);
            await expectViolation(mutate(base, "check-supabase", (p) => (p.spec.jobTemplate.spec.template.spec.serviceAccountName = "supabase-backups-gc")), pack, name, /needs no cloud identity/);
            await expectViolation(
                mutate(base, "writer-role", (p) => (p.assumeRolePolicy = p.assumeRolePolicy.replace(/supabase-backups-writer/g, "someone-else"))),
                pack,
                name,
                /does not trust system:serviceaccount:.*supabase-backups-writer/,
            );
            await expectViolation(mutate(base, "vault-sse", (p) => (p.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId = "arn:aws:kms:x:1:key/not-ours")), pack, name, /not a KMS key or alias this stack declares/);
        });
    });
}

describe("policy pack: Azure archive and prod", () => {
    const cfg = stackConfig("prod");
    const pack = packConfig("prod");
    const base = resourcesFor(cfg);
    const name = "azure-archive-hardened";

    it("azure-archive-hardened: TLS1_0, HTTP, public blobs, shared keys, no infrastructure encryption, short or unlocked immutability", async () => {
        const acct = (f: (p: any) => void) => mutate(base, "archive", f);
        await expectViolation(acct((p) => (p.minimumTlsVersion = "TLS1_0")), pack, name, /minimumTlsVersion is "TLS1_0", expected "TLS1_2"/);
        await expectViolation(acct((p) => (p.enableHttpsTrafficOnly = false)), pack, name, /enableHttpsTrafficOnly is false/);
        await expectViolation(acct((p) => (p.allowBlobPublicAccess = true)), pack, name, /allowBlobPublicAccess is true/);
        await expectViolation(acct((p) => delete p.allowSharedKeyAccess), pack, name, /allowSharedKeyAccess is unset, expected false/);
        await expectViolation(acct((p) => (p.encryption.requireInfrastructureEncryption = false)), pack, name, /requireInfrastructureEncryption is false/);
        await expectViolation(acct((p) => (p.immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays = 1)), pack, name, new RegExp(`immutability period is 1 day\\(s\\), expected at least ${cfg.retention.objectLockMinDays}`));
        // Azure creates policies Unlocked only: accepted by default, refused once the stack's config asks for Locked.
        const unlocked = acct((p) => (p.immutableStorageWithVersioning.immutabilityPolicy.state = "Unlocked"));
        assert.deepEqual(await evaluateFixtures(unlocked, pack), []);
        const locked = { ...pack, [name]: { ...(pack[name] as object), requireLockedImmutability: true } };
        await expectViolation(unlocked, locked, name, /expected "Locked"/);
        await expectViolation(acct((p) => delete p.immutableStorageWithVersioning.immutabilityPolicy), pack, name, /no default immutability policy/);
        await expectViolation(acct((p) => (p.immutableStorageWithVersioning = { enabled: false })), pack, name, /immutableStorageWithVersioning.enabled is false/);
        await expectViolation(mutate(base, "archive-blob", (p) => (p.isVersioningEnabled = false)), pack, name, /isVersioningEnabled is false/);
        await expectViolation(mutate(base, "archive-container", (p) => (p.publicAccess = "Blob")), pack, name, /publicAccess is "Blob", expected "None"/);
        await expectViolation(mutate(base, "archive-lifecycle", (p) => (p.policy.rules[0].definition.actions.baseBlob.delete.daysAfterModificationGreaterThan = 3)), pack, name, /deletes after 3 day\(s\)/);
    });

    it("stack-backup-completeness: prod without the archive fails", async () => {
        const noArchive = base.filter((r) => !r.type.startsWith("azure-native:"));
        await expectViolation(noArchive, pack, "stack-backup-completeness", /requires a secondary archive in another cloud, but the stack declares 0 Azure storage account\(s\)/);
        // staging does not require it
        const staging = await evaluateFixtures(resourcesFor(stackConfig("staging")), packConfig("staging"));
        assert.ok(!staging.some((v) => /secondary archive/.test(v.message)));
    });
});
