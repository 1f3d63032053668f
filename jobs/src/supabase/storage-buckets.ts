// Removing a bucket a drill restored into (docs/operations.md "Restore drills"), through the Storage REST
// API with the service-role key: `POST /storage/v1/bucket/{id}/empty`, then `DELETE /storage/v1/bucket/{id}`
// (refused while objects remain; hosted Storage may empty in the background, so the delete is retried).
// Only ever a `restored-*` bucket: a drill never touches a bucket the project uses.
import { errorMessage } from "../runtime/errors";

export const RESTORED_BUCKET_PREFIX = "restored-";

export interface StorageRest {
    /** the project URL (supabase.url or https://<ref>.supabase.co), without a trailing slash */
    projectUrl: string;
    serviceRoleKey: string;
}

async function call(rest: StorageRest, method: string, path: string): Promise<{ status: number; text: string }> {
    const r = await fetch(`${rest.projectUrl}/storage/v1${path}`, {
        method,
        headers: { apikey: rest.serviceRoleKey, authorization: `Bearer ${rest.serviceRoleKey}`, "content-type": "application/json" },
        body: method === "POST" ? "{}" : undefined,
        signal: AbortSignal.timeout(60_000),
    });
    return { status: r.status, text: (await r.text()).slice(0, 300) };
}

/**
 * Empty and delete a restored-* bucket. Returns undefined when it is gone (or never existed), else one
 * line saying why not.
 */
export async function deleteRestoredBucket(rest: StorageRest, bucket: string, attempts = 5, waitMs = 2000): Promise<string | undefined> {
    if (!bucket.startsWith(RESTORED_BUCKET_PREFIX)) return `refusing to delete bucket ${bucket}: a drill only removes ${RESTORED_BUCKET_PREFIX}* buckets`;
    const id = encodeURIComponent(bucket);
    try {
        const emptied = await call(rest, "POST", `/bucket/${id}/empty`);
        if (emptied.status === 404) return undefined;
        if (emptied.status >= 300) return `emptying ${bucket}: HTTP ${emptied.status} ${emptied.text}`;
        let last = "";
        for (let i = 0; i < attempts; i++) {
            const del = await call(rest, "DELETE", `/bucket/${id}`);
            if (del.status < 300 || del.status === 404) return undefined;
            last = `HTTP ${del.status} ${del.text}`;
            await new Promise((r) => setTimeout(r, waitMs));
        }
        return `deleting ${bucket}: ${last}`;
    } catch (e) {
        return `deleting ${bucket}: ${errorMessage(e).split("\n")[0]}`;
    }
}
