// Cron schedules: syntax check, and the longest gap between two firings. The gap drives the dead man's
// switch (no complete run within period + grace) and the policy pack's RPO check.
import { CronExpressionParser } from "cron-parser";

/** Kubernetes CronJob accepts 5 fields (no seconds); so do we. */
export function isValidCron(expr: string): boolean {
    if (typeof expr !== "string" || expr.trim().split(/\s+/).length !== 5) return false;
    try {
        CronExpressionParser.parse(expr, { tz: "Etc/UTC" });
        return true;
    } catch {
        return false;
    }
}

/**
 * The longest interval, in seconds, between consecutive firings over a year starting at `from`
 * (a year covers month lengths, leap days and DST shifts in `timeZone`).
 */
export function maxIntervalSeconds(expr: string, timeZone = "Etc/UTC", from = new Date(Date.UTC(2026, 0, 1))): number {
    const it = CronExpressionParser.parse(expr, { tz: timeZone, currentDate: from });
    const end = from.getTime() + 366 * 86_400_000;
    let prev = it.next().getTime();
    let max = 0;
    for (let i = 0; i < 200_000; i++) {
        const next = it.next().getTime();
        max = Math.max(max, next - prev);
        prev = next;
        if (next > end) break;
    }
    return Math.round(max / 1000);
}

/** The most recent firing at or before `at`. */
export function previousFiring(expr: string, timeZone: string, at: Date): Date {
    return CronExpressionParser.parse(expr, { tz: timeZone, currentDate: new Date(at.getTime() + 1000) }).prev().toDate();
}

/** Every firing in [from, to), in order (status's timeline: which days a run was due). */
export function firingsBetween(expr: string, timeZone: string, from: Date, to: Date): Date[] {
    const it = CronExpressionParser.parse(expr, { tz: timeZone, currentDate: new Date(from.getTime() - 1) });
    const out: Date[] = [];
    for (let i = 0; i < 100_000; i++) {
        const next = it.next().toDate();
        if (next.getTime() >= to.getTime()) break;
        if (next.getTime() >= from.getTime()) out.push(next);
    }
    return out;
}
