// The S3 vault: client construction and the few operations every command shares (list under a
// prefix, read JSON, write a record once). How objects are written lives in write-params.ts.
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, PutObjectRetentionCommand, PutObjectTaggingCommand, S3Client } from "@aws-sdk/client-s3";
import { serializeRecord, sha256Hex, type JobConfig } from "@supabase-backups/contracts";
import { retentionParams, taggingParams, writeParams, type VaultTarget, type VaultWrite } from "./write-params";
import { errorMessage, httpStatusOf } from "../runtime/errors";
import { readVersion, type ObjectPin } from "./versions";

export interface VaultClientOptions {
    /** socket idle timeout per request (a stalled S3 connection fails and is retried), default none */
    requestTimeoutMs?: number;
    connectionTimeoutMs?: number;
    maxAttempts?: number;
}

export function createVaultClient(vault: JobConfig["vault"], opts: VaultClientOptions = {}): S3Client {
    const client = new S3Client({
        region: vault.region,
        endpoint: vault.endpoint,
        forcePathStyle: vault.forcePathStyle,
        // Only compute checksums where S3 requires them (we send SHA256 ourselves for locked puts);
        // also keeps S3-compatible test servers from storing aws-chunked framing.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: opts.maxAttempts ?? 4,
        ...(opts.requestTimeoutMs || opts.connectionTimeoutMs
            ? { requestHandler: { requestTimeout: opts.requestTimeoutMs, connectionTimeout: opts.connectionTimeoutMs, throwOnRequestTimeout: true } }
            : {}),
    });
    reuseChecksumAsPayloadHash(client);
    return client;
}

const CHECKSUM_SHA256 = "x-amz-checksum-sha256";
const CONTENT_SHA256 = "x-amz-content-sha256";

/**
 * SigV4 signs the payload's SHA-256 (x-amz-content-sha256), which the signer computes by hashing the
 * body again, right after the checksum middleware hashed it for x-amz-checksum-sha256: two passes over
 * every part for the same digest. Hand the signer the checksum's digest (hex) instead; S3 still checks
 * the body against both headers, so nothing is verified less (bench/dump.ts: one SHA-256 pass fewer).
 */
export function reuseChecksumAsPayloadHash(client: S3Client): void {
    // build step, low priority: after the checksum middleware (build, normal), before signing (finalizeRequest)
    client.middlewareStack.add(
        (next: (a: any) => Promise<any>) => async (args: any) => {
            const headers: Record<string, string> | undefined = args.request?.headers;
            const checksum = headers?.[CHECKSUM_SHA256];
            if (headers && checksum && !Object.keys(headers).some((h) => h.toLowerCase() === CONTENT_SHA256) && ArrayBuffer.isView(args.request.body)) {
                headers[CONTENT_SHA256] = Buffer.from(checksum, "base64").toString("hex");
            }
            return next(args);
        },
        { step: "build", priority: "low", name: "reuseChecksumAsPayloadHash" },
    );
}

export interface VaultObject {
    key: string;
    size: number;
    lastModified?: Date;
}

/** Every key under a prefix, in key order (the layout makes key order = time order). */
export async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<VaultObject[]> {
    const out: VaultObject[] = [];
    let token: string | undefined;
    do {
        const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of r.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified });
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A small object's bytes, at a pinned version when given one (versions.ts reads it). */
export async function getBytes(s3: S3Client, bucket: string, at: string | ObjectPin): Promise<Buffer> {
    return (await readVersion(s3, bucket, typeof at === "string" ? { key: at } : at)).bytes;
}

/** A JSON object (manifest, record), with its bytes' sha256 and the version read. */
export async function getJson<T>(s3: S3Client, bucket: string, at: string | ObjectPin): Promise<{ value: T; bytes: Buffer; sha256: string; versionId?: string }> {
    const r = await readVersion(s3, bucket, typeof at === "string" ? { key: at } : at);
    return { value: JSON.parse(r.bytes.toString("utf8")) as T, bytes: r.bytes, sha256: r.sha256, versionId: r.versionId };
}

export async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
    try {
        await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
    } catch (e: any) {
        if (e?.$metadata?.httpStatusCode === 404 || e?.name === "NotFound" || e?.name === "NoSuchKey") return false;
        throw e;
    }
}

/**
 * Write a small record (manifest, verification, audit) exactly once, with the vault's write settings
 * (write-params.ts: `If-None-Match: *`, SHA256, lock, tags, SSE-KMS). Returns the bytes' sha256.
 */
export async function putRecordOnce(s3: S3Client, vault: VaultTarget, write: RecordWrite, value: unknown): Promise<{ sha256: string; bytes: number; versionId?: string }> {
    const body = serializeRecord(value);
    const sha256 = sha256Hex(body);
    const r = await s3.send(new PutObjectCommand({ ...writeParams(vault, { ...write, contentType: "application/json", sha256 }), Body: body }));
    return { sha256, bytes: body.length, versionId: r.VersionId };
}

export type RecordWrite = Omit<VaultWrite, "contentType" | "sha256" | "size">;

/**
 * After a multipart upload: set the lock and the tags on the object itself. S3 takes both from
 * CreateMultipartUpload; some S3-compatible stores (Ceph RGW 16.2) ignore them there and leave the
 * object with the bucket's default lock and no tier tag, so lifecycle and retention would silently
 * differ. Re-stating them is a no-op where they already hold (a lock can only be extended).
 */
export async function sealUpload(s3: S3Client, vault: VaultTarget, w: Pick<VaultWrite, "key" | "tags" | "retainUntil">, versionId?: string): Promise<"sealed" | "no-object-lock-api"> {
    await s3.send(new PutObjectTaggingCommand(taggingParams(vault, w.key, w.tags)));
    if (!w.retainUntil) return "sealed";
    try {
        await s3.send(new PutObjectRetentionCommand({ ...retentionParams(vault, w.key, w.retainUntil), ...(versionId ? { VersionId: versionId } : {}) }));
        return "sealed";
    } catch (e) {
        // A store without the Object Lock API at all (405/501; never AWS) cannot lock anything: say so.
        const status = httpStatusOf(e);
        if (status === 405 || status === 501) return "no-object-lock-api";
        // Already locked longer (RGW applied the bucket default, counted from completion, to the
        // multipart object): COMPLIANCE cannot be shortened, and a longer lock is what we want.
        if (isShorterLockRefusal(e)) return "sealed";
        throw e;
    }
}

/** The store's refusal to shorten an existing COMPLIANCE lock, in S3's or RGW's words (also through vaultOp's wrapping). */
export function isShorterLockRefusal(e: unknown): boolean {
    return /object lock|shortens an existing retention period/i.test(errorMessage(e));
}
