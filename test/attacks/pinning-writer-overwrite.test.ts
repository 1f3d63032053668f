// Attack: a stolen writer token poisons what `restore` delivers as "verified" (issue 13 items 2 and 3).
// On Ceph RGW (test/support/rgw.ts) with Object Lock, versioning, the project's bucket policy and one RGW
// user per identity carrying its own IAM document (components/iam-policies.ts), the real CLI runs as the
// writer (dump), the verifier (verify, holding the record-signing key), the restore operator (restore db,
// status) and gc. Then the attacker, with the WRITER's credentials, writes new versions over a verified
// run's dump and manifest (RGW ignores If-None-Match on PUT, so the overwrite lands as a new current
// version — exactly what a bucket without create-only enforcement lets a writer do), re-links the plain
// sha256 chain as an attacker would, and appends a whole fake run. With the VERIFIER's S3 rights but not
// its signing key, the attacker writes "passed" records for the fake run. Each defence is asserted:
//   - restore db reads the versions the job wrote and verify proved: the original rows arrive, one
//     TAMPERING line says what was overwritten, exit EXIT.tampered;
//   - verify and status report the overwrites (exit EXIT.tampered; verify pushes tampered_objects);
//   - a record without a valid signature does not make a run verified, and an invalid one is tampering;
//   - gc deletes by VersionId: a locked unreferenced blob is kept without a delete marker, and a marker an
//     older gc left over a referenced blob is removed.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, sign as edSign, verify as edVerify, createPublicKey } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
    DeleteObjectCommand,
    GetObjectCommand,
    HeadObjectCommand,
    ListObjectVersionsCommand,
    PutBucketPolicyCommand,
    PutObjectCommand,
    type S3Client,
} from "@aws-sdk/client-s3";
import {
    EXIT,
    METRICS,
    prefixes,
    recordSigningPayload,
    serializeRecord,
    storageBlobKey,
    storageRunManifestKey,
    verifyRecordKey,
    type DbManifest,
    type JobConfig,
    type StorageManifest,
    type VerifyRecord,
} from "@supabase-backups/contracts";
import { gcPolicy, restoreOperatorPolicy, verifierPolicy, writerPolicy, type VaultPolicyContext } from "../../components/iam-policies";
import { runCli, writeJobConfig, type CliResult } from "../support/cli";
import { startPostgres, type PgServer } from "../support/postgres";
import { startPushgateway, type Pushgateway } from "../support/pushgateway";
import { startRgw, type RgwServer, type RgwUser } from "../support/rgw";
import { SUPABASE_SCHEMA_SQL } from "../support/seed";
import { startStorageRest, type StorageRestServer } from "../support/storage-rest";
import { awsEnv, backdateListing, createRgwVaultBucket, forPacific, putUserPolicy, rgwBucketPolicy } from "../support/rgw-vault";
import { passwordOutOfArgv } from "../support/target-url";
import { withObjects } from "../../jobs/src/vault/object-list";

const ENV = "test";
const SERVICE_ROLE_KEY = "service-role-" + "p".repeat(24);
/** Supabase Storage objects the source holds (a directory behind the local REST route) */
const FILES = new Map([
    ["u/a.bin", Buffer.from("the genuine avatar a ".repeat(40))],
    ["u/b.bin", Buffer.from("the genuine avatar b ".repeat(55))],
]);
const BUCKET = "vault";
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const b64sha = (b: Buffer) => createHash("sha256").update(b).digest("base64");
const lastLine = (r: CliResult) => r.stderr.trim().split("\n").filter((l) => l.startsWith("supabase-backups")).pop() ?? "";

