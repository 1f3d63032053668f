// The shard's entries leave in listing order although transfers finish out of order: each entry takes a
// slot (a value, or the promise of its transfer or lock extension), settled slots at the head are written
// at once, and when more than `cap` slots wait behind an unsettled head the listing waits for it. Memory:
// at most `cap` entries, whatever the number of objects.
export class OrderedOutput<T> {
    private queue: Array<{ done: boolean; value: T | undefined; promise: Promise<unknown> }> = [];
    /** index of the head in `queue` (shift() would copy the whole array per entry) */
    private head = 0;

    constructor(
        private readonly sink: (v: T) => Promise<void>,
        private readonly cap: number,
    ) {}

    /** Queue the next entry (undefined, or a promise resolving to undefined: nothing to record). */
    async push(v: T | undefined | Promise<T | undefined>): Promise<void> {
        if (v instanceof Promise) {
            const slot = { done: false, value: undefined as T | undefined, promise: Promise.resolve() as Promise<unknown> };
            // a rejected slot records nothing: the failure itself reaches the run through its task group
            slot.promise = v.then(
                (x) => ((slot.value = x), (slot.done = true)),
                () => (slot.done = true),
            );
            this.queue.push(slot);
        } else {
            this.queue.push({ done: true, value: v, promise: Promise.resolve() });
        }
        await this.drain(this.cap);
    }

    /** Write every settled head; while more than `keep` wait, wait for the head. */
    private async drain(keep: number): Promise<void> {
        while (this.head < this.queue.length) {
            const head = this.queue[this.head];
            if (!head.done) {
                if (this.queue.length - this.head <= keep) return;
                await head.promise;
            }
            this.queue[this.head++] = undefined as never;
            if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
                this.queue = this.queue.slice(this.head);
                this.head = 0;
            }
            if (head.value !== undefined) await this.sink(head.value);
        }
    }

    /** Wait for and write everything queued. */
    finish(): Promise<void> {
        return this.drain(0);
    }
}
