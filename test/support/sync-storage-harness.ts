// Shared setup for the sync-storage tests: real Postgres with Supabase's storage schema, one s3rver as
// Supabase's S3 protocol endpoint (and backing the local Storage REST server), the vault behind a recording
// proxy, and helpers to change the source the way Supabase Storage would.
//
// The vault: `new StorageHarness({ vault: "rgw" })` — Ceph RGW (test/support/rgw.ts), a bucket with Object
// Lock enabled (so versioned), SSE-KMS; the recorder forwards every request unchanged (RGW verifies SigV4 and
// answers `?retention` itself), and retention(), tags(), versions() read the server's state back. Every test
// about locks, retention, versions or tags uses it. The default (`"s3rver"`) is s3rver behind the
// fault-injecting recorder (s3-recorder.ts: it answers `PUT ?retention` itself, can refuse requests and
// play retention errors): only for tests that must kill, stall or fault-inject the vault.
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import {
    CreateBucketCommand,
    DeleteObjectCommand,
    GetObjectCommand,
    GetObjectRetentionCommand,
    GetObjectTaggingCommand,
    ListObjectVersionsCommand,
    PutObjectCommand,
    type ObjectVersion,
    type S3Client,
} from "@aws-sdk/client-s3";
import { assertSchema, StorageManifestSchema, type StorageManifest, type StorageManifestWithObjects } from "@supabase-backups/contracts";
import { withObjects } from "../../jobs/src/vault/object-list";
import { listCompleteRuns, loadManifest } from "../../jobs/src/vault/runs";
import { materializeToDirectory } from "../../jobs/src/vault/storage-runs";
import { runCli, startCli, writeJobConfig, type CliResult } from "./cli";
import { startPostgres, type PgServer } from "./postgres";
import { startRgw, type RgwServer } from "./rgw";
import { startS3Recorder, type S3Recorder } from "./s3-recorder";
import { startPassthroughRecorder } from "./s3-passthrough-recorder";
import { S3_TEST_CREDENTIALS, startS3rver, type S3Server } from "./s3rver";
import { seedSupabase } from "./seed";
import { startStorageRest, type StorageRestServer } from "./storage-rest";

export const VAULT_BUCKET = "vault";
export const SERVICE_ROLE_KEY = "service-role-" + "x".repeat(24);

export interface PutOptions {
    contentType?: string;
    cacheControl?: string;
    userMetadata?: Record<string, unknown>;
    /** override the eTag the row promises (to simulate bytes that do not match it) */
    eTag?: string;
}

/** What the harness needs of the vault server, s3rver or RGW. */
export interface VaultServer {
    endpoint: string;
    region: string;
    client: S3Client;
    /** credentials for the CLI child process */
    env: Record<string, string | undefined>;
    stop(): Promise<void>;
}

export interface HarnessOptions {
    /** "rgw": Ceph RGW enforcing Object Lock (state read back); "s3rver" (default): fault injection */
    vault?: "rgw" | "s3rver";
}

/** A vault object's server state, as RGW reports it. */
export interface VaultObjectState {
    mode?: string;
    retainUntil?: string;
    tags: Record<string, string>;
}

export class StorageHarness {
    pg!: PgServer;
    source!: S3Server;
    vault!: VaultServer;
    /** set when the vault is RGW */
    rgw?: RgwServer;
    recorder!: S3Recorder;
    rest!: StorageRestServer;
    private buckets = new Set<string>();

    constructor(private readonly opts: HarnessOptions = {}) {}

    async start(): Promise<this> {
        const startVault = async (): Promise<VaultServer> => {
            if (this.opts.vault !== "rgw") {
                const s = await startS3rver();
                await s.createBucket(VAULT_BUCKET);
                return { endpoint: s.endpoint, region: "us-east-1", client: s.client, env: s.env, stop: () => s.stop() };
            }
            const rgw = (this.rgw = await startRgw());
            const client = rgw.client();
            await client.send(new CreateBucketCommand({ Bucket: VAULT_BUCKET, ObjectLockEnabledForBucket: true }));
            const env = { AWS_ACCESS_KEY_ID: rgw.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.admin.secretAccessKey, AWS_SESSION_TOKEN: undefined, AWS_REGION: rgw.region, AWS_PROFILE: undefined };
            return { endpoint: rgw.endpoint, region: rgw.region, client, env, stop: () => rgw.stop() };
        };
        [this.pg, this.source, this.vault] = await Promise.all([startPostgres(), startS3rver(), startVault()]);
        await seedSupabase(this.pg.url, { users: 2, messagesPerUser: 1, sessionsPerUser: 1, payloadBytes: 0 });
        this.recorder = this.rgw ? await startPassthroughRecorder(this.vault.endpoint) : await startS3Recorder(this.vault.endpoint);
        this.rest = await startStorageRest({ serviceRoleKey: SERVICE_ROLE_KEY, backend: { s3: this.source.client } });
        return this;
    }

