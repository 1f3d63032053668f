// Upload one verified object as its content-addressed blob: a single PutObject from the buffer or the
// spool file, or a multipart upload beyond --multipart-threshold. Always `If-None-Match: *`, so two
// writers racing on the same content cannot overwrite each other.
import { createReadStream } from "node:fs";
import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from "@aws-sdk/client-s3";
import { writeParams, type VaultTags, type VaultTarget } from "../../vault/write-params";
import { sealUpload } from "../../vault/s3";
import type { Fetched } from "./download";
import { MiB } from "./run";

export interface BlobTarget {
    vault: VaultTarget;
    env: string;
    /** the lock every blob this run writes gets (retain-until + slack) */
    lockTarget: Date;
    multipartThreshold: number;
}

/**
 * No `tier` tag on blobs: a blob is shared by runs of every tier, and the tier lifecycle rules would
 * expire it under a newer run that still references it. Blobs go only through gc.
 */
function blobParams(t: BlobTarget, key: string, sha256: string, size: number): PutObjectCommandInput {
    return writeParams(t.vault, { key, sha256, size, contentType: "application/octet-stream", retainUntil: t.lockTarget, tags: blobTags(t) });
}

function blobTags(t: BlobTarget): VaultTags {
    return { env: t.env, kind: "sync-storage", content: "blob" };
}

/** PutObject whose SigV4 payload hash is the sha256 we already computed (saves a pass over the bytes). */
function putCommand(input: PutObjectCommandInput, sha256: string): PutObjectCommand {
    const cmd = new PutObjectCommand(input);
    cmd.middlewareStack.add(
        (next) => async (args: any) => {
            if (args.request?.headers) args.request.headers["x-amz-content-sha256"] = sha256;
            return next(args);
        },
        { step: "build", name: "precomputedPayloadHash" },
    );
    return cmd;
}

/** Beyond one PutObject (5 GiB): multipart, SHA256 per part (S3 checks each part). */
async function putMultipart(s3: S3Client, t: BlobTarget, key: string, f: Fetched): Promise<string | undefined> {
    const { ChecksumSHA256: _c, IfNoneMatch: _i, ContentLength: _l, ...params } = blobParams(t, key, f.sha256, f.size);
    // loaded only here: the common case never needs it (startup time counts in every run)
    const { Upload } = require("@aws-sdk/lib-storage") as typeof import("@aws-sdk/lib-storage");
    const partSize = Math.max(5 * MiB, Math.min(64 * MiB, t.multipartThreshold));
    const done = await new Upload({ client: s3, params: { ...params, Body: createReadStream(f.file!) }, partSize, queueSize: 2, leavePartsOnError: false }).done();
    // The lock is also re-extended from the manifest's recorded lock ends on later runs (blobs.ts).
    await sealUpload(s3, t.vault, { key, tags: blobTags(t), retainUntil: t.lockTarget }, done.VersionId);
    return done.VersionId;
}

/**
 * "existing" when the If-None-Match lost the race: someone (another shard) stored the same content.
 * An upload returns the VersionId the store gave it: the manifest records it and readers read it.
 */
export async function putBlob(s3: S3Client, t: BlobTarget, key: string, f: Fetched): Promise<{ how: "uploaded" | "existing"; versionId?: string }> {
    try {
        let versionId: string | undefined;
        if (f.buffer) {
            versionId = (await s3.send(putCommand({ ...blobParams(t, key, f.sha256, f.size), Body: f.buffer }, f.sha256))).VersionId;
        } else if (f.size <= t.multipartThreshold) {
            versionId = (await s3.send(putCommand({ ...blobParams(t, key, f.sha256, f.size), Body: createReadStream(f.file!) }, f.sha256))).VersionId;
        } else {
            versionId = await putMultipart(s3, t, key, f);
        }
        return { how: "uploaded", versionId };
    } catch (e: any) {
        if (e?.$metadata?.httpStatusCode === 412 || e?.name === "PreconditionFailed") return { how: "existing" };
        throw e;
    }
}
