// `restore storage`: a bucket's objects as of a storage run, recreated from the vault alone into a
// Supabase bucket (default `restored-<bucket>-<yyyymmdd>`, never the source bucket by surprise) through
// Supabase Storage's S3 protocol, with content type, cache control and user metadata. Every blob's bytes
// are checked against the manifest's sha256 before upload, and the upload's ETag (MD5) against the bytes.
// Resumable: an object already in the target with the same size, MD5 and headers is skipped.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CreateBucketCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { assertSafeObjectName, EXIT, printableName, runIdTime, unsafeObjectName, type BucketSettings, type ExitCode, type StorageManifest, type StorageObject } from "@supabase-backups/contracts";
import { S3_SOURCE_ENV } from "../../supabase/storage-source";
import { audited, Refusal, type AuditTrail } from "../../vault/audit";
import { JobFailure, UsageError, errorMessage, httpStatusOf } from "../../runtime/errors";
import { registerSecret } from "../../runtime/log";
import { requireSecret } from "../../runtime/context";
import type { CommandContext } from "../../cli/command";
import { checkAtFlag, startAudit, type OperatorOptions } from "../../cli/operator";
import { formatBytes, Progress } from "../../runtime/progress";
import { chooseRun, type Chosen } from "../../vault/run-choice";
import { materializeRunState } from "../../vault/storage-runs";
import { out, outJson, renderPairs } from "../../cli/output";

export interface RestoreStorageOptions extends OperatorOptions {
    run?: string;
    at?: string;
    bucket: string;
    into?: string;
    prefix?: string;
    concurrency: number;
    overwrite?: boolean;
    /** rest (service-role key) or s3 (Storage S3 keys); default storage.mode */
    via?: string;
    /** restore the other objects when the run lists names that could address another object */
    skipUnsafeNames?: boolean;
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const IN_MEMORY_MAX = 16 * 1024 * 1024;

export function defaultRestoreBucket(bucket: string, runId: string): string {
    const d = runIdTime(runId);
    const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, "0")}${String(d.getUTCDate()).padStart(2, "0")}`;
    return `restored-${bucket}-${ymd}`;
}

/** S3 user metadata values are strings: strings as they are, anything else as JSON. */
export function s3Metadata(meta: Record<string, unknown>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta ?? {})) {
        if (v === undefined || v === null) continue;
        out[k.toLowerCase()] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
}

function sameMetadata(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
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

function projectUrl(ctx: CommandContext): string {
    const cfg = ctx.config;
    return (cfg.supabase.url ?? `https://${cfg.supabase.projectRef}.supabase.co`).replace(/\/+$/, "");
}

