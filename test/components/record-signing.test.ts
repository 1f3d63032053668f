// The record-signing keys (components/record-signing.ts) as the program declares them, read back from the
// mocked resources and evaluated with the IAM simulator: only the verifier's role may kms:Sign with the
// verification-record key, only the drill identity's with the drill-record key — not the writer, not an
// account admin holding kms:*, not the other signer — and the job config carries their public keys, so
// readers check records without any KMS permission (issue 13 item 3).
import { strict as assert } from "node:assert";
import { createPublicKey } from "node:crypto";
import { decide, one, ofType, stackRun } from "../support/components";
import { MOCK_SIGNING_PUBLIC_KEY, type MockRunResult } from "../../scripts/lib/mockrun";

describe("record-signing key (staging): Ed25519 in KMS, kms:Sign for the verifier alone", function () {
    let r: MockRunResult;
    let account: string;
    let keyArn: string;
    let keyPolicy: any;
    const roleArn = (id: string) => `arn:aws:iam::${account}:role/supabase-backups-${r.outputs.env}-${id}`;
    const signCtx = { "kms:SigningAlgorithm": "ED25519_SHA_512", "kms:MessageType": "RAW" };

    before(async () => {
        r = await stackRun("staging");
        account = r.outputs.roleArns.writer.split(":")[4];
        const key = one(r, "aws:kms/key:Key", "-record-signing-key");
        keyArn = key.state.arn;
        keyPolicy = JSON.parse(key.inputs.policy);
    });

    it("is an Ed25519 SIGN_VERIFY key with the deployment's deletion window", () => {
        const key = one(r, "aws:kms/key:Key", "-record-signing-key");
        assert.equal(key.inputs.keyUsage, "SIGN_VERIFY");
        assert.equal(key.inputs.customerMasterKeySpec, "ECC_NIST_EDWARDS25519");
        assert.equal(key.inputs.deletionWindowInDays, one(r, "aws:kms/key:Key", "-vault-key").inputs.deletionWindowInDays);
    });

    it("the verifier may sign (its own inline policy, Ed25519 over the raw payload only); no other identity, nor an account admin with kms:*", async () => {
        const signing = JSON.parse(one(r, "aws:iam/rolePolicy:RolePolicy", "-verifier-record-signing").inputs.policy);
        const sim = (principal: string, identityPolicy: any, context: Record<string, string> = signCtx) =>
            decide({ action: "kms:Sign", resource: keyArn, principal, accountId: account, identityPolicy, resourcePolicy: keyPolicy, context });
        assert.equal(await sim(roleArn("verifier"), signing), "Allowed");
        assert.notEqual(await sim(roleArn("verifier"), signing, { ...signCtx, "kms:MessageType": "DIGEST" }), "Allowed", "only the raw payload");
        const admin = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*" }] };
        assert.equal(await sim(`arn:aws:iam::${account}:role/account-admin`, admin), "ExplicitlyDenied");
        assert.equal(await sim(roleArn("writer"), admin), "ExplicitlyDenied", "even with kms:* the writer cannot sign");
        for (const p of ofType(r, "aws:iam/rolePolicy:RolePolicy").filter((x) => !/-(verifier|drill)-record-signing$/.test(x.name))) {
            assert.doesNotMatch(p.inputs.policy, /kms:Sign/, `${p.name} grants no kms:Sign`);
        }
    });

    it("drill records have their own key: kms:Sign for the drill identity alone — not the verifier, whose key the drill identity cannot use either", async () => {
        const drillKey = one(r, "aws:kms/key:Key", "-drill-signing-key");
        assert.equal(drillKey.inputs.keyUsage, "SIGN_VERIFY");
        assert.equal(drillKey.inputs.customerMasterKeySpec, "ECC_NIST_EDWARDS25519");
        assert.equal(drillKey.inputs.tags["supabase-backups/signs"], "drill");
        assert.equal(one(r, "aws:kms/key:Key", "-record-signing-key").inputs.tags["supabase-backups/signs"], "verify");
        const drillKeyPolicy = JSON.parse(drillKey.inputs.policy);
        const drillSigning = JSON.parse(one(r, "aws:iam/rolePolicy:RolePolicy", "-drill-record-signing").inputs.policy);
        const verifierSigning = JSON.parse(one(r, "aws:iam/rolePolicy:RolePolicy", "-verifier-record-signing").inputs.policy);
        assert.deepEqual(drillSigning.Statement.map((x: any) => x.Resource), [drillKey.state.arn], "the drill identity's policy names its own key only");
        const sim = (principal: string, identityPolicy: any, resource: string, resourcePolicy: any) =>
            decide({ action: "kms:Sign", resource, principal, accountId: account, identityPolicy, resourcePolicy, context: signCtx });
        const admin = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*" }] };
        assert.equal(await sim(roleArn("drill"), drillSigning, drillKey.state.arn, drillKeyPolicy), "Allowed");
        assert.equal(await sim(roleArn("verifier"), admin, drillKey.state.arn, drillKeyPolicy), "ExplicitlyDenied", "the verifier cannot sign drill records, even with kms:*");
        assert.equal(await sim(roleArn("writer"), admin, drillKey.state.arn, drillKeyPolicy), "ExplicitlyDenied");
        assert.equal(await sim(roleArn("drill"), admin, keyArn, keyPolicy), "ExplicitlyDenied", "the drill identity cannot sign verification records, even with kms:*");
        assert.notEqual(await sim(roleArn("verifier"), verifierSigning, drillKey.state.arn, drillKeyPolicy), "Allowed");
        const cm = ofType(r, "kubernetes:core/v1:ConfigMap").find((x) => x.inputs.data?.["job-config.json"]);
        const cfg = JSON.parse(cm!.inputs.data["job-config.json"]);
        assert.deepEqual(cfg.vault.drillRecordSigning, { kmsKeyArn: drillKey.state.arn, publicKeyPem: MOCK_SIGNING_PUBLIC_KEY });
    });

    it("the job config carries the public key (readers check records with it) and the key to sign with", () => {
        const cm = ofType(r, "kubernetes:core/v1:ConfigMap").find((x) => x.inputs.data?.["job-config.json"]);
        const cfg = JSON.parse(cm!.inputs.data["job-config.json"]);
        assert.equal(cfg.vault.recordSigning.publicKeyPem, MOCK_SIGNING_PUBLIC_KEY);
        assert.equal(createPublicKey(cfg.vault.recordSigning.publicKeyPem).asymmetricKeyType, "ed25519");
        assert.equal(cfg.vault.recordSigning.kmsKeyArn, keyArn);
    });
});