    private needRgw(what: string): RgwServer {
        if (!this.rgw) throw new Error(`${what}: only on RGW (new StorageHarness({ vault: "rgw" })); s3rver ignores Object Lock and tags`);
        return this.rgw;
    }

    /** Object Lock mode, retain-until (ISO) and tags of a vault object's current version, read from RGW. */
    async state(key: string, versionId?: string): Promise<VaultObjectState> {
        this.needRgw("state()");
        const [r, t] = await Promise.all([
            this.vault.client.send(new GetObjectRetentionCommand({ Bucket: VAULT_BUCKET, Key: key, VersionId: versionId })),
            this.vault.client.send(new GetObjectTaggingCommand({ Bucket: VAULT_BUCKET, Key: key, VersionId: versionId })),
        ]);
        return {
            mode: r.Retention?.Mode,
            retainUntil: r.Retention?.RetainUntilDate ? new Date(r.Retention.RetainUntilDate).toISOString() : undefined,
            tags: Object.fromEntries((t.TagSet ?? []).map((x) => [x.Key!, x.Value!])),
        };
    }

    /** Every version (and delete marker) under a prefix, read from RGW's ListObjectVersions. */
    async versions(prefix: string): Promise<{ versions: ObjectVersion[]; deleteMarkers: number }> {
        this.needRgw("versions()");
        const versions: ObjectVersion[] = [];
        let deleteMarkers = 0;
        let KeyMarker: string | undefined;
        let VersionIdMarker: string | undefined;
        for (;;) {
            const r = await this.vault.client.send(new ListObjectVersionsCommand({ Bucket: VAULT_BUCKET, Prefix: prefix, KeyMarker, VersionIdMarker }));
            versions.push(...(r.Versions ?? []));
            deleteMarkers += r.DeleteMarkers?.length ?? 0;
            if (!r.IsTruncated) break;
            KeyMarker = r.NextKeyMarker;
            VersionIdMarker = r.NextVersionIdMarker;
        }
        return { versions, deleteMarkers };
    }

    async stop(): Promise<void> {
        await Promise.allSettled([this.rest?.stop(), this.recorder?.stop()]);
        await Promise.allSettled([this.pg?.stop(), this.source?.stop(), this.vault?.stop()]);
    }

    async createBucket(name: string): Promise<void> {
        if (this.buckets.has(name)) return;
        await this.source.createBucket(name);
        await this.pg.query(`insert into storage.buckets (id, name) values ('${name}', '${name}') on conflict do nothing`);
        this.buckets.add(name);
    }

    /** Upload like Supabase Storage: bytes to the bucket, then the storage.objects row (metadata). */
    async put(bucket: string, name: string, bytes: Buffer | string, o: PutOptions = {}): Promise<void> {
        await this.createBucket(bucket);
        const body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
        const contentType = o.contentType ?? "application/octet-stream";
        const cacheControl = o.cacheControl ?? "max-age=3600";
        await this.source.client.send(new PutObjectCommand({ Bucket: bucket, Key: name, Body: body, ContentType: contentType, CacheControl: cacheControl }));
        const md5 = createHash("md5").update(body).digest("hex");
        const metadata = {
            eTag: o.eTag ?? `"${md5}"`,
            size: body.length,
            mimetype: contentType,
            cacheControl,
            lastModified: new Date().toISOString(),
            contentLength: body.length,
            httpStatusCode: 200,
        };
        await this.pg.query(
            `insert into storage.objects (bucket_id, name, metadata, user_metadata, version, updated_at)
             values (${lit(bucket)}, ${lit(name)}, ${lit(JSON.stringify(metadata))}::jsonb, ${lit(JSON.stringify(o.userMetadata ?? {}))}::jsonb, gen_random_uuid()::text, clock_timestamp())
             on conflict (bucket_id, name) do update set metadata = excluded.metadata, user_metadata = excluded.user_metadata,
               version = excluded.version, updated_at = clock_timestamp()`,
        );
    }