function s3Target(ctx: CommandContext): StorageTarget {
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
function restTarget(ctx: CommandContext): StorageTarget {
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

export function storageTarget(ctx: CommandContext, via: string | undefined): StorageTarget {
    const v = via ?? ctx.config.storage.mode;
    if (v === "s3") return s3Target(ctx);
    if (v === "rest") return restTarget(ctx);
    throw new UsageError(`--via must be rest or s3, got "${via}"`);
}

interface Counters {
    restored: number;
    skipped: number;
    bytes: number;
}

/** The flags, checked before anything runs: bucket names, --at. */
export function checkRestoreStorageFlags(opts: RestoreStorageOptions): void {
    if (!BUCKET.test(opts.bucket)) throw new UsageError(`--bucket "${opts.bucket}" is not a bucket name`);
    if (opts.into !== undefined && !BUCKET.test(opts.into)) throw new UsageError(`--into "${opts.into}" is not a valid bucket name`);
    checkAtFlag(opts.at);
}

export async function restoreStorage(ctx: CommandContext, opts: RestoreStorageOptions): Promise<ExitCode> {
    const dest = storageTarget(ctx, opts.via);
    const trail = startAudit(ctx, opts, "restore-storage", `storage:${opts.into ?? `restored-${opts.bucket}-?`}`, {
        run: opts.run,
        at: opts.at,
        bucket: opts.bucket,
        into: opts.into,
        prefix: opts.prefix,
        overwrite: !!opts.overwrite,
        skipUnsafeNames: !!opts.skipUnsafeNames,
    });
    return audited(trail, () => runStorageRestore(ctx, opts, dest, trail), ctx.log);
}

/** A storage restore's state: the run, what of it is restored, and where to. */
interface StorageRestore {
    readonly ctx: CommandContext;
    readonly opts: RestoreStorageOptions;
    readonly dest: StorageTarget;
    readonly trail: AuditTrail;
    readonly chosen: Chosen<StorageManifest>;
    readonly into: string;
    readonly selected: StorageObject[];
    /** names left out (--skip-unsafe-names), printable */
    readonly unsafe: string[];
}

/**
 * The run's objects of --bucket (and --prefix), with every name checked before any request reaches the
 * target: a name that could address another object or route (`uid/../../user-media/…`) is refused —
 * sync-storage never records one, so the manifest is forged or from before the check — unless
 * --skip-unsafe-names restores the others (docs/security.md "Hostile object names").
 */
function screenNames(ctx: CommandContext, opts: RestoreStorageOptions, m: StorageManifest): { selected: StorageObject[]; unsafe: string[] } {
    const selected: StorageObject[] = [];
    const unsafe: string[] = [];
    for (const o of m.objects) {
        if (o.bucket !== opts.bucket || (opts.prefix && !o.name.startsWith(opts.prefix))) continue;
        const bad = unsafeObjectName(o.name);
        if (bad) unsafe.push(`${printableName(o.name)} (${bad.reason})`);
        else selected.push(o);
    }
    if (unsafe.length && !opts.skipUnsafeNames) {
        throw new Refusal(
            `storage run ${m.runId} lists ${unsafe.length} object name(s) in ${opts.bucket} that could address another object or path, e.g. ${unsafe.slice(0, 3).join(", ")}: ` +
                "refusing to restore (the manifest may be forged; sync-storage never records such names). --skip-unsafe-names restores the others",
        );
    }
    if (unsafe.length) ctx.log.warn({ count: unsafe.length, names: unsafe.slice(0, 20) }, "leaving out names that could address another object or path (--skip-unsafe-names)");
    return { selected, unsafe };
}

async function runStorageRestore(ctx: CommandContext, opts: RestoreStorageOptions, dest: StorageTarget, trail: AuditTrail): Promise<ExitCode> {
    const chosen = await trail.time("choose", () => chooseRun<StorageManifest>(ctx.s3, ctx.bucket, ctx.config.env, "storage", { run: opts.run, at: opts.at, trust: {} }));
    const m = chosen.loaded.manifest;
    trail.setRun(m.runId);
    const into = opts.into ?? defaultRestoreBucket(opts.bucket, m.runId);
    trail.setTarget(`storage:${into}`);
    if (into === opts.bucket && !opts.overwrite) throw new Refusal(`--into ${into} is the source bucket itself: refusing to overwrite live objects (add --overwrite if that is really what you want)`);
    if (!m.buckets.some((b) => b.name === opts.bucket) && !m.objects.some((o) => o.bucket === opts.bucket)) {
        throw new JobFailure(`bucket ${opts.bucket} is not in storage run ${m.runId} (it has: ${m.buckets.map((b) => printableName(b.name)).join(", ") || "none"})`);
    }
    const { selected, unsafe } = screenNames(ctx, opts, m);
    if (!opts.json) out(`run: ${chosen.note}\nrestoring ${selected.length} object(s), ${formatBytes(selected.reduce((n, o) => n + o.size, 0))}, from ${opts.bucket} into ${into}\n`);
    const r: StorageRestore = { ctx, opts, dest, trail, chosen, into, selected, unsafe };
    // The target bucket: created when missing, with the recorded settings (public only when it is the
    // source bucket's own name: a restored-* side copy stays private), reused when there (resume).
    const settings = targetSettings(m.buckets.find((b) => b.name === opts.bucket)?.settings, opts.bucket, into);
    trail.addOptions({ bucketSettings: settings ?? null });
    const created = await dest.ensureBucket(into, settings);
    if (created && settings && !opts.json) out(`created ${into}: ${settings.public ? "public" : "private"}, size limit ${settings.fileSizeLimit ?? "none"}, MIME types ${settings.allowedMimeTypes?.join(", ") ?? "any"}\n`);
    const counters = await transferObjects(r);
    reportStorage(r, created, counters);
    // The storage run's manifest was read at the version sync-storage wrote; an overwrite is reported.
    if (chosen.tampering.length) process.stderr.write(`supabase-backups restore: TAMPERING in storage run ${m.runId}: ${chosen.tampering.join("; ")}; restored the version sync-storage wrote, not the current one\n`);
    return chosen.tampering.length ? EXIT.tampered : EXIT.ok;
}

/** Every selected object, verified from the vault, into the target (identical ones skipped). */
async function transferObjects(r: StorageRestore): Promise<Counters> {
    const { ctx, opts, into } = r;
    const dir = await mkdtemp(join(tmpdir(), "sb-restore-storage-"));
    const counters: Counters = { restored: 0, skipped: 0, bytes: 0 };
    const progress = new Progress(`restore ${opts.bucket} → ${into}`, ctx.log).start();
    let n = 0;
    try {
        await r.trail.time("transfer", () =>
            materializeRunState(
                ctx.s3,
                ctx.bucket,
                { objects: r.selected },
                async (o, body) => {
                    await restoreOne(r.dest, into, o, body, join(dir, `blob-${n++}`), counters);
                    progress.add(o.size, 1);
                },
                { concurrency: opts.concurrency },
            ),
        );
    } finally {
        progress.stop();
        await rm(dir, { recursive: true, force: true });
    }
    return counters;
}

function reportStorage(r: StorageRestore, created: boolean, counters: Counters): void {
    const { opts, into, dest, selected } = r;
    const result = {
        env: r.ctx.config.env,
        runId: r.chosen.loaded.manifest.runId,
        choice: r.chosen.note,
        bucket: opts.bucket,
        into,
        bucketCreated: created,
        via: dest.via,
        prefix: opts.prefix ?? null,
        objects: selected.length,
        restored: counters.restored,
        skippedIdentical: counters.skipped,
        skippedUnsafeNames: r.unsafe,
        bytesUploaded: counters.bytes,
        auditEventId: r.trail.eventId,
    };
    if (opts.json) outJson(result);
    else
        out(
            renderPairs([
                ["target bucket", `${into}${created ? " (created)" : " (existing: resumed)"} via ${dest.via === "s3" ? "the Storage S3 protocol" : "the Storage REST API"}`],
                ["objects", selected.length],
                ["uploaded", `${counters.restored} (${formatBytes(counters.bytes)})`],
                ["skipped (identical)", counters.skipped],
                ...(r.unsafe.length ? [["LEFT OUT (unsafe names)", `${r.unsafe.length}: ${r.unsafe.slice(0, 5).join(", ")}${r.unsafe.length > 5 ? ", …" : ""}`] as [string, string]] : []),
                ["checks", "sha256 of every blob, MD5/ETag of every upload"],
            ]),
        );
}

/** Buffer (or spool) the verified blob, then skip it when identical in the target, else upload it. */
async function restoreOne(dest: StorageTarget, into: string, o: StorageObject, body: Readable, spoolPath: string, c: Counters): Promise<void> {
    const md5 = createHash("md5");
    let data: Buffer | undefined;
    if (o.size <= IN_MEMORY_MAX) {
        const chunks: Buffer[] = [];
        await pipeline(
            body,
            new Writable({
                write(chunk: Buffer, _e, cb) {
                    md5.update(chunk);
                    chunks.push(chunk);
                    cb();
                },
            }),
        );
        data = Buffer.concat(chunks);
    } else {
        const tap = new Transform({
            transform(chunk: Buffer, _e, cb) {
                md5.update(chunk);
                cb(null, chunk);
            },
        });
        await pipeline(body, tap, createWriteStream(spoolPath));
    }
    // materializeRunState's verifying stream has checked sha256 and size by now (pipeline resolved).
    const etag = `"${md5.digest("hex")}"`;
    const meta = s3Metadata(o.metadata);
    try {
        const h = await dest.head(into, o.name);
        if (
            h &&
            h.size === o.size &&
            h.eTag === etag &&
            (o.contentType === null || h.contentType === o.contentType) &&
            (o.cacheControl === null || h.cacheControl === o.cacheControl) &&
            sameMetadata(h.metadata, meta)
        ) {
            c.skipped++;
            return;
        }
        await dest.put(into, o, data ?? (() => createReadStream(spoolPath)), meta);
        // Read back what the target stored: size always, MD5 where the ETag is one (not a multipart ETag).
        const after = await dest.head(into, o.name);
        if (!after || after.size !== o.size) throw new JobFailure(`${into}/${o.name}: the target reports ${after ? `${after.size} bytes` : "no object"} after the upload, expected ${o.size}`);
        if (after.eTag && !/-\d+"?$/.test(after.eTag) && after.eTag !== etag) throw new JobFailure(`${into}/${o.name}: the target stored different bytes (ETag ${after.eTag}, expected ${etag})`);
        c.restored++;
        c.bytes += o.size;
    } finally {
        if (!data) await rm(spoolPath, { force: true });
    }
}

/** The settings a restored bucket gets: the recorded ones, but never public under another name. */
export function targetSettings(recorded: BucketSettings | undefined, source: string, into: string): BucketSettings | undefined {
    if (!recorded) return undefined;
    return into === source ? recorded : { ...recorded, public: false };
}
