// Where `restore storage` writes: a Supabase project's Storage through its REST API (service-role key)
// or its S3 protocol (Storage S3 keys). Each target creates a missing bucket (with the run's recorded
// settings where the interface can set them), reads an object's state back, and uploads.
import { Readable } from "node:stream";
import { CreateBucketCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { assertSafeObjectName, type BucketSettings, type StorageObject } from "@supabase-backups/contracts";
import { S3_SOURCE_ENV } from "../../supabase/storage-source";
import { JobFailure, UsageError, errorMessage, httpStatusOf } from "../../runtime/errors";
import { registerSecret } from "../../runtime/log";
import { requireSecret } from "../../runtime/context";
import type { JobContext } from "../../runtime/context";

/** S3 user metadata values are strings: strings as they are, anything else as JSON. */
export function s3Metadata(meta: Record<string, unknown>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta ?? {})) {
        if (v === undefined || v === null) continue;
        out[k.toLowerCase()] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
}

export function sameMetadata(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
    const x = a ?? {};
    const ka = Object.keys(x).sort();
    const kb = Object.keys(b).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && x[k] === b[k]);
}

/** Where restored objects go: a Supabase project's Storage, through REST or the S3 protocol. */
export interface StorageTarget {
    via: "rest" | "s3";
    /** true when it had to be created (with `settings`, where the interface can set them) */
    ensureBucket(bucket: string, settings: BucketSettings | undefined): Promise<boolean>;
    head(bucket: string, name: string): Promise<{ size: number; eTag?: string; contentType?: string; cacheControl?: string; metadata?: Record<string, string> } | undefined>;
    put(bucket: string, o: StorageObject, body: Buffer | (() => Readable), meta: Record<string, string>): Promise<void>;
}

function projectUrl(ctx: JobContext): string {
    const cfg = ctx.config;
    return (cfg.supabase.url ?? `https://${cfg.supabase.projectRef}.supabase.co`).replace(/\/+$/, "");
}

function s3Target(ctx: JobContext): StorageTarget {
    const accessKeyId = ctx.env[S3_SOURCE_ENV.accessKeyId];
    const secretAccessKey = ctx.env[S3_SOURCE_ENV.secretAccessKey];
    if (!accessKeyId || !secretAccessKey) {
        throw new UsageError(`restore storage --via s3 writes through Supabase Storage's S3 protocol: set ${S3_SOURCE_ENV.accessKeyId} and ${S3_SOURCE_ENV.secretAccessKey} (Storage S3 access keys from the project's settings), or use --via rest`);
    }
    registerSecret(secretAccessKey);
    const cfg = ctx.config;
    const client = new S3Client({
        endpoint: cfg.storage.s3Endpoint ?? `${projectUrl(ctx)}/storage/v1/s3`,
        region: ctx.env[S3_SOURCE_ENV.region] ?? cfg.aws.region,
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 4,
    });
    return {
        via: "s3",
        async ensureBucket(bucket, settings) {
            try {
                await client.send(new HeadBucketCommand({ Bucket: bucket }));
                return false;
            } catch (e) {
                if (httpStatusOf(e) !== 404 && (e as any)?.name !== "NotFound" && (e as any)?.name !== "NoSuchBucket") throw new JobFailure(`cannot reach the target bucket ${bucket}: ${errorMessage(e)}`);
                await client.send(new CreateBucketCommand({ Bucket: bucket }));
                // The S3 protocol has no public flag, size limit or MIME list: say what to set by hand.
                if (settings) ctx.log.warn({ bucket, settings }, "created through the S3 protocol, which cannot set the bucket's recorded settings: set them in the dashboard, or restore with --via rest");
                return true;
            }
        },
        async head(bucket, name) {
            assertSafeObjectName(bucket, name);
            try {
                const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: name }));
                return { size: h.ContentLength ?? -1, eTag: h.ETag, contentType: h.ContentType, cacheControl: h.CacheControl, metadata: h.Metadata ?? {} };
            } catch (e) {
                if (httpStatusOf(e) === 404 || (e as any)?.name === "NotFound") return undefined;
                throw e;
            }
        },
        async put(bucket, o, body, meta) {
            assertSafeObjectName(bucket, o.name);
            await client.send(
                new PutObjectCommand({
                    Bucket: bucket,
                    Key: o.name,
                    Body: Buffer.isBuffer(body) ? body : body(),
                    ContentLength: o.size,
                    ContentType: o.contentType ?? undefined,
                    CacheControl: o.cacheControl ?? undefined,
                    Metadata: meta,
                }),
            );
        },
    };
}