    async remove(bucket: string, name: string): Promise<void> {
        await this.source.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: name }));
        await this.pg.query(`delete from storage.objects where bucket_id = ${lit(bucket)} and name = ${lit(name)}`);
    }

    /** Bytes of every object of the given buckets, as the source has them now: `bucket/name` → bytes. */
    async snapshot(buckets: string[]): Promise<Map<string, Buffer>> {
        const rows = await this.pg.query(`select bucket_id, name from storage.objects where bucket_id = any(array[${buckets.map(lit).join(",")}]::text[])`);
        const out = new Map<string, Buffer>();
        for (const r of rows) {
            const g = await this.source.client.send(new GetObjectCommand({ Bucket: r.bucket_id, Key: r.name }));
            out.set(`${r.bucket_id}/${r.name}`, Buffer.from(await g.Body!.transformToByteArray()));
        }
        return out;
    }

    config(env: string, mutate: (c: any) => void = () => undefined): string {
        const vault = { bucket: VAULT_BUCKET, region: this.vault.region, endpoint: this.recorder.endpoint, forcePathStyle: true, ...(this.rgw ? { kmsKeyArn: this.rgw.kmsKeyId } : {}) };
        return writeJobConfig({ vault }, (c) => {
            c.env = env;
            c.supabase.url = this.rest.url;
            c.storage = { mode: "rest", concurrency: 4, shards: 1, retries: 2, s3Endpoint: this.source.endpoint };
            delete c.alerts.pushgatewayUrl;
            mutate(c);
        }).path;
    }

    env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
        return {
            ...this.vault.env,
            DATABASE_URL: this.pg.url,
            SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
            SUPABASE_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
            SUPABASE_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
            SUPABASE_S3_REGION: "us-east-1",
            JOB_COMPLETION_INDEX: undefined,
            JOB_COMPLETIONS: undefined,
            JOB_NAME: undefined,
            SUPABASE_BACKUPS_RUN_ID: undefined,
            LOG_LEVEL: "warn",
            ...extra,
        };
    }

    sync(config: string, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<CliResult> {
        return runCli(["sync-storage", "--config", config, "--json", "--retry-base-ms", "20", ...args], this.env(env));
    }

    startSync(config: string, args: string[] = [], env: Record<string, string | undefined> = {}) {
        return startCli(["sync-storage", "--config", config, "--json", "--retry-base-ms", "20", ...args], this.env(env));
    }

    /** Complete storage runs of an env, oldest first, schema-checked, with their entries (a version-2 object list read and checked). */
    async manifests(env: string): Promise<Array<{ manifest: StorageManifestWithObjects; sha256: string; key: string }>> {
        const refs = await listCompleteRuns(this.vault.client, VAULT_BUCKET, env, "storage");
        const out = [];
        for (const ref of refs) {
            const m = await loadManifest<StorageManifest>(this.vault.client, VAULT_BUCKET, ref);
            assertSchema<StorageManifest>(StorageManifestSchema, m.manifest, ref.manifestKey);
            out.push({ manifest: await withObjects(this.vault.client, VAULT_BUCKET, m.manifest), sha256: m.sha256, key: ref.manifestKey });
        }
        return out;
    }

    /** Restore a run's bucket state from the vault alone, into a fresh directory: `bucket/name` → bytes. */
    async restore(manifest: StorageManifestWithObjects, buckets?: string[]): Promise<Map<string, Buffer>> {
        const dir = mkdtempSync(join(tmpdir(), "sb-restore-"));
        await materializeToDirectory(this.vault.client, VAULT_BUCKET, manifest, dir, { buckets });
        const out = new Map<string, Buffer>();
        const walk = (d: string) => {
            for (const e of readdirSync(d)) {
                const p = join(d, e);
                if (statSync(p).isDirectory()) walk(p);
                else out.set(relative(dir, p), readFileSync(p));
            }
        };
        walk(dir);
        return out;
    }
}

export function lit(s: string): string {
    return `'${s.replace(/'/g, "''")}'`;
}

export function parseJsonLine(stdout: string): any {
    const line = stdout.trim().split("\n").filter(Boolean).pop();
    if (!line) throw new Error("no JSON output");
    return JSON.parse(line);
}

export function sha(b: Buffer): string {
    return createHash("sha256").update(b).digest("hex");
}

export { bytesOf } from "./bytes";
