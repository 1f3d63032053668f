// runtime/concurrency: the limits sync-storage's transfers run under (pure, no I/O).
import { strict as assert } from "node:assert";
import { backoffMs, ByteBudget, Semaphore, TaskGroup } from "../../../jobs/src/runtime/concurrency";

/** A promise and its resolver, to let a test decide when a task ends. */
function gate(): { promise: Promise<void>; open: () => void } {
    let open!: () => void;
    const promise = new Promise<void>((r) => (open = r));
    return { promise, open };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("runtime/concurrency", () => {
    it("Semaphore: at most n at once, the others start in arrival order", async () => {
        const s = new Semaphore(2);
        const gates = [gate(), gate(), gate(), gate()];
        const started: number[] = [];
        let active = 0;
        let peak = 0;
        const all = gates.map((g, i) =>
            s.run(async () => {
                started.push(i);
                peak = Math.max(peak, ++active);
                await g.promise;
                active--;
                return i;
            }),
        );
        await tick();
        assert.deepEqual(started, [0, 1]);
        gates[1].open();
        await tick();
        assert.deepEqual(started, [0, 1, 2]);
        gates[0].open();
        gates[2].open();
        gates[3].open();
        assert.deepEqual(await Promise.all(all), [0, 1, 2, 3]);
        assert.deepEqual(started, [0, 1, 2, 3]);
        assert.equal(peak, 2);
    });

    it("Semaphore: a task that throws frees its slot", async () => {
        const s = new Semaphore(1);
        await assert.rejects(s.run(async () => Promise.reject(new Error("boom"))), /boom/);
        assert.equal(await s.run(async () => "next"), "next");
    });

    it("ByteBudget: waits until enough bytes are free, FIFO (a small request does not overtake a large one)", async () => {
        const b = new ByteBudget(10);
        await b.acquire(6);
        const order: string[] = [];
        const big = b.acquire(8).then(() => order.push("big"));
        const small = b.acquire(1).then(() => order.push("small"));
        await tick();
        assert.deepEqual(order, [], "4 free: the 8 waits, and the 1 waits behind it");
        b.release(6);
        await Promise.all([big, small]);
        assert.deepEqual(order, ["big", "small"]);
    });

    it("ByteBudget: a request above the capacity is clamped to it; zero never waits", async () => {
        const b = new ByteBudget(4);
        await b.acquire(100);
        await b.acquire(0);
        let got = false;
        const next = b.acquire(1).then(() => (got = true));
        await tick();
        assert.equal(got, false);
        b.release(100);
        await next;
        assert.equal(got, true);
    });

    it("TaskGroup: room() waits below the limit; the first failure is kept, reported once and rethrown by settle()", async () => {
        const failures: unknown[] = [];
        const g = new TaskGroup(2, (e) => failures.push(e));
        const a = gate();
        const b = gate();
        g.launch(a.promise);
        g.launch(b.promise);
        let roomy = false;
        const room = g.room().then(() => (roomy = true));
        await tick();
        assert.equal(roomy, false);
        a.open();
        await room;
        assert.equal(roomy, true);
        const first = new Error("first");
        g.launch(Promise.reject(first));
        g.launch(Promise.reject(new Error("second")));
        b.open();
        await assert.rejects(g.settle(), (e) => e === first);
        assert.equal(g.failed, true);
        assert.equal(g.failure, first);
        assert.deepEqual(failures, [first]);
    });

    it("TaskGroup: settle() resolves when every task succeeded", async () => {
        const g = new TaskGroup(1);
        g.launch(Promise.resolve());
        await g.room();
        g.launch(Promise.resolve());
        await g.settle();
        assert.equal(g.failed, false);
    });

    it("backoffMs: full jitter below base·2^attempt, capped at 30 s", () => {
        for (let i = 0; i < 200; i++) {
            const a = backoffMs(500, 2);
            assert.ok(a >= 0 && a < 2000, `${a}`);
            const capped = backoffMs(500, 20);
            assert.ok(capped >= 0 && capped < 30_000, `${capped}`);
        }
    });
});
