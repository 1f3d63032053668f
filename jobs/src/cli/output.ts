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
