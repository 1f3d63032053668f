// Attack: a stolen writer token hides failing restore drills behind a fake "passed" drill record. On Ceph
// RGW (Object Lock, versioning, the project's bucket policy, one RGW user per identity carrying its own IAM
// document from components/iam-policies.ts — the setup of pinning-writer-overwrite.test.ts), the real CLI
// runs as the writer (dump), the drill identity (drill, holding the drill-record signing key) and the
// restore operator (status). The attacker holds the WRITER's credentials:
//   - with the writer's own document, a put under drill/ is refused (first defence: IAM; on AWS the bucket
//     policy's DenyDrillRecordsExceptDrill refuses it even to a writer granted more by mistake, which RGW
//     cannot evaluate: policy-vault-writes.test.ts shows it with the IAM simulator);
//   - with a writer document widened by mistake to drill/ (what RGW then lets through), the attacker's
//     unsigned "passed" record, one signed with the attacker's own key, and a genuine signed record copied
//     under a newer drill id are written over a genuine FAILED drill. status keeps counting the genuine
//     failure, lists the unsigned record as UNTRUSTED and the forged ones as TAMPERING (exit 7).
// Garbage put there is reported as unreadable and hides nothing either. A genuine drill (signed by the
// drill identity) is shown as passed.
import { strict as assert } from "node:assert";
import { generateKeyPairSync, sign as edSign, verify as edVerify, createPublicKey } from "node:crypto";
import { PutBucketPolicyCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { drillRecordKey, drillSigningPayload, EXIT, newRunId, serializeRecord, type DrillRecord, type JobConfig } from "@supabase-backups/contracts";
import { drillPolicy, restoreOperatorPolicy, writerPolicy, type VaultPolicyContext } from "../../components/iam-policies";
import { runCli, writeJobConfig, type CliResult } from "../support/cli";
import { startPostgres, type PgServer } from "../support/postgres";
import { startRgw, type RgwServer, type RgwUser } from "../support/rgw";
import { SUPABASE_SCHEMA_SQL } from "../support/seed";
import { awsEnv, createRgwVaultBucket, forPacific, putUserPolicy, refused, rgwBucketPolicy } from "../support/rgw-vault";

const ENV = "test";
const BUCKET = "vault";
const MISSING_RUN = "20200101T000000Z-zzzzzz";

describe("attack: a stolen writer token writes a fake passed drill record (RGW, signed drill records)", function () {
    this.timeout(240_000);
    let rgw: RgwServer;
    let pg: PgServer;
    let scratch: PgServer;
    let config: { path: string; config: JobConfig };
    let sourceUrl: string;
    let drillKey: string;
    const users = {} as Record<"writer" | "drill" | "operator", RgwUser>;
    const s3 = {} as Record<keyof typeof users, S3Client>;
    let passed: { key: string; record: DrillRecord };
    let failed: { key: string; record: DrillRecord };

    const run = (who: RgwUser, args: string[], extra: Record<string, string | undefined> = {}): Promise<CliResult> =>
        runCli([...args, "--config", config.path], {
            ...awsEnv(who),
            LOG_LEVEL: "warn",
            DATABASE_URL: undefined,
            AGE_IDENTITY: undefined,
            VERIFY_SIGNING_KEY: undefined,
            DRILL_SIGNING_KEY: undefined,
            AZURE_STORAGE_CONNECTION_STRING: undefined,
            ...extra,
        });
    const drill = (extra: string[] = []) =>
        run(users.drill, ["drill", "--kind", "table", "--json", "--reason", "attack test drill", ...extra], { DRILL_SIGNING_KEY: drillKey, SUPABASE_BACKUPS_DRILL_PASSWORD: scratch.password });
    const status = async () => {
        const r = await run(users.operator, ["status", "--json"]);
        const report = JSON.parse(r.stdout);
        return { code: r.code, report, table: report.drills.find((d: any) => d.kind === "table") };
    };
    const put = (client: S3Client, Key: string, record: unknown) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: serializeRecord(record), ContentType: "application/json" }));

    before(async function () {
        [rgw, pg, scratch] = await Promise.all([startRgw({ lcDebugInterval: 0 }), startPostgres(), startPostgres()]);
        sourceUrl = await pg.createDatabase("app");
        await pg.query(SUPABASE_SCHEMA_SQL + "; create table public.secrets (id int primary key, v text not null); insert into public.secrets select g, 'genuine ' || g from generate_series(1, 50) g", "app");
        const verifyKeys = generateKeyPairSync("ed25519");
        const drillKeys = generateKeyPairSync("ed25519");
        drillKey = drillKeys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
        config = writeJobConfig({ vault: { bucket: BUCKET, region: "us-east-1", endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.env = ENV;
            delete c.alerts.pushgatewayUrl;
            c.verify.tables = ["public.secrets"];
            c.verify.checks = [];
            c.vault.recordSigning = { publicKeyPem: verifyKeys.publicKey.export({ type: "spki", format: "pem" }).toString() };
            c.vault.drillRecordSigning = { publicKeyPem: drillKeys.publicKey.export({ type: "spki", format: "pem" }).toString() };
            c.drills = { scratchDatabaseUrl: scratch.url.replace(/:[^:@/]+@/, "@"), rtoMinutes: { corruption: 60, fullLoss: 240, storage: 120 }, table: { schedule: "0 5 3 * *", tables: ["public.secrets"] } };
            delete c.archive;
        });
        const admin = rgw.client();
        await createRgwVaultBucket(admin, BUCKET, config.config.retention.objectLockMinDays);
        for (const name of ["writer", "drill", "operator"] as const) {
            users[name] = await rgw.createUser(name);
            s3[name] = rgw.client(users[name]);
        }
        const bp = rgwBucketPolicy({ bucket: BUCKET, env: ENV, kmsKeyArn: rgw.kmsKeyId, writers: ["writer", "drill", "operator"] });
        await admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(forPacific(bp).doc) }));
        const ctx: VaultPolicyContext = { bucket: BUCKET, env: ENV, region: "us-east-1", accountId: "", kmsKeyArn: rgw.kmsKeyId };
        await putUserPolicy(rgw, "writer", "vault", forPacific(writerPolicy(ctx)).doc);
        await putUserPolicy(rgw, "drill", "vault", forPacific(drillPolicy(ctx)).doc);
        await putUserPolicy(rgw, "operator", "vault", forPacific(restoreOperatorPolicy(ctx)).doc);
        const d = await run(users.writer, ["dump", "--json", "--no-archive"], { DATABASE_URL: sourceUrl });
        assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
    });

    after(async () => {
        await Promise.allSettled([pg?.stop(), scratch?.stop(), rgw?.stop()]);
    });

    it("a genuine table drill, as the drill identity, signs its record; status shows it passed with a valid signature", async () => {
        const r = await drill();
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        passed = JSON.parse(r.stdout);
        assert.equal(passed.record.result, "passed");
        const pub = createPublicKey(config.config.vault.drillRecordSigning!.publicKeyPem);
        assert.ok(edVerify(null, drillSigningPayload(passed.record), pub, Buffer.from(passed.record.signature!.value, "base64")), "signed with the drill identity's key");
        assert.doesNotMatch(r.stderr + r.stdout, /PRIVATE KEY/, "the signing key is never printed");
        const s = await status();
        assert.deepEqual([s.table.last.drillId, s.table.last.result, s.table.last.signature], [passed.record.drillId, "passed", "valid"]);
        assert.deepEqual(s.table.untrusted, []);
        assert.deepEqual(s.report.tampering, []);
    });

    it("a drill without its signing key refuses to start (its record would not be trusted), and writes nothing", async () => {
        const r = await run(users.drill, ["drill", "--kind", "table", "--json", "--reason", "no key"], { SUPABASE_BACKUPS_DRILL_PASSWORD: scratch.password });
        assert.notEqual(r.code, EXIT.ok);
        assert.match(r.stderr, /vault\.drillRecordSigning is set but has no kmsKeyArn and DRILL_SIGNING_KEY is not set/);
        assert.equal((await status()).table.last.drillId, passed.record.drillId);
    });

    it("a genuine drill that fails is recorded, signed, and status reports the failure", async () => {
        const r = await drill(["--run", MISSING_RUN]);
        assert.equal(r.code, EXIT.failed, r.stderr.slice(-3000));
        failed = JSON.parse(r.stdout);
        assert.equal(failed.record.result, "failed");
        const s = await status();
        assert.deepEqual([s.table.last.drillId, s.table.last.result, s.table.last.signature], [failed.record.drillId, "failed", "valid"]);
        assert.ok(s.report.problems.some((p: string) => p.includes(`(${failed.record.drillId}) FAILED`)));
    });

    it("the writer with its own document cannot put a drill record at all (first defence)", async () => {
        const at = new Date(Date.parse(failed.record.startedAt) + 60_000);
        const fake = { ...passed.record, drillId: newRunId(at, "fake01"), startedAt: at.toISOString(), signature: undefined };
        await refused(put(s3.writer, drillRecordKey(ENV, "table", fake.drillId), fake));
    });

    it("widened by mistake to drill/, the writer's fake passed records are shown as UNTRUSTED or TAMPERING; the genuine failure still counts (second defence)", async () => {
        const widened = writerPolicy({ bucket: BUCKET, env: ENV, region: "us-east-1", accountId: "", kmsKeyArn: rgw.kmsKeyId });
        widened.Statement.push({ Sid: "MistakenDrillWrites", Effect: "Allow", Action: ["s3:PutObject"], Resource: `arn:aws:s3:::${BUCKET}/drill/${ENV}/*` });
        await putUserPolicy(rgw, "writer", "vault", forPacific(widened).doc);
        const fakeAt = (minutes: number, rand: string) => {
            const at = new Date(Date.parse(failed.record.finishedAt) + minutes * 60_000);
            return { drillId: newRunId(at, rand), startedAt: at.toISOString(), finishedAt: new Date(at.getTime() + 60_000).toISOString() };
        };
        // 1. unsigned: a genuine-looking passed record, newer than the failure
        const unsigned: DrillRecord = { ...passed.record, ...fakeAt(1, "fake01"), signature: undefined };
        delete unsigned.signature;
        await put(s3.writer, drillRecordKey(ENV, "table", unsigned.drillId), unsigned);
        let s = await status();
        assert.deepEqual([s.table.last.drillId, s.table.last.result], [failed.record.drillId, "failed"], "the genuine failure is still the drill status shows");
        assert.deepEqual(s.table.untrusted.map((u: any) => [u.drillId, u.result, u.signature]), [[unsigned.drillId, "passed", "unsigned"]]);
        assert.ok(s.report.problems.some((p: string) => p.includes(`(${failed.record.drillId}) FAILED`)));
        assert.deepEqual(s.report.tampering, [], "unsigned is untrusted, not proof of tampering");
        const human = await run(users.operator, ["status"]);
        assert.match(human.stdout, new RegExp(`table\\s.*UNTRUSTED \\(unsigned\\), claims passed`));
        assert.match(human.stdout, /table\s.*FAILED/);
        // 2. signed with the attacker's own key, and 3. the genuine passed record copied under a newer drill id
        const own = generateKeyPairSync("ed25519");
        const ownSigned: DrillRecord = { ...passed.record, ...fakeAt(2, "fake02") };
        ownSigned.signature = { alg: "ed25519", keyId: "0123456789abcdef", value: edSign(null, drillSigningPayload(ownSigned), own.privateKey).toString("base64") };
        await put(s3.writer, drillRecordKey(ENV, "table", ownSigned.drillId), ownSigned);
        const copied = fakeAt(3, "fake03");
        await put(s3.writer, drillRecordKey(ENV, "table", copied.drillId), passed.record);
        // 4. garbage, newest of all: reported as unreadable, and it does not hide the records below it either
        const garbage = drillRecordKey(ENV, "table", fakeAt(4, "fake04").drillId);
        await s3.writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: garbage, Body: "not a drill record", ContentType: "application/json" }));
        s = await status();
        assert.equal(s.code, EXIT.tampered, "a bad signature is tampering: exit 7");
        assert.deepEqual([s.table.last.drillId, s.table.last.result], [failed.record.drillId, "failed"]);
        assert.deepEqual(
            s.table.untrusted.map((u: any) => u.signature),
            ["invalid", "invalid", "unsigned"],
            "newest first: the copy, the attacker-signed record, the unsigned one",
        );
        assert.deepEqual(
            s.report.tampering,
            [drillRecordKey(ENV, "table", copied.drillId), drillRecordKey(ENV, "table", ownSigned.drillId)].map((k) => `${k}: drill record with an invalid signature (forged, altered or moved): not trusted`),
        );
        assert.ok(s.report.problems.some((p: string) => p.startsWith(`drill record unreadable: ${garbage}: `)), JSON.stringify(s.report.problems));
        assert.ok(s.report.problems.some((p: string) => p.includes(`(${failed.record.drillId}) FAILED`)));
        assert.ok(!s.report.problems.some((p: string) => /table drill.*passed/i.test(p)));
    });
});
