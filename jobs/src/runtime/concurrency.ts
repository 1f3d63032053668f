// Concurrency limits shared by the jobs: a slot semaphore, a byte budget, a bounded set of background
// tasks that stops at the first failure, and retry backoff. Nothing here knows what the tasks do.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Full-jitter exponential backoff: a random wait below base·2^attempt, capped at 30 s (spreads retries of many callers). */
export function backoffMs(base: number, attempt: number): number {
    return Math.random() * Math.min(30_000, base * 2 ** attempt);
}

/** At most `n` of the tasks given to `run` at once, FIFO. */
export class Semaphore {
    private active = 0;
    private readonly waiting: Array<() => void> = [];
    constructor(private readonly n: number) {}

    async run<T>(fn: () => Promise<T>): Promise<T> {
        if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
        else this.active++;
        try {
            return await fn();
        } finally {
            // Hand the slot straight to the next waiter, so no newcomer can overtake it.
            const next = this.waiting.shift();
            if (next) next();
            else this.active--;
        }
    }
}

/**
 * A pool of bytes: `acquire(n)` waits (FIFO) until n are free. A request above the capacity is clamped
 * to it (it waits for the whole pool rather than forever).
 */
export class ByteBudget {
    private free: number;
    private readonly waiting: Array<{ n: number; go: () => void }> = [];
    constructor(private readonly capacity: number) {
        this.free = capacity;
    }

    async acquire(n: number): Promise<void> {
        n = Math.min(n, this.capacity);
        if (n === 0) return;
        // FIFO: a small request does not overtake a large one already waiting (no starvation).
        if (!this.waiting.length && this.free >= n) {
            this.free -= n;
            return;
        }
        await new Promise<void>((go) => this.waiting.push({ n, go }));
    }

    release(n: number): void {
        n = Math.min(n, this.capacity);
        if (n === 0) return;
        this.free += n;
        while (this.waiting.length && this.free >= this.waiting[0].n) {
            const w = this.waiting.shift()!;
            this.free -= w.n;
            w.go();
        }
    }
}

/**
 * Background tasks, at most `limit` running: the producer awaits `room()` before each `launch`, so it
 * waits instead of queueing without bound. The first task that fails is kept (`failed`, `failure`) and
 * `onFailure` runs once (e.g. to abort the others); `settle()` waits for all and rethrows it.
 */
export class TaskGroup {
    private readonly running = new Set<Promise<void>>();
    private first: { error: unknown } | undefined;

    constructor(
        private readonly limit: number,
        private readonly onFailure: (e: unknown) => void = () => undefined,
    ) {}

    get failed(): boolean {
        return this.first !== undefined;
    }

    get failure(): unknown {
        return this.first?.error;
    }

    async room(): Promise<void> {
        while (this.running.size >= this.limit) await Promise.race(this.running);
    }

    launch(task: Promise<void>): void {
        const t = task
            .catch((e) => {
                if (this.first) return;
                this.first = { error: e };
                this.onFailure(e);
            })
            .finally(() => this.running.delete(t));
        this.running.add(t);
    }

    async settle(): Promise<void> {
        await Promise.all(this.running);
        if (this.first) throw this.first.error;
    }
}
