// `supabase-backups verify` end to end with real parts: PostgreSQL 15 as the source (Supabase-like
// schema, RLS, roles) and a second PostgreSQL 15 as the canary server (no Supabase roles on it), s3rver
// as the vault, Azurite as the archive, runs made by the real `dump` and `sync-storage` commands, then
// tampered with on the vault's side, one fault per test. Every test checks the canary database is gone.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createServer, type Server } from "node:net";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { dbObjectKey, EXIT, prefixes, VerifyRecordSchema, assertSchema, type DbManifest, type VerifyRecord } from "@supabase-backups/contracts";
import { listCompleteRuns } from "../../../jobs/src/vault/runs";
import { listAll } from "../../../jobs/src/vault/s3";
import { startAzurite, type AzuriteServer } from "../../support/azurite";
import { runCli, startCli, type CliResult } from "../../support/cli";
import { freePort } from "../../support/ports";
import { startPostgres, type PgServer } from "../../support/postgres";
import { addSeedData } from "../../support/seed";
import { StorageHarness, VAULT_BUCKET, bytesOf, parseJsonLine } from "../../support/sync-storage-harness";
import { Client } from "pg";

const ENV = "test";
const KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/0b6f8a9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const CONTAINER = "archive";
const TABLES = ["auth.users", "public.profiles", "public.sessions", "public.entitlements", "public.messages"];

