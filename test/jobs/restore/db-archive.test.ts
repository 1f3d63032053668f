// `restore db --from archive` (and `status --from archive`) through the real CLI, for the day the AWS
// account is lost: real `dump` runs write each dump to the vault (s3rver) and the Azure archive (Azurite),
// then every restore reads the archive alone — the vault's endpoint answers nothing and no AWS credential
// is set, so any S3 call would fail the command. PostgreSQL 15 is the source, a second one the target.
// The attacks (an altered archived manifest, an altered dump blob) are made with the archive's own key.
import assert from "node:assert/strict";
import { auditKey, dbRunPrefix, EXIT, type DbManifest } from "@supabase-backups/contracts";
import { Client } from "pg";
import { runCli, type CliResult } from "../../support/cli";
import { startAzurite, type AzuriteServer } from "../../support/azurite";
import { startPostgres, type PgServer } from "../../support/postgres";
import { addSeedData } from "../../support/seed";
import { StorageHarness, parseJsonLine } from "../../support/sync-storage-harness";
import { passwordOutOfArgv } from "../../support/target-url";

const ENV = "azdb";
const CONTAINER = "backups";
const TABLES = ["auth.users", "public.profiles", "public.messages"];
const lastLine = (r: CliResult) => r.stderr.trim().split("\n").filter((l) => l.startsWith("supabase-backups")).pop() ?? "";

