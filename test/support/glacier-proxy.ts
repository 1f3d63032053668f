// S3 GLACIER in front of a real S3 (Ceph RGW): a proxy that forwards every request unchanged (the Host
// header included, so SigV4 still verifies at RGW, and Object Lock, versions and tags stay RGW's) and, for
// the keys a test archives, plays what AWS does with an object in S3 Glacier Flexible Retrieval
// (docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html, …/API_HeadObject.html):
//   - GET of the object (any version, any range) → 403 InvalidObjectState, the error XML AWS sends;
//     subresources (?tagging, ?retention, ?versions) still reach RGW, as AWS still serves them;
//   - HEAD → RGW's answer plus `x-amz-storage-class: GLACIER` (or DEEP_ARCHIVE) and, once a restore was
//     asked for, `x-amz-restore: ongoing-request="true"`; after thaw(), `ongoing-request="false",
//     expiry-date="…"`, and GET is forwarded again;
//   - POST ?restore → 202 the first time, 409 RestoreAlreadyInProgress while it runs, 200 once restored.
// RGW itself (Pacific) cannot play this: its local storage classes (a GLACIER class added to the
// placement) stay readable by GET, and only its cloud-transition tier refuses reads (see docs/testing.md).
import type { IncomingHttpHeaders } from "node:http";
import { startRecordingProxy, type RecordedRequest, type RecordingProxy } from "./recording-proxy";

export type GlacierState = "archived" | "restoring" | "restored";

export interface RestoreRequestSeen {
    key: string;
    versionId: string | null;
    body: string;
    status: number;
}

export interface GlacierProxy {
    endpoint: string;
    proxy: RecordingProxy;
    /** archive keys (every version of each) in a storage class */
    archive(keys: string[], storageClass?: "GLACIER" | "DEEP_ARCHIVE"): void;
    /** the restore finished: HEAD says ongoing-request="false", GET reads again */
    thaw(keys?: string[]): void;
    /** forget a key (it reads as on RGW again) */
    release(keys: string[]): void;
    state(key: string): GlacierState | undefined;
    /** every POST ?restore that reached the proxy, in order */
    restores(): RestoreRequestSeen[];
    /** GETs of archived objects refused with InvalidObjectState */
    refusedGets(): string[];
    stop(): Promise<void>;
}

const INVALID_OBJECT_STATE = (key: string, cls: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidObjectState</Code><Message>The operation is not valid for the object's storage class</Message><StorageClass>${cls}</StorageClass><Key>${key}</Key><RequestId>glacier-proxy</RequestId></Error>`;
const RESTORE_IN_PROGRESS = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RestoreAlreadyInProgress</Code><Message>Object restore is already in progress</Message><RequestId>glacier-proxy</RequestId></Error>`;

function parse(url: string): { key: string; query: URLSearchParams } {
    const u = new URL(url, "http://x");
    // path style: /bucket/key
    return { key: decodeURIComponent(u.pathname.replace(/^\/[^/]+\//, "")), query: u.searchParams };
}

/** a subresource request (not the object's bytes): forwarded even for an archived key */
const isSubresource = (q: URLSearchParams) => ["tagging", "retention", "legal-hold", "versions", "acl", "uploads", "uploadId"].some((k) => q.has(k));

export async function startGlacierProxy(target: string): Promise<GlacierProxy> {
    const proxy = await startRecordingProxy(target);
    const keys = new Map<string, { state: GlacierState; cls: string }>();
    const restores: RestoreRequestSeen[] = [];
    const refused: string[] = [];
    const expiry = new Date(Date.now() + 7 * 86_400_000).toUTCString();

    proxy.intercept = (r: { method: string; url: string; headers: IncomingHttpHeaders }) => {
        const { key, query } = parse(r.url);
        const k = keys.get(key);
        if (!k) return "pass";
        if (r.method === "POST" && query.has("restore")) {
            const status = k.state === "archived" ? 202 : k.state === "restoring" ? 409 : 200;
            restores.push({ key, versionId: query.get("versionId"), body: "", status });
            if (k.state === "archived") k.state = "restoring";
            return status === 409 ? { status, body: RESTORE_IN_PROGRESS, headers: { "content-type": "application/xml" } } : { status };
        }
        if (r.method === "GET" && !isSubresource(query) && k.state !== "restored") {
            refused.push(key);
            return { status: 403, body: INVALID_OBJECT_STATE(key, k.cls), headers: { "content-type": "application/xml" } };
        }
        return "pass";
    };
    proxy.responseHeaders = (rec: RecordedRequest, headers) => {
        if (rec.method !== "HEAD") return;
        const k = keys.get(parse(rec.url).key);
        if (!k || (rec.status ?? 0) >= 300) return;
        headers["x-amz-storage-class"] = k.cls;
        if (k.state === "restoring") headers["x-amz-restore"] = 'ongoing-request="true"';
        if (k.state === "restored") headers["x-amz-restore"] = `ongoing-request="false", expiry-date="${expiry}"`;
    };
    // the restore request's body (tier, days) is recorded by the proxy once read: attach it on demand
    const withBodies = (): RestoreRequestSeen[] => {
        const posts = proxy.requests.filter((q) => q.method === "POST" && /[?&]restore(=|&|$)/.test(q.url));
        return restores.map((r, i) => ({ ...r, body: posts[i]?.body?.toString("utf8") ?? "" }));
    };
    return {
        endpoint: proxy.url,
        proxy,
        archive(ks, cls = "GLACIER") {
            for (const k of ks) keys.set(k, { state: "archived", cls });
        },
        thaw(ks) {
            for (const [k, v] of keys) if (!ks || ks.includes(k)) v.state = "restored";
        },
        release(ks) {
            for (const k of ks) keys.delete(k);
        },
        state: (k) => keys.get(k)?.state,
        restores: withBodies,
        refusedGets: () => [...refused],
        stop: () => proxy.close(),
    };
}
