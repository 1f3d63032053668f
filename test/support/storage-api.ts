// A local stand-in for Supabase Storage's REST API on the write side, for the restore tests: the routes
// storage-js uses to create a bucket and upload, plus the authenticated HEAD/GET a client reads back.
//   POST /storage/v1/bucket                     {id, name, public, file_size_limit, allowed_mime_types} → 200 {name} | 409 Duplicate
//   GET  /storage/v1/bucket/{id}                                             → 200 bucket | 404
//   POST /storage/v1/bucket/{id}/empty                                       → 200 | 404
//   DELETE /storage/v1/bucket/{id}                                           → 200 | 404 | 409 while objects remain
//   POST|PUT /storage/v1/object/{bucket}/{name} raw body; content-type, cache-control, x-upsert,
//                                               x-metadata (base64 JSON user metadata)  → 200 {Id, Key}
//   HEAD|GET /storage/v1/object/authenticated/{bucket}/{name}               → bytes and headers
//   GET  /storage/v1/object/info/authenticated/{bucket}/{name}              → {size, content_type, cache_control, etag, metadata}
// Errors use storage-api's JSON shape `{"statusCode":"404","error":"not_found","message":"…"}`. Auth like
// the hosted API: `apikey` header and `Authorization: Bearer <service-role key>`.
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface StoredObject {
    bytes: Buffer;
    contentType: string;
    cacheControl: string;
    metadata: Record<string, unknown>;
    eTag: string;
}

export interface StorageApiServer {
    url: string;
    buckets: Map<string, { public: boolean; fileSizeLimit?: number | null; allowedMimeTypes?: string[] | null; objects: Map<string, StoredObject> }>;
    requests: Array<{ method: string; path: string; status: number; headers: Record<string, string | string[] | undefined> }>;
    stop(): Promise<void>;
}

function err(res: ServerResponse, http: number, statusCode: string, error: string, message: string): void {
    const body = JSON.stringify({ statusCode, error, message });
    res.writeHead(http, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
}

function readAll(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (d) => chunks.push(d));
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
    });
}

