// Per-bucket retention end to end, on real parts (issue 15.5, 15.2, gc audit): Postgres with Supabase's
// storage schema as the source, Ceph RGW as the vault (Object Lock, versioning, tags). The environment keeps
// 3 daily and 2 weekly; `public-assets` keeps 4 weekly.
//
// A simulated calendar: sync-storage runs with run ids on six Mondays and two Wednesdays of 2027 (future
// dates, so RGW accepts their locks), the source changing between runs. Then the lifecycle rules the
// program declares (components/vault.ts vaultLifecycleRules) are applied to the manifests by the `tier` tag
// RGW holds, as S3 would on the day after the last run (a plain DELETE: a delete marker, like an S3
// expiry on a versioned bucket), and gc plans against what is left. What must hold:
//   - weekly runs are tagged tier=storage-weekly and locked 4 weeks (not the environment's 2), daily runs
//     keep tier=daily and 3 days;
//   - gc keeps every blob a surviving run references, whichever bucket's entry does (a blob shared between a
//     bucket kept longer and one that moved on stays), and offers the rest;
//   - under the environment's own weekly rule (what the manifests were tagged before this change) the runs
//     of weeks 3 and 4 would be gone and public-assets' versions of those weeks with them.
// Also: `status` shows each bucket's recorded settings, the policies naming it and its retention; and gc,
// with gc's own RGW user and the project's gc document, writes its audit records before deleting — with
// the audit right taken away it deletes nothing.
import { strict as assert } from "node:assert";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { newRunId, prefixes, retainUntil, runIdTime, storageBlobKey, storageRetention, type AuditRecord, type RetentionPolicy } from "@supabase-backups/contracts";
import { vaultLifecycleRules } from "../../../components/vault";
import { gcPolicy, type PolicyDocument } from "../../../components/iam-policies";
import { runCli } from "../../support/cli";
import { awsEnv, backdateListing, forPacific, putUserPolicy } from "../../support/rgw-vault";
import type { RgwUser } from "../../support/rgw";
import { StorageHarness, VAULT_BUCKET, parseJsonLine, sha } from "../../support/sync-storage-harness";

const ENV = "test";
const day = 86_400_000;
const RETENTION: RetentionPolicy = { daily: 3, weekly: 2, monthly: 0, yearly: 0, objectLockMinDays: 1 };
const BUCKETS = [{ name: "user-media" }, { name: "public-assets", retention: { weekly: 4 } }];
const MONDAY = Date.parse("2027-01-04T04:30:00Z"); // ISO week 1 of 2027

/** Days after MONDAY of each run, in order; Mondays are the weekly runs. */
const CALENDAR = [0, 2, 7, 14, 21, 28, 30, 35];
const LIFECYCLE_DAY = 36;

