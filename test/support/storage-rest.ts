// A small local server implementing Supabase Storage's REST download route, for tests, the benchmark
// and the demo: `GET|HEAD {url}/storage/v1/object/authenticated/{bucket}/{name}` (and the plain
// `/storage/v1/object/{bucket}/{name}` alias), authorised like the hosted API: the API gateway wants an
// `apikey` header, storage-api a `Authorization: Bearer <jwt>`; here both must be the service-role key.
// Objects come from a directory (`<dir>/<bucket>/<name>`) or from an S3 bucket per Storage bucket (the
// same s3rver that plays Supabase's S3 protocol endpoint), with the headers Supabase sends (Content-Type,
// Cache-Control, ETag, Content-Length, Last-Modified). Errors use storage-api's JSON shape
// `{"statusCode":"404","error":"not_found","message":"Object not found"}`.
// Faults can be injected per request (status, reset, wrong bytes, delay) to test the job's handling.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";

export type StorageRestBackend = { dir: string } | { s3: S3Client };

/** What a fault hook may return for one request. */
export type StorageFault =
    | { status: number; body?: unknown }
    | { reset: true }
    | { bytes: Buffer }
    | { delayMs: number }
    /** send the headers and this many bytes, then nothing (the connection stays open) */
    | { stallAfter: number };

export interface StorageRequest {
    method: string;
    bucket: string;
    name: string;
    status: number;
    authorized: boolean;
}

export interface StorageRestServer {
    /** project URL to put in `supabase.url` (the server answers under /storage/v1) */
    url: string;
    port: number;
    requests: StorageRequest[];
    /** set or clear the fault hook; called for every authorised object request */
    setFault(fn: ((bucket: string, name: string, method: string) => StorageFault | undefined | Promise<StorageFault | undefined>) | undefined): void;
    stop(): Promise<void>;
}

export interface StorageRestOptions {
    serviceRoleKey: string;
    backend: StorageRestBackend;
    /** default 127.0.0.1, port 0 (any free) */
    host?: string;
    port?: number;
}

function sendError(res: ServerResponse, http: number, statusCode: string, error: string, message: string): void {
    const body = JSON.stringify({ statusCode, error, message });
    res.writeHead(http, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
}

interface Found {
    body: () => Readable | Buffer;
    size: number;
    contentType: string;
    cacheControl: string;
    eTag: string;
    lastModified: Date;
}

async function fromDir(dir: string, bucket: string, name: string): Promise<Found | undefined> {
    const root = resolve(dir);
    const path = resolve(join(root, bucket, name));
    if (!path.startsWith(root + sep)) return undefined;
    const st = await stat(path).catch(() => undefined);
    if (!st || !st.isFile()) return undefined;
    const md5 = createHash("md5").update(await readFile(path)).digest("hex");
    return {
        body: () => createReadStream(path),
        size: st.size,
        contentType: "application/octet-stream",
        cacheControl: "max-age=3600",
        eTag: `"${md5}"`,
        lastModified: st.mtime,
    };
}

async function fromS3(s3: S3Client, bucket: string, name: string, head: boolean): Promise<Found | undefined> {
    try {
        if (head) {
            const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: name }));
            return {
                body: () => Buffer.alloc(0),
                size: h.ContentLength ?? 0,
                contentType: h.ContentType ?? "application/octet-stream",
                cacheControl: h.CacheControl ?? "max-age=3600",
                eTag: h.ETag ?? "",
                lastModified: h.LastModified ?? new Date(),
            };
        }
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: name }));
        return {
            body: () => r.Body as Readable,
            size: r.ContentLength ?? 0,
            contentType: r.ContentType ?? "application/octet-stream",
            cacheControl: r.CacheControl ?? "max-age=3600",
            eTag: r.ETag ?? "",
            lastModified: r.LastModified ?? new Date(),
        };
    } catch (e: any) {
        if (e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.name === "NoSuchBucket" || e?.$metadata?.httpStatusCode === 404) return undefined;
        throw e;
    }
}

