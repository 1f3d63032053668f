// `supabase-backups dump` end to end with real parts: PostgreSQL 15 (Supabase-like schema), s3rver and
// Azurite behind recording proxies (they ignore lock/tag/checksum/immutability headers, so the test
// asserts on what the job sends), the real CLI as a child process.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zstdDecompressSync } from "node:zlib";
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, GetObjectRetentionCommand, GetObjectTaggingCommand, ListObjectsV2Command, ListObjectVersionsCommand, PutObjectRetentionCommand } from "@aws-sdk/client-s3";
import { Client } from "pg";
import { assertSchema, DbManifestSchema, EXIT, type DbManifest } from "@supabase-backups/contracts";
import { startAzurite, type AzuriteServer, AZURITE_ACCOUNT, AZURITE_KEY } from "../../support/azurite";
import { runCli, startCli, type CliResult } from "../../support/cli";
import { writeJobConfig } from "../../support/cli";
import { startPostgres, pgBinDir, type PgServer } from "../../support/postgres";
import { startRecordingProxy, type RecordingProxy, type RecordedRequest } from "../../support/recording-proxy";
import { startRgw, type RgwServer } from "../../support/rgw";
import { refused } from "../../support/rgw-vault";
import { startS3rver, type S3Server } from "../../support/s3rver";
import { seedSupabase } from "../../support/seed";

const BUCKET = "vault";
const CONTAINER = "archive";
const TABLES = ["auth.users", "public.profiles", "public.sessions", "public.entitlements", "public.messages"];

function dbObjectKeyOf(m: DbManifest): string {
    return m.objects[0].key.replace(/dump$/, "manifest.json");
}

function sha(b: Buffer): string {
    return createHash("sha256").update(b).digest("hex");
}

/** pid of the pg_dump process whose parent is `ppid` (the CLI's node process), if any. */
function childPgDump(ppid: number): number | undefined {
    for (const d of readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const stat = readFileSync(`/proc/${d}/stat`, "utf8");
            const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
            // the data dump, not the schema-only one that runs beside it
            if (m && m[1] === "pg_dump" && Number(m[2]) === ppid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes("--format=custom")) return Number(d);
        } catch {
            /* gone */
        }
    }
    return undefined;
}

