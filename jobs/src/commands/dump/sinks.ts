// One pass, two clouds: every chunk of the final bytes goes to the S3 multipart upload (required) and
// the Azure block-blob upload (optional) at once. Each sink has a bounded input buffer; the pump waits
// for the slower one (backpressure paces pg_dump), drops the optional one when it fails or stalls, and
// fails the run when the required one does.
import { AbortMultipartUploadCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { ContainerClient } from "@azure/storage-blob";
import { PassThrough, type Readable } from "node:stream";
import { errorMessage } from "../../runtime/errors";
import type { Logger } from "../../runtime/log";
import { writeParams, type VaultTags, type VaultTarget } from "../../vault/write-params";
import { sealUpload } from "../../vault/s3";
import { archiveWriteOptions } from "../../vault/archive";

export interface ObjectTarget {
    key: string;
    contentType: string;
    retainUntil: Date;
    tags: VaultTags;
}

export interface Sink {
    readonly label: string;
    readonly required: boolean;
    readonly input: PassThrough;
    /** settles when the copy is committed; never rejects (see `failure`) */
    readonly settled: Promise<void>;
    committed: boolean;
    /** the store's version id of the committed object (S3 VersionId, Azure versionId), when it keeps versions */
    versionId?: string;
    failure?: Error;
    lastProgressAt: number;
    /** mark failed, stop the upload, clean up what can be cleaned (multipart abort) */
    fail(e: Error): Promise<void>;
}

/** Each sink's input buffer: small, the sinks hold their own part/block buffers. */
const INPUT_BUFFER = 256 * 1024;

export interface S3SinkOptions {
    vault: VaultTarget;
    partSize: number;
    queueSize: number;
}

/**
 * S3: lib-storage Upload over a PassThrough. Lock, retain-until, tags and the SHA256 checksum algorithm
 * go on CreateMultipartUpload (or the single PutObject for a small object); lib-storage spreads the
 * same params into each UploadPart, so every part carries its own x-amz-checksum-sha256.
 */
export function s3Sink(s3: S3Client, t: ObjectTarget, o: S3SinkOptions, log: Logger): Sink {
    const input = new PassThrough({ highWaterMark: INPUT_BUFFER });
    input.on("error", () => undefined); // a destroyed input is reported through the sink's failure
    const abortController = new AbortController();
    const upload = new Upload({
        client: s3,
        partSize: o.partSize,
        queueSize: o.queueSize,
        leavePartsOnError: true, // we abort ourselves, once, after the uploaders have stopped
        abortController,
        params: { ...writeParams(o.vault, { key: t.key, tags: t.tags, retainUntil: t.retainUntil, contentType: t.contentType }), Body: input },
    });
    let aborting: Promise<void> | undefined;
    const abortMultipart = () =>
        (aborting ??= (async () => {
            const u = upload as unknown as { uploadId?: string; createMultiPartPromise?: Promise<{ UploadId?: string }> };
            let uploadId = u.uploadId;
            if (!uploadId && u.createMultiPartPromise) {
                uploadId = await Promise.race([
                    u.createMultiPartPromise.then((r) => r.UploadId).catch(() => undefined),
                    new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000).unref()),
                ]);
            }
            if (!uploadId) return;
            try {
                await s3.send(new AbortMultipartUploadCommand({ Bucket: o.vault.bucket, Key: t.key, UploadId: uploadId }));
                log.info({ key: t.key, uploadId }, "aborted the multipart upload");
            } catch (e) {
                log.warn({ key: t.key, uploadId, err: errorMessage(e) }, "could not abort the multipart upload (the bucket's lifecycle rule removes it)");
            }
        })());
    const sink: Sink = {
        label: "S3",
        required: true,
        input,
        committed: false,
        lastProgressAt: Date.now(),
        settled: undefined as unknown as Promise<void>,
        async fail(e: Error) {
            sink.failure ??= e;
            abortController.abort();
            input.destroy(e);
            await abortMultipart();
        },
    };
    upload.on("httpUploadProgress", () => (sink.lastProgressAt = Date.now()));
    (sink as { settled: Promise<void> }).settled = upload.done().then(
        async (r) => {
            // only a multipart upload can have lost its lock and tags (see sealUpload)
            if ((upload as unknown as { isMultiPart?: boolean }).isMultiPart !== false) {
                const sealed = await sealUpload(s3, o.vault, { key: t.key, tags: t.tags, retainUntil: t.retainUntil }, r.VersionId);
                if (sealed === "no-object-lock-api") log.warn({ key: t.key }, "the vault has no Object Lock API: this object's lock could not be confirmed");
            }
            if (!sink.failure) {
                sink.committed = true;
                sink.versionId = r.VersionId;
            }
        },
        async (e) => {
            sink.failure ??= e instanceof Error ? e : new Error(String(e));
            input.destroy(sink.failure);
            await abortMultipart();
        },
    );
    return sink;
}

export interface AzureSinkOptions {
    blockSize: number;
    concurrency: number;
}

/**
 * Azure: uploadStream (staged blocks, one commit). The immutability policy and index tags ride on the
 * commit (Put Block List), `If-None-Match: *` keeps it write-once. Uncommitted blocks of a failed
 * upload are discarded by the service.
 */
