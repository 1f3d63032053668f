// Attack: hostile Storage object names (issue 13, "Object names escape the storage restore").
// Anyone who can upload to the project chooses object names, and a stolen writer token can write a new
// run manifest listing any names. `fetch` collapses `.`/`..` segments, so a name like
// `uid/../../user-media/avatars/victim.png` turned `POST /storage/v1/object/<into>/<name>` into an upsert
// of the live bucket's object, and `x/../../../bucket` into bucket creation. Here the attacker's rows go
// into the real `storage.objects` (Postgres), the attacker's manifest into the vault, and the real CLI
// runs sync-storage and restore storage against the Storage REST test servers, which record every
// request: no hostile name ever reaches a request, sync records and alerts, restore refuses.
import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { METRICS, newRunId, serializeRecord, storageRunManifestKey, type StorageManifest, type StorageManifestWithObjects, type StorageObject } from "@supabase-backups/contracts";
import { restSource, SourceError } from "../../jobs/src/supabase/storage-source";
import { listAudit } from "../../jobs/src/vault/audit";
import { runCli } from "../support/cli";
import { startPushgateway, type Pushgateway } from "../support/pushgateway";
import { startStorageApi, type StorageApiServer } from "../support/storage-api";
import { lit, SERVICE_ROLE_KEY, StorageHarness, VAULT_BUCKET, bytesOf } from "../support/sync-storage-harness";

const ENV = "inputsnames";
const BUCKET = "uploads";

/** What an uploader can name an object (Postgres text: no NUL; the forged manifest adds that). */
const HOSTILE_ROWS = [
    "uid/../../secret-bucket/payroll.pdf",
    "uid/../../user-media/avatars/victim.png",
    "x/../../../bucket",
    "/etc/passwd",
    "uid/%2e%2e/%2e%2e/secret-bucket/payroll.pdf",
    "uid\\..\\..\\secret-bucket\\payroll.pdf",
    "uid/\uff0e\uff0e/\uff0e\uff0e/secret-bucket/payroll.pdf",
    "evil\r\nx-upsert: true",
    "\u001b]0;owned\u0007title",
    "long/" + "a".repeat(1100),
];
/** What a forged manifest can name an object on top of those. */
const FORGED_ONLY = ["evil\u0000.png", "uid/%252e%252e/%252e%252e/user-media/avatars/victim.png"];