describe("per-bucket retention on RGW + Postgres: tier, lock, lifecycle class, gc across a calendar; status; gc audit", function () {
    this.timeout(600_000);
    const h = new StorageHarness({ vault: "rgw" });
    let cfg: string;
    const runs: Array<{ day: number; runId: string; tier: string; key: string }> = [];
    const content = (label: string) => Buffer.from(`content ${label}\n`);
    const blobOf = (label: string) => storageBlobKey(ENV, sha(content(label)));
    let gcUser: RgwUser;

    before(async () => {
        await h.start();
        cfg = h.config(ENV, (c) => {
            c.retention = RETENTION;
            c.storage.buckets = BUCKETS;
        });
        gcUser = await h.rgw!.createUser("gc");
        await setGcPolicy(forPacific(gcPolicy({ bucket: VAULT_BUCKET, env: ENV, region: "us-east-1", accountId: "", kmsKeyArn: h.rgw!.kmsKeyId })).doc);
    });
    after(() => h.stop());

    const setGcPolicy = (doc: PolicyDocument) => putUserPolicy(h.rgw!, "gc", "supabase-backups", doc);
    const asGc = () => ({ ...h.env(), ...awsEnv(gcUser) });

    /** The source before the run on `d`: public-assets changes weekly, user-media every run; a blob shared across buckets. */
    async function changeSource(d: number, i: number): Promise<void> {
        await h.put("user-media", "u/avatar.png", content(`um-${i}`));
        if (d % 7 === 0) await h.put("public-assets", "logo.png", content(`pa-${d / 7}`));
        // "shared": in user-media for the first week only, in public-assets in week 3 only
        if (d === 0) await h.put("user-media", "shared.bin", content("shared"));
        if (d === 7) await h.remove("user-media", "shared.bin");
        if (d === 14) await h.put("public-assets", "shared-copy.bin", content("shared"));
        if (d === 21) await h.remove("public-assets", "shared-copy.bin");
    }

    it("runs on the calendar: weekly runs tagged storage-weekly and locked 4 weeks, daily ones tagged daily and locked 3 days", async () => {
        for (const [i, d] of CALENDAR.entries()) {
            await changeSource(d, i);
            if (i === 0) {
                await h.pg.query(`update storage.buckets set public = true, file_size_limit = 5242880, allowed_mime_types = array['image/png','image/svg+xml'] where id = 'public-assets'`);
                await h.pg.query(`create policy "public-assets readable" on storage.objects for select to anon using (bucket_id = 'public-assets')`);
                await h.pg.query(`create policy "own avatars" on storage.objects for insert to authenticated with check (bucket_id = 'user-media')`);
                await h.pg.query(`create policy "service all" on storage.objects for all to service_role using (true)`);
            }
            const runId = newRunId(new Date(MONDAY + d * day));
            const r = await h.sync(cfg, [], { SUPABASE_BACKUPS_RUN_ID: runId });
            assert.equal(r.code, 0, r.stderr);
            const out = parseJsonLine(r.stdout);
            runs.push({ day: d, runId, tier: out.tier, key: out.manifest });
        }
        assert.deepEqual(runs.map((r) => r.tier), ["weekly", "daily", "weekly", "weekly", "weekly", "weekly", "daily", "weekly"]);
        const storage = storageRetention({ retention: RETENTION, storage: { buckets: BUCKETS } });
        for (const r of runs) {
            const st = await h.state(r.key);
            const t = runIdTime(r.runId);
            assert.equal(st.tags.tier, r.tier === "weekly" ? "storage-weekly" : "daily", r.runId);
            assert.equal(st.mode, "COMPLIANCE");
            assert.equal(st.retainUntil, retainUntil(t, r.tier as "daily" | "weekly", storage).toISOString());
            if (r.tier === "weekly") assert.equal(Date.parse(st.retainUntil!) - t.getTime(), 28 * day, "4 weeks, not the environment's 2");
        }
    });

    /** The manifests the declared lifecycle rules expire by `day` (S3: creation + Days; here the run's time). */
    function expiredBy(rules: ReturnType<typeof vaultLifecycleRules>, tagOf: (r: (typeof runs)[number]) => Promise<string>) {
        return async (onDay: number) => {
            const out: string[] = [];
            for (const r of runs) {
                const tag = await tagOf(r);
                const rule = rules.find((x: any) => x.filter?.tag?.key === "tier" && x.filter.tag.value === tag) as any;
                if (rule && r.day + rule.expiration.days <= onDay) out.push(r.runId);
            }
            return out;
        };
    }

    it("the lifecycle on the day after the last run expires weeks 1–2 and the dailies; under the environment's own weekly rule weeks 3–4 would go too", async () => {
        const rules = vaultLifecycleRules(RETENTION, storageRetention({ retention: RETENTION, storage: { buckets: BUCKETS } }));
        const expired = await expiredBy(rules, async (r) => (await h.state(r.key)).tags.tier)(LIFECYCLE_DAY);
        const at = (...days: number[]) => runs.filter((r) => days.includes(r.day)).map((r) => r.runId);
        assert.deepEqual(expired, at(0, 2, 7, 30));
        // the control: the same manifests tagged with the plain tier, under the environment's rules
        const before = await expiredBy(vaultLifecycleRules(RETENTION), async (r) => r.tier)(LIFECYCLE_DAY);
        assert.deepEqual(before, at(0, 2, 7, 14, 21, 30), "without the storage class, weeks 3 and 4 expire after 2 weeks");
        // expire them as S3 would: a delete marker over the (still locked) manifest
        for (const r of runs.filter((x) => expired.includes(x.runId))) await h.vault.client.send(new DeleteObjectCommand({ Bucket: VAULT_BUCKET, Key: r.key }));
        assert.deepEqual((await h.manifests(ENV)).map((m) => m.manifest.runId), at(14, 21, 28, 35));
    });

    it("gc (with gc's own credentials) keeps every blob a surviving run references, from any bucket, and offers only the rest", async () => {
        const blobs = ((await h.vault.client.send(new ListObjectsV2Command({ Bucket: VAULT_BUCKET, Prefix: prefixes.storageBlobs(ENV) }))).Contents ?? []).map((o) => o.Key!);
        for (const k of blobs) await backdateListing(h.rgw!, VAULT_BUCKET, k, 10 * day);
        const dry = await runCli(["gc", "--config", cfg, "--json", "--dry-run", "--grace-days", "2"], asGc());
        assert.equal(dry.code, 0, dry.stderr);
        const plan = JSON.parse(dry.stdout.slice(dry.stdout.indexOf("{")));
        // user-media's avatar of runs 0, 1, 2 (days 0, 2, 7) and 6 (day 30); public-assets' logo of weeks 0 and 1
        const offered = ["um-0", "um-1", "um-2", "um-6", "pa-0", "pa-1"].map(blobOf).sort();
        assert.deepEqual([...plan.keys].sort(), offered);
        for (const kept of ["pa-2", "pa-3", "pa-4", "pa-5", "um-3", "um-4", "um-5", "um-7", "shared"]) assert.ok(blobs.includes(blobOf(kept)) && !plan.keys.includes(blobOf(kept)), `${kept} kept`);
        assert.equal(plan.runs, 4);
        // The real run: the offered blobs are still under their COMPLIANCE lock (their runs' retain-until + 30 days), so RGW keeps them.
        const real = await runCli(["gc", "--config", cfg, "--json", "--grace-days", "2"], asGc());
        assert.equal(real.code, 0, real.stderr);
        const res = JSON.parse(real.stdout.slice(real.stdout.indexOf("{")));
        assert.equal(res.candidates, offered.length);
        assert.equal(res.keptLocked, offered.length);
        assert.equal(res.deleted, 0);
    });

    it("status shows each bucket's recorded settings, the RLS policies naming it and its retention (human and JSON)", async () => {
        const r = await runCli(["status", "--config", cfg, "--json", "--no-supabase"], h.env());
        const s = JSON.parse(r.stdout);
        const b = s.storage.buckets;
        assert.equal(b.runId, runs.at(-1)!.runId);
        const pa = b.buckets.find((x: any) => x.name === "public-assets");
        const um = b.buckets.find((x: any) => x.name === "user-media");
        assert.deepEqual(
            { public: pa.public, fileSizeLimit: pa.fileSizeLimit, allowedMimeTypes: pa.allowedMimeTypes, policies: pa.policies, retention: pa.retention },
            { public: true, fileSizeLimit: 5242880, allowedMimeTypes: ["image/png", "image/svg+xml"], policies: ["public-assets readable"], retention: { daily: 3, weekly: 4, monthly: 0, yearly: 0, override: true } },
        );
        assert.deepEqual({ public: um.public, policies: um.policies, retention: um.retention }, { public: false, policies: ["own avatars"], retention: { daily: 3, weekly: 2, monthly: 0, yearly: 0, override: false } });
        assert.deepEqual(b.otherPolicies, ["service all"]);
        const human = await runCli(["status", "--config", cfg, "--no-supabase"], h.env());
        assert.match(human.stdout, /Buckets of the newest storage run/);
        const line = (name: string) => human.stdout.split("\n").find((l) => l.startsWith(name + " "))!;
        for (const cell of ["PUBLIC", "5.0 MiB", "image/png, image/svg+xml", "public-assets readable", "3d 4w (own)"]) assert.ok(line("public-assets").includes(cell), `${cell} in: ${line("public-assets")}`);
        for (const cell of ["private", "none", "any", "own avatars", "3d 2w"]) assert.ok(line("user-media").includes(cell), `${cell} in: ${line("user-media")}`);
        assert.match(human.stdout, /naming no bucket above: service all/);
    });

    it("gc writes its audit records (started before anything, the result with its counts) under its own identity", async () => {
        const records = await auditRecords();
        const gc = records.filter((x) => x.action === "gc");
        // two runs so far (dry and real), each a started and a finished record
        assert.equal(gc.filter((x) => x.result === "started").length, 2);
        const done = gc.filter((x) => x.result === "succeeded");
        assert.equal(done.length, 2);
        for (const x of gc) assert.equal(x.actor, `access-key:${gcUser.accessKeyId}@${new URL(h.recorder.endpoint).host}`, "the caller as RGW knows it (the config's endpoint is the pass-through recorder)");
        const real = done.find((x) => x.options.dryRun === false)!;
        assert.deepEqual({ candidates: (real.options.outcome as any).candidates, keptLocked: (real.options.outcome as any).keptLocked, graceDays: real.options.graceDays }, { candidates: 6, keptLocked: 6, graceDays: 2 });
        assert.equal(real.reason, null, "a scheduled gc needs no reason");
        assert.ok(real.durations.planSeconds !== undefined && real.durations.totalSeconds !== undefined);
    });

    it("no record, no delete: with the audit right taken from gc's document, gc deletes nothing and says why; with it back, the old unlocked orphan goes", async () => {
        const orphan = storageBlobKey(ENV, sha(content("orphan")));
        await h.vault.client.send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: orphan, Body: content("orphan") }));
        await backdateListing(h.rgw!, VAULT_BUCKET, orphan, 10 * day);
        const full = forPacific(gcPolicy({ bucket: VAULT_BUCKET, env: ENV, region: "us-east-1", accountId: "", kmsKeyArn: h.rgw!.kmsKeyId })).doc;
        await setGcPolicy({ ...full, Statement: full.Statement.filter((s) => s.Sid !== "WriteAuditRecords") });
        try {
            const r = await runCli(["gc", "--config", cfg, "--grace-days", "2"], asGc());
            assert.equal(r.code, 1, r.stdout);
            assert.match(r.stderr, /nothing done: the "started" audit record could not be written: .*AccessDenied/);
            await h.vault.client.send(new GetObjectCommand({ Bucket: VAULT_BUCKET, Key: orphan })); // still there
        } finally {
            await setGcPolicy(full);
        }
        const ok = await runCli(["gc", "--config", cfg, "--json", "--grace-days", "2"], asGc());
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal(JSON.parse(ok.stdout.slice(ok.stdout.indexOf("{"))).deleted, 1);
        // the gc identity still writes nowhere else: a put beside the blobs is refused
        const put = await h.rgw!.client(gcUser).send(new PutObjectCommand({ Bucket: VAULT_BUCKET, Key: `${prefixes.storageBlobs(ENV)}00/forged`, Body: "x" })).then(() => "accepted", (e) => e.name);
        assert.equal(put, "AccessDenied");
    });

    /** Read with a reader's own policy: RGW objects belong to their writer (gc), not to the bucket owner. */
    async function auditRecords(): Promise<AuditRecord[]> {
        const reader = await h.rgw!.createUser("audit-reader");
        await putUserPolicy(h.rgw!, "audit-reader", "read", {
            Version: "2012-10-17",
            Statement: [
                { Effect: "Allow", Action: ["s3:GetObject"], Resource: `arn:aws:s3:::${VAULT_BUCKET}/${prefixes.audit(ENV)}*` },
                { Effect: "Allow", Action: ["s3:ListBucket"], Resource: `arn:aws:s3:::${VAULT_BUCKET}` },
            ],
        });
        const client = h.rgw!.client(reader);
        const keys = ((await client.send(new ListObjectsV2Command({ Bucket: VAULT_BUCKET, Prefix: prefixes.audit(ENV) }))).Contents ?? []).map((o) => o.Key!);
        const out: AuditRecord[] = [];
        for (const k of keys) out.push(JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: VAULT_BUCKET, Key: k }))).Body!.transformToString()));
        return out;
    }
});