describe("restore db --from archive: the Azure archive alone, no AWS credential", function () {
    this.timeout(300_000);
    const h = new StorageHarness();
    let az: AzuriteServer;
    let target: PgServer;
    let cfg: string;
    let lostCfg: string; // the AWS account is gone: the vault endpoint answers nothing
    let identity: string;
    const runs: DbManifest[] = []; // A, B (encrypted), C, D
    const container = () => az.service.getContainerClient(CONTAINER);
    const noAws = (extra: Record<string, string | undefined> = {}) =>
        h.env({ AZURE_STORAGE_CONNECTION_STRING: az.connectionString, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined, AWS_REGION: undefined, USER: "oncall-ana", AGE_IDENTITY: undefined, SUPABASE_ACCESS_TOKEN: undefined, ...extra });
    const restore = async (args: string[], extra: Record<string, string | undefined> = {}) => {
        const url = await target.createDatabase(`t_${Math.random().toString(36).slice(2, 8)}`);
        const [argv, e] = passwordOutOfArgv(["restore", "db", "--config", lostCfg, "--from", "archive", "--target-url", url, ...args], noAws(extra));
        return { r: await runCli(argv, e), url };
    };
    const count = async (url: string, sql: string) => {
        const c = new Client({ connectionString: url });
        await c.connect();
        try {
            return (await c.query(sql)).rows[0].n as number;
        } finally {
            await c.end();
        }
    };
    const status = (args: string[]) => runCli(["status", "--config", lostCfg, "--from", "archive", "--no-supabase", ...args], noAws());
    const userTables = (url: string) => count(url, `select count(*)::int n from pg_tables where schemaname not in ('pg_catalog','information_schema')`);

    before(async function () {
        this.timeout(300_000);
        [az, target] = await Promise.all([startAzurite(), startPostgres({ major: 15 }), h.start()]).then(([a, t]) => [a, t] as [AzuriteServer, PgServer]);
        await az.createContainer(CONTAINER);
        const c = new Client({ connectionString: h.pg.url });
        await c.connect();
        await addSeedData(c, { users: 60, messagesPerUser: 2, sessionsPerUser: 1, payloadBytes: 16 });
        await c.end();
        const age = await import("age-encryption");
        identity = await age.generateIdentity();
        const archive = { accountUrl: az.accountUrl, container: CONTAINER };
        cfg = h.config(ENV, (x) => {
            x.verify.tables = TABLES;
            x.archive = archive;
        });
        lostCfg = h.config(ENV, (x) => {
            x.verify.tables = TABLES;
            x.archive = archive;
            x.vault.endpoint = "http://127.0.0.1:9";
        });
        const dump = async (args: string[] = []) => {
            const r = await runCli(["dump", "--config", cfg, "--json", ...args], h.env({ AZURE_STORAGE_CONNECTION_STRING: az.connectionString }));
            assert.equal(r.code, 0, r.stderr.slice(-2000));
            const m = parseJsonLine(r.stdout).manifest as DbManifest;
            assert.equal(m.secondary.status, "ok", JSON.stringify(m.secondary));
            runs.push(m);
        };
        await dump();
        await dump(["--age-recipient", await age.identityToRecipient(identity)]);
        await dump();
        await dump();
    });
    after(async () => {
        await Promise.allSettled([az?.stop(), target?.stop(), h.stop()]);
    });

    it("restores the newest run (--at now) from the archive with no AWS credential, counts checked, audited into the archive", async () => {
        const d = runs[3];
        const { r, url } = await restore(["--at", "now", "--json", "--reason", "INC-7 AWS account lost"]);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const out = JSON.parse(r.stdout);
        assert.equal(out.runId, d.runId);
        assert.equal(out.from, "archive");
        assert.match(out.choice, /verification unknown/);
        assert.equal(out.verified, false);
        assert.ok(out.rowCounts.length >= TABLES.length && out.rowCounts.every((x: any) => x.ok), JSON.stringify(out.rowCounts));
        for (const t of TABLES) assert.equal(await count(url, `select count(*)::int n from ${t}`), d.snapshot.rowCounts[t], t);
        // the audit record is in the archive (the vault is unreachable); the actor is the Azure identity
        const audits: string[] = [];
        for await (const b of container().listBlobsFlat({ prefix: auditKey(ENV, new Date(), "x").split("/").slice(0, 2).join("/") + "/" })) audits.push(b.name);
        const done = audits.find((k) => /restore-db/.test(k) && !/\.started\.json$/.test(k));
        assert.ok(done, audits.join(", "));
        const rec = JSON.parse((await container().getBlobClient(done!).downloadToBuffer()).toString());
        assert.equal(rec.result, "succeeded");
        assert.equal(rec.reason, "INC-7 AWS account lost");
        assert.equal(rec.options.from, "archive");
        assert.match(rec.actor, /^azure-shared-key:devstoreaccount1@/);
        assert.equal(rec.actorClaim, "oncall-ana");
    });

    it("an encrypted run by --run: decrypted with AGE_IDENTITY (without it: a usage error before anything is touched); --tables into a schema", async () => {
        const b = runs[1];
        assert.ok(b.encryption, "run B is encrypted");
        const refused = await restore(["--run", b.runId]);
        assert.equal(refused.r.code, EXIT.usage, refused.r.stderr);
        assert.match(lastLine(refused.r), /is encrypted to .*: set AGE_IDENTITY/);
        assert.equal(await userTables(refused.url), 0);
        const { r, url } = await restore(["--run", b.runId, "--json"], { AGE_IDENTITY: identity });
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        assert.equal(JSON.parse(r.stdout).runId, b.runId);
        assert.equal(await count(url, `select count(*)::int n from public.profiles`), b.snapshot.rowCounts["public.profiles"]);
        const t = await restore(["--run", b.runId, "--tables", "public.profiles", "--into-schema", "restored", "--json"], { AGE_IDENTITY: identity });
        assert.equal(t.r.code, EXIT.ok, t.r.stderr.slice(-3000));
        assert.equal(await count(t.url, `select count(*)::int n from restored.profiles`), b.snapshot.rowCounts["public.profiles"]);
    });

    it("status --from archive lists the dump runs with the vault's table and JSON shape; what only the vault knows is 'unknown'", async () => {
        const j = await status(["--json"]);
        assert.equal(j.code, EXIT.ok, j.stderr.slice(-2000));
        const rep = JSON.parse(j.stdout);
        assert.equal(rep.from, "archive");
        assert.equal(rep.vault, `azure:${CONTAINER}`);
        assert.deepEqual(rep.db.list.map((x: any) => x.runId), runs.map((m) => m.runId));
        assert.ok(rep.db.list.every((x: any) => x.verification === "unknown" && x.verifiedAt === null && x.secondary === "ok"), JSON.stringify(rep.db.list));
        assert.deepEqual(rep.db.list.map((x: any) => x.encrypted), [false, true, false, false]);
        assert.deepEqual(rep.db.list.map((x: any) => x.bytes), runs.map((m) => m.objects.reduce((n, o) => n + o.bytes, 0)));
        assert.equal(rep.db.chain.intact, true);
        assert.equal(rep.rpo.newestCompleteRunId, runs[3].runId);
        assert.equal(rep.newestVerified, null);
        assert.equal(rep.storage.runs, 0);
        assert.ok(rep.unknown.some((u: string) => /verification records are in the vault only/.test(u)), JSON.stringify(rep.unknown));
        assert.ok(rep.unknown.some((u: string) => /drill records/.test(u)));
        // the vault's JSON keys, all of them
        assert.deepEqual(Object.keys(rep).sort(), ["db", "drills", "env", "from", "generatedAt", "healthy", "newestVerified", "problems", "rpo", "rto", "storage", "supabase", "tampering", "timeline", "unknown", "vault"]);
        const human = await status([]);
        assert.equal(human.code, EXIT.ok, human.stderr);
        assert.match(human.stdout, /env: +azdb {3}archive azure:backups/);
        assert.match(human.stdout, /newest verified: +unknown \(verification records are in the vault\)/);
        assert.match(human.stdout, /unknown here: +verification records are in the vault only/);
        assert.match(human.stdout, new RegExp(`${runs[1].runId} .* \\? +ok +age`));
    });

    it("restore config --from archive: the stack file the run was made with, secrets by name only, with no AWS credential; the same as the vault's", async () => {
        const r = await runCli(["restore", "config", "--config", lostCfg, "--from", "archive", "--run", runs[1].runId, "--json"], noAws());
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        const got = JSON.parse(r.stdout);
        assert.equal(got.runId, runs[1].runId);
        assert.match(got.note, /from the archive/);
        assert.deepEqual(got.config, runs[1].config, "the archived manifest's config snapshot");
        assert.ok(got.config.secrets.some((x: { name: string }) => x.name === "ageIdentity"), "run B is encrypted: the age identity is named");
        const text = await runCli(["restore", "config", "--config", lostCfg, "--from", "archive", "--at", "now"], noAws());
        assert.equal(text.code, EXIT.ok, text.stderr.slice(-2000));
        const newest = await runCli(["restore", "config", "--config", cfg, "--run", runs[3].runId], h.env());
        assert.equal(newest.code, EXIT.ok, newest.stderr);
        assert.equal(text.stdout, newest.stdout, "--at now from the archive prints what the vault prints for the newest run");
        assert.ok(!text.stdout.includes(new URL(h.pg.url).password), "no secret value");
        const none = await runCli(["restore", "config", "--config", lostCfg, "--from", "archive"], noAws());
        assert.equal(none.code, EXIT.usage);
        assert.match(lastLine(none), /which run\? give --run ID or --at TIME/);
    });

    it("a run the archive does not hold: one clear line, exit 1, the target untouched", async () => {
        const { r, url } = await restore(["--run", "20200101T000000Z-aaaaaa"]);
        assert.equal(r.code, EXIT.failed, r.stderr);
        assert.match(lastLine(r), /^supabase-backups restore db: database run 20200101T000000Z-aaaaaa has no manifest in the archive for env azdb: it is incomplete, expired or does not exist$/);
        assert.equal(await userTables(url), 0);
        const both = await restore(["--run", runs[0].runId, "--at", "now"]);
        assert.equal(both.r.code, EXIT.usage);
    });

    it("attack: an archived manifest altered with the archive's key (its successor links other bytes) → exit 7, nothing restored", async () => {
        const c = runs[2];
        const key = `${dbRunPrefix(ENV, c.runId)}manifest.json`;
        const blob = container().getBlockBlobClient(key);
        const original = await blob.downloadToBuffer();
        const forged = JSON.parse(original.toString());
        forged.snapshot.rowCounts["public.profiles"] += 1;
        const body = Buffer.from(JSON.stringify(forged, null, 2) + "\n");
        await blob.upload(body, body.length);
        try {
            const { r, url } = await restore(["--run", c.runId]);
            assert.equal(r.code, EXIT.tampered, r.stderr.slice(-3000));
            assert.match(lastLine(r), new RegExp(`TAMPERING in the archive: manifest of ${c.runId} was altered .*refusing to restore a forged or altered manifest`));
            assert.equal(await userTables(url), 0);
            // --at picks the newest (D), which no one altered: still restorable
            const newest = await restore(["--at", "now", "--json"]);
            assert.equal(newest.r.code, EXIT.ok, newest.r.stderr.slice(-3000));
            assert.equal(JSON.parse(newest.r.stdout).runId, runs[3].runId);
            // status --from archive says it too, and exits 7
            const st = await status(["--json"]);
            assert.equal(st.code, EXIT.tampered, st.stderr.slice(-2000));
            const rep = JSON.parse(st.stdout);
            assert.equal(rep.tampering.length, 1, JSON.stringify(rep.tampering));
            assert.match(rep.tampering[0], new RegExp(`^${c.runId}: manifest of ${c.runId} was altered`));
            assert.deepEqual(rep.db.chain.breaks.map((b: any) => b.altered), [c.runId]);
        } finally {
            await blob.upload(original, original.length);
        }
    });

    it("attack: an archived dump blob replaced with the archive's key → exit 7 (sha256 against the manifest), the target untouched", async () => {
        const a = runs[0];
        const dumpKey = a.secondary.objects.find((o) => o.name === "dump")!.key;
        const blob = container().getBlockBlobClient(dumpKey);
        const original = await blob.downloadToBuffer();
        const altered = Buffer.from(original);
        altered[altered.length - 10] ^= 0xff;
        await blob.upload(altered, altered.length);
        try {
            const { r, url } = await restore(["--run", a.runId]);
            assert.equal(r.code, EXIT.tampered, r.stderr.slice(-3000));
            assert.match(lastLine(r), new RegExp(`the dump of ${a.runId} does not match its manifest .*not restoring it`));
            assert.equal(await userTables(url), 0);
        } finally {
            await blob.upload(original, original.length);
        }
    });

    it("a run whose dump blob is in the Archive tier: rehydration requested (Set Blob Tier), exit 8; once rehydrated it restores", async () => {
        const a = runs[0];
        const dumpKey = a.secondary.objects.find((o) => o.name === "dump")!.key;
        await container().getBlobClient(dumpKey).setAccessTier("Archive");
        const first = await restore(["--run", a.runId]);
        assert.equal(first.r.code, EXIT.pending, first.r.stderr.slice(-3000));
        assert.match(lastLine(first.r), new RegExp(`run ${a.runId} is archived: restore requested now for 1 archived object\\(s\\) \\(dump; tier Standard\\)`));
        assert.equal(await userTables(first.url), 0);
        // Azurite rehydrates at once: the same command now restores
        const again = await restore(["--run", a.runId, "--json"]);
        assert.equal(again.r.code, EXIT.ok, again.r.stderr.slice(-3000));
        assert.equal(await count(again.url, `select count(*)::int n from auth.users`), a.snapshot.rowCounts["auth.users"]);
    });
});