export function azureSink(container: ContainerClient, t: ObjectTarget, o: AzureSinkOptions): Sink {
    const input = new PassThrough({ highWaterMark: INPUT_BUFFER });
    input.on("error", () => undefined); // a destroyed input is reported through the sink's failure
    const abortController = new AbortController();
    const blob = container.getBlockBlobClient(t.key);
    const sink: Sink = {
        label: "Azure",
        required: false,
        input,
        committed: false,
        lastProgressAt: Date.now(),
        settled: undefined as unknown as Promise<void>,
        async fail(e: Error) {
            sink.failure ??= e;
            abortController.abort();
            // With an error: uploadStream's buffer scheduler only stops on 'error' (or 'end').
            input.destroy(e);
        },
    };
    const options = {
        abortSignal: abortController.signal,
        // the immutability policy and tags are passed through to commitBlockList
        ...archiveWriteOptions(t),
        onProgress: () => (sink.lastProgressAt = Date.now()),
    };
    (sink as { settled: Promise<void> }).settled = blob.uploadStream(input, o.blockSize, o.concurrency, options).then(
        (r) => {
            if (!sink.failure) {
                sink.committed = true;
                sink.versionId = r.versionId;
            }
        },
        (e) => {
            sink.failure ??= e instanceof Error ? e : new Error(String(e));
            input.destroy(sink.failure);
        },
    );
    return sink;
}

function sinkError(s: Sink): Error {
    return new Error(`${s.label} upload failed: ${errorMessage(s.failure)}`);
}

/** Wait until `ready()` resolves, the sink fails, or it makes no progress for stallMs (then fail it). */
function waitOn(s: Sink, ready: Promise<unknown>, stallMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve) => {
        let finished = false;
        const finish = () => {
            if (finished) return;
            finished = true;
            clearInterval(timer);
            resolve();
        };
        const timer = setInterval(() => {
            if (s.failure) return finish();
            if (Date.now() - s.lastProgressAt > stallMs) {
                void s.fail(new Error(`stalled: no progress for ${Math.round(stallMs / 1000)} s ${what}`));
                finish();
            }
        }, Math.min(250, stallMs));
        // Not s.settled.then(...): a reaction per wait on a long-pending promise would pile up. The
        // timer notices a failure within a tick.
        ready.then(finish, finish);
    });
}

function drained(s: Sink): Promise<void> {
    return new Promise((resolve) => {
        const done = () => {
            s.input.off("drain", done);
            s.input.off("close", done);
            resolve();
        };
        s.input.on("drain", done);
        s.input.on("close", done);
    });
}

export interface PumpOptions {
    stallMs: number;
    onChunk(chunk: Buffer): void;
    log: Logger;
}

/**
 * Copy `source` into every live sink. Throws if a required sink fails (the caller aborts the rest);
 * an optional sink's failure only detaches it. Does not end the sinks: the caller first checks that
 * the producer (pg_dump) exited cleanly, then calls `finishSinks`.
 */
export async function pump(source: Readable, sinks: Sink[], o: PumpOptions): Promise<void> {
    // A required sink that fails while we wait for the source ends the read at once. (Not a
    // Promise.race against a long-pending promise per chunk: each race would keep its chunk reachable.)
    let requiredFailure: Error | undefined;
    for (const s of sinks.filter((x) => x.required)) {
        void s.settled.then(() => {
            if (s.failure && !requiredFailure) {
                requiredFailure = sinkError(s);
                source.destroy(requiredFailure);
            }
        });
    }
    const reportDetached = new Set<Sink>();
    try {
        for await (const data of source) {
            const chunk = data as Buffer;
            o.onChunk(chunk);
            const waits: Promise<void>[] = [];
            for (const s of sinks) {
                if (s.failure) continue;
                if (!s.input.write(chunk)) waits.push(waitOn(s, drained(s).then(() => (s.lastProgressAt = Date.now())), o.stallMs, "accepting data"));
            }
            if (waits.length) await Promise.all(waits);
            for (const s of sinks) {
                if (!s.failure) continue;
                if (s.required) throw sinkError(s);
                if (!reportDetached.has(s)) {
                    reportDetached.add(s);
                    o.log.warn({ err: errorMessage(s.failure) }, `${s.label} copy failed; continuing with the primary only`);
                }
            }
        }
    } catch (e) {
        source.destroy();
        throw requiredFailure ?? e;
    }
    if (requiredFailure) throw requiredFailure;
}

/** End the inputs and wait for every sink to commit (or fail / stall). */
export async function finishSinks(sinks: Sink[], stallMs: number): Promise<void> {
    const live = sinks.filter((s) => !s.failure);
    for (const s of live) {
        s.input.end();
        s.lastProgressAt = Date.now();
    }
    await Promise.all(live.map((s) => waitOn(s, s.settled, stallMs, "completing the upload")));
    for (const s of sinks) if (s.required && !s.committed) throw sinkError(s);
}

/** Abort every sink that has not committed (a failed run). */
export async function abortSinks(sinks: Sink[], reason: Error): Promise<void> {
    await Promise.all(sinks.filter((s) => !s.committed).map((s) => s.fail(reason)));
    await Promise.all(sinks.map((s) => Promise.race([s.settled, new Promise((r) => setTimeout(r, 15_000).unref())])));
}