export async function startStorageApi(opts: { serviceRoleKey: string }): Promise<StorageApiServer> {
    const buckets: StorageApiServer["buckets"] = new Map();
    const requests: StorageApiServer["requests"] = [];
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const method = req.method ?? "GET";
        const url = new URL(req.url ?? "/", "http://localhost");
        const path = url.pathname;
        const body = await readAll(req);
        const rec = { method, path: decodeURIComponent(path), status: 0, headers: req.headers };
        requests.push(rec);
        const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
            rec.status = status;
            const text = payload === undefined ? "" : JSON.stringify(payload);
            res.writeHead(status, { "content-type": "application/json", ...headers });
            res.end(text);
        };
        const fail = (http: number, code: string, error: string, message: string) => {
            rec.status = http;
            err(res, http, code, error, message);
        };
        if (!req.headers.apikey) return fail(401, "401", "Unauthorized", "No API key found in request");
        if (req.headers.apikey !== opts.serviceRoleKey || req.headers.authorization !== `Bearer ${opts.serviceRoleKey}`) return fail(403, "403", "Unauthorized", "invalid signature");

        if (path === "/storage/v1/bucket" && method === "POST") {
            let b: any;
            try {
                b = JSON.parse(body.toString("utf8"));
            } catch {
                return fail(400, "400", "InvalidJSON", "Body is not valid JSON");
            }
            const id = b?.id ?? b?.name;
            if (typeof id !== "string" || !/^[a-z0-9][a-z0-9._-]*$/.test(id)) return fail(400, "400", "InvalidBucketName", "Bucket name invalid");
            if (buckets.has(id)) return fail(409, "409", "Duplicate", "The resource already exists");
            buckets.set(id, { public: !!b.public, fileSizeLimit: b.file_size_limit ?? null, allowedMimeTypes: b.allowed_mime_types ?? null, objects: new Map() });
            return send(200, { name: id });
        }
        let m = /^\/storage\/v1\/bucket\/([^/]+)\/empty$/.exec(path);
        if (m && method === "POST") {
            const b = buckets.get(decodeURIComponent(m[1]));
            if (!b) return fail(404, "404", "Bucket not found", "Bucket not found");
            b.objects.clear();
            return send(200, { message: "Successfully emptied" });
        }
        m = /^\/storage\/v1\/bucket\/([^/]+)$/.exec(path);
        if (m && method === "DELETE") {
            const id = decodeURIComponent(m[1]);
            const b = buckets.get(id);
            if (!b) return fail(404, "404", "Bucket not found", "Bucket not found");
            // hosted Storage refuses to delete a bucket that still holds objects
            if (b.objects.size) return fail(409, "409", "InvalidRequest", "The bucket you tried to delete is not empty");
            buckets.delete(id);
            return send(200, { message: "Successfully deleted" });
        }
        if (m && method === "GET") {
            const id = decodeURIComponent(m[1]);
            const b = buckets.get(id);
            if (!b) return fail(404, "404", "Bucket not found", "Bucket not found");
            return send(200, { id, name: id, public: b.public, file_size_limit: b.fileSizeLimit ?? null, allowed_mime_types: b.allowedMimeTypes ?? null });
        }
        m = /^\/storage\/v1\/object\/info\/(?:authenticated\/)?([^/]+)\/(.+)$/.exec(path);
        if (m && method === "GET") {
            const o = buckets.get(decodeURIComponent(m[1]))?.objects.get(m[2].split("/").map(decodeURIComponent).join("/"));
            if (!o) return fail(404, "404", "not_found", "Object not found");
            return send(200, { size: o.bytes.length, content_type: o.contentType, cache_control: o.cacheControl, etag: o.eTag, metadata: o.metadata });
        }
        m = /^\/storage\/v1\/object\/authenticated\/([^/]+)\/(.+)$/.exec(path);
        if (m && (method === "GET" || method === "HEAD")) {
            const o = buckets.get(decodeURIComponent(m[1]))?.objects.get(m[2].split("/").map(decodeURIComponent).join("/"));
            if (!o) return fail(404, "404", "not_found", "Object not found");
            rec.status = 200;
            res.writeHead(200, { "content-type": o.contentType, "cache-control": o.cacheControl, etag: o.eTag, "content-length": String(o.bytes.length) });
            return res.end(method === "HEAD" ? undefined : o.bytes);
        }
        m = /^\/storage\/v1\/object\/([^/]+)\/(.+)$/.exec(path);
        if (m && (method === "POST" || method === "PUT")) {
            const b = buckets.get(decodeURIComponent(m[1]));
            if (!b) return fail(404, "404", "Bucket not found", "Bucket not found");
            const name = m[2].split("/").map(decodeURIComponent).join("/");
            const upsert = method === "PUT" || req.headers["x-upsert"] === "true";
            if (b.objects.has(name) && !upsert) return fail(409, "409", "Duplicate", "The resource already exists");
            let metadata: Record<string, unknown> = {};
            const xm = req.headers["x-metadata"];
            if (typeof xm === "string") {
                try {
                    metadata = JSON.parse(Buffer.from(xm, "base64").toString("utf8"));
                } catch {
                    return fail(400, "400", "InvalidMetadata", "x-metadata is not base64 JSON");
                }
            }
            const len = req.headers["content-length"];
            if (len !== undefined && Number(len) !== body.length) return fail(400, "400", "InvalidRequest", "content-length mismatch");
            b.objects.set(name, {
                bytes: body,
                contentType: String(req.headers["content-type"] ?? "application/octet-stream"),
                cacheControl: String(req.headers["cache-control"] ?? "max-age=3600"),
                metadata,
                eTag: `"${createHash("md5").update(body).digest("hex")}"`,
            });
            return send(200, { Id: randomUUID(), Key: `${m[1]}/${m[2]}` });
        }
        return fail(404, "404", "not_found", "Route not found");
    };
    const server: Server = createServer((req, res) => {
        handle(req, res).catch((e) => {
            if (!res.headersSent) err(res, 500, "500", "internal", String(e?.message ?? e));
            else res.destroy();
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        buckets,
        requests,
        async stop() {
            server.closeAllConnections();
            await new Promise<void>((r) => server.close(() => r()));
        },
    };
}