const ROUTE = /^\/storage\/v1\/object\/(?:authenticated\/)?([^/]+)\/(.+)$/;

export async function startStorageRest(opts: StorageRestOptions): Promise<StorageRestServer> {
    const requests: StorageRequest[] = [];
    let fault: ((bucket: string, name: string, method: string) => StorageFault | undefined | Promise<StorageFault | undefined>) | undefined;

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const m = ROUTE.exec(url.pathname);
        const method = req.method ?? "GET";
        if (!m || (method !== "GET" && method !== "HEAD")) return sendError(res, 404, "404", "not_found", "Route not found");
        let bucket: string, name: string;
        try {
            bucket = decodeURIComponent(m[1]);
            name = m[2].split("/").map(decodeURIComponent).join("/");
        } catch {
            return sendError(res, 400, "400", "InvalidKey", "Invalid key");
        }
        const record = (status: number, authorized: boolean) => requests.push({ method, bucket, name, status, authorized });
        // Gateway: no apikey → 401; storage-api: the bearer JWT must be valid (here: the service-role key).
        const apikey = req.headers["apikey"];
        if (!apikey) {
            record(401, false);
            return sendError(res, 401, "401", "Unauthorized", "No API key found in request");
        }
        const auth = req.headers["authorization"] ?? "";
        if (apikey !== opts.serviceRoleKey || auth !== `Bearer ${opts.serviceRoleKey}`) {
            record(403, false);
            return sendError(res, 403, "403", "Unauthorized", "invalid signature");
        }
        const f = fault ? await fault(bucket, name, method) : undefined;
        if (f && "delayMs" in f) await new Promise((r) => setTimeout(r, f.delayMs));
        if (f && "reset" in f) {
            record(0, true);
            req.socket.destroy();
            return;
        }
        if (f && "status" in f) {
            record(f.status, true);
            const body = JSON.stringify(f.body ?? { statusCode: String(f.status), error: "injected", message: "injected fault" });
            res.writeHead(f.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
            return res.end(body);
        }
        const found = "dir" in opts.backend ? await fromDir(opts.backend.dir, bucket, name) : await fromS3(opts.backend.s3, bucket, name, method === "HEAD");
        if (!found) {
            record(404, true);
            return sendError(res, 404, "404", "not_found", "Object not found");
        }
        const bytes = f && "bytes" in f ? f.bytes : undefined;
        const headers = {
            "content-type": found.contentType,
            "cache-control": found.cacheControl,
            etag: found.eTag,
            "last-modified": found.lastModified.toUTCString(),
            "content-length": String(bytes ? bytes.length : found.size),
        };
        record(200, true);
        res.writeHead(200, headers);
        if (method === "HEAD") {
            const b = found.body();
            if (typeof (b as any).destroy === "function") (b as Readable).destroy();
            return res.end();
        }
        if (bytes) return res.end(bytes);
        if (f && "stallAfter" in f) {
            const all = found.body();
            const chunks: Buffer[] = [];
            if (Buffer.isBuffer(all)) chunks.push(all);
            else for await (const c of all) chunks.push(c as Buffer);
            res.write(Buffer.concat(chunks).subarray(0, f.stallAfter));
            return; // never ends; the client gives up
        }
        const body = found.body();
        if (Buffer.isBuffer(body)) return res.end(body);
        body.on("error", () => res.destroy());
        body.pipe(res);
    };

    const server: Server = createServer((req, res) => {
        handle(req, res).catch((e) => {
            if (!res.headersSent) sendError(res, 500, "500", "internal", String(e?.message ?? e));
            else res.destroy();
        });
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((r) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", r));
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    return {
        url: `http://${opts.host ?? "127.0.0.1"}:${port}`,
        port,
        requests,
        setFault(fn) {
            fault = fn;
        },
        async stop() {
            server.closeAllConnections();
            await new Promise<void>((r) => server.close(() => r()));
        },
    };
}
