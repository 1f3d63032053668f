// The Supabase Storage side of sync-storage: the exact listing (SQL over `storage.objects`, keyset
// paginated on (bucket_id, name)) and the two real download interfaces, the Storage REST API
// (`GET /storage/v1/object/authenticated/{bucket}/{name}` with the service-role key) and the Storage S3
// protocol (`{url}/storage/v1/s3`, S3 access keys). Downloads are streams: callers hash on the way.
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { printableName, unsafeObjectName } from "@supabase-backups/contracts";
import { Client, type ClientConfig } from "pg";
import { Readable } from "node:stream";
import type { BucketSettings, StoragePolicy } from "@supabase-backups/contracts";

export interface SourceObject {
    bucket: string;
    name: string;
    id: string;
    /** ISO time of the row's updated_at (as Postgres renders it, normalised to ISO) */
    updatedAt: string;
    /** metadata.eTag as Supabase stores it (quoted md5 for single-part uploads) */
    eTag: string | null;
    /** metadata.size (bytes); null when the row has no metadata yet (upload in progress) */
    size: number | null;
    contentType: string | null;
    cacheControl: string | null;
    userMetadata: Record<string, unknown>;
}

export interface BucketFilter {
    name: string;
    include: string[];
    exclude: string[];
}

export function matchesFilter(f: BucketFilter, name: string): boolean {
    if (f.include.length && !f.include.some((p) => name.startsWith(p))) return false;
    if (f.exclude.some((p) => name.startsWith(p))) return false;
    return true;
}

// updated_at as text with microseconds (a JS Date would drop them), always UTC. Only the metadata fields
// the manifest needs, extracted in SQL as text: parsing each row's whole jsonb in JS dominated the
// listing's cost. user_metadata stays jsonb (usually null or small).
const COLUMNS =
    `id::text, bucket_id, name, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at, ` +
    `metadata->>'eTag' as etag, coalesce(metadata->>'size', metadata->>'contentLength') as size, ` +
    `metadata->>'mimetype' as mimetype, metadata->>'cacheControl' as cache_control, user_metadata`;

/** The source database: bucket names and the object listing. One connection, read-only use. */
export class StorageCatalog {
    private constructor(private readonly client: Client) {}

    /** `config`: postgres/connection.ts pgClientConfig (TLS per the policy) */
    static async connect(config: ClientConfig): Promise<StorageCatalog> {
        const client = new Client(config);
        await client.connect();
        return new StorageCatalog(client);
    }

    async bucketNames(): Promise<string[]> {
        const r = await this.client.query<{ id: string }>(`select id from storage.buckets order by id`);
        return r.rows.map((x) => x.id);
    }

    /** Each bucket's public flag, size limit and MIME types, by id. */
    async bucketSettings(): Promise<Map<string, BucketSettings>> {
        const r = await this.client.query<{ id: string; public: boolean | null; file_size_limit: string | null; allowed_mime_types: string[] | null }>(
            `select id, public, file_size_limit, allowed_mime_types from storage.buckets order by id`,
        );
        return new Map(
            r.rows.map((b) => [b.id, { public: b.public === true, fileSizeLimit: b.file_size_limit === null ? null : Number(b.file_size_limit), allowedMimeTypes: b.allowed_mime_types }]),
        );
    }

    /** The RLS policies on storage.objects: who may read and write the buckets' objects. */
    async objectPolicies(): Promise<StoragePolicy[]> {
        const r = await this.client.query<{ policyname: string; cmd: string; permissive: string; roles: string[]; qual: string | null; with_check: string | null }>(
            `select policyname, cmd, permissive, roles::text[] as roles, qual, with_check from pg_policies where schemaname = 'storage' and tablename = 'objects' order by policyname`,
        );
        return r.rows.map((p) => ({ name: p.policyname, command: p.cmd, permissive: p.permissive === "PERMISSIVE", roles: p.roles, using: p.qual, withCheck: p.with_check }));
    }

    /**
     * Does `name` sort in code-point (byte) order by itself? True when its collation (the column's, else
     * the database's) is C or POSIX: then the (bucket_id, name) index gives the order merge-compare needs.
     * Otherwise (en_US.UTF-8, C.UTF-8, ICU) the listing asks for `collate "C"` explicitly: still exact,
     * but each page is sorted by the server instead of read in index order.
     */
    async namesSortByteWise(): Promise<boolean> {
        const r = await this.client.query<{ coll: string | null; datcollate: string }>(
            `select (select collname from pg_collation c where c.oid = a.attcollation) as coll, d.datcollate ` +
                `from pg_attribute a, pg_database d where a.attrelid = 'storage.objects'::regclass and a.attname = 'name' and d.datname = current_database()`,
        );
        const row = r.rows[0];
        const eff = !row ? "" : row.coll && row.coll !== "default" ? row.coll : row.datcollate;
        return eff === "C" || eff === "POSIX";
    }

