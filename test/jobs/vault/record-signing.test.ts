// Signing and checking vault records (jobs/src/vault/record-signing.ts), drill records above all: one
// implementation signs verification and drill records, each kind with its own key (vault.recordSigning,
// vault.drillRecordSigning), its own secret and its own payload domain, so neither signer can make the
// other's records and a signature never carries over to another record. No I/O: the secret-key signer.
import { strict as assert } from "node:assert";
import { generateKeyPairSync, sign as edSign } from "node:crypto";
import { drillRecordKey, drillSigningPayload, JOB_ENV, recordSigningPayload, signingPayload, type DrillRecord, type JobConfig, type VerifyRecord } from "@supabase-backups/contracts";
import { isTrusted, recordSigner, recordTrust, signatureState, signRecord } from "../../../jobs/src/vault/record-signing";
import { JobFailure } from "../../../jobs/src/runtime/errors";

const pair = () => {
    const k = generateKeyPairSync("ed25519");
    return { pub: k.publicKey.export({ type: "spki", format: "pem" }).toString(), priv: k.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
};
const drillKey = pair();
const verifyKey = pair();
const vault: JobConfig["vault"] = {
    bucket: "vault",
    region: "us-east-1",
    forcePathStyle: true,
    recordSigning: { publicKeyPem: verifyKey.pub },
    drillRecordSigning: { publicKeyPem: drillKey.pub },
};

const record: DrillRecord = {
    schemaVersion: 1,
    kind: "drill",
    drill: "table",
    scenario: "corruption",
    drillId: "20261201T030500Z-abc123",
    env: "prod",
    startedAt: "2026-12-01T03:05:00.000Z",
    finishedAt: "2026-12-01T03:09:00.000Z",
    restored: { runId: "20261130T193000Z-k3x9qa", targets: ["database sbd_table_x"], items: [{ name: "public.profiles", expected: 50, restored: 50, ok: true }] },
    steps: [{ name: "choose", ok: true, seconds: 0.2, detail: "newest verified run" }],
    rtoSeconds: 201.5,
    rtoTargetSeconds: 3600,
    result: "passed",
    reason: null,
    cleanedUp: true,
    auditEventId: "20261201T030500Z-evt",
};

describe("record signing: drill records signed by the drill identity's key, checked by every reader", () => {
    const trust = recordTrust(vault, "drill");

    it("a drill record signed by the drill signer verifies under vault.drillRecordSigning", async () => {
        const signer = (await recordSigner(vault, { [JOB_ENV.drillSigningKey]: drillKey.priv }, "drill"))!;
        const signed = await signRecord(record, drillSigningPayload, signer);
        assert.equal(signed.signature!.alg, "ed25519");
        assert.equal(signatureState(signed.signature, drillSigningPayload(signed), trust), "valid");
        assert.ok(isTrusted("valid", trust));
        // the same record parsed back with its keys in another order: the payload is canonical
        const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(signed).reverse()))) as DrillRecord;
        assert.equal(signatureState(reordered.signature, drillSigningPayload(reordered), trust), "valid");
    });

    it("every field the record shows is covered: a changed result, RTO, time, step, item, cleanup or id does not verify", async () => {
        const signer = (await recordSigner(vault, { [JOB_ENV.drillSigningKey]: drillKey.priv }, "drill"))!;
        const signed = await signRecord({ ...record, result: "failed", reason: "restore: pg_restore exited 1", rtoSeconds: null }, drillSigningPayload, signer);
        const edits: Array<[string, Partial<DrillRecord>]> = [
            ["result", { result: "passed", reason: null }],
            ["rtoSeconds", { rtoSeconds: 10 }],
            ["finishedAt", { finishedAt: "2026-12-02T03:09:00.000Z" }],
            ["steps", { steps: [{ name: "choose", ok: true, seconds: 0.1, detail: "x" }] }],
            ["restored", { restored: { ...signed.restored, items: [{ name: "public.profiles", expected: 50, restored: 49, ok: true }] } }],
            ["cleanedUp", { cleanedUp: false }],
            ["drillId", { drillId: "20261202T030500Z-abc123" }],
            ["env", { env: "staging" }],
            ["drill", { drill: "full", scenario: "fullLoss" }],
        ];
        assert.equal(signatureState(signed.signature, drillSigningPayload(signed), trust), "valid");
        for (const [what, edit] of edits) {
            const altered = { ...signed, ...edit };
            assert.equal(signatureState(altered.signature, drillSigningPayload(altered), trust), "invalid", what);
        }
    });

    it("unsigned: not trusted once drill records are signed, trusted only where no drill key is configured", () => {
        assert.equal(signatureState(undefined, drillSigningPayload(record), trust), "unsigned");
        assert.equal(isTrusted("unsigned", trust), false);
        const legacy = recordTrust({ ...vault, drillRecordSigning: undefined }, "drill");
        assert.equal(isTrusted(signatureState(undefined, drillSigningPayload(record), legacy), legacy), true);
        assert.equal(isTrusted("invalid", trust), false);
    });

    it("the attacker's own key, or the verifier's key, makes a signature that is invalid, not unsigned", async () => {
        const own = pair();
        const forged = { ...record, signature: { alg: "ed25519" as const, keyId: "0123456789abcdef", value: edSign(null, drillSigningPayload(record), own.priv).toString("base64") } };
        assert.equal(signatureState(forged.signature, drillSigningPayload(forged), trust), "invalid");
        const byVerifier = { ...record, signature: { ...forged.signature, value: edSign(null, drillSigningPayload(record), verifyKey.priv).toString("base64") } };
        assert.equal(signatureState(byVerifier.signature, drillSigningPayload(byVerifier), trust), "invalid", "the verifier's key does not sign drill records");
        assert.equal(signatureState(forged.signature, drillSigningPayload(forged), {}), "unsigned", "with no key configured, a signature proves nothing either way");
    });

    it("domains: a drill signature never verifies as a verification record's, and the verify payload is the one signed before drills were", async () => {
        // one key for both, on purpose: even then a signature carries over to no other kind of record
        const shared = recordTrust({ ...vault, recordSigning: { publicKeyPem: drillKey.pub } }, "verify");
        const v = { env: "prod", runId: "20261130T193000Z-k3x9qa", verifiedAt: "2026-12-01T03:05:00.000Z", result: "passed" } as VerifyRecord;
        const drillSig = edSign(null, signingPayload("drill", [v.env, v.runId, v.verifiedAt, v.result, null, null, null]), drillKey.priv).toString("base64");
        assert.equal(signatureState({ alg: "ed25519", keyId: "k", value: drillSig }, recordSigningPayload(v), shared), "invalid");
        assert.deepEqual(
            recordSigningPayload(v),
            Buffer.from(JSON.stringify(["supabase-backups/verify-record/v1", v.env, v.runId, v.verifiedAt, v.result, null, null, null]), "utf8"),
            "records signed before drill signing still verify",
        );
        assert.equal(drillRecordKey(record.env, record.drill, record.drillId), "drill/prod/table/2026/12/01/20261201T030500Z-abc123.json");
    });

    it("the drill signer: its own secret only (not the verifier's), the key must match the configured public key", async () => {
        const fails = async (env: NodeJS.ProcessEnv, pattern: RegExp) => {
            const e = await recordSigner(vault, env, "drill").then(
                () => undefined,
                (x) => x,
            );
            assert.ok(e instanceof JobFailure, `expected a JobFailure for ${JSON.stringify(Object.keys(env))}`);
            assert.match(e.message, pattern);
            assert.doesNotMatch(e.message, /PRIVATE KEY/);
        };
        await fails({ [JOB_ENV.recordSigningKey]: verifyKey.priv }, /vault\.drillRecordSigning is set but has no kmsKeyArn and DRILL_SIGNING_KEY is not set: cannot sign drill records/);
        await fails({ [JOB_ENV.drillSigningKey]: verifyKey.priv }, /drill record signing key does not match vault\.drillRecordSigning\.publicKeyPem/);
        await fails({ [JOB_ENV.drillSigningKey]: "not a key" }, /DRILL_SIGNING_KEY is not a PKCS#8 PEM private key/);
        assert.equal(await recordSigner({ ...vault, drillRecordSigning: undefined }, { [JOB_ENV.drillSigningKey]: drillKey.priv }, "drill"), undefined, "no drill key configured: drill records stay unsigned");
        // and verify's signer is untouched: its own section and secret
        assert.ok(await recordSigner(vault, { [JOB_ENV.recordSigningKey]: verifyKey.priv }));
    });
});
