// The streaming core of sync-storage, pure (no Postgres, no S3): merge-compare of the previous run's
// sorted entries with the sorted listing, code-point order, the ordered output of out-of-order
// transfers, and the k-way merge of shard lists.
import { strict as assert } from "node:assert";
import { compareCodePoints, compareStorageKeys, type StorageObject } from "@supabase-backups/contracts";
import { mergeCompare, type Step } from "../../../jobs/src/commands/sync-storage/compare";
import { OrderedOutput } from "../../../jobs/src/commands/sync-storage/ordered";
import { mergeSorted } from "../../../jobs/src/vault/object-list";
import type { SourceObject } from "../../../jobs/src/supabase/storage-source";

const entry = (bucket: string, name: string, eTag = '"e"'): StorageObject => ({
    bucket,
    name,
    size: 3,
    sha256: "a".repeat(64),
    contentType: null,
    cacheControl: null,
    metadata: {},
    updatedAt: "2026-01-01T00:00:00.000000Z",
    eTag,
    blobKey: "blobs/a",
});

const row = (bucket: string, name: string, eTag = '"e"'): SourceObject => ({
    bucket,
    name,
    id: "1",
    updatedAt: "2026-01-01T00:00:00.000000Z",
    eTag,
    size: 3,
    contentType: null,
    cacheControl: null,
    userMetadata: {},
});

async function* from<T>(xs: T[]): AsyncGenerator<T> {
    for (const x of xs) yield x;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
    const out: T[] = [];
    for await (const x of it) out.push(x);
    return out;
}

const describeStep = (s: Step) => `${s.kind}:${"cur" in s ? `${s.cur.bucket}/${s.cur.name}` : `${s.prev.bucket}/${s.prev.name}`}`;

describe("sync-storage: merge-compare and streaming order (pure)", () => {
    it("each key comes out once: unchanged, changed (eTag), new, gone — across buckets", async () => {
        const prev = [entry("a", "1"), entry("a", "2"), entry("a", "4", '"old"'), entry("b", "x"), entry("c", "gone")];
        const cur = [row("a", "1"), row("a", "3"), row("a", "4", '"new"'), row("b", "x"), row("b", "y")];
        const steps = await collect(mergeCompare(from(prev), from(cur)));
        assert.deepEqual(steps.map(describeStep), ["unchanged:a/1", "gone:a/2", "new:a/3", "changed:a/4", "unchanged:b/x", "new:b/y", "gone:c/gone"]);
        const changed = steps.find((s) => s.kind === "changed")!;
        assert.equal(changed.kind === "changed" && changed.prev.eTag, '"old"', "a changed step carries its previous entry");
    });

    it("empty sides: a first run is all new, a bucket emptied is all gone", async () => {
        assert.deepEqual((await collect(mergeCompare(from([]), from([row("a", "1"), row("a", "2")])))).map((s) => s.kind), ["new", "new"]);
        assert.deepEqual((await collect(mergeCompare(from([entry("a", "1")]), from([])))).map((s) => s.kind), ["gone"]);
    });

    it("out-of-order input on either side throws instead of mis-pairing", async () => {
        await assert.rejects(collect(mergeCompare(from([entry("a", "2"), entry("a", "1")]), from([]))), /previous run's object list is not in .*order: a\/1 came after a\/2/);
        await assert.rejects(collect(mergeCompare(from([]), from([row("a", "1"), row("a", "1")]))), /storage.objects listing is not in .*order/);
    });

    it("code-point order = UTF-8 byte order (PostgreSQL's \"C\"), not JavaScript's UTF-16 order", () => {
        const names = ["b", "a", "\uffff", "\u{1f600}", "ä", "a/b", "a b", "A", ""];
        const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual([...names].sort(compareCodePoints), byBytes);
        assert.ok("\u{1f600}" < "\uffff", "UTF-16 order puts the emoji first");
        assert.ok(compareCodePoints("\u{1f600}", "\uffff") > 0, "code-point order puts it last");
        assert.equal(compareStorageKeys({ bucket: "a", name: "z" }, { bucket: "b", name: "a" }), -1, "bucket first");
    });

    it("200 000 keys with 1 % changed, 1 % new, 1 % gone: every key classified once (memory is measured by bench:sync --scale)", async function () {
        this.timeout(120_000);
        const n = 200_000;
        const name = (i: number) => `o/${String(i).padStart(7, "0")}`;
        async function* prev() {
            for (let i = 0; i < n; i++) if (i % 100 !== 7) yield entry("a", name(i), i % 100 === 3 ? '"old"' : '"e"');
        }
        async function* cur() {
            for (let i = 0; i < n; i++) if (i % 100 !== 9) yield row("a", name(i));
        }
        const counts: Record<string, number> = {};
        for await (const s of mergeCompare(prev(), cur())) counts[s.kind] = (counts[s.kind] ?? 0) + 1;
        assert.deepEqual(counts, { unchanged: n - 3 * (n / 100), changed: n / 100, new: n / 100, gone: n / 100 });
    });

    it("OrderedOutput writes in push order although slots settle out of order, and holds at most `cap` behind an unsettled head", async () => {
        const written: number[] = [];
        const out = new OrderedOutput<number>(async (v) => void written.push(v), 4);
        let release!: (v: number) => void;
        const slow = new Promise<number>((r) => (release = r));
        await out.push(1);
        await out.push(slow);
        await out.push(3);
        await out.push(undefined); // nothing to record (a failed transfer)
        await out.push(Promise.resolve(5));
        assert.deepEqual(written, [1], "3 and 5 wait behind the unsettled slot");
        let pushed = false;
        const blocked = out.push(6).then(() => (pushed = true));
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(pushed, false, "more than `cap` behind the head: the producer waits");
        release(2);
        await blocked;
        await out.push(Promise.reject(new Error("transfer failed")));
        await out.finish();
        assert.deepEqual(written, [1, 2, 3, 5, 6]);
    });

    it("mergeSorted: shard lists into one sorted list; a key in two lists throws", async () => {
        const merged = await collect(mergeSorted([from([entry("a", "1"), entry("b", "2")]), from([entry("a", "0"), entry("a", "5")]), from([])]));
        assert.deepEqual(merged.map((o) => `${o.bucket}/${o.name}`), ["a/0", "a/1", "a/5", "b/2"]);
        await assert.rejects(collect(mergeSorted([from([entry("a", "1")]), from([entry("a", "1")])])), /a\/1 is in two shards' lists/);
    });
});
