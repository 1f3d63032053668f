// Times and durations as operators type them (flags such as --at, --older-than), parsed one way for
// every command.

/** `30m`, `5m`, `2h`, `90s`, `1d` → milliseconds. */
export function parseDuration(s: string): number {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?$/.exec(s.trim());
    if (!m) throw new Error(`not a duration: "${s}" (e.g. 5m, 90s, 2h)`);
    const n = parseFloat(m[1]);
    const unit = m[2] ?? "s";
    const mult = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
    return Math.round(n * mult);
}

/** An instant from the command line: ISO 8601 (a missing zone means UTC), or unix seconds. */
export function parseInstant(s: string, flag: string): Date {
    const t = s.trim();
    let d: Date;
    if (/^\d{9,11}$/.test(t)) d = new Date(parseInt(t, 10) * 1000);
    else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(t)) d = new Date(t.replace(" ", "T") + (t.length === 10 ? "T00:00:00Z" : "Z"));
    else d = new Date(t);
    if (Number.isNaN(d.getTime())) throw new Error(`${flag}: not a time: "${s}" (ISO 8601 like 2026-11-22T10:30:00Z, or unix seconds)`);
    return d;
}