describe("dump", function () {
    this.timeout(120_000);
    let pg: PgServer;
    let s3: S3Server;
    let az: AzuriteServer;
    let s3proxy: RecordingProxy;
    let azproxy: RecordingProxy;
    let gateway: Server;
    const pushes: string[] = [];
    let dbUrl: string;
    let configPath: string;
    let env: Record<string, string>;
    const manifests: Array<{ key: string; manifest: DbManifest; bytes: Buffer }> = [];

    async function listKeys(prefix = "db/test/"): Promise<string[]> {
        const r = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
        return (r.Contents ?? []).map((o) => o.Key!).sort();
    }
    async function getObject(key: string): Promise<Buffer> {
        const r = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        return Buffer.from(await r.Body!.transformToByteArray());
    }
    async function manifestKeys(): Promise<string[]> {
        return (await listKeys()).filter((k) => k.endsWith("/manifest.json"));
    }
    function azureEnv(proxy: RecordingProxy | string): string {
        const base = typeof proxy === "string" ? proxy : `${proxy.url}/${AZURITE_ACCOUNT}`;
        return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${base};`;
    }
    function assertOneLineFailure(r: CliResult, pattern: RegExp): void {
        if (process.env.DUMP_TEST_VERBOSE) console.error(r.stderr);
        const lines = r.stderr.split("\n").filter((l) => l.startsWith("supabase-backups dump:"));
        assert.equal(lines.length, 1, `expected one failure line, stderr:\n${r.stderr.slice(-3000)}`);
        assert.match(lines[0], pattern);
        assert.ok(!r.stderr.includes(pg.password) && !r.stdout.includes(pg.password), "the database password leaked");
    }

    before(async function () {
        this.timeout(180_000);
        [pg, s3, az] = await Promise.all([startPostgres(), startS3rver(), startAzurite()]);
        await s3.createBucket(BUCKET);
        await az.createContainer(CONTAINER);
        dbUrl = await pg.createDatabase("app");
        // ~4k users, 12k sessions with 1 KiB of random bytes each: a dump of ~15 MB, several 5 MiB parts.
        await seedSupabase(dbUrl, { users: 4000, sessionsPerUser: 3, payloadBytes: 1024, messagesPerUser: 5 });
        s3proxy = await startRecordingProxy(s3.endpoint);
        azproxy = await startRecordingProxy(`http://127.0.0.1:${az.port}`);
        gateway = createServer((req, res) => {
            let body = "";
            req.on("data", (d) => (body += d));
            req.on("end", () => {
                pushes.push(`${req.method} ${req.url}\n${body}`);
                res.writeHead(200).end();
            });
        });
        await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
        const gwUrl = `http://127.0.0.1:${(gateway.address() as any).port}`;
        configPath = writeJobConfig(
            { vault: { bucket: BUCKET, region: "us-east-1", endpoint: s3proxy.url, forcePathStyle: true }, archive: { accountUrl: az.accountUrl, container: CONTAINER } },
            (c) => {
                c.verify.tables = TABLES;
                c.alerts.pushgatewayUrl = gwUrl;
            },
        ).path;
        env = { ...s3.env, DATABASE_URL: dbUrl, AZURE_STORAGE_CONNECTION_STRING: azureEnv(azproxy), LOG_LEVEL: "info" };
    });

    after(async () => {
        await Promise.all([s3proxy?.close(), azproxy?.close(), new Promise((r) => (gateway ? gateway.close(r) : r(undefined)))]);
        await Promise.all([pg?.stop(), s3?.stop(), az?.stop()]);
    });

    beforeEach(() => {
        s3proxy.requests.length = 0;
        azproxy.requests.length = 0;
        s3proxy.intercept = undefined;
        s3proxy.onRequest = undefined;
        s3proxy.responseHeaders = undefined;
        azproxy.intercept = undefined;
        pushes.length = 0;
    });

    it("--help documents every option", async () => {
        const r = await runCli(["dump", "--help"]);
        assert.equal(r.code, 0, r.stderr);
        for (const flag of ["--config", "--json", "--tables", "--compression", "--level", "--no-archive", "--no-roles", "--age-recipient", "--part-size", "--queue-size", "--block-size", "--azure-concurrency", "--stall-timeout", "--lock-wait-timeout", "--pg-dump", "--pg-dumpall"]) {
            assert.ok(r.stdout.includes(flag), `--help lacks ${flag}`);
        }
        assert.match(r.stdout, /Exit codes: 0 complete; 3 .*degraded/);
    });

    it("round trip: one snapshot, both clouds, sha256 = manifest, pg_restore row counts = manifest", async () => {
        const before = Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, Number((await pg.query(`select count(*) n from ${t}`, "app"))[0].n)] as const)));
        // Once data flows (snapshot taken), commit more rows: the dump and its counts must not see them.
        let inserted: Promise<unknown> | undefined;
        s3proxy.onRequest = (r) => {
            if (!inserted && r.method === "PUT" && /partNumber=/.test(r.url)) {
                inserted = pg.query(`insert into public.messages (sender, recipient, body) select id, id, 'late' from auth.users limit 100`, "app");
            }
        };
        s3proxy.intercept = (r) => (r.method === "PUT" && /partNumber=1&/.test(r.url + "&") ? "hold" : "pass");
        // Real S3 answers UploadPart with the part's checksum; lib-storage must then list it in
        // CompleteMultipartUpload (S3 rejects the completion of a SHA256 upload without them).
        s3proxy.responseHeaders = (rec, h) => {
            if (rec.method === "PUT" && /partNumber=/.test(rec.url) && rec.headers["x-amz-checksum-sha256"]) h["x-amz-checksum-sha256"] = String(rec.headers["x-amz-checksum-sha256"]);
        };
        const run = startCli(["dump", "--config", configPath, "--part-size", "5", "--queue-size", "2"], env);
        const t0 = Date.now();
        while (!inserted && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
        assert.ok(inserted, "no part upload seen");
        await inserted;
        s3proxy.intercept = undefined;
        s3proxy.release();
        const r = await run.done;
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        assert.ok(!r.stderr.includes(pg.password) && !r.stdout.includes(pg.password), "password leaked into output");

        const keys = await manifestKeys();
        assert.equal(keys.length, 1);
        const mbytes = await getObject(keys[0]);
        assert.ok(!mbytes.toString().includes(pg.password));
        const m = assertSchema<DbManifest>(DbManifestSchema, JSON.parse(mbytes.toString()), "manifest");
        manifests.push({ key: keys[0], manifest: m, bytes: mbytes });
        assert.equal(m.env, "test");
        assert.equal(m.previous, null);
        assert.equal(m.tier, "monthly", "first run of the month takes the highest configured tier");
        assert.deepEqual(m.source, { serverVersion: m.source.serverVersion, host: "127.0.0.1", database: "app" });
        assert.match(m.source.serverVersion, /^15\./);
        assert.deepEqual(m.compression, { algorithm: "zstd", level: 1, by: "job" });
        assert.equal(m.encryption, null);
        assert.deepEqual(m.objects.map((o) => o.name), ["dump", "schema.sql", "roles.sql"]);
        assert.equal(m.secondary.status, "ok");
        assert.deepEqual(m.secondary.objects.map((o) => [o.name, o.sha256]), m.objects.map((o) => [o.name, o.sha256]));
        // Snapshot facts.
        assert.deepEqual(m.snapshot.rowCounts, before, "row counts are those of the snapshot, not of the later commit");
        assert.equal(m.snapshot.migrationVersion, "20261101090000");
        for (const t of ["public.profiles", "public.sessions", "public.entitlements", "public.messages", "storage.objects", "storage.buckets"]) assert.ok(m.snapshot.rlsTables.includes(t), t);
        for (const x of ["pgcrypto", "uuid-ossp", "plpgsql"]) assert.ok(m.snapshot.extensions.includes(x), x);

        // Both copies: sha256 and size as recorded.
        const container = az.service.getContainerClient(CONTAINER);
        for (const o of m.objects) {
            const fromS3 = await getObject(o.key);
            const fromAzure = await container.getBlobClient(o.key).downloadToBuffer();
            assert.equal(fromS3.length, o.bytes, o.name);
            assert.equal(sha(fromS3), o.sha256, `${o.name} on S3`);
            assert.equal(sha(fromAzure), o.sha256, `${o.name} on Azure`);
        }
        assert.ok(await container.getBlobClient(keys[0]).exists(), "a manifest copy lies beside the Azure objects");
        const roles = (await getObject(m.objects[2].key)).toString();
        assert.match(roles, /CREATE ROLE authenticated;/);
        assert.ok(!/PASSWORD '/i.test(roles), "roles.sql carries no passwords");
        assert.match((await getObject(m.objects[1].key)).toString(), /CREATE POLICY "own profile"/);

        // Restore into a new database; counts equal the manifest's.
        const dump = zstdDecompressSync(await getObject(m.objects[0].key));
        assert.equal(dump.subarray(0, 5).toString(), "PGDMP");
        const target = await pg.createDatabase("restored1");
        await new Promise<void>((resolve, reject) => {
            const p = spawn(join(pgBinDir(15), "pg_restore"), ["--no-owner", "--exit-on-error", "-d", target], { stdio: ["pipe", "ignore", "pipe"] });
            let err = "";
            p.stderr.on("data", (d) => (err += d));
            p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`pg_restore ${code}: ${err}`))));
            p.stdin.end(dump);
        });
        for (const t of TABLES) assert.equal(Number((await pg.query(`select count(*) n from ${t}`, "restored1"))[0].n), m.snapshot.rowCounts[t], t);
        assert.equal((await pg.query(`select count(*) n from public.messages`, "app"))[0].n, String(before["public.messages"] + 100));

        // What the job sent: S3 lock/checksum/tags on the multipart create and every part, Azure immutability + tags.
        // (s3rver ignores them: the "on Ceph RGW" block below reads the lock, tags and versions back from a server.)
        const req = s3proxy.requests;
        const dumpKey = m.objects[0].key;
        const create = req.find((x) => x.method === "POST" && x.url.includes(dumpKey) && /[?&]uploads/.test(x.url));
        assert.ok(create, "dump went multipart");
        assert.equal(create.headers["x-amz-object-lock-mode"], "COMPLIANCE");
        assert.equal(new Date(String(create.headers["x-amz-object-lock-retain-until-date"])).toISOString(), m.retainUntil);
        assert.equal(create.headers["x-amz-checksum-algorithm"], "SHA256");
        // the run's data may go cold (archive tag, lifecycle "tier-*-colder"); its manifest never does (issue 17)
        assert.equal(create.headers["x-amz-tagging"], "tier=monthly&env=test&kind=dump&archive=eligible");
        const parts = req.filter((x) => x.method === "PUT" && x.url.includes(dumpKey) && /partNumber=/.test(x.url));
        assert.ok(parts.length >= 3, `expected ≥ 3 parts, got ${parts.length}`);
        const uniqueParts = new Map<string, RecordedRequest>();
        for (const p of parts) uniqueParts.set(/partNumber=(\d+)/.exec(p.url)![1], p);
        for (const p of uniqueParts.values()) {
            assert.equal(p.headers["x-amz-checksum-sha256"], Buffer.from(p.bodySha256, "hex").toString("base64"), `part checksum of ${p.url}`);
        }
        const complete = req.find((x) => x.method === "POST" && x.url.includes(dumpKey) && /uploadId=/.test(x.url));
        assert.ok(complete, "multipart completed");
        assert.equal(complete.headers["if-none-match"], "*");
        const completeXml = complete.body!.toString();
        for (const [n, p] of uniqueParts) {
            const want = String(p.headers["x-amz-checksum-sha256"]);
            assert.ok(new RegExp(`<PartNumber>${n}</PartNumber>.*?<ChecksumSHA256>${want.replace(/[+/]/g, "\\$&")}</ChecksumSHA256>|<ChecksumSHA256>${want.replace(/[+/]/g, "\\$&")}</ChecksumSHA256>.*?<PartNumber>${n}</PartNumber>`, "s").test(completeXml), `part ${n}'s checksum in CompleteMultipartUpload`);
        }
        for (const o of m.objects.slice(1)) {
            const put = req.find((x) => x.method === "PUT" && x.url.split("?")[0].endsWith(o.key));
            assert.ok(put, `${o.name} put`);
            assert.equal(put.headers["x-amz-object-lock-mode"], "COMPLIANCE");
            assert.equal(put.headers["x-amz-checksum-sha256"], Buffer.from(o.sha256, "hex").toString("base64"));
            assert.equal(put.headers["x-amz-tagging"], "tier=monthly&env=test&kind=dump&archive=eligible");
        }
        const mput = req.find((x) => x.method === "PUT" && x.url.split("?")[0].endsWith(keys[0]));
        assert.ok(mput && mput.headers["if-none-match"] === "*" && mput.headers["x-amz-object-lock-mode"] === "COMPLIANCE");
        assert.equal(mput.headers["x-amz-tagging"], "tier=monthly&env=test&kind=dump", "the manifest carries no archive tag");
        assert.equal(mput.bodySha256, sha(mbytes));
        assert.ok(req.indexOf(mput) > req.indexOf(complete), "manifest written last");
        for (const o of m.objects) {
            const commit = azproxy.requests.find((x) => x.method === "PUT" && x.url.includes(o.key) && /comp=blocklist/.test(x.url));
            assert.ok(commit, `Azure commit of ${o.name}`);
            assert.equal(commit.headers["x-ms-immutability-policy-mode"], "Locked");
            assert.equal(new Date(String(commit.headers["x-ms-immutability-policy-until-date"])).toISOString(), m.retainUntil);
            assert.equal(commit.headers["x-ms-tags"], "tier=monthly&env=test&kind=dump&archive=eligible");
            assert.equal(commit.headers["if-none-match"], "*");
        }
        const success = pushes.find((p) => /supabase_backups_runs_total\{.*result="success"/.test(p));
        assert.ok(success, "success metric pushed");
        // Capacity: the source's size as the snapshot saw it, within a page of what the server says now.
        const pushed = Number(/supabase_backups_source_database_bytes\{[^}]*\} (\d+)/.exec(success)?.[1]);
        const c = new Client({ connectionString: dbUrl });
        await c.connect();
        const actual = Number((await c.query("select pg_database_size(current_database()) n")).rows[0].n);
        await c.end();
        assert.ok(pushed > 0 && Math.abs(pushed - actual) <= 64 * 1024, `source_database_bytes ${pushed} vs pg_database_size ${actual}`);
    });

    it("chains to the previous run, takes the next tier, encrypts to an age recipient (decrypts with the age CLI), honours --tables/--no-archive", async () => {
        assert.ok(manifests.length, "needs the round trip's run");
        const dir = mkdtempSync(join(tmpdir(), "sb-age-"));
        execFileSync("age-keygen", ["-o", join(dir, "key.txt")], { stdio: "ignore" });
        const recipient = /public key: (age1\S+)/.exec(readFileSync(join(dir, "key.txt"), "utf8"))![1];
        const r = await runCli(["dump", "--config", configPath, "--age-recipient", recipient, "--tables", "public.profiles,auth.users", "--no-archive", "--no-roles", "--json"], env);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
        const m = assertSchema<DbManifest>(DbManifestSchema, out.manifest, "manifest");
        assert.deepEqual(m.previous, { runId: manifests[0].manifest.runId, sha256: sha(manifests[0].bytes) });
        assert.equal(m.tier, "daily");
        assert.deepEqual(Object.keys(m.snapshot.rowCounts).sort(), ["auth.users", "public.profiles"]);
        assert.deepEqual(m.secondary, { provider: "azure", status: "disabled", container: CONTAINER, objects: [] });
        assert.equal(azproxy.requests.length, 0);
        assert.deepEqual(m.encryption, { tool: "age", recipient });
        assert.deepEqual(m.objects.map((o) => o.name), ["dump", "schema.sql"]);
        const enc = await getObject(m.objects[0].key);
        assert.equal(sha(enc), m.objects[0].sha256);
        assert.ok(enc.subarray(0, 21).toString().startsWith("age-encryption.org/v1"));
        writeFileSync(join(dir, "dump.age"), enc);
        const plain = execFileSync("age", ["-d", "-i", join(dir, "key.txt"), join(dir, "dump.age")], { maxBuffer: 1 << 30 });
        const dump = zstdDecompressSync(plain);
        assert.equal(dump.subarray(0, 5).toString(), "PGDMP");
        writeFileSync(join(dir, "dump"), dump);
        const list = execFileSync(join(pgBinDir(15), "pg_restore"), ["--list", join(dir, "dump")], { maxBuffer: 1 << 28 }).toString();
        assert.match(list, /TABLE DATA public messages/);
        const schema = execFileSync("age", ["-d", "-i", join(dir, "key.txt")], { input: await getObject(m.objects[1].key) }).toString();
        assert.match(schema, /CREATE TABLE auth\.users/);
        manifests.push({ key: out.manifestKey, manifest: m, bytes: await getObject(out.manifestKey) });
    });

    it("a server that refuses the roles dump: no roles.sql, still complete; gzip by pg_dump itself on a PostgreSQL 15 client", async () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-fake-"));
        const fake = join(dir, "pg_dumpall");
        // What managed Postgres answers a non-superuser (the real pg_dumpall's message and exit code).
        writeFileSync(fake, `#!/bin/sh\necho 'pg_dumpall: error: query failed: ERROR:  permission denied for table pg_authid' >&2\nexit 1\n`, { mode: 0o755 });
        const r = await runCli(["dump", "--config", configPath, "--pg-dumpall", fake, "--compression", "gzip", "--level", "6", "--no-archive", "--json"], env);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        assert.match(r.stderr, /roles\.sql skipped: the server did not permit a roles dump/);
        const m = assertSchema<DbManifest>(DbManifestSchema, JSON.parse(r.stdout.trim().split("\n").pop()!).manifest, "manifest");
        assert.deepEqual(m.objects.map((o) => o.name), ["dump", "schema.sql"]);
        assert.deepEqual(m.compression, { algorithm: "gzip", level: 6, by: "pg_dump" });
        const dump = await getObject(m.objects[0].key);
        assert.equal(dump.subarray(0, 5).toString(), "PGDMP", "pg_dump's own compression keeps a plain custom-format file");
        writeFileSync(join(dir, "dump"), dump);
        const list = execFileSync(join(pgBinDir(15), "pg_restore"), ["--list", join(dir, "dump")], { maxBuffer: 1 << 28 }).toString();
        assert.match(list, /Compression: (6|gzip)/);
        manifests.push({ key: dbObjectKeyOf(m), manifest: m, bytes: await getObject(dbObjectKeyOf(m)) });
    });

    // The dump's Object Lock and tags as the server holds them: the same CLI against Ceph RGW (enforces
    // COMPLIANCE locks, versioning, tagging, SSE-KMS), through a pass-through recording proxy so what was
    // sent is still checked. The s3rver/Azurite round trip above keeps the Azure side, the held part and the
    // snapshot checks; the failure tests below stay on s3rver (they kill and stall the server).
    describe("on Ceph RGW: locks, retain-until, tags and versions read back", () => {
        const VAULT = "vault";
        let rgw: RgwServer;
        let proxy: RecordingProxy;
        let rgwConfig: string;
        let rgwEnv: Record<string, string | undefined>;
        before(async () => {
            rgw = await startRgw();
            await rgw.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
            proxy = await startRecordingProxy(rgw.endpoint);
            rgwConfig = writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: proxy.url, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
                c.verify.tables = TABLES;
                delete c.alerts.pushgatewayUrl;
                delete c.archive;
            }).path;
            rgwEnv = { DATABASE_URL: dbUrl, AWS_ACCESS_KEY_ID: rgw.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.admin.secretAccessKey, AWS_SESSION_TOKEN: undefined, AWS_REGION: rgw.region, AWS_PROFILE: undefined, AZURE_STORAGE_CONNECTION_STRING: undefined, LOG_LEVEL: "info" };
        });
        after(async () => {
            await proxy?.close();
            await rgw?.stop();
        });

        it("every object of the dump (multipart dump, schema, roles, manifest): COMPLIANCE until the run's retain-until, tagged with the tier, one version, undeletable", async () => {
            const r = await runCli(["dump", "--config", rgwConfig, "--part-size", "5", "--json"], rgwEnv);
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const c = rgw.client();
            const listed = ((await c.send(new ListObjectsV2Command({ Bucket: VAULT, Prefix: "db/test/" }))).Contents ?? []).map((o) => o.Key!).sort();
            const mkey = listed.find((k) => k.endsWith("/manifest.json"))!;
            assert.ok(mkey, "manifest written");
            const g = await c.send(new GetObjectCommand({ Bucket: VAULT, Key: mkey }));
            const m = assertSchema<DbManifest>(DbManifestSchema, JSON.parse(Buffer.from(await g.Body!.transformToByteArray()).toString()), "manifest");
            assert.equal(m.tier, "monthly");
            assert.deepEqual(listed, [...m.objects.map((o) => o.key), mkey].sort());
            const TAGS = { tier: "monthly", env: "test", kind: "dump" };
            const DATA_TAGS = { ...TAGS, archive: "eligible" };

            // What was sent (as against s3rver): the multipart create and every single PUT carry the lock and tags.
            const dumpKey = m.objects[0].key;
            const create = proxy.requests.find((x) => x.method === "POST" && x.url.includes(dumpKey) && /[?&]uploads/.test(x.url));
            assert.ok(create, "dump went multipart");
            assert.equal(create.headers["x-amz-object-lock-mode"], "COMPLIANCE");
            assert.equal(new Date(String(create.headers["x-amz-object-lock-retain-until-date"])).toISOString(), m.retainUntil);
            assert.equal(create.headers["x-amz-tagging"], "tier=monthly&env=test&kind=dump&archive=eligible");
            assert.ok(proxy.requests.filter((x) => x.method === "PUT" && x.url.includes(dumpKey) && /partNumber=/.test(x.url)).length >= 3, "≥ 3 parts");
            for (const key of [...m.objects.slice(1).map((o) => o.key), mkey]) {
                const put = proxy.requests.find((x) => x.method === "PUT" && x.url.split("?")[0].endsWith(key) && !/[?&](retention|tagging)/.test(x.url));
                assert.ok(put, `${key} put`);
                assert.equal(put.headers["x-amz-object-lock-mode"], "COMPLIANCE");
                assert.equal(put.headers["x-amz-tagging"], key === mkey ? "tier=monthly&env=test&kind=dump" : "tier=monthly&env=test&kind=dump&archive=eligible");
                assert.equal(put.headers["if-none-match"], "*");
            }

            // What RGW holds, for every object including the manifest and the multipart dump (whose lock and
            // tags RGW 16.2 drops from CreateMultipartUpload: the job re-states them after completing it).
            for (const key of [...m.objects.map((o) => o.key), mkey]) {
                const ret = await c.send(new GetObjectRetentionCommand({ Bucket: VAULT, Key: key }));
                assert.equal(ret.Retention?.Mode, "COMPLIANCE", `${key} lock mode on the server`);
                assert.equal(new Date(ret.Retention!.RetainUntilDate!).toISOString(), m.retainUntil, `${key} retain-until on the server`);
                const tags = await c.send(new GetObjectTaggingCommand({ Bucket: VAULT, Key: key }));
                assert.deepEqual(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value])), key === mkey ? TAGS : DATA_TAGS, `${key} tags on the server`);
            }
            const v = await c.send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: "db/test/" }));
            assert.equal(v.DeleteMarkers?.length ?? 0, 0);
            assert.deepEqual((v.Versions ?? []).map((x) => x.Key!).sort(), listed, "one version per object");
            const dumpVersion = v.Versions!.find((x) => x.Key === dumpKey)!;
            assert.equal(dumpVersion.Size, m.objects[0].bytes);
            // The lock holds on the server: no delete of the version, no shorter retain-until.
            await refused(c.send(new DeleteObjectCommand({ Bucket: VAULT, Key: dumpKey, VersionId: dumpVersion.VersionId })));
            await refused(c.send(new PutObjectRetentionCommand({ Bucket: VAULT, Key: dumpKey, Retention: { Mode: "COMPLIANCE", RetainUntilDate: new Date(Date.parse(m.retainUntil) - 86_400_000) } })));
        });
    });

    describe("failures leave no manifest", () => {
        let count: number;
        beforeEach(async () => {
            count = (await manifestKeys()).length;
        });

        it("pg_dump killed mid-stream: multipart aborted, exit 1, one line, failure metric", async () => {
            let sawPart = false;
            s3proxy.intercept = (r) => {
                if (r.method === "PUT" && /partNumber=/.test(r.url)) {
                    sawPart = true;
                    return "hold";
                }
                return "pass";
            };
            const run = startCli(["dump", "--config", configPath, "--part-size", "5", "--queue-size", "1"], env);
            const t0 = Date.now();
            while (!sawPart && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
            assert.ok(sawPart);
            const pid = childPgDump(run.child.pid!);
            assert.ok(pid, "pg_dump is still running (held by backpressure)");
            process.kill(pid, "SIGKILL");
            s3proxy.intercept = undefined;
            s3proxy.release();
            const r = await run.done;
            assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
            assertOneLineFailure(r, /^supabase-backups dump: dump: pg_dump was killed \(SIGKILL\)/);
            assert.equal((await manifestKeys()).length, count);
            const create = s3proxy.requests.find((x) => x.method === "POST" && /[?&]uploads/.test(x.url));
            assert.ok(create);
            const abort = s3proxy.requests.find((x) => x.method === "DELETE" && /uploadId=/.test(x.url));
            assert.ok(abort, "AbortMultipartUpload sent");
            assert.ok(!s3proxy.requests.some((x) => x.method === "POST" && /uploadId=/.test(x.url)), "never completed");
            assert.ok(!azproxy.requests.some((x) => /comp=blocklist/.test(x.url)), "no Azure blob committed");
            const failure = pushes.find((p) => /supabase_backups_runs_total\{.*result="failure"/.test(p));
            assert.ok(failure, "failure metric pushed");
            // a failed run reports no size: bytes=0 (or a partial count) would trip the size-anomaly alert
            assert.doesNotMatch(failure, /^supabase_backups_bytes\{/m, "no supabase_backups_bytes in a failed run's push");
        });

        it("S3 server stopped mid-upload: exit 1, no manifest", async () => {
            let sawPart = false;
            s3proxy.intercept = (r) => {
                if (r.method === "PUT" && /partNumber=/.test(r.url) && !sawPart) {
                    sawPart = true;
                    return "hold";
                }
                return "pass";
            };
            const run = startCli(["dump", "--config", configPath, "--part-size", "5", "--queue-size", "1"], env);
            const t0 = Date.now();
            while (!sawPart && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
            await s3.kill();
            s3proxy.release();
            const r = await run.done;
            await s3.restart();
            assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
            assertOneLineFailure(r, /^supabase-backups dump: dump: S3 upload failed/);
            assert.equal((await manifestKeys()).length, count);
        });

        it("S3 stalls: the stall timeout fails the run", async () => {
            s3proxy.intercept = (r) => (r.method === "PUT" && /partNumber=/.test(r.url) ? "hold" : "pass");
            const t0 = Date.now();
            const r = await runCli(["dump", "--config", configPath, "--part-size", "5", "--queue-size", "1", "--stall-timeout", "5"], env);
            s3proxy.intercept = undefined;
            s3proxy.release();
            assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
            assertOneLineFailure(r, /S3 upload failed: .*(stalled|timed? ?out)/i);
            assert.ok(Date.now() - t0 < 40_000, "stall detected promptly");
            assert.equal((await manifestKeys()).length, count);
        });

        it("unreachable database: exit 1, nothing uploaded", async () => {
            const dead = `postgresql://postgres:${encodeURIComponent(pg.password)}@127.0.0.1:1/app`;
            const r = await runCli(["dump", "--config", configPath], { ...env, DATABASE_URL: dead });
            assert.equal(r.code, EXIT.failed, r.stderr);
            assertOneLineFailure(r, /cannot open the database snapshot/);
            assert.ok(!s3proxy.requests.some((x) => x.method === "PUT" || x.method === "POST"), "nothing written");
            assert.equal((await manifestKeys()).length, count);
        });

        it("bad database credentials: exit 1, the password never printed", async () => {
            const badPw = "wrong-" + pg.password;
            const bad = `postgresql://postgres:${encodeURIComponent(badPw)}@127.0.0.1:${pg.port}/app`;
            const r = await runCli(["dump", "--config", configPath], { ...env, DATABASE_URL: bad });
            assert.equal(r.code, EXIT.failed, r.stderr);
            assertOneLineFailure(r, /password authentication failed/);
            assert.ok(!r.stderr.includes(badPw));
            assert.equal((await manifestKeys()).length, count);
        });

        it("bad S3 credentials: exit 1 before pg_dump starts", async () => {
            const r = await runCli(["dump", "--config", configPath], { ...env, AWS_ACCESS_KEY_ID: "NOSUCHKEY", AWS_SECRET_ACCESS_KEY: "nosuchsecret" });
            assert.equal(r.code, EXIT.failed, r.stderr);
            assertOneLineFailure(r, /cannot list the vault/);
            assert.ok(!r.stderr.includes("nosuchsecret"));
            assert.equal((await manifestKeys()).length, count);
        });
    });

    it("Azure down: completes on S3, manifest records the failed secondary, exit degraded", async () => {
        const before = (await manifestKeys()).length;
        const r = await runCli(["dump", "--config", configPath], { ...env, AZURE_STORAGE_CONNECTION_STRING: azureEnv("http://127.0.0.1:1/" + AZURITE_ACCOUNT) });
        assert.equal(r.code, EXIT.degraded, r.stderr.slice(-3000));
        const keys = await manifestKeys();
        assert.equal(keys.length, before + 1);
        const m = assertSchema<DbManifest>(DbManifestSchema, JSON.parse((await getObject(keys[keys.length - 1])).toString()), "manifest");
        assert.equal(m.secondary.status, "failed");
        assert.ok(m.secondary.error && m.secondary.error.length > 0);
        assert.equal(sha(await getObject(m.objects[0].key)), m.objects[0].sha256);
        assert.ok(pushes.some((p) => /supabase_backups_runs_total\{.*result="degraded"/.test(p)), "degraded metric pushed");
    });
});
