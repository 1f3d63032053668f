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
import { EXIT, printableName, runIdTime, unsafeObjectName, type BucketSettings, type ExitCode, type StorageManifest, type StorageManifestWithObjects, type StorageObject } from "@supabase-backups/contracts";
import { s3Metadata, sameMetadata, storageTarget, type StorageTarget } from "./storage-targets";
import { audited, Refusal, type AuditTrail } from "../../vault/audit";
import { JobFailure, UsageError } from "../../runtime/errors";
import type { CommandContext } from "../../cli/command";
import { checkAtFlag, startAudit, type OperatorOptions } from "../../cli/operator";
import { formatBytes, Progress } from "../../runtime/progress";
import { chooseRun } from "../../vault/run-choice";
import { materializeFrom } from "../../vault/storage-runs";
import { openVersion } from "../../vault/versions";
import type { JobContext } from "../../runtime/context";
import { out, outJson, renderPairs } from "../../cli/output";
import { withObjects } from "../../vault/object-list";

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
    /** "archive": read runs and blobs from the Azure archive alone (storage-archive.ts) */
    from?: string;
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const IN_MEMORY_MAX = 16 * 1024 * 1024;

export function defaultRestoreBucket(bucket: string, runId: string): string {
    const d = runIdTime(runId);
    const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, "0")}${String(d.getUTCDate()).padStart(2, "0")}`;
    return `restored-${bucket}-${ymd}`;
}


interface Counters {
    restored: number;
    skipped: number;
    bytes: number;
}

/** The flags, checked before anything runs: bucket names, --at. */
export function checkRestoreStorageFlags(opts: RestoreStorageOptions): void {
    if (opts.from !== undefined && opts.from !== "vault" && opts.from !== "archive") throw new UsageError(`--from must be vault or archive, got "${opts.from}"`);
    if (!BUCKET.test(opts.bucket)) throw new UsageError(`--bucket "${opts.bucket}" is not a bucket name`);
    if (opts.into !== undefined && !BUCKET.test(opts.into)) throw new UsageError(`--into "${opts.into}" is not a valid bucket name`);
    checkAtFlag(opts.at);
}

export async function restoreStorage(ctx: CommandContext, opts: RestoreStorageOptions): Promise<ExitCode> {
    const dest = storageTarget(ctx, opts.via);
    const trail = startAudit(ctx, opts, "restore-storage", `storage:${opts.into ?? `restored-${opts.bucket}-?`}`, restoreStorageAuditOptions(opts));
    const source: StorageRunSource = {
        choose: () => chooseRun<StorageManifest>(ctx.s3, ctx.bucket, ctx.config.env, "storage", { run: opts.run, at: opts.at, trust: {} }),
        // the blob's version as its run recorded it (a later overwrite of the key is not read)
        open: async (o) => (await openVersion(ctx.s3, ctx.bucket, { key: o.blobKey, versionId: o.versionId })).body,
        entries: (m) => withObjects(ctx.s3, ctx.bucket, m),
    };
    return audited(trail, () => runStorageRestore(ctx, opts, dest, trail, source), ctx.log);
}

/** The options an audit record of a storage restore carries. */
export function restoreStorageAuditOptions(opts: RestoreStorageOptions): Record<string, unknown> {
    return { run: opts.run, at: opts.at, bucket: opts.bucket, into: opts.into, prefix: opts.prefix, overwrite: !!opts.overwrite, skipUnsafeNames: !!opts.skipUnsafeNames, ...(opts.from ? { from: opts.from } : {}) };
}

/** The run to restore (and why), with any tampering found, as the vault or the archive tells it. */
export interface ChosenStorageRun {
    loaded: { manifest: StorageManifest };
    note: string;
    tampering: string[];
}

/** Where a storage restore reads: the S3 vault (here) or the Azure archive (storage-archive.ts). */
export interface StorageRunSource {
    choose(): Promise<ChosenStorageRun>;
    /** a blob's bytes, unverified (materializeFrom checks sha256 and size) */
    open(o: StorageObject): Promise<Readable>;
    /** the run's entries (a version-2 manifest's object list from the same store, sha256-checked) */
    entries(m: StorageManifest): Promise<StorageManifestWithObjects>;
}

/** A storage restore's state: the run, what of it is restored, and where to. */
interface StorageRestore {
    readonly ctx: JobContext;
    readonly source: StorageRunSource;
    readonly opts: RestoreStorageOptions;
    readonly dest: StorageTarget;
    readonly trail: AuditTrail;
    readonly chosen: ChosenStorageRun;
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
function screenNames(ctx: JobContext, opts: RestoreStorageOptions, m: StorageManifestWithObjects): { selected: StorageObject[]; unsafe: string[] } {
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

export async function runStorageRestore(ctx: JobContext, opts: RestoreStorageOptions, dest: StorageTarget, trail: AuditTrail, source: StorageRunSource): Promise<ExitCode> {
    const chosen = await trail.time("choose", () => source.choose());
    // the run's entries in memory (a version-2 manifest's object list, read from the same store)
    const m = await source.entries(chosen.loaded.manifest);
    trail.setRun(m.runId);
    const into = opts.into ?? defaultRestoreBucket(opts.bucket, m.runId);
    trail.setTarget(`storage:${into}`);
    if (into === opts.bucket && !opts.overwrite) throw new Refusal(`--into ${into} is the source bucket itself: refusing to overwrite live objects (add --overwrite if that is really what you want)`);
    if (!m.buckets.some((b) => b.name === opts.bucket) && !m.objects.some((o) => o.bucket === opts.bucket)) {
        throw new JobFailure(`bucket ${opts.bucket} is not in storage run ${m.runId} (it has: ${m.buckets.map((b) => printableName(b.name)).join(", ") || "none"})`);
    }
    const { selected, unsafe } = screenNames(ctx, opts, m);
    if (!opts.json) out(`run: ${chosen.note}\nrestoring ${selected.length} object(s), ${formatBytes(selected.reduce((n, o) => n + o.size, 0))}, from ${opts.bucket} into ${into}\n`);
    const r: StorageRestore = { ctx, source, opts, dest, trail, chosen, into, selected, unsafe };
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
            materializeFrom(
                (o) => r.source.open(o),
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
        from: r.opts.from ?? "vault",
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
