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
import { Transform, Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CreateBucketCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { EXIT, runIdTime, type ExitCode, type StorageManifest, type StorageObject } from "@supabase-backups/contracts";
import { S3_SOURCE_ENV } from "../commands/sync-storage";
import { audited, Refusal } from "./audit";
import { JobFailure, UsageError, errorMessage } from "./errors";
import { registerSecret } from "./log";
import { operatorContext, startAudit, type OperatorContext, type OperatorOptions } from "./operator";
import { formatBytes, Progress } from "./progress";
import { chooseRun } from "./run-choice";
import { materializeRunState } from "./storage-runs";
import { out, outJson, renderPairs } from "./table";

export interface RestoreStorageOptions extends OperatorOptions {
    run?: string;
    at?: string;
    bucket: string;
    into?: string;
    prefix?: string;
    concurrency: string;
    overwrite?: boolean;
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

function storageS3(ctx: OperatorContext): S3Client {
    const accessKeyId = ctx.env[S3_SOURCE_ENV.accessKeyId];
    const secretAccessKey = ctx.env[S3_SOURCE_ENV.secretAccessKey];
    if (!accessKeyId || !secretAccessKey) {
        throw new UsageError(`restore storage writes through Supabase Storage's S3 protocol: set ${S3_SOURCE_ENV.accessKeyId} and ${S3_SOURCE_ENV.secretAccessKey} (Storage S3 access keys from the project's settings)`);
    }
    registerSecret(secretAccessKey);
    const cfg = ctx.config;
    const project = (cfg.supabase.url ?? `https://${cfg.supabase.projectRef}.supabase.co`).replace(/\/+$/, "");
    return new S3Client({
        endpoint: cfg.storage.s3Endpoint ?? `${project}/storage/v1/s3`,
        region: ctx.env[S3_SOURCE_ENV.region] ?? cfg.aws.region,
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 4,
    });
}

function status(e: any): number | undefined {
    return e?.$metadata?.httpStatusCode;
}

interface Counters {
    restored: number;
    skipped: number;
    bytes: number;
}

export async function restoreStorage(opts: RestoreStorageOptions): Promise<ExitCode> {
    if (!BUCKET.test(opts.bucket)) throw new UsageError(`--bucket "${opts.bucket}" is not a bucket name`);
    if (opts.into !== undefined && !BUCKET.test(opts.into)) throw new UsageError(`--into "${opts.into}" is not a valid bucket name`);
    const concurrency = Number(opts.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 128) throw new UsageError(`--concurrency must be 1..128, got "${opts.concurrency}"`);
    const ctx = operatorContext(opts, "restore storage");
    const dest = storageS3(ctx);
    const trail = startAudit(ctx, opts, "restore-storage", `storage:${opts.into ?? `restored-${opts.bucket}-?`}`, {
        run: opts.run,
        at: opts.at,
        bucket: opts.bucket,
        into: opts.into,
        prefix: opts.prefix,
        overwrite: !!opts.overwrite,
    });
    const { log } = ctx;
    return audited(
        trail,
        async () => {
            const chosen = await trail.time("choose", () => chooseRun<StorageManifest>(ctx.s3, ctx.bucket, ctx.config.env, "storage", { run: opts.run, at: opts.at }));
            const m = chosen.loaded.manifest;
            trail.setRun(m.runId);
            const into = opts.into ?? defaultRestoreBucket(opts.bucket, m.runId);
            trail.setTarget(`storage:${into}`);
            if (into === opts.bucket && !opts.overwrite) throw new Refusal(`--into ${into} is the source bucket itself: refusing to overwrite live objects (add --overwrite if that is really what you want)`);
            if (!m.buckets.some((b) => b.name === opts.bucket) && !m.objects.some((o) => o.bucket === opts.bucket)) {
                throw new JobFailure(`bucket ${opts.bucket} is not in storage run ${m.runId} (it has: ${m.buckets.map((b) => b.name).join(", ") || "none"})`);
            }
            const selected = m.objects.filter((o) => o.bucket === opts.bucket && (!opts.prefix || o.name.startsWith(opts.prefix)));
            if (!opts.json) out(`run: ${chosen.note}\nrestoring ${selected.length} object(s), ${formatBytes(selected.reduce((n, o) => n + o.size, 0))}, from ${opts.bucket} into ${into}\n`);

            // The target bucket: created when missing (private), reused when there (resume).
            let created = false;
            try {
                await dest.send(new HeadBucketCommand({ Bucket: into }));
            } catch (e) {
                if (status(e) !== 404 && (e as any)?.name !== "NotFound" && (e as any)?.name !== "NoSuchBucket") throw new JobFailure(`cannot reach the target bucket ${into}: ${errorMessage(e)}`);
                await dest.send(new CreateBucketCommand({ Bucket: into }));
                created = true;
            }

            const dir = await mkdtemp(join(tmpdir(), "sb-restore-storage-"));
            const counters: Counters = { restored: 0, skipped: 0, bytes: 0 };
            const progress = new Progress(`restore ${opts.bucket} → ${into}`, log).start();
            let n = 0;
            try {
                await trail.time("transfer", () =>
                    materializeRunState(
                        ctx.s3,
                        ctx.bucket,
                        { objects: selected },
                        async (o, body) => {
                            await restoreOne(dest, into, o, body, join(dir, `blob-${n++}`), counters);
                            progress.add(o.size, 1);
                        },
                        { concurrency },
                    ),
                );
            } finally {
                progress.stop();
                await rm(dir, { recursive: true, force: true });
            }
            const result = {
                env: ctx.config.env,
                runId: m.runId,
                choice: chosen.note,
                bucket: opts.bucket,
                into,
                bucketCreated: created,
                prefix: opts.prefix ?? null,
                objects: selected.length,
                restored: counters.restored,
                skippedIdentical: counters.skipped,
                bytesUploaded: counters.bytes,
                auditEventId: trail.eventId,
            };
            if (opts.json) outJson(result);
            else
                out(
                    renderPairs([
                        ["target bucket", `${into}${created ? " (created)" : " (existing: resumed)"}`],
                        ["objects", selected.length],
                        ["uploaded", `${counters.restored} (${formatBytes(counters.bytes)})`],
                        ["skipped (identical)", counters.skipped],
                        ["checks", "sha256 of every blob, MD5/ETag of every upload"],
                    ]),
                );
            return EXIT.ok;
        },
        log,
    );
}

/** Buffer (or spool) the verified blob, then skip it when identical in the target, else upload it. */
async function restoreOne(dest: S3Client, into: string, o: StorageObject, body: Readable, spoolPath: string, c: Counters): Promise<void> {
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
        const h = await dest.send(new HeadObjectCommand({ Bucket: into, Key: o.name }));
        if (h.ContentLength === o.size && h.ETag === etag && (h.ContentType ?? null) === (o.contentType ?? h.ContentType ?? null) && (h.CacheControl ?? null) === (o.cacheControl ?? h.CacheControl ?? null) && sameMetadata(h.Metadata, meta)) {
            c.skipped++;
            if (!data) await rm(spoolPath, { force: true });
            return;
        }
    } catch (e) {
        if (status(e) !== 404 && (e as any)?.name !== "NotFound") throw e;
    }
    const r = await dest.send(
        new PutObjectCommand({
            Bucket: into,
            Key: o.name,
            Body: data ?? createReadStream(spoolPath),
            ContentLength: o.size,
            ContentType: o.contentType ?? undefined,
            CacheControl: o.cacheControl ?? undefined,
            Metadata: meta,
        }),
    );
    if (!data) await rm(spoolPath, { force: true });
    if (r.ETag && r.ETag !== etag) throw new JobFailure(`${into}/${o.name}: the target stored different bytes (ETag ${r.ETag}, expected ${etag})`);
    c.restored++;
    c.bytes += o.size;
}
