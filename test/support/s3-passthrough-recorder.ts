// The S3Recorder interface (test/support/s3-recorder.ts) in front of a server that verifies SigV4 and
// enforces Object Lock itself (Ceph RGW): every request is forwarded unchanged — Host header included,
// so signatures still verify — and recorded (method, bucket/key path, query, headers, small bodies,
// status). Unlike s3-recorder it answers nothing itself (`PUT ?retention` reaches the server) and
// injects no faults: refuse() and retentionError() throw unless cleared (undefined). Tests that need faults stay on s3rver.
import { startRecordingProxy } from "./recording-proxy";
import type { RecordedRequest, S3Recorder } from "./s3-recorder";

export async function startPassthroughRecorder(target: string): Promise<S3Recorder> {
    const proxy = await startRecordingProxy(target);
    const view = (): RecordedRequest[] =>
        proxy.requests.map((r) => {
            const u = new URL(r.url, "http://x");
            return {
                method: r.method,
                path: decodeURIComponent(u.pathname.replace(/^\//, "")),
                query: u.search.replace(/^\?/, ""),
                headers: r.headers,
                body: r.body && r.bodyBytes <= 64 * 1024 && !/(^|&)partNumber=/.test(u.search.slice(1)) ? r.body.toString("utf8") : undefined,
                status: r.status ?? 0,
            };
        });
    const isObjectPut = (r: RecordedRequest) => r.method === "PUT" && !/(^|&)(retention|tagging|uploadId|partNumber)(=|&|$)/.test(r.query);
    const keyOf = (r: RecordedRequest) => r.path.split("/").slice(1).join("/");
    return {
        endpoint: proxy.url,
        get requests() {
            return view();
        },
        clear() {
            proxy.requests.length = 0;
        },
        refuse(pred) {
            if (pred) throw new Error("passthrough recorder: no fault injection (keep this test on s3rver)");
        },
        retentionError(fn) {
            if (fn) throw new Error("passthrough recorder: no fault injection (keep this test on s3rver)");
        },
        answer(fn) {
            if (fn) throw new Error("passthrough recorder: no fault injection (keep this test on s3rver)");
        },
        objectPuts(prefix = "") {
            return view().filter((r) => isObjectPut(r) && keyOf(r).startsWith(prefix));
        },
        retentionPuts(prefix = "") {
            return view().filter((r) => r.method === "PUT" && /(^|&)retention(=|&|$)/.test(r.query) && keyOf(r).startsWith(prefix));
        },
        stop: () => proxy.close(),
    } as S3Recorder;
}