    /**
     * Every object of a bucket in name order by code point (merge-compare's order), `pageSize` rows per
     * query. Keyset pagination (`where name > $2`, never OFFSET): with a byte-wise collation each page is
     * an index range scan on Supabase's (bucket_id, name) unique index; no long transaction, no cursor
     * held open while downloading; each row is listed at most once (names only grow). Include and exclude
     * prefixes and the shard (sha256 of "bucket/name", first 4 bytes mod count: the same function as
     * vault/storage-runs.ts shardOf) are filters in the same query: only this shard's rows cross the wire.
     */
    async *listBucket(filter: BucketFilter, opts: { shard?: { index: number; count: number }; byteWise: boolean; pageSize?: number }): AsyncGenerator<SourceObject[]> {
        const pageSize = opts.pageSize ?? 5000;
        const name = opts.byteWise ? "name" : `(name collate "C")`;
        let after: string | null = null;
        const conds: string[] = [];
        const params: unknown[] = [filter.name];
        if (filter.include.length) {
            params.push(filter.include);
            conds.push(`exists (select 1 from unnest($${params.length}::text[]) p where starts_with(name, p))`);
        }
        if (filter.exclude.length) {
            params.push(filter.exclude);
            conds.push(`not exists (select 1 from unnest($${params.length}::text[]) p where starts_with(name, p))`);
        }
        if (opts.shard && opts.shard.count > 1) {
            params.push(opts.shard.count, opts.shard.index);
            conds.push(`('x' || substr(encode(sha256(convert_to(bucket_id || '/' || name, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint % $${params.length - 1} = $${params.length}`);
        }
        const base = params.length;
        for (;;) {
            const keyset: string = after === null ? "" : `and ${name} > $${base + 1}`;
            const sql: string =
                `select ${COLUMNS} from storage.objects ` +
                `where bucket_id = $1 and name is not null ${conds.map((c) => "and " + c).join(" ")} ${keyset} ` +
                `order by bucket_id, ${name} limit ${pageSize}`;
            const r: { rows: any[] } = await this.client.query(sql, after === null ? params : [...params, after]);
            if (!r.rows.length) return;
            yield r.rows.map(toSourceObject);
            if (r.rows.length < pageSize) return;
            after = String(r.rows[r.rows.length - 1].name);
        }
    }

    /** Is the row still there (after a 404 from Storage: deleted, or an inconsistency)? */
    async current(bucket: string, name: string): Promise<SourceObject | undefined> {
        const r = await this.client.query(
            `select ${COLUMNS} from storage.objects where bucket_id = $1 and name = $2`,
            [bucket, name],
        );
        return r.rows[0] ? toSourceObject(r.rows[0]) : undefined;
    }

    async close(): Promise<void> {
        await this.client.end().catch(() => undefined);
    }
}

function toSourceObject(row: any): SourceObject {
    const size = row.size;
    return {
        bucket: row.bucket_id,
        name: row.name,
        id: row.id,
        updatedAt: row.updated_at instanceof Date ? row.updated_at.toISOString() : String(row.updated_at),
        eTag: row.etag ?? null,
        size: size === undefined || size === null || !/^\d+$/.test(size) ? null : Number(size),
        contentType: row.mimetype ?? null,
        cacheControl: row.cache_control ?? null,
        userMetadata: (row.user_metadata && typeof row.user_metadata === "object" ? row.user_metadata : {}) as Record<string, unknown>,
    };
}

/** A download failure that says whether retrying can help and whether the object is simply gone. */
export class SourceError extends Error {
    constructor(
        message: string,
        readonly kind: "not-found" | "transient" | "fatal",
    ) {
        super(message);
        this.name = "SourceError";
    }
}

export interface Download {
    body: AsyncIterable<Uint8Array>;
    /** ETag the server sent for these bytes, if any */
    eTag?: string;
    contentLength?: number;
}

export interface StorageSource {
    readonly mode: "rest" | "s3";
    get(bucket: string, name: string, signal?: AbortSignal): Promise<Download>;
    close(): void;
}