/** Storage REST API (the routes storage-js uses), authenticated with the service-role key. */
function restTarget(ctx: JobContext): StorageTarget {
    const key = requireSecret(ctx, "serviceRoleKey");
    const base = `${projectUrl(ctx)}/storage/v1`;
    const auth = { apikey: key, authorization: `Bearer ${key}` };
    // The last guard: `fetch` collapses `.`/`..` segments, so an unsafe name would address another route.
    const path = (bucket: string, name: string) => (assertSafeObjectName(bucket, name), name.split("/").map(encodeURIComponent).join("/"));
    const fail = async (what: string, r: Response) => {
        const text = await r.text().catch(() => "");
        let msg = text.slice(0, 300);
        try {
            const j = JSON.parse(text);
            msg = j.message ?? j.error ?? msg;
        } catch {
            /* not JSON */
        }
        return new JobFailure(`Storage API ${what}: ${r.status}${msg ? ` ${msg}` : ""}${r.status === 401 || r.status === 403 ? " (check SUPABASE_SERVICE_ROLE_KEY)" : ""}`);
    };
    return {
        via: "rest",
        async ensureBucket(bucket, settings) {
            const g = await fetch(`${base}/bucket/${encodeURIComponent(bucket)}`, { headers: auth });
            if (g.ok) return false;
            if (g.status !== 404 && g.status !== 400) throw await fail(`GET bucket ${bucket}`, g);
            // storage-api's createBucket body: id, name, public, file_size_limit, allowed_mime_types.
            const body = { id: bucket, name: bucket, public: settings?.public ?? false, file_size_limit: settings?.fileSizeLimit ?? null, allowed_mime_types: settings?.allowedMimeTypes ?? null };
            const c = await fetch(`${base}/bucket`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body) });
            if (c.ok) return true;
            if (c.status === 409) return false; // created meanwhile
            throw await fail(`create bucket ${bucket}`, c);
        },
        async head(bucket, name) {
            const r = await fetch(`${base}/object/info/authenticated/${encodeURIComponent(bucket)}/${path(bucket, name)}`, { headers: auth });
            if (r.status === 404 || r.status === 400) return undefined;
            if (!r.ok) throw await fail(`info ${bucket}/${name}`, r);
            const j = (await r.json()) as any;
            const meta = s3Metadata(j.metadata ?? {});
            return { size: Number(j.size), eTag: j.etag, contentType: j.content_type, cacheControl: j.cache_control, metadata: meta };
        },
        async put(bucket, o, body, _meta) {
            const headers: Record<string, string> = {
                ...auth,
                "content-type": o.contentType ?? "application/octet-stream",
                "x-upsert": "true",
                "content-length": String(o.size),
            };
            if (o.cacheControl) headers["cache-control"] = o.cacheControl;
            if (o.metadata && Object.keys(o.metadata).length) headers["x-metadata"] = Buffer.from(JSON.stringify(o.metadata)).toString("base64");
            const r = await fetch(`${base}/object/${encodeURIComponent(bucket)}/${path(bucket, o.name)}`, {
                method: "POST",
                headers,
                body: Buffer.isBuffer(body) ? body : (Readable.toWeb(body()) as any),
                duplex: "half",
            } as RequestInit);
            if (!r.ok) throw await fail(`upload ${bucket}/${o.name}`, r);
        },
    };
}

export function storageTarget(ctx: JobContext, via: string | undefined): StorageTarget {
    const v = via ?? ctx.config.storage.mode;
    if (v === "s3") return s3Target(ctx);
    if (v === "rest") return restTarget(ctx);
    throw new UsageError(`--via must be rest or s3, got "${via}"`);
}
