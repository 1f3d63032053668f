// The record-signing key (components/record-signing.ts) as the program declares it, read back from the
// mocked resources and evaluated with the IAM simulator: only the verifier's role may kms:Sign with it —
// not the writer, not an account admin holding kms:* — and the job config carries its public key, so
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
        for (const p of ofType(r, "aws:iam/rolePolicy:RolePolicy").filter((x) => !x.name.endsWith("-verifier-record-signing"))) {
            assert.doesNotMatch(p.inputs.policy, /kms:Sign/, `${p.name} grants no kms:Sign`);
        }
    });

    it("the job config carries the public key (readers check records with it) and the key to sign with", () => {
        const cm = ofType(r, "kubernetes:core/v1:ConfigMap").find((x) => x.inputs.data?.["job-config.json"]);
        const cfg = JSON.parse(cm!.inputs.data["job-config.json"]);
        assert.equal(cfg.vault.recordSigning.publicKeyPem, MOCK_SIGNING_PUBLIC_KEY);
        assert.equal(createPublicKey(cfg.vault.recordSigning.publicKeyPem).asymmetricKeyType, "ed25519");
        assert.equal(cfg.vault.recordSigning.kmsKeyArn, keyArn);
    });
});