describe("attack: hostile object names (sync-storage records and alerts, restore storage refuses)", function () {
    this.timeout(180_000);
    const h = new StorageHarness();
    let gw: Pushgateway;
    let api: StorageApiServer;
    let cfg: string;
    let honest: StorageManifestWithObjects;
    const victim = bytesOf("victim", 3000);

    before(async () => {
        [, gw, api] = await Promise.all([h.start(), startPushgateway(), startStorageApi({ serviceRoleKey: SERVICE_ROLE_KEY })]);
        cfg = h.config(ENV, (c) => {
            c.storage.buckets = [{ name: BUCKET, include: [], exclude: [] }];
            c.alerts.pushgatewayUrl = gw.url;
        });
        await h.put(BUCKET, "avatars/ok.png", bytesOf("ok", 2000), { contentType: "image/png" });
        await h.put(BUCKET, "a..b/.hidden/100%.txt", "ordinary dots and percent signs");
        // buckets the hostile names aim at: not configured for sync, never to be read or written
        await h.put("secret-bucket", "payroll.pdf", bytesOf("payroll", 4000));
        await h.put("user-media", "avatars/victim.png", victim);
        // the uploader's rows, as storage.objects holds them after an upload (bytes never matter: never read)
        for (const name of HOSTILE_ROWS) {
            await h.pg.query(
                `insert into storage.objects (bucket_id, name, metadata, user_metadata, version) values (${lit(BUCKET)}, ${lit(name)}, ` +
                    `'{"eTag":"\\"0\\"","size":4,"mimetype":"text/plain","cacheControl":"max-age=3600"}'::jsonb, '{}'::jsonb, 'v1')`,
            );
        }
    });
    after(async () => Promise.allSettled([h.stop(), gw?.stop(), api?.stop()]));

    it("sync-storage never requests a hostile name: it records each in the manifest (printable), exits partial and pushes the unsafe-names gauge", async () => {
        const before = h.rest.requests.length;
        const r = await h.sync(cfg);
        assert.equal(r.code, 4, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.unsafe.length, HOSTILE_ROWS.length);
        const requested = h.rest.requests.slice(before);
        assert.deepEqual(requested.map((x) => `${x.bucket}/${x.name}`).sort(), [`${BUCKET}/a..b/.hidden/100%.txt`, `${BUCKET}/avatars/ok.png`]);
        assert.ok(!requested.some((x) => x.bucket !== BUCKET), "no request reached another bucket");

        const [m] = (await h.manifests(ENV)).map((x) => x.manifest);
        honest = m;
        assert.deepEqual(m.objects.map((o) => o.name).sort(), ["a..b/.hidden/100%.txt", "avatars/ok.png"]);
        assert.equal(m.unsafe!.length, HOSTILE_ROWS.length);
        const reasons = Object.fromEntries(m.unsafe!.map((u) => [u.name, u.reason]));
        assert.equal(reasons["uid/../../user-media/avatars/victim.png"], "dot-segment");
        assert.equal(reasons["x/../../../bucket"], "dot-segment");
        assert.equal(reasons["/etc/passwd"], "leading-slash");
        assert.equal(reasons["uid/%2e%2e/%2e%2e/secret-bucket/payroll.pdf"], "encoded");
        assert.equal(reasons["evil\\u000d\\u000ax-upsert: true"], "control-character");
        assert.ok(m.unsafe!.some((u) => u.reason === "too-long" && /…\(1105 bytes\)$/.test(u.name)));
        // nothing unprintable in the manifest, the summary or the log
        for (const u of m.unsafe!) assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(u.name), `control characters escaped: ${JSON.stringify(u.name)}`);
        for (const text of [r.stdout, r.stderr]) assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(text), "no control character but newlines in the output");
        assert.ok(!r.stderr.includes("\u001b"), "no terminal escape reaches the log");

        const scraped = await gw.scrape();
        const line = scraped.split("\n").find((l) => l.startsWith(`${METRICS.unsafeObjectNames}{`) && l.includes(`env="${ENV}"`));
        assert.ok(line, `${METRICS.unsafeObjectNames} pushed`);
        assert.equal(Number(line!.split(" ").pop()), HOSTILE_ROWS.length);
        assert.match(scraped, new RegExp(`${METRICS.lastRunStatus}\\{[^}]*env="${ENV}"[^}]*\\} 3`), "the run is partial, not failed");
    });

    it("the Storage source refuses to request a hostile name itself (any caller)", async () => {
        const src = restSource(h.rest.url, SERVICE_ROLE_KEY);
        const before = h.rest.requests.length;
        for (const name of [...HOSTILE_ROWS, ...FORGED_ONLY]) {
            await assert.rejects(src.get(BUCKET, name), (e: unknown) => e instanceof SourceError && e.kind === "fatal" && /refused/.test(e.message) && !/[\u0000-\u001f]/.test(e.message));
        }
        assert.equal(h.rest.requests.length, before, "no request was sent");
    });

    /** A new run manifest the writer could write: the honest objects plus hostile names pointing at a real blob. */
    async function forge(names: string[]): Promise<string> {
        const blob = honest.objects.find((o) => o.name === "avatars/ok.png")!;
        const evil: StorageObject[] = names.map((name) => ({ ...blob, name, contentType: "application/json" }));
        const runId = newRunId(new Date(Date.parse(honest.startedAt) + 60_000));
        // written in the version-1 form (every entry inline), which readers still take
        const forged: StorageManifest = { ...honest, schemaVersion: 1, runId, objects: [...honest.objects, ...evil], unsafe: undefined };
        delete forged.unsafe;
        delete forged.objectList;
        await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: storageRunManifestKey(ENV, runId), Body: serializeRecord(forged) }));
        return runId;
    }

    it("the payloads do what the issue says when a client sends them unguarded (so the next tests can fail)", async () => {
        const probe = await startStorageApi({ serviceRoleKey: SERVICE_ROLE_KEY });
        try {
            const auth = { apikey: SERVICE_ROLE_KEY, authorization: `Bearer ${SERVICE_ROLE_KEY}` };
            const enc = (n: string) => n.split("/").map(encodeURIComponent).join("/");
            await fetch(`${probe.url}/storage/v1/object/restored/${enc("uid/../../user-media/avatars/victim.png")}`, { method: "POST", headers: { ...auth, "x-upsert": "true" }, body: "x" });
            await fetch(`${probe.url}/storage/v1/object/restored/${enc("x/../../../bucket")}`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ id: "attacker-bucket" }) });
            assert.deepEqual(probe.requests.map((x) => `${x.method} ${x.path}`), ["POST /storage/v1/object/user-media/avatars/victim.png", "POST /storage/v1/bucket"]);
            assert.ok(probe.buckets.has("attacker-bucket"));
        } finally {
            await probe.stop();
        }
    });

    it("restore storage --via rest refuses a forged manifest with hostile names before any request to Storage; the refusal is audited", async () => {
        const runId = await forge([...HOSTILE_ROWS, ...FORGED_ONLY]);
        api.buckets.set("user-media", { public: false, objects: new Map([["avatars/victim.png", { bytes: victim, contentType: "image/png", cacheControl: "max-age=3600", metadata: {}, eTag: '"v"' }]]) });
        const restCfg = h.config(ENV, (c) => (c.supabase.url = api.url));
        const before = api.requests.length;
        const r = await runCli(["restore", "storage", "--config", restCfg, "--bucket", BUCKET, "--into", "restored-uploads", "--run", runId, "--reason", "INC-7"], h.env());
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`lists ${HOSTILE_ROWS.length + FORGED_ONLY.length} object name\\(s\\) in uploads that could address another object or path`));
        assert.ok(!/[\u0000\u001b\r]/.test(r.stderr), "the error line is printable");
        assert.equal(api.requests.length, before, "no request reached the Storage API");
        assert.ok(api.buckets.get("user-media")!.objects.get("avatars/victim.png")!.bytes.equals(victim));
        const a = (await listAudit(h.vault.client, VAULT_BUCKET, ENV)).at(-1)!;
        assert.deepEqual([a.action, a.result, a.runId], ["restore-storage", "refused", runId]);
    });

    it("--skip-unsafe-names restores only the safe objects: no upsert of the live bucket, no bucket but the target created", async () => {
        const runId = await forge(["uid/../../user-media/avatars/victim.png", "x/../../../bucket", "evil\u0000.png"]);
        const restCfg = h.config(ENV, (c) => (c.supabase.url = api.url));
        const before = api.requests.length;
        const r = await runCli(["restore", "storage", "--config", restCfg, "--bucket", BUCKET, "--into", "restored-skip", "--run", runId, "--skip-unsafe-names", "--json"], h.env());
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.restored, 2);
        assert.equal(out.skippedUnsafeNames.length, 3);
        const sent = api.requests.slice(before);
        assert.ok(!sent.some((x) => x.path.startsWith("/storage/v1/object/user-media/")), "the live bucket was not written");
        assert.deepEqual(sent.filter((x) => x.method === "POST" && x.path === "/storage/v1/bucket").length, 1, "only the target bucket was created");
        assert.ok(sent.every((x) => x.path === "/storage/v1/bucket" || x.path.includes("/restored-skip")), sent.map((x) => x.path).join(", "));
        assert.deepEqual([...api.buckets.keys()].sort(), ["restored-skip", "user-media"]);
        assert.deepEqual([...api.buckets.get("restored-skip")!.objects.keys()].sort(), ["a..b/.hidden/100%.txt", "avatars/ok.png"]);
        assert.ok(api.buckets.get("user-media")!.objects.get("avatars/victim.png")!.bytes.equals(victim));
    });

    it("restore storage --via s3 refuses the same manifest before touching the Storage S3 endpoint", async () => {
        const runId = await forge(["x/../../../bucket"]);
        const r = await runCli(["restore", "storage", "--config", cfg, "--bucket", BUCKET, "--into", "restored-s3", "--run", runId, "--via", "s3"], h.env());
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /x\/\.\.\/\.\.\/\.\.\/bucket \(dot-segment\)/);
        await assert.rejects(h.source.client.send(new PutObjectCommand({ Bucket: "restored-s3", Key: "probe", Body: "x" })), "the target bucket was never created");
    });
});
