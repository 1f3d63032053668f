// The object list of a storage run or shard (manifest schema version 2): gzip-compressed NDJSON, one
// header line, then one StorageObject per line, strictly sorted by (bucket, name) in code-point order
// (= the UTF-8 byte order of PostgreSQL's "C" collation, so a listing of storage.objects and the list
// can be merge-compared without holding either). Written and read as a stream (jobs vault/object-list.ts).
import type { StorageObject } from "./manifest";
import { storageRunPrefix } from "./paths";

export const OBJECT_LIST_FORMAT = "supabase-backups/storage-objects";
export const OBJECT_LIST_VERSION = 1;

/** First line of every list: what it is and which run (and shard) wrote it. */
export interface ObjectListHeader {
    format: typeof OBJECT_LIST_FORMAT;
    version: typeof OBJECT_LIST_VERSION;
    env: string;
    runId: string;
    /** `I/N` for a shard's list; absent for a run's */
    shard?: string;
}

/** `…/{runId}/objects.ndjson.gz`; a list written under a new run id when the run re-links: `objects-<n>.ndjson.gz`. */
export function storageObjectListKey(env: string, runId: string, variant?: string): string {
    return `${storageRunPrefix(env, runId)}objects${variant ? `-${variant}` : ""}.ndjson.gz`;
}

/** `…/{runId}/shards/0003-of-0008.objects.ndjson.gz` */
export function storageShardObjectListKey(env: string, runId: string, index: number, count: number): string {
    return `${storageRunPrefix(env, runId)}shards/${String(index).padStart(4, "0")}-of-${String(count).padStart(4, "0")}.objects.ndjson.gz`;
}

/** A UTF-16 code unit mapped so that comparing mapped units orders strings by code point. */
function cpUnit(c: number): number {
    // surrogates (D800–DFFF, code points ≥ 0x10000) must sort after E000–FFFF
    return c >= 0xe000 ? c - 0x800 : c >= 0xd800 ? c + 0x2000 : c;
}

/** Code-point order of two strings (UTF-8 byte order; JavaScript's `<` is UTF-16 code-unit order). */
export function compareCodePoints(a: string, b: string): number {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        const x = a.charCodeAt(i);
        const y = b.charCodeAt(i);
        if (x !== y) return cpUnit(x) - cpUnit(y) < 0 ? -1 : 1;
    }
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Manifest and listing order: bucket, then name, by code point. */
export function compareStorageKeys(a: { bucket: string; name: string }, b: { bucket: string; name: string }): number {
    return compareCodePoints(a.bucket, b.bucket) || compareCodePoints(a.name, b.name);
}

/** One entry's line (without the newline). */
export function objectListLine(o: StorageObject): string {
    return JSON.stringify(o);
}
