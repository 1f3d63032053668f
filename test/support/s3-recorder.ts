// A recording HTTP proxy in front of an S3 test server (s3rver): tests point the job's vault endpoint at
// it and assert on what the job *sends* (Object Lock headers, checksums, tags, retention calls) — the
// parts s3rver ignores. It answers `PUT ?retention` itself (s3rver does not implement it) and can play
// an unreachable vault (connections reset) from a given request on.
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server } from "node:http";

export interface RecordedRequest {
    method: string;
    /** bucket/key path, decoded */
    path: string;
    /** raw query string without `?` */
    query: string;
    headers: Record<string, string | string[] | undefined>;
    /** request body for small non-object bodies (retention XML, tagging XML) */
    body?: string;
    status: number;
}

export interface S3Recorder {
    endpoint: string;
    requests: RecordedRequest[];
    clear(): void;
    /** when set, requests matching it are refused by resetting the connection (the vault is "down") */
    refuse(pred: ((r: { method: string; path: string; query: string }) => boolean) | undefined): void;
    /**
     * Answer `PUT ?retention` for a key with an S3 error instead of 200 (e.g. 403 AccessDenied "Access
     * Denied because object protected by object lock." when the request would shorten a COMPLIANCE lock).
     */
    retentionError(fn: ((key: string) => { status: number; code: string; message: string } | undefined) | undefined): void;
    /**
     * Answer matching requests itself (a state s3rver cannot play, e.g. an archived object: GET → 403
     * InvalidObjectState, while its tags still read); undefined from `fn` forwards the request.
     */
    answer(fn: ((r: { method: string; key: string; query: string }) => { status: number; body: string } | undefined) | undefined): void;
    /** PUTs of objects (not ?retention / ?tagging) under a key prefix */
    objectPuts(prefix?: string): RecordedRequest[];
    /** PUT ?retention calls */
    retentionPuts(prefix?: string): RecordedRequest[];
    stop(): Promise<void>;
}

export async function startS3Recorder(target: string): Promise<S3Recorder> {
    const t = new URL(target);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const requests: RecordedRequest[] = [];
    let refuse: ((r: { method: string; path: string; query: string }) => boolean) | undefined;
    let retentionError: ((key: string) => { status: number; code: string; message: string } | undefined) | undefined;
    let answer: ((r: { method: string; key: string; query: string }) => { status: number; body: string } | undefined) | undefined;

    const server: Server = createServer((req: IncomingMessage, res) => {
        const u = new URL(req.url ?? "/", "http://x");
        const path = decodeURIComponent(u.pathname.replace(/^\//, ""));
        const query = u.search.replace(/^\?/, "");
        const method = req.method ?? "GET";
        const rec: RecordedRequest = { method, path, query, headers: { ...req.headers }, status: 0 };
        if (refuse?.({ method, path, query })) {
            rec.status = -1;
            requests.push(rec);
            req.socket.destroy();
            return;
        }
        const own = answer?.({ method, key: path.split("/").slice(1).join("/"), query });
        if (own) {
            rec.status = own.status;
            requests.push(rec);
            req.resume();
            res.writeHead(own.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(own.body) });
            res.end(own.body);
            return;
        }
        const isSubresource = /(^|&)(retention|tagging|legal-hold)(=|&|$)/.test(query);
        if (method === "PUT" && /(^|&)retention(=|&|$)/.test(query)) {
            const chunks: Buffer[] = [];
            req.on("data", (c) => chunks.push(c));
            req.on("end", () => {
                rec.body = Buffer.concat(chunks).toString("utf8");
                const err = retentionError?.(path.split("/").slice(1).join("/"));
                if (err) {
                    const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${err.code}</Code><Message>${err.message}</Message></Error>`;
                    rec.status = err.status;
                    requests.push(rec);
                    res.writeHead(err.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(xml) });
                    res.end(xml);
                    return;
                }
                rec.status = 200;
                requests.push(rec);
                res.writeHead(200, { "content-length": "0" });
                res.end();
            });
            return;
        }
        requests.push(rec);
        const chunks: Buffer[] | undefined = isSubresource ? [] : undefined;
        const up = httpRequest(
            { host: t.hostname, port: t.port, method, path: req.url, headers: { ...req.headers, host: t.host }, agent },
            (r) => {
                rec.status = r.statusCode ?? 0;
                res.writeHead(r.statusCode ?? 502, r.headers);
                r.pipe(res);
            },
        );
        up.on("error", () => res.destroy());
        if (chunks) req.on("data", (c) => chunks.push(c)).on("end", () => (rec.body = Buffer.concat(chunks).toString("utf8")));
        req.pipe(up);
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    const isObjectPut = (r: RecordedRequest) => r.method === "PUT" && !/(^|&)(retention|tagging|uploadId|partNumber)(=|&|$)/.test(r.query);
    return {
        endpoint: `http://127.0.0.1:${port}`,
        requests,
        clear() {
            requests.length = 0;
        },
        refuse(pred) {
            refuse = pred;
        },
        retentionError(fn) {
            retentionError = fn;
        },
        answer(fn) {
            answer = fn;
        },
        objectPuts(prefix = "") {
            return requests.filter((r) => isObjectPut(r) && r.path.split("/").slice(1).join("/").startsWith(prefix));
        },
        retentionPuts(prefix = "") {
            return requests.filter((r) => r.method === "PUT" && /(^|&)retention(=|&|$)/.test(r.query) && r.path.split("/").slice(1).join("/").startsWith(prefix));
        },
        async stop() {
            server.closeAllConnections();
            await new Promise<void>((r) => server.close(() => r()));
            agent.destroy();
        },
    };
}