/**
 * The last guard before a download: a name that could address another object (`a/../b` collapses to
 * `b` in `fetch` and on the server) is never requested, so no other object's bytes get recorded under it.
 * sync-storage leaves such names out before this (object-names.ts); this holds for any other caller.
 */
function refuseUnsafe(bucket: string, name: string): void {
    const bad = unsafeObjectName(name);
    if (bad) throw new SourceError(`GET ${bucket}/${printableName(name)}: refused: ${bad.detail}`, "fatal");
}

/** `a/b c.png` → `a/b%20c.png`: each path segment encoded once, slashes kept. */
export function encodeObjectPath(name: string): string {
    return name.split("/").map(encodeURIComponent).join("/");
}

/**
 * Storage REST API (supabase.com/docs/reference/api, storage-api `GET /object/authenticated/{bucket}/{*}`):
 * the service-role key goes as the bearer token and as `apikey` (the API gateway wants both).
 * A missing object is 404, or on older storage-api versions HTTP 400 with `{"statusCode":"404"}`.
 */
export function restSource(projectUrl: string, serviceRoleKey: string): StorageSource {
    const base = projectUrl.replace(/\/+$/, "");
    return {
        mode: "rest",
        async get(bucket, name, signal) {
            refuseUnsafe(bucket, name);
            const url = `${base}/storage/v1/object/authenticated/${encodeURIComponent(bucket)}/${encodeObjectPath(name)}`;
            let res: Response;
            try {
                res = await fetch(url, { headers: { authorization: `Bearer ${serviceRoleKey}`, apikey: serviceRoleKey }, signal });
            } catch (e) {
                throw new SourceError(`GET ${bucket}/${name}: ${(e as Error).message}${(e as any).cause ? ` (${(e as any).cause.message ?? (e as any).cause})` : ""}`, "transient");
            }
            if (res.ok && res.body) {
                const len = res.headers.get("content-length");
                return {
                    body: Readable.fromWeb(res.body as any),
                    eTag: res.headers.get("etag") ?? undefined,
                    contentLength: len === null ? undefined : Number(len),
                };
            }
            const text = await res.text().catch(() => "");
            let code = String(res.status);
            try {
                const j = JSON.parse(text);
                if (j && j.statusCode) code = String(j.statusCode);
            } catch {
                /* not JSON */
            }
            const msg = `GET ${bucket}/${name}: HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
            if (code === "404" || res.status === 404) throw new SourceError(msg, "not-found");
            if (res.status >= 500 || res.status === 429 || res.status === 408) throw new SourceError(msg, "transient");
            throw new SourceError(msg, "fatal");
        },
        close() {},
    };
}

export interface S3SourceOptions {
    endpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
}

/** Storage S3 protocol (supabase.com/docs/guides/storage/s3): bucket = bucket id, key = object name. */
export function s3Source(o: S3SourceOptions, concurrency: number): StorageSource {
    const client = new S3Client({
        endpoint: o.endpoint,
        region: o.region,
        forcePathStyle: true,
        credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 1, // retries are per object, with backoff, in the sync loop
        requestHandler: { httpsAgent: { maxSockets: concurrency * 2, keepAlive: true }, httpAgent: { maxSockets: concurrency * 2, keepAlive: true } } as any,
    });
    return {
        mode: "s3",
        async get(bucket, name, signal) {
            refuseUnsafe(bucket, name);
            try {
                const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: name }), { abortSignal: signal });
                return { body: r.Body as Readable, eTag: r.ETag, contentLength: r.ContentLength };
            } catch (e: any) {
                const status = e?.$metadata?.httpStatusCode;
                const msg = `GET ${bucket}/${name}: ${e?.name ?? "error"}${status ? ` (HTTP ${status})` : ""}: ${e?.message ?? e}`;
                if (e?.name === "NoSuchKey" || e?.name === "NotFound" || status === 404) throw new SourceError(msg, "not-found");
                if (!status || status >= 500 || status === 429 || status === 408) throw new SourceError(msg, "transient");
                throw new SourceError(msg, "fatal");
            }
        },
        close() {
            client.destroy();
        },
    };
}

/** Env (S3 mode): Storage S3 access keys from the project's S3 settings, and the project's region. */
export const S3_SOURCE_ENV = { accessKeyId: "SUPABASE_S3_ACCESS_KEY_ID", secretAccessKey: "SUPABASE_S3_SECRET_ACCESS_KEY", region: "SUPABASE_S3_REGION" } as const;
