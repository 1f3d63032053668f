// The outcome of the last `cap` blobs a run stored or extended, by blob key, oldest first: dedup within
// the run without a set of every blob (blobs.ts, archive-copy.ts).
//
// At a million objects this is one of the few things a run holds that grows with it (up to `cap`
// entries; docs/benchmarks.md "A million objects"), so an entry is kept small: this env's content-
// addressed key is held as its digest's 32 bytes (a 48-byte string instead of the ~200 bytes of the key
// string built for each lookup). Callers share one lock-end string for what they set themselves.
import { prefixes } from "@supabase-backups/contracts";

const DIGEST = /^[0-9a-f]{64}$/;

export class RecentBlobs<V> {
    private readonly map = new Map<string, V>();
    /** `{prefix}ab/` + 64 hex: storageBlobKey's shape */
    private readonly prefix: string;

    constructor(
        env: string,
        private readonly cap: number,
    ) {
        this.prefix = prefixes.storageBlobs(env);
    }

    /**
     * The map's key for a blob key. Any other key (a previous entry's foreign key) stays whole, behind a
     * character above U+00FF: it can never equal a digest's latin1 string.
     */
    private id(key: string): string {
        const digest = key.slice(-64);
        if (key.length === this.prefix.length + 67 && key.startsWith(this.prefix) && key.startsWith(`${digest.slice(0, 2)}/`, this.prefix.length) && DIGEST.test(digest)) {
            return Buffer.from(digest, "hex").toString("latin1");
        }
        return `\u0100${key}`;
    }

    get(key: string): V | undefined {
        return this.map.get(this.id(key));
    }

    /** Remember `v` as the newest; the oldest beyond `cap` is forgotten. */
    set(key: string, v: V): V {
        const id = this.id(key);
        this.map.delete(id);
        this.map.set(id, v);
        if (this.map.size > this.cap) this.map.delete(this.map.keys().next().value!);
        return v;
    }

    get size(): number {
        return this.map.size;
    }
}
