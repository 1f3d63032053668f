// Merge-compare (pure): the previous run's entries and this run's listing, both sorted by (bucket, name)
// in code-point order, walked side by side. Each key comes out once, as unchanged, changed, new or gone,
// holding one item of each side: memory does not grow with the number of objects.
import { compareStorageKeys, type StorageObject } from "@supabase-backups/contracts";
import type { SourceObject } from "../../supabase/storage-source";

export type Step =
    | { kind: "unchanged"; prev: StorageObject; cur: SourceObject }
    | { kind: "changed"; prev: StorageObject; cur: SourceObject }
    | { kind: "new"; cur: SourceObject }
    | { kind: "gone"; prev: StorageObject };

/** Unchanged: same eTag and updated_at as the previous entry, and the same size (a row without a size compares on the rest). */
export function isUnchanged(p: StorageObject, o: SourceObject): boolean {
    return p.eTag === o.eTag && p.updatedAt === o.updatedAt && (o.size === null || p.size === o.size);
}

/** An iterator that refuses to go backwards: merge-compare on unsorted input would silently mis-pair. */
class Ordered<T extends { bucket: string; name: string }> {
    private readonly it: AsyncIterator<T>;
    head: T | undefined;
    private last: T | undefined;

    constructor(
        source: AsyncIterable<T>,
        private readonly what: string,
    ) {
        this.it = source[Symbol.asyncIterator]();
    }

    async advance(): Promise<void> {
        const r = await this.it.next();
        this.head = r.done ? undefined : r.value;
        if (this.head && this.last && compareStorageKeys(this.last, this.head) >= 0) {
            throw new Error(`${this.what} is not in (bucket, name) code-point order: ${this.head.bucket}/${this.head.name} came after ${this.last.bucket}/${this.last.name}`);
        }
        if (this.head) this.last = this.head;
    }

    async close(): Promise<void> {
        await this.it.return?.();
    }
}

export async function* mergeCompare(prev: AsyncIterable<StorageObject>, cur: AsyncIterable<SourceObject>): AsyncGenerator<Step> {
    const p = new Ordered(prev, "the previous run's object list");
    const c = new Ordered(cur, "the storage.objects listing");
    try {
        await p.advance();
        await c.advance();
        while (p.head || c.head) {
            const order = !p.head ? 1 : !c.head ? -1 : compareStorageKeys(p.head, c.head);
            if (order < 0) {
                yield { kind: "gone", prev: p.head! };
                await p.advance();
            } else if (order > 0) {
                yield { kind: "new", cur: c.head! };
                await c.advance();
            } else {
                const prevEntry = p.head!;
                const curRow = c.head!;
                yield isUnchanged(prevEntry, curRow) ? { kind: "unchanged", prev: prevEntry, cur: curRow } : { kind: "changed", prev: prevEntry, cur: curRow };
                await p.advance();
                await c.advance();
            }
        }
    } finally {
        await Promise.all([p.close(), c.close()]);
    }
}
