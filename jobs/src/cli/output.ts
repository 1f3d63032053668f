// Human output for the operator commands: aligned tables on a terminal (and in pipes, plain), JSON with
// --json. Kept tiny: no colours, no dependency.

export type Cell = string | number | boolean | null | undefined;

export function renderTable(headers: string[], rows: Cell[][]): string {
    const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? "-" : String(c))));
    const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
    return [line(headers), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n") + "\n";
}

/** `key: value` lines, keys aligned. */
export function renderPairs(pairs: Array<[string, Cell]>): string {
    const w = Math.max(...pairs.map(([k]) => k.length));
    return pairs.map(([k, v]) => `${(k + ":").padEnd(w + 1)} ${v === null || v === undefined ? "-" : String(v)}`).join("\n") + "\n";
}

export function out(text: string): void {
    process.stdout.write(text);
}

export function outJson(value: unknown): void {
    process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function formatAge(seconds: number): string {
    if (!Number.isFinite(seconds)) return "never";
    const s = Math.max(0, Math.round(seconds));
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
}

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
