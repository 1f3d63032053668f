// JSON-lines logs (pino) on stderr; human output goes to stdout. Every log line and error message is
// scrubbed of the secrets this process holds, whatever field they hide in.
import pino, { type Logger } from "pino";
import { scrub } from "@supabase-backups/contracts";

const secretValues = new Set<string>();

/** Register a value that must never be printed (called for every secret read from the environment). */
export function registerSecret(value: string | undefined): void {
    if (value && value.length >= 4) secretValues.add(value);
}

export function redact(text: string): string {
    return scrub(text, secretValues);
}

export function createLogger(bindings: Record<string, unknown> = {}, level = process.env.LOG_LEVEL ?? "info"): Logger {
    return pino(
        {
            level,
            base: { ...bindings },
            timestamp: pino.stdTimeFunctions.isoTime,
            formatters: { level: (label) => ({ level: label }) },
            hooks: {
                // Scrub the whole serialized line: a secret can hide in any field (err.message, a URL).
                streamWrite: (line: string) => redact(line),
            },
        },
        pino.destination({ fd: 2, sync: true }),
    );
}

export type { Logger };