describe("verify (real dump, sync-storage, canary restore)", function () {
    this.timeout(120_000);
    const h = new StorageHarness();
    let canary: PgServer;
    let az: AzuriteServer;
    let config: string;
    let sentinel: Server;
    let sentinelUrl: string;
    let sourceConnections = 0;
    let gateway: HttpServer;
    let gatewayUrl: string;
    const pushes: Array<{ path: string; body: string }> = [];
    const runs: string[] = []; // db run ids, oldest first: A, B, C (plain), D (encrypted)
    let identity: string;
    let otherIdentity: string;
    let recipient: string;

    async function get(key: string): Promise<Buffer> {
        const r = await h.vault.client.send(new GetObjectCommand({ Bucket: VAULT_BUCKET, Key: key }));
        return Buffer.from(await r.Body!.transformToByteArray());
    }
    async function put(key: string, body: Buffer): Promise<void> {
        await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: key, Body: body }));
    }
    async function del(key: string): Promise<void> {
        await h.vault.client.send(new DeleteObjectCommand({ Bucket: VAULT_BUCKET, Key: key }));
    }
    /** Tamper with a vault object for the duration of fn, then put the original back. */
    async function tampered<T>(key: string, change: (b: Buffer) => Buffer | null, fn: () => Promise<T>): Promise<T> {
        const original = await get(key);
        const next = change(Buffer.from(original));
        if (next === null) await del(key);
        else await put(key, next);
        try {
            return await fn();
        } finally {
            await put(key, original);
        }
    }
    async function manifestOf(runId: string): Promise<DbManifest> {
        return JSON.parse((await get(dbObjectKey(ENV, runId, "manifest.json"))).toString("utf8"));
    }

    function verifyEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
        return {
            ...h.env(),
            // verify must never use these; DATABASE_URL points at a sentinel that counts connections
            DATABASE_URL: sentinelUrl,
            SUPABASE_SERVICE_ROLE_KEY: undefined,
            CANARY_DATABASE_URL: canary.url,
            AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
            AGE_IDENTITY: identity,
            ...extra,
        };
    }
    function verify(args: string[] = [], extra: Record<string, string | undefined> = {}, cfg = config): Promise<CliResult> {
        return runCli(["verify", "--config", cfg, "--json", "--jobs", "2", ...args], verifyEnv(extra));
    }
    function records(r: CliResult): Array<VerifyRecord & { key: string }> {
        const out = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))).records;
        for (const rec of out) assertSchema(VerifyRecordSchema, (({ key, ...x }) => x)(rec), "record");
        return out;
    }
    /** The one stderr line `supabase-backups verify: …` */
    function failureLine(r: CliResult): string {
        const lines = r.stderr.split("\n").filter((l) => l.startsWith("supabase-backups verify:"));
        assert.equal(lines.length, 1, `expected exactly one failure line; stderr:\n${r.stderr.slice(-3000)}`);
        assert.ok(!r.stderr.includes(canary.password) && !r.stdout.includes(canary.password), "canary password leaked");
        return lines[0];
    }
    async function canaryDatabases(): Promise<string[]> {
        return (await canary.query("select datname from pg_database where datname like 'sbv\\_%'")).map((r) => r.datname);
    }
    async function assertCanaryClean(): Promise<void> {
        assert.deepEqual(await canaryDatabases(), [], "a canary database was left behind");
        const roles = (await canary.query("select rolname from pg_roles where rolname in ('anon','authenticated','service_role')")).map((r) => r.rolname);
        assert.deepEqual(roles, [], "roles created for the restore were left behind");
    }
    async function dump(args: string[] = []): Promise<string> {
        const r = await runCli(["dump", "--config", config, "--json", ...args], { ...h.env(), AZURE_STORAGE_CONNECTION_STRING: az.connectionString });
        assert.equal(r.code, 0, `dump failed: ${r.stderr.slice(-2000)}`);
        return parseJsonLine(r.stdout).manifest.runId;
    }

    before(async function () {
        this.timeout(240_000);
        [canary, az] = await Promise.all([startPostgres(), startAzurite(), h.start()]).then(([c, a]) => [c, a] as [PgServer, AzuriteServer]);
        await az.createContainer(CONTAINER);
        // More rows than the harness seeds, so counts and the restore mean something.
        const c = new Client({ connectionString: h.pg.url });
        await c.connect();
        await addSeedData(c, { users: 300, messagesPerUser: 3, sessionsPerUser: 2, payloadBytes: 64 });
        await c.end();
        // A sentinel "source database": any connection to it is counted and refused.
        sentinel = createServer((s) => {
            sourceConnections++;
            s.destroy();
        });
        const port = await freePort();
        await new Promise<void>((r) => sentinel.listen(port, "127.0.0.1", r));
        sentinelUrl = `postgresql://postgres:source-secret-pw@127.0.0.1:${port}/postgres`;
        // A Pushgateway stand-in that keeps what is pushed.
        gateway = createHttpServer((req, res) => {
            let body = "";
            req.on("data", (d) => (body += d));
            req.on("end", () => {
                pushes.push({ path: req.url ?? "", body });
                res.writeHead(200).end();
            });
        });
        const gport = await freePort();
        await new Promise<void>((r) => gateway.listen(gport, "127.0.0.1", r));
        gatewayUrl = `http://127.0.0.1:${gport}`;

        const age = await import("age-encryption");
        identity = await age.generateIdentity();
        otherIdentity = await age.generateIdentity();
        recipient = await age.identityToRecipient(identity);

        config = h.config(ENV, (c) => {
            c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
            c.alerts.pushgatewayUrl = gatewayUrl;
            c.verify.tables = TABLES;
            c.verify.storageSampleMin = 5;
            c.verify.checks = [
                { name: "app-version-present", sql: "select count(*) > 0 from public.app_version", expect: true },
                { name: "no-orphan-profiles", sql: "select count(*) from public.profiles p left join auth.users u on u.id = p.id where u.id is null", expect: 0 },
                { name: "plans", sql: "select string_agg(distinct plan, ',' order by plan) from public.entitlements", expect: "free,pro,team" },
            ];
        });
        // Storage: 30 objects, one sync-storage run.
        for (let i = 0; i < 30; i++) await h.put("user-media", `u/${i}.bin`, bytesOf(`obj${i}`, 1000 + i * 37));
        const s = await h.sync(config, [], { AZURE_STORAGE_CONNECTION_STRING: az.connectionString }); // storage goes to the archive too
        assert.equal(s.code, 0, `sync-storage failed: ${s.stderr.slice(-2000)}`);
        for (let i = 0; i < 3; i++) runs.push(await dump());
        runs.push(await dump(["--age-recipient", recipient]));
    });

    after(async () => {
        sentinel?.close();
        gateway?.close();
        await Promise.allSettled([canary?.stop(), az?.stop(), h.stop()]);
    });

    it("passes for the newest run: chain, sha256, Azure copy, restore, exact counts, checks, storage; record written once; never touches the source", async () => {
        pushes.length = 0;
        // the same config with the vault's KMS key, as the stack sets it
        const withKms = JSON.parse(readFileSync(config, "utf8"));
        withKms.vault.kmsKeyArn = KMS_KEY;
        const kmsConfig = join(dirname(config), "job-config-kms.json");
        writeFileSync(kmsConfig, JSON.stringify(withKms));
        const r = await verify([], {}, kmsConfig);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const [rec] = records(r);
        assert.equal(rec.runId, runs[3]);
        assert.equal(rec.result, "passed");
        assert.equal(rec.reason, null);
        const names = rec.checks.map((c) => c.name);
        for (const n of ["manifest", "chain", "dump", "schema.sql", "roles.sql", "secondary", "restore", "row-counts", "migration-version", "rls", "extensions", "app-version", "health", "check:app-version-present", "check:no-orphan-profiles", "check:plans", "storage"]) {
            assert.ok(names.includes(n), `check ${n} missing: ${names.join(", ")}`);
        }
        assert.ok(rec.checks.every((c) => c.ok), JSON.stringify(rec.checks, null, 1));
        const m = await manifestOf(runs[3]);
        assert.match(rec.checks.find((c) => c.name === "row-counts")!.detail, new RegExp(`${TABLES.length} tables, ${Object.values(m.snapshot.rowCounts).reduce((a, b) => a + b, 0)} rows, exact`));
        assert.ok(m.snapshot.rowCounts["public.messages"] > 0);
        assert.match(rec.checks.find((c) => c.name === "chain")!.detail, /4 runs linked back to the oldest run/);
        assert.ok(rec.durations.restoreSeconds > 0 && rec.durations.downloadSeconds > 0 && rec.durations.totalSeconds >= rec.durations.restoreSeconds);
        assert.equal(rec.dumpBytes, m.objects.find((o) => o.name === "dump")!.bytes);
        assert.ok(rec.storage && rec.storage.blobsReferenced === 30 && rec.storage.blobsMissing === 0 && rec.storage.sampled === 5 && rec.storage.sampleMismatches === 0, JSON.stringify(rec.storage));
        // the record in the vault is the one printed, at verify/{env}/{runId}/{stamp}.json
        assert.match(rec.key, new RegExp(`^verify/${ENV}/${runs[3]}/\\d{8}T\\d{6}Z\\.json$`));
        const stored = JSON.parse((await get(rec.key)).toString("utf8"));
        assert.deepEqual(stored, (({ key, ...x }) => x)(rec));
        // what verify sent: write-once, locked as long as the run, tagged with its tier
        const putReq = h.recorder.objectPuts(`verify/${ENV}/`)[0];
        assert.ok(putReq, "no PUT of the record recorded");
        const hdr = putReq.headers as Record<string, string>;
        assert.equal(hdr["if-none-match"], "*");
        assert.equal(hdr["x-amz-object-lock-mode"], "COMPLIANCE");
        assert.equal(new Date(hdr["x-amz-object-lock-retain-until-date"]).toISOString(), new Date(m.retainUntil).toISOString());
        assert.match(hdr["x-amz-tagging"], new RegExp(`tier=${m.tier}`));
        assert.equal(hdr["x-amz-server-side-encryption"], "aws:kms");
        assert.equal(hdr["x-amz-server-side-encryption-aws-kms-key-id"], KMS_KEY);
        assert.equal(sourceConnections, 0, "verify connected to DATABASE_URL");
        // metrics: success, the measured restore time, and the age of the newest verified run
        const push = pushes.find((p) => p.path.includes("/kind/verify"));
        assert.ok(push, `no metrics push: ${JSON.stringify(pushes.map((p) => p.path))}`);
        assert.match(push.body, /supabase_backups_runs_total\{env="test",kind="verify",result="success"\} 1/);
        assert.match(push.body, /supabase_backups_last_run_status\{env="test",kind="verify"\} 1/);
        const restore = Number(/supabase_backups_restore_seconds\{env="test"\} ([\d.]+)/.exec(push.body)?.[1]);
        assert.ok(restore > 0 && restore <= rec.durations.restoreSeconds, push.body);
        assert.match(push.body, /supabase_backups_verified_run_age_seconds\{env="test"\} \d+/);
        await assertCanaryClean();
    });

    it("verifies an encrypted run with the verifier's age identity, and fails it with a wrong identity (exit 5) or none (exit 1)", async () => {
        const m = await manifestOf(runs[3]);
        assert.equal(m.encryption?.recipient, recipient);
        const wrong = await verify(["--run", runs[3], "--no-storage"], { AGE_IDENTITY: otherIdentity });
        assert.equal(wrong.code, EXIT.verifyFailed, wrong.stderr.slice(-2000));
        assert.match(failureLine(wrong), new RegExp(`run ${runs[3]} failed verification: decrypt: (dump|schema\\.sql|roles\\.sql) cannot be decrypted with AGE_IDENTITY \\(age1\\w+\\): it is encrypted to ${recipient}`));
        assert.ok(!wrong.stderr.includes(otherIdentity) && !wrong.stdout.includes(otherIdentity), "the age identity leaked");
        assert.equal(records(wrong)[0].result, "failed");
        const none = await verify(["--run", runs[3], "--no-storage"], { AGE_IDENTITY: undefined });
        assert.equal(none.code, EXIT.failed);
        assert.match(failureLine(none), /is encrypted to age1\w+, but AGE_IDENTITY is not set/);
        await assertCanaryClean();
    });

    it("a flipped byte in the dump fails with a sha256 mismatch, before any restore", async () => {
        pushes.length = 0;
        const key = dbObjectKey(ENV, runs[1], "dump");
        const r = await tampered(
            key,
            (b) => {
                b[Math.floor(b.length / 2)] ^= 0x01;
                return b;
            },
            () => verify(["--run", runs[1], "--no-storage"]),
        );
        assert.equal(r.code, EXIT.verifyFailed, r.stderr.slice(-2000));
        assert.match(failureLine(r), new RegExp(`run ${runs[1]} failed verification: dump: sha256 [0-9a-f]{12}… ≠ manifest [0-9a-f]{12}…: corrupt or altered`));
        const [rec] = records(r);
        assert.equal(rec.result, "failed");
        assert.ok(!rec.checks.some((c) => c.name === "restore"), "restored a corrupt dump");
        const push = pushes.find((p) => p.path.includes("/kind/verify"))!;
        assert.match(push.body, /supabase_backups_last_run_status\{env="test",kind="verify"\} 0/);
        assert.doesNotMatch(push.body, /supabase_backups_restore_seconds/);
        await assertCanaryClean();
    });

    it("a truncated dump fails as truncated", async () => {
        const key = dbObjectKey(ENV, runs[1], "dump");
        const r = await tampered(key, (b) => b.subarray(0, Math.floor(b.length * 0.6)), () => verify(["--run", runs[1], "--no-storage"]));
        assert.equal(r.code, EXIT.verifyFailed);
        assert.match(failureLine(r), /dump: truncated: \d+ bytes in the vault, manifest records \d+/);
        await assertCanaryClean();
    });

    it("a manifest with a wrong sha256 for the dump fails", async () => {
        const key = dbObjectKey(ENV, runs[3], "manifest.json");
        const r = await tampered(
            key,
            (b) => {
                const m = JSON.parse(b.toString("utf8"));
                m.objects.find((o: any) => o.name === "dump").sha256 = "0".repeat(64);
                return Buffer.from(JSON.stringify(m, null, 2) + "\n");
            },
            () => verify(["--no-storage"]),
        );
        assert.equal(r.code, EXIT.verifyFailed);
        assert.match(failureLine(r), /dump: sha256 [0-9a-f]{12}… ≠ manifest 000000000000…: corrupt or altered/);
        await assertCanaryClean();
    });

    it("a missing manifest fails: --run of that run, and the chain of the next run", async () => {
        const key = dbObjectKey(ENV, runs[1], "manifest.json");
        const [direct, next] = await tampered(key, () => null, async () => [await verify(["--run", runs[1], "--no-storage"]), await verify(["--run", runs[2], "--no-storage"])]);
        assert.equal(direct.code, EXIT.verifyFailed);
        assert.match(failureLine(direct), new RegExp(`manifest: run ${runs[1]} has \\d+ object\\(s\\) but no manifest.json: incomplete, or its manifest was deleted`));
        assert.equal(next.code, EXIT.verifyFailed);
        assert.match(failureLine(next), new RegExp(`chain: hash chain broken: run ${runs[2]} links to ${runs[1]}, which is missing from the vault`));
        await assertCanaryClean();
    });

    it("an altered older manifest breaks the chain", async () => {
        const key = dbObjectKey(ENV, runs[0], "manifest.json");
        const r = await tampered(
            key,
            (b) => {
                const m = JSON.parse(b.toString("utf8"));
                m.snapshot.rowCounts["public.messages"] += 1;
                return Buffer.from(JSON.stringify(m, null, 2) + "\n");
            },
            () => verify(["--run", runs[2], "--no-storage"]),
        );
        assert.equal(r.code, EXIT.verifyFailed);
        assert.match(failureLine(r), new RegExp(`chain: hash chain broken: run ${runs[1]} manifest of ${runs[0]} was altered`));
        await assertCanaryClean();
    });

    it("a dump whose sha256 matches its manifest but is not a restorable archive fails the restore", async () => {
        // What a buggy writer could leave behind: consistent hashes, unrestorable bytes (encrypted and
        // compressed like the real one, so only pg_restore can tell).
        const age = await import("age-encryption");
        const { zstdCompressSync } = await import("node:zlib");
        const { createHash } = await import("node:crypto");
        const e = new age.Encrypter();
        e.addRecipient(recipient);
        const junk = Buffer.from(await e.encrypt(zstdCompressSync(Buffer.from("PGDMP this is not a custom-format archive\n".repeat(100)))));
        const dumpKey = dbObjectKey(ENV, runs[3], "dump");
        const manifestKey = dbObjectKey(ENV, runs[3], "manifest.json");
        const r = await tampered(dumpKey, () => junk, () =>
            tampered(
                manifestKey,
                (b) => {
                    const m = JSON.parse(b.toString("utf8"));
                    const o = m.objects.find((x: any) => x.name === "dump");
                    o.sha256 = createHash("sha256").update(junk).digest("hex");
                    o.bytes = junk.length;
                    m.secondary = { provider: "azure", status: "disabled", objects: [] };
                    return Buffer.from(JSON.stringify(m, null, 2) + "\n");
                },
                () => verify(["--run", runs[3], "--no-storage"]),
            ),
        );
        assert.equal(r.code, EXIT.verifyFailed, r.stderr.slice(-2000));
        assert.match(failureLine(r), /restore: pg_restore failed \(\d+ errors?\): .*(not a valid archive|unsupported version|could not read|did not find magic string)/);
        const [rec] = records(r);
        assert.ok(rec.checks.find((c) => c.name === "dump")!.ok, "the sha256 check should pass");
        assert.ok(!rec.checks.some((c) => c.name === "row-counts"), "checks ran on a failed restore");
        await assertCanaryClean();
    });

    it("a differing Azure copy fails the secondary check", async () => {
        const m = await manifestOf(runs[2]);
        const sec = m.secondary.objects.find((o) => o.name === "dump")!;
        const blob = az.service.getContainerClient(CONTAINER).getBlockBlobClient(sec.key);
        const original = await blob.downloadToBuffer();
        const bad = Buffer.from(original);
        bad[100] ^= 0xff;
        await blob.upload(bad, bad.length);
        try {
            const r = await verify(["--run", runs[2], "--no-storage"]);
            assert.equal(r.code, EXIT.verifyFailed);
            assert.match(failureLine(r), /secondary: dump: Azure sha256 [0-9a-f]{12}… ≠ primary [0-9a-f]{12}…/);
        } finally {
            await blob.upload(original, original.length);
        }
        // the manifest copy beside the Azure objects must be the primary manifest, byte for byte
        const mblob = az.service.getContainerClient(CONTAINER).getBlockBlobClient(dbObjectKey(ENV, runs[2], "manifest.json"));
        const mOriginal = await mblob.downloadToBuffer();
        await mblob.deleteIfExists();
        try {
            const r = await verify(["--run", runs[2], "--no-storage"]);
            assert.equal(r.code, EXIT.verifyFailed);
            assert.match(failureLine(r), new RegExp(`secondary: manifest.json is missing from Azure \\(${dbObjectKey(ENV, runs[2], "manifest.json")}\\)`));
        } finally {
            await mblob.upload(mOriginal, mOriginal.length);
        }
        await assertCanaryClean();
    });

    it("canary server down: exit 1, one line, no record", async () => {
        const before = (await listAll(h.vault.client, VAULT_BUCKET, prefixes.verify(ENV))).length;
        const port = await freePort();
        const r = await verify(["--run", runs[0], "--no-storage"], { CANARY_DATABASE_URL: `postgresql://postgres:canary-pw-123@127.0.0.1:${port}/postgres` });
        assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
        assert.match(failureLine(r), /canary server unreachable: .*ECONNREFUSED/);
        assert.ok(!r.stderr.includes("canary-pw-123"));
        assert.equal((await listAll(h.vault.client, VAULT_BUCKET, prefixes.verify(ENV))).length, before, "a record was written for an infrastructure failure");
        await assertCanaryClean();
    });

    it("a canary server older than the source is a configuration fault: exit 1, canary dropped", async () => {
        const key = dbObjectKey(ENV, runs[3], "manifest.json");
        const r = await tampered(
            key,
            (b) => {
                const m = JSON.parse(b.toString("utf8"));
                m.source.serverVersion = "99.1";
                return Buffer.from(JSON.stringify(m, null, 2) + "\n");
            },
            () => verify(["--run", runs[3], "--no-storage"]),
        );
        assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
        assert.match(failureLine(r), /the canary server is PostgreSQL 15\.\d+.*, older than the source's 99\.1: set supabase\.postgresVersion to the project's version \(or verify\.canaryImage to postgres:99\)/);
        await assertCanaryClean();
    });

    it("a check query that errors, and one with an unexpected result, fail with the check's name", async () => {
        const bad = h.config(ENV, (c) => {
            c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
            c.verify.tables = TABLES;
            c.verify.checks = [
                { name: "wrong-count", sql: "select count(*) from auth.users", expect: 1 },
                { name: "broken", sql: "select count(*) from public.no_such_table", expect: 0 },
            ];
        });
        const r = await verify(["--run", runs[0], "--no-storage"], {}, bad);
        assert.equal(r.code, EXIT.verifyFailed, r.stderr.slice(-2000));
        const m = await manifestOf(runs[0]);
        assert.match(failureLine(r), new RegExp(`check:wrong-count: expected 1, got ${m.snapshot.rowCounts["auth.users"]}`));
        const [rec] = records(r);
        const broken = rec.checks.find((c) => c.name === "check:broken")!;
        assert.equal(broken.ok, false);
        assert.match(broken.detail, /errored: relation "public.no_such_table" does not exist/);
        // everything else about the restore was fine
        assert.ok(rec.checks.filter((c) => !c.name.startsWith("check:")).every((c) => c.ok));
        await assertCanaryClean();
    });

    it("storage: a missing blob and a corrupt blob fail the storage check", async () => {
        const [sm] = await h.manifests(ENV);
        const objs = sm.manifest.objects;
        const all = h.config(ENV, (c) => {
            c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
            c.verify.tables = TABLES;
            c.verify.storageSampleRatio = 1;
        });
        const r1 = await tampered(objs[0].blobKey, () => null, () => verify(["--run", runs[0]], {}, all));
        assert.equal(r1.code, EXIT.verifyFailed);
        assert.match(failureLine(r1), new RegExp(`storage: storage run ${sm.manifest.runId}: 1 of 30 blobs missing \\(e.g. ${objs[0].blobKey}\\)`));
        const r2 = await tampered(objs[1].blobKey, (b) => Buffer.concat([b, Buffer.from("x")]), () => verify(["--run", runs[0]], {}, all));
        assert.equal(r2.code, EXIT.verifyFailed);
        assert.match(failureLine(r2), /storage: .*1 of 30 sampled blobs do not hash to their sha256/);
        assert.equal(records(r2)[0].storage!.sampleMismatches, 1);
        // the blob's Azure archive copy altered (sync-storage copied every blob there): the sample re-hashes it too
        const copy = az.service.getContainerClient(CONTAINER).getBlockBlobClient(objs[2].blobKey);
        const original = await copy.downloadToBuffer();
        await copy.upload(Buffer.concat([original, Buffer.from("x")]), original.length + 1);
        try {
            const r3 = await verify(["--run", runs[0]], {}, all);
            assert.equal(r3.code, EXIT.verifyFailed);
            assert.match(failureLine(r3), new RegExp(`storage: .*Azure archive: 1 sampled blob copies missing or not hashing to their sha256 \\(e\\.g\\. ${objs[2].blobKey} differs\\)`));
        } finally {
            await copy.upload(original, original.length);
        }
        await assertCanaryClean();
    });

    it("SIGTERM during the checks stops, drops the canary database and writes nothing", async () => {
        const slow = h.config(ENV, (c) => {
            c.archive = { accountUrl: az.accountUrl, container: CONTAINER };
            c.verify.tables = TABLES;
            c.verify.checks = [{ name: "slow", sql: "select pg_sleep(60)::text", expect: "" }];
        });
        const before = (await listAll(h.vault.client, VAULT_BUCKET, prefixes.verify(ENV))).length;
        const run = startCli(["verify", "--config", slow, "--run", runs[0], "--no-storage"], verifyEnv());
        const until = Date.now() + 60_000;
        while (Date.now() < until) {
            const busy = await canary.query("select 1 from pg_stat_activity where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()");
            if (busy.length) break;
            await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal((await canaryDatabases()).length, 1, "the canary database should exist mid-run");
        const t = Date.now();
        run.child.kill("SIGTERM");
        const r = await run.done;
        assert.ok(Date.now() - t < 15_000, "took too long to stop");
        assert.equal(r.code, EXIT.failed);
        assert.match(failureLine(r), /interrupted by SIGTERM; canary database dropped, nothing recorded/);
        assert.equal((await listAll(h.vault.client, VAULT_BUCKET, prefixes.verify(ENV))).length, before);
        await assertCanaryClean();
    });

    it("--unverified verifies every run without a passed record, oldest first, anchoring each chain on the last", async () => {
        const r = await verify(["--unverified", "--no-storage"]);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const recs = records(r);
        // runs[3] passed in the first test; the others had only failures or nothing
        assert.deepEqual(
            recs.map((x) => x.runId),
            runs.slice(0, 3),
        );
        assert.ok(recs.every((x) => x.result === "passed"));
        assert.match(recs[1].checks.find((c) => c.name === "chain")!.detail, new RegExp(`back to ${runs[0]}, verified`));
        const again = await verify(["--unverified", "--no-storage"]);
        assert.equal(again.code, EXIT.ok);
        assert.deepEqual(records(again), []);
        assert.equal((await listCompleteRuns(h.vault.client, VAULT_BUCKET, ENV, "db")).length, 4);
        await assertCanaryClean();
    });

    it("a verified run's manifest altered afterwards breaks the chain at the anchor", async () => {
        const key = dbObjectKey(ENV, runs[2], "manifest.json");
        const r = await tampered(
            key,
            (b) => Buffer.from(b.toString("utf8").replace(/\n$/, " \n")),
            () => verify(["--run", runs[3], "--no-storage"]),
        );
        assert.equal(r.code, EXIT.verifyFailed);
        assert.match(failureLine(r), new RegExp(`chain: hash chain broken: manifest of ${runs[2]} changed since it was verified at`));
        await assertCanaryClean();
    });

    it("--help documents every option", async () => {
        const r = await runCli(["verify", "--help"]);
        assert.equal(r.code, 0);
        for (const o of ["--run <runId>", "--unverified", "--jobs <n>", "--scratch <dir>", "--no-storage", "--statement-timeout <seconds>", "--config <file>", "--json", "CANARY_DATABASE_URL", "AGE_IDENTITY", "Exit codes"]) {
            assert.ok(r.stdout.includes(o), `--help lacks ${o}`);
        }
    });
});