describe("attack: a stolen writer token overwrites a verified run (RGW, version pinning, signed records)", function () {
    this.timeout(180_000);
    let rgw: RgwServer;
    let pg: PgServer;
    let canary: PgServer;
    let pushgateway: Pushgateway;
    let storage: StorageRestServer;
    let config: { path: string; config: JobConfig };
    let sourceUrl: string;
    let signingKey: string;
    const users = {} as Record<"writer" | "verifier" | "gc" | "operator" | "inspector", RgwUser>;
    const s3 = {} as Record<keyof typeof users, S3Client>;
    /** the two genuine runs, as dump printed them */
    const runs: Array<{ manifest: DbManifest; manifestKey: string; manifestVersionId: string; bytes: Buffer }> = [];

    function run(who: RgwUser, args: string[], extra: Record<string, string | undefined> = {}): Promise<CliResult> {
        // restore db's target password goes in SUPABASE_BACKUPS_TARGET_PASSWORD, never in argv
        return runCli(
            ...passwordOutOfArgv([...args, "--config", config.path], {
                ...awsEnv(who),
                LOG_LEVEL: "warn",
                DATABASE_URL: undefined,
                AGE_IDENTITY: undefined,
                VERIFY_SIGNING_KEY: undefined,
                AZURE_STORAGE_CONNECTION_STRING: undefined,
                JOB_COMPLETION_INDEX: undefined,
                JOB_COMPLETIONS: undefined,
                ...extra,
            }),
        );
    }
    const verify = (extra: string[] = [], storageCheck = false) =>
        run(users.verifier, ["verify", "--json", ...(storageCheck ? [] : ["--no-storage"]), ...extra], { CANARY_DATABASE_URL: canary.url, VERIFY_SIGNING_KEY: signingKey });
    const restore = (target: string, sel: string[]) =>
        run(users.operator, ["restore", "db", "--json", ...sel, "--target-url", target, "--actor", "pinning-test", "--reason", "attack test", "--jobs", "1"]);

    /** a PutObject the way any S3 client makes it, with the attacker's credentials (no lock header: the bucket default applies) */
    async function put(client: S3Client, Key: string, Body: Buffer): Promise<string | undefined> {
        const r = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, ChecksumSHA256: b64sha(Body), ContentType: "application/octet-stream" }));
        return r.VersionId;
    }
    async function versionsOf(Key: string) {
        const r = await s3.inspector.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: Key }));
        return { versions: (r.Versions ?? []).filter((v) => v.Key === Key), markers: (r.DeleteMarkers ?? []).filter((m) => m.Key === Key) };
    }

    before(async function () {
        [rgw, pg, canary, pushgateway] = await Promise.all([startRgw({ lcDebugInterval: 0 }), startPostgres(), startPostgres(), startPushgateway()]);
        sourceUrl = await pg.createDatabase("app");
        await pg.query(SUPABASE_SCHEMA_SQL + "; create table public.secrets (id int primary key, v text not null); insert into public.secrets select g, 'genuine ' || g from generate_series(1, 50) g", "app");
        const dir = mkdtempSync(join(tmpdir(), "sb-pin-storage-"));
        await pg.query(`insert into storage.buckets (id, name) values ('user-media', 'user-media')`, "app");
        for (const [name, bytes] of FILES) {
            mkdirSync(join(dir, "user-media", "u"), { recursive: true });
            writeFileSync(join(dir, "user-media", name), bytes);
            const metadata = { eTag: `"${createHash("md5").update(bytes).digest("hex")}"`, size: bytes.length, mimetype: "application/octet-stream", cacheControl: "max-age=3600" };
            await pg.query(`insert into storage.objects (bucket_id, name, metadata) values ('user-media', '${name}', '${JSON.stringify(metadata)}'::jsonb)`, "app");
        }
        storage = await startStorageRest({ serviceRoleKey: SERVICE_ROLE_KEY, backend: { dir } });
        const keys = generateKeyPairSync("ed25519");
        signingKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
        config = writeJobConfig({ vault: { bucket: BUCKET, region: "us-east-1", endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
            c.env = ENV;
            c.alerts.pushgatewayUrl = pushgateway.url;
            c.verify.tables = ["public.secrets"];
            c.verify.checks = [];
            c.verify.storageSampleMin = 10; // every blob is re-hashed
            c.supabase.url = storage.url;
            c.storage = { mode: "rest", concurrency: 2, shards: 1, retries: 1, buckets: [{ name: "user-media" }] };
            c.vault.recordSigning = { publicKeyPem: keys.publicKey.export({ type: "spki", format: "pem" }).toString() };
            delete c.archive;
        });
        const admin = rgw.client();
        // The bucket as components/vault.ts makes it (what Pacific has of it: see rgw-identities.test.ts).
        await createRgwVaultBucket(admin, BUCKET, config.config.retention.objectLockMinDays);
        for (const name of ["writer", "verifier", "gc", "operator", "inspector"] as const) {
            users[name] = await rgw.createUser(name);
            s3[name] = rgw.client(users[name]);
        }
        const bp = rgwBucketPolicy({ bucket: BUCKET, env: ENV, kmsKeyArn: rgw.kmsKeyId, writers: ["writer", "verifier", "operator"] });
        await admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(forPacific(bp).doc) }));
        const ctx: VaultPolicyContext = { bucket: BUCKET, env: ENV, region: "us-east-1", accountId: "", kmsKeyArn: rgw.kmsKeyId };
        await putUserPolicy(rgw, "writer", "vault", forPacific(writerPolicy(ctx)).doc);
        await putUserPolicy(rgw, "verifier", "vault", forPacific(verifierPolicy(ctx)).doc);
        await putUserPolicy(rgw, "gc", "vault", forPacific(gcPolicy(ctx)).doc);
        await putUserPolicy(rgw, "operator", "vault", forPacific(restoreOperatorPolicy(ctx)).doc);
        const read = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"];
        await putUserPolicy(rgw, "inspector", "vault", { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: read, Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`] }] });
    });

    after(async () => {
        await Promise.allSettled([storage?.stop(), pg?.stop(), canary?.stop(), rgw?.stop(), pushgateway?.stop()]);
    });

    it("dump records every object's VersionId; verify signs a record pinning the manifest's version and sha256", async () => {
        for (let i = 0; i < 2; i++) {
            const r = await run(users.writer, ["dump", "--json", "--no-archive"], { DATABASE_URL: sourceUrl });
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
            assert.ok(out.manifestVersionId, "the manifest's VersionId is reported");
            for (const o of out.manifest.objects) {
                const { versions } = await versionsOf(o.key);
                assert.deepEqual(
                    versions.map((v) => v.VersionId),
                    [o.versionId],
                    `${o.key}: the recorded VersionId is the stored one`,
                );
            }
            const bytes = Buffer.from(await (await s3.inspector.send(new GetObjectCommand({ Bucket: BUCKET, Key: out.manifestKey }))).Body!.transformToByteArray());
            runs.push({ manifest: out.manifest, manifestKey: out.manifestKey, manifestVersionId: out.manifestVersionId, bytes });
        }
        assert.equal(runs[1].manifest.previous?.versionId, runs[0].manifestVersionId, "the chain link names the previous manifest's version");
        const v = await verify(["--unverified"]);
        assert.equal(v.code, EXIT.ok, v.stderr.slice(-3000));
        const records: VerifyRecord[] = JSON.parse(v.stdout).records;
        assert.equal(records.length, 2);
        const pub = createPublicKey(config.config.vault.recordSigning!.publicKeyPem);
        for (const [i, rec] of records.entries()) {
            assert.equal(rec.result, "passed", JSON.stringify(rec.checks.filter((c) => !c.ok)));
            assert.deepEqual(rec.manifest, { key: runs[i].manifestKey, versionId: runs[i].manifestVersionId, sha256: sha(runs[i].bytes) });
            assert.ok(edVerify(null, recordSigningPayload(rec), pub, Buffer.from(rec.signature!.value, "base64")), "the signature verifies with the configured public key");
            const tampered = { ...rec, result: "failed" as const };
            assert.ok(!edVerify(null, recordSigningPayload(tampered), pub, Buffer.from(rec.signature!.value, "base64")), "the signature covers the result");
        }
        assert.doesNotMatch(v.stderr + v.stdout, /PRIVATE KEY/, "the signing key is never printed");
    });

    it("the writer overwrites the verified run's dump and manifest and re-links the chain; restore db delivers the genuine rows, says TAMPERING in one line, exits 7", async () => {
        const [a, b] = runs;
        // The attacker's dump: a real pg_dump of attacker rows.
        const evilUrl = await pg.createDatabase("evil");
        await pg.query("create table public.secrets (id int primary key, v text not null); insert into public.secrets select g, 'attacker ' || g from generate_series(1, 7) g", "evil");
        const file = join(mkdtempSync(join(tmpdir(), "sb-evil-")), "dump");
        const dumped = spawnSync("pg_dump", ["--format=custom", "--file", file, "--dbname", evilUrl], { encoding: "utf8" });
        assert.equal(dumped.status, 0, dumped.stderr);
        const evilDump = readFileSync(file);
        const dumpKey = a.manifest.objects.find((o) => o.name === "dump")!.key;
        await put(s3.writer, dumpKey, evilDump);
        // A manifest that matches the attacker's dump, and the next run's link recomputed over it.
        const forgedA: DbManifest = {
            ...a.manifest,
            objects: a.manifest.objects.map((o) => (o.name === "dump" ? { name: o.name, key: o.key, bytes: evilDump.length, sha256: sha(evilDump), contentType: o.contentType } : o)),
            snapshot: { ...a.manifest.snapshot, rowCounts: { "public.secrets": 7 } },
        };
        const forgedABytes = serializeRecord(forgedA);
        await put(s3.writer, a.manifestKey, forgedABytes);
        const forgedB: DbManifest = { ...b.manifest, previous: { runId: a.manifest.runId, sha256: sha(forgedABytes) } };
        await put(s3.writer, b.manifestKey, serializeRecord(forgedB));
        assert.equal((await versionsOf(a.manifestKey)).versions.length, 2, "RGW kept the original under the writer's new current version");

        const target = await canary.createDatabase("restored_a");
        const r = await restore(target, ["--run", a.manifest.runId]);
        assert.equal(r.code, EXIT.tampered, r.stderr.slice(-3000));
        const rows = await canary.query("select count(*)::int n, min(v) v from public.secrets", "restored_a");
        assert.deepEqual(rows[0], { n: 50, v: "genuine 1" }, "the rows the job dumped, not the attacker's");
        const line = lastLine(r);
        assert.match(line, new RegExp(`TAMPERING in run ${a.manifest.runId}: .*${a.manifest.runId}/(manifest\\.json|dump).* overwritten after the backup .*\\(and 1 more\\); restored the version the job wrote and verify proved`));
        assert.equal(line.split("\n").length, 1);
        const out = JSON.parse(r.stdout);
        assert.equal(out.verified, true);
        assert.equal(out.tampering.length, 2, JSON.stringify(out.tampering));

        // --at now: the newest verified run, B, read at its recorded version (its manifest was re-linked too)
        const targetB = await canary.createDatabase("restored_b");
        const rb = await restore(targetB, ["--at", "now"]);
        assert.equal(rb.code, EXIT.tampered, rb.stderr.slice(-3000));
        assert.match(JSON.parse(rb.stdout).choice, new RegExp(`${b.manifest.runId}, verified`));
        assert.equal((await canary.query("select count(*)::int n from public.secrets", "restored_b"))[0].n, 50);
    });

    it("verify reports the overwrites (exit 7, tampered_objects pushed) and still proves the versions the jobs wrote; status exits 7 naming them", async () => {
        const v = await verify(["--run", runs[1].manifest.runId]);
        assert.equal(v.code, EXIT.tampered, v.stderr.slice(-3000));
        assert.match(lastLine(v), /TAMPERING: db\/test\/.* overwritten after the backup \(and 2 more\); verified the versions the jobs wrote/);
        const rec: VerifyRecord = JSON.parse(v.stdout).records[0];
        assert.equal(rec.result, "passed", "the chain over the versions the jobs wrote holds: " + JSON.stringify(rec.checks.filter((c) => !c.ok)));
        assert.equal(rec.manifest?.versionId, runs[1].manifestVersionId);
        assert.equal(rec.tampered?.length, 1, "B's own manifest was overwritten");
        const metrics = await pushgateway.scrape();
        assert.match(metrics, new RegExp(`${METRICS.tamperedObjects}\\{[^}]*env="test"[^}]*\\} 3`));

        const s = await run(users.operator, ["status", "--json", "--no-supabase"]);
        assert.equal(s.code, EXIT.tampered, s.stderr.slice(-3000));
        const report = JSON.parse(s.stdout);
        assert.equal(report.tampering.length, 3, JSON.stringify(report.tampering));
        assert.ok(report.db.chain.intact, "the chain over the original versions holds: " + JSON.stringify(report.db.chain));
        assert.ok(report.db.list.every((x: any) => x.verification === "passed"));
    });

    it("a fake run with 'passed' records written with verify/ rights but without the signing key is not trusted; the invalid signature is tampering", async () => {
        const b = runs[1];
        const fakeRunId = `${new Date(Date.now() + 1000).toISOString().replace(/[-:]/g, "").slice(0, 15)}Z-evil01`;
        const fake: DbManifest = { ...b.manifest, runId: fakeRunId, previous: { runId: b.manifest.runId, sha256: sha(b.bytes) } };
        fake.objects = b.manifest.objects.map(({ versionId: _v, ...o }) => ({ ...o, key: o.key.replace(b.manifest.runId, fakeRunId) }));
        const fakeKey = b.manifestKey.replace(b.manifest.runId, fakeRunId);
        // copy B's bytes into the fake run's keys (the writer can't read dumps; the data is the attacker's to choose)
        for (const o of fake.objects) await put(s3.writer, o.key, Buffer.from("attacker bytes"));
        await put(s3.writer, fakeKey, serializeRecord(fake));
        const at = new Date();
        const base = { schemaVersion: 1, kind: "verify", env: ENV, runId: fakeRunId, result: "passed", reason: null, dumpBytes: 1, durations: { downloadSeconds: 0, restoreSeconds: 0, checksSeconds: 0, totalSeconds: 0 }, checks: [] } as const;
        const unsigned = { ...base, verifiedAt: at.toISOString(), manifestSha256: sha(serializeRecord(fake)), manifest: { key: fakeKey, versionId: null, sha256: sha(serializeRecord(fake)) } };
        await put(s3.verifier, verifyRecordKey(ENV, fakeRunId, at), serializeRecord(unsigned));
        const own = generateKeyPairSync("ed25519");
        const at2 = new Date(at.getTime() + 1000);
        const forged = { ...unsigned, verifiedAt: at2.toISOString() };
        const withSig = { ...forged, signature: { alg: "ed25519", keyId: "0123456789abcdef", value: edSign(null, recordSigningPayload(forged as unknown as VerifyRecord), own.privateKey).toString("base64") } };
        await put(s3.verifier, verifyRecordKey(ENV, fakeRunId, at2), serializeRecord(withSig));

        const target = await canary.createDatabase("restored_c");
        const r = await restore(target, ["--at", "now"]);
        assert.equal(r.code, EXIT.tampered, r.stderr.slice(-3000));
        assert.match(JSON.parse(r.stdout).choice, new RegExp(`preferring verified run ${b.manifest.runId} .* over newer unverified run\\(s\\) ${fakeRunId}`));
        const asked = await restore(await canary.createDatabase("restored_c2"), ["--run", fakeRunId]);
        // asked by id, it is restored as an unverified run: its own (attacker) bytes are checked against its manifest
        assert.equal(asked.code, EXIT.failed, asked.stderr.slice(-2000));
        assert.match(lastLine(asked), /does not match its manifest/);

        const s = await run(users.operator, ["status", "--json", "--no-supabase"]);
        assert.equal(s.code, EXIT.tampered);
        const report = JSON.parse(s.stdout);
        assert.equal(report.db.list.find((x: any) => x.runId === fakeRunId).verification, "unverified");
        assert.ok(report.tampering.some((t: string) => t.startsWith(verifyRecordKey(ENV, fakeRunId, at2)) && /invalid signature/.test(t)), JSON.stringify(report.tampering));
        assert.ok(!report.tampering.some((t: string) => t.startsWith(verifyRecordKey(ENV, fakeRunId, at))), "an unsigned record is unverified, not tampering");
    });

    it("sync-storage records each blob's VersionId; after the writer overwrites a blob, verify re-hashes the recorded versions and the storage check holds", async () => {
        const r = await run(users.writer, ["sync-storage", "--json"], { DATABASE_URL: sourceUrl, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY });
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const listing = await s3.inspector.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: prefixes.storageRuns(ENV) }));
        const manifestKey = (listing.Versions ?? []).map((v) => v.Key!).find((k) => k.endsWith("/manifest.json"))!;
        const m = await withObjects(s3.inspector, BUCKET, JSON.parse(Buffer.from(await (await s3.inspector.send(new GetObjectCommand({ Bucket: BUCKET, Key: manifestKey }))).Body!.transformToByteArray()).toString()) as StorageManifest);
        assert.equal(m.objects.length, FILES.size);
        for (const o of m.objects) assert.deepEqual((await versionsOf(o.blobKey)).versions.map((v) => v.VersionId), [o.versionId], `${o.name}: the blob's recorded VersionId`);
        // the attacker's bytes over a blob, with the writer's credentials
        const a = m.objects.find((o) => o.name === "u/a.bin")!;
        await put(s3.writer, a.blobKey, Buffer.from("attacker avatar"));
        const v = await verify(["--run", runs[1].manifest.runId], true);
        const rec: VerifyRecord = JSON.parse(v.stdout).records[0];
        const check = rec.checks.find((c) => c.name === "storage")!;
        assert.ok(check.ok, JSON.stringify(check));
        assert.equal(rec.storage?.sampled, FILES.size, "every blob re-hashed, at its recorded version");
        assert.equal(rec.storage?.sampleMismatches, 0);
        assert.equal(v.code, EXIT.tampered);
        assert.match(v.stderr, new RegExp(`"tampering":"${a.blobKey}: the current version \\S+ is not the version the job wrote and recorded \\(${a.versionId}\\)`), "the overwritten blob is reported");
    });

    it("gc deletes by VersionId: a locked unreferenced blob stays without a delete marker; the marker an old gc left over a referenced blob is removed", async () => {
        const locked = Buffer.from("an orphan blob, still locked");
        const lockedKey = storageBlobKey(ENV, sha(locked));
        await put(s3.writer, lockedKey, locked);
        await backdateListing(rgw, BUCKET, lockedKey, 10 * 86_400_000);
        // A referenced blob that a plain DELETE (gc before this change) hid under a delete marker.
        const kept = Buffer.from("a blob a retained run references");
        const keptKey = storageBlobKey(ENV, sha(kept));
        await put(s3.writer, keptKey, kept);
        await s3.gc.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keptKey }));
        assert.equal((await versionsOf(keptKey)).markers.length, 1, "a plain DELETE on a versioned bucket only adds a marker");
        const runId = "20260101T000000Z-gcpin1";
        const manifest: StorageManifest = {
            schemaVersion: 1,
            kind: "storage",
            env: ENV,
            runId,
            startedAt: "2026-01-01T00:00:00.000Z",
            finishedAt: "2026-01-01T00:00:01.000Z",
            mode: "rest",
            shards: 1,
            tier: "daily",
            retainUntil: "2026-02-01T00:00:00.000Z",
            buckets: [{ name: "b", objects: 1, bytes: kept.length }],
            objects: [{ bucket: "b", name: "k", size: kept.length, sha256: sha(kept), contentType: null, cacheControl: null, metadata: {}, updatedAt: "2026-01-01T00:00:00.000Z", eTag: null, blobKey: keptKey }],
            failed: [],
            stats: { listed: 1, copied: 1, skipped: 0, deduplicated: 0, failed: 0, bytesUploaded: kept.length },
            previous: null,
        };
        await put(s3.writer, storageRunManifestKey(ENV, runId), serializeRecord(manifest));

        const r = await run(users.gc, ["gc", "--json", "--grace-days", "2"]);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const out = JSON.parse(r.stdout);
        assert.equal(out.keptLocked, 1, JSON.stringify(out));
        assert.equal(out.markersRemoved, 1, JSON.stringify(out));
        const lockedVersions = await versionsOf(lockedKey);
        assert.equal(lockedVersions.markers.length, 0, "no delete marker hides the locked blob");
        assert.equal(lockedVersions.versions.length, 1);
        await s3.inspector.send(new HeadObjectCommand({ Bucket: BUCKET, Key: lockedKey }));
        const keptVersions = await versionsOf(keptKey);
        assert.equal(keptVersions.markers.length, 0, "the old marker is gone");
        const body = await s3.inspector.send(new GetObjectCommand({ Bucket: BUCKET, Key: keptKey }));
        assert.equal(Buffer.from(await body.Body!.transformToByteArray()).toString(), kept.toString(), "the referenced blob reads again");
        assert.ok(prefixes.storageBlobs(ENV));
    });
});
