// Audit before action (docs/security.md "Audit before action"), on Ceph RGW with the project's own IAM
// documents and bucket policy, each attack with the attacker's own credentials:
//   - an identity that cannot write the audit log runs a restore: no record → no action (one line);
//   - a restore writes "started" before it touches anything and the finished record after, both locked
//     COMPLIANCE as long as the longest-kept backup; the actor is the caller's identity, --actor a claim;
//   - the restore process is killed after its "started" record: the record stays, says started, and the
//     audit log shows the action as never finished;
//   - the operator tries to rewrite and to delete their own record: deletes are refused; a new version
//     is accepted by RGW (Pacific ignores If-None-Match; on AWS the bucket's conditional-write deny
//     refuses it), but the first, locked version is untouched and is what the audit log shows, with the
//     overwrite flagged.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import {
    DeleteObjectCommand,
    GetObjectCommand,
    GetObjectRetentionCommand,
    ListObjectVersionsCommand,
    PutBucketPolicyCommand,
    PutObjectCommand,
    PutObjectRetentionCommand,
    type S3Client,
} from "@aws-sdk/client-s3";
import { activeTiers, AuditRecordSchema, assertSchema, EXIT, prefixes, retainUntil, type AuditRecord, type JobConfig } from "@supabase-backups/contracts";
import { restoreOperatorPolicy, verifierPolicy, writerPolicy, type VaultPolicyContext } from "../../components/iam-policies";
import { runCli, startCli, writeJobConfig, type CliResult } from "../support/cli";
import { freePort } from "../support/ports";
import { startPostgres, type PgServer } from "../support/postgres";
import { startRgw, type RgwServer, type RgwUser } from "../support/rgw";
import { awsEnv, createRgwVaultBucket, forPacific, putUserPolicy, refused, rgwBucketPolicy } from "../support/rgw-vault";
import { seedSupabase } from "../support/seed";
import { passwordOutOfArgv } from "../support/target-url";

const ENV = "test";
const BUCKET = "vault";

