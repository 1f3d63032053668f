// Progress: a live line on a terminal, a log line every few seconds in a pod.
import type { Logger } from "./log";

export function formatBytes(n: number): string {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export class Progress {
    private bytes = 0;
    private items = 0;
    private readonly started = Date.now();
    private timer?: NodeJS.Timeout;
    private readonly tty = !!process.stderr.isTTY && !process.env.CI;

    constructor(
        private readonly label: string,
        private readonly log: Logger,
        private readonly intervalMs = 5000,
    ) {}

    start(): this {
        this.timer = setInterval(() => this.report(), this.tty ? 500 : this.intervalMs);
        this.timer.unref();
        return this;
    }

    add(bytes: number, items = 0): void {
        this.bytes += bytes;
        this.items += items;
    }

    get totalBytes(): number {
        return this.bytes;
    }

    private line(): string {
        const secs = (Date.now() - this.started) / 1000;
        const rate = secs > 0 ? this.bytes / secs : 0;
        return `${this.label}: ${formatBytes(this.bytes)}${this.items ? `, ${this.items} objects` : ""} in ${secs.toFixed(0)} s (${formatBytes(rate)}/s)`;
    }

    private report(): void {
        if (this.tty) process.stderr.write(`\r\x1b[K${this.line()}`);
        else this.log.info({ bytes: this.bytes, items: this.items, seconds: (Date.now() - this.started) / 1000 }, this.line());
    }

    /** Idempotent: the final line is printed once, however many steps stop it. */
    stop(): void {
        if (!this.timer) return;
        clearInterval(this.timer);
        this.timer = undefined;
        if (this.tty) process.stderr.write(`\r\x1b[K${this.line()}\n`);
    }
}
