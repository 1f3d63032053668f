// A recording HTTP proxy in front of a test server (s3rver, Azurite). Those servers ignore Object Lock,
// tagging, checksum and immutability headers, so tests assert on what the client *sent*: every request's
// method, URL, headers, body size and sha256 (and the body itself when small). A test can also hold
// matching requests (a stalled server), drop them (a dead one), or answer them itself.
import { createHash } from "node:crypto";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
    bodyBytes: number;
    bodySha256: string;
    /** the body when it is at most 64 KiB (XML of CompleteMultipartUpload, Put Block List, manifests) */
    body?: Buffer;
    status?: number;
}

export type Verdict = "pass" | "hold" | "drop" | { status: number; body?: string; headers?: Record<string, string> };

export interface RecordingProxy {
    url: string;
    port: number;
    requests: RecordedRequest[];
    /** decide per request; default pass */
    intercept?: (r: { method: string; url: string; headers: IncomingHttpHeaders }) => Verdict;
    /** called when a request arrives (before the verdict) */
    onRequest?: (r: RecordedRequest) => void;
    /** adjust the upstream response's headers (play a server feature the test server lacks) */
    responseHeaders?: (r: RecordedRequest, headers: Record<string, string | string[] | undefined>) => void;
    /** forward every held request */
    release(): void;
    close(): Promise<void>;
}

const SMALL = 64 * 1024;

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
    const t = new URL(target);
    const held: Array<() => void> = [];
    const proxy: RecordingProxy = {
        url: "",
        port: 0,
        requests: [],
        release() {
            for (const go of held.splice(0)) go();
        },
        close: async () => undefined,
    };
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const rec: RecordedRequest = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, bodyBytes: 0, bodySha256: "" };
        proxy.requests.push(rec);
        proxy.onRequest?.(rec);
        const verdict = proxy.intercept?.({ method: rec.method, url: rec.url, headers: req.headers }) ?? "pass";
        const hash = createHash("sha256");
        const small: Buffer[] = [];
        const finishBody = () => {
            rec.bodySha256 = hash.digest("hex");
            if (rec.bodyBytes <= SMALL) rec.body = Buffer.concat(small);
        };
        const tap = (d: Buffer) => {
            hash.update(d);
            rec.bodyBytes += d.length;
            if (rec.bodyBytes <= SMALL) small.push(d);
        };
        if (verdict === "drop") {
            req.socket.destroy();
            return;
        }
        if (typeof verdict === "object") {
            req.on("data", tap);
            req.on("end", () => {
                finishBody();
                rec.status = verdict.status;
                res.writeHead(verdict.status, verdict.headers ?? {});
                res.end(verdict.body ?? "");
            });
            return;
        }
        const forward = () => {
            const up = httpRequest(
                { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
                (upRes) => {
                    rec.status = upRes.statusCode;
                    const headers = { ...upRes.headers };
                    proxy.responseHeaders?.(rec, headers);
                    res.writeHead(upRes.statusCode ?? 502, headers);
                    upRes.pipe(res);
                },
            );
            up.on("error", () => {
                // the server is gone: look like it to the client
                req.socket.destroy();
            });
            req.on("data", tap);
            req.on("end", finishBody);
            req.pipe(up);
        };
        if (verdict === "hold") {
            req.pause();
            held.push(forward);
        } else forward();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy.port = (server.address() as AddressInfo).port;
    proxy.url = `http://127.0.0.1:${proxy.port}`;
    proxy.close = () =>
        new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
        });
    return proxy;
}