describe("attack: actions without an audit record, and an operator rewriting their own record (RGW)", function () {
    this.timeout(180_000);
    let rgw: RgwServer;
    let pg: PgServer;
    let config: { path: string; config: JobConfig };
    let runId: string;
    const users = {} as Record<"writer" | "verifier" | "restore-operator" | "inspector", RgwUser>;
    const s3 = {} as Record<keyof typeof users, S3Client>;

    // restore db's target password goes in SUPABASE_BACKUPS_TARGET_PASSWORD, never in argv
    const run = (who: RgwUser, args: string[], extra: Record<string, string | undefined> = {}): Promise<CliResult> =>
        runCli(...passwordOutOfArgv([...args, "--config", config.path], { ...awsEnv(who), LOG_LEVEL: "warn", DATABASE_URL: undefined, AGE_IDENTITY: undefined, VERIFY_SIGNING_KEY: undefined, ...extra }));
    const auditVersions = async () => (await s3.inspector.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: prefixes.audit(ENV) }))).Versions ?? [];
    const body = async (Key: string, VersionId?: string): Promise<AuditRecord> =>
        JSON.parse(await (await s3.inspector.send(new GetObjectCommand({ Bucket: BUCKET, Key, VersionId }))).Body!.transformToString());
    const longestLock = (at: Date) => new Date(Math.max(...activeTiers(config.config.retention).map((t) => retainUntil(at, t, config.config.retention).getTime())));

    before(async () => {
        [rgw, pg] = await Promise.all([startRgw(), startPostgres()]);
        const admin = rgw.client();
        config = writeJobConfig({ vault: { bucket: BUCKET, region: "us-east-1", endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.env = ENV;
            delete c.alerts.pushgatewayUrl;
            delete c.archive;
        });
        await createRgwVaultBucket(admin, BUCKET, config.config.retention.objectLockMinDays);
        for (const name of ["writer", "verifier", "restore-operator", "inspector"] as const) {
            users[name] = await rgw.createUser(name);
            s3[name] = rgw.client(users[name]);
        }
        const policy = forPacific(
            rgwBucketPolicy({ bucket: BUCKET, env: ENV, kmsKeyArn: rgw.kmsKeyId, writers: ["writer", "verifier", "restore-operator"] }),
        ).doc;
        await admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(policy) }));
        const ctx: VaultPolicyContext = { bucket: BUCKET, env: ENV, region: "us-east-1", accountId: "", kmsKeyArn: rgw.kmsKeyId };
        await putUserPolicy(rgw, "writer", "vault", forPacific(writerPolicy(ctx)).doc);
        await putUserPolicy(rgw, "verifier", "vault", forPacific(verifierPolicy(ctx)).doc);
        await putUserPolicy(rgw, "restore-operator", "vault", forPacific(restoreOperatorPolicy(ctx)).doc);
        await putUserPolicy(rgw, "inspector", "vault", {
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:ListBucket", "s3:ListBucketVersions"], Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`] }],
        });
        const src = await pg.createDatabase("app");
        await seedSupabase(src, { users: 30, sessionsPerUser: 1, payloadBytes: 64, messagesPerUser: 1 });
        const d = await run(users.writer, ["dump", "--json", "--no-archive"], { DATABASE_URL: src });
        assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
        runId = JSON.parse(d.stdout).runId ?? JSON.parse(d.stdout).manifest.runId;
    });
    after(async () => {
        await Promise.allSettled([pg?.stop(), rgw?.stop()]);
    });

    it("no record, no action: an identity that may not write audit/ gets one line and the target stays empty", async () => {
        const target = await pg.createDatabase("no_audit");
        const r = await run(users.verifier, ["restore", "db", "--run", runId, "--target-url", target, "--reason", "attack"]);
        assert.equal(r.code, EXIT.failed, r.stderr);
        const line = r.stderr.trim().split("\n").filter((l) => l.startsWith("supabase-backups")).pop() ?? "";
        assert.match(line, /nothing done: the "started" audit record could not be written: .*AccessDenied/);
        const tables = await pg.query("select count(*)::int as n from pg_tables where schemaname not in ('pg_catalog', 'information_schema')", "no_audit");
        assert.equal(tables[0].n, 0, "the restore ran without an audit record");
        assert.equal((await auditVersions()).length, 0);
    });

    it("a restore: 'started' before, the result after, both locked as long as the longest-kept backup; the actor is the caller's identity", async () => {
        const target = await pg.createDatabase("audited");
        const r = await run(users["restore-operator"], ["restore", "db", "--run", runId, "--target-url", target, "--reason", "drill", "--actor", "ana", "--json"]);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const eventId = JSON.parse(r.stdout).auditEventId;
        const keys = (await auditVersions()).map((v) => v.Key!).filter((k) => k.includes(eventId)).sort();
        assert.equal(keys.length, 2, keys.join(","));
        const [finishedKey, startedKey] = [keys.find((k) => !k.endsWith(".started.json"))!, keys.find((k) => k.endsWith(".started.json"))!];
        const started = await body(startedKey);
        const finished = await body(finishedKey);
        for (const [k, rec] of [[startedKey, started], [finishedKey, finished]] as const) {
            assertSchema(AuditRecordSchema, rec, k);
            assert.equal(rec.actor, `access-key:${users["restore-operator"].accessKeyId}@${new URL(rgw.endpoint).host}`, "the identity RGW authenticated, not the flag");
            assert.equal(rec.actorClaim, "ana");
            const ret = await s3.inspector.send(new GetObjectRetentionCommand({ Bucket: BUCKET, Key: k }));
            assert.equal(ret.Retention?.Mode, "COMPLIANCE");
            const want = longestLock(new Date(rec.startedAt)).getTime();
            assert.ok(Math.abs(ret.Retention!.RetainUntilDate!.getTime() - want) < 120_000, `${k} locked until ${ret.Retention!.RetainUntilDate!.toISOString()}, want ~${new Date(want).toISOString()}`);
        }
        assert.equal(started.result, "started");
        assert.equal(started.finishedAt, null);
        assert.equal(finished.result, "succeeded");
    });

    it("killed after its 'started' record: the record stays, says started, and the log shows the action never finished", async () => {
        // a target that accepts the connection and never answers: the restore waits there, after "started"
        const hang: Server = createServer(() => undefined);
        const port = await freePort();
        await new Promise<void>((r) => hang.listen(port, "127.0.0.1", () => r()));
        try {
            const before = new Set((await auditVersions()).map((v) => v.Key!));
            const cli = startCli(["restore", "db", "--run", runId, "--target-url", `postgresql://postgres@127.0.0.1:${port}/x`, "--reason", "kill me", "--config", config.path], {
                ...awsEnv(users["restore-operator"]),
                LOG_LEVEL: "warn",
                SUPABASE_BACKUPS_TARGET_PASSWORD: "pw",
            });
            let started: string | undefined;
            for (let i = 0; i < 100 && !started; i++) {
                started = (await auditVersions()).map((v) => v.Key!).find((k) => !before.has(k) && k.endsWith(".started.json"));
                if (!started) await new Promise((r) => setTimeout(r, 100));
            }
            assert.ok(started, "a started record appeared");
            cli.child.kill("SIGKILL");
            const res = await cli.done;
            assert.equal(res.signal, "SIGKILL", `the restore was still running when killed: ${res.stderr.slice(-500)}`);
            const after = (await auditVersions()).map((v) => v.Key!).filter((k) => !before.has(k));
            assert.deepEqual(after, [started], "only the started record: no finished one");
            const rec = await body(started!);
            assert.equal(rec.result, "started");
            const log = await run(users["restore-operator"], ["audit", "--json"]);
            assert.equal(log.code, EXIT.ok, log.stderr);
            const out = JSON.parse(log.stdout);
            assert.equal(out.read, "first-version");
            assert.ok(out.unfinished.includes(rec.eventId), JSON.stringify(out.unfinished));
        } finally {
            hang.close();
        }
    });

    it("the operator cannot delete their own record, and a new version over it changes nothing the log shows", async () => {
        const op = s3["restore-operator"];
        const key = (await auditVersions()).map((v) => v.Key!).find((k) => k.endsWith(".started.json"))!;
        const original = await body(key);
        const firstVersion = (await auditVersions()).find((v) => v.Key === key)!.VersionId!;
        await refused(op.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key })));
        await refused(op.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: firstVersion })));
        await refused(op.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: key, VersionId: firstVersion, Retention: { Mode: "COMPLIANCE", RetainUntilDate: new Date(Date.now() + 86_400_000) } })));
        // The rewrite: RGW (Pacific ignores If-None-Match) stores it as a new version.
        const forged = { ...original, actor: "someone-else", result: "succeeded", reason: "nothing to see" };
        await op.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify(forged), IfNoneMatch: "*", ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw.kmsKeyId }));
        assert.deepEqual(await body(key, firstVersion), original, "the first version is untouched");
        const log = await run(users["restore-operator"], ["audit", "--json"]);
        assert.equal(log.code, EXIT.ok, log.stderr);
        const out = JSON.parse(log.stdout);
        const shown = (out.records as AuditRecord[]).find((x) => x.eventId === original.eventId)!;
        assert.equal(shown.actor, original.actor, "the log reads the first version, not the forged one");
        assert.notEqual(shown.reason, "nothing to see");
        assert.ok(out.overwritten.includes(key), JSON.stringify(out.overwritten));
        assert.match(log.stderr, /audit records were overwritten/);
    });
});
