import { EXIT, type ExitCode } from "@supabase-backups/contracts";

/** A failure the CLI reports as one line and a specific exit code. */
export class JobFailure extends Error {
    constructor(
        message: string,
        readonly exitCode: ExitCode = EXIT.failed,
        readonly cause?: unknown,
    ) {
        super(message);
        this.name = "JobFailure";
    }
}

/** Usage errors: bad flags, bad config. Exit 2, nothing written. */
export class UsageError extends JobFailure {
    constructor(message: string) {
        super(message, EXIT.usage);
        this.name = "UsageError";
    }
}

export function errorMessage(e: unknown): string {
    if (e instanceof AggregateError && e.errors.length) return e.errors.map(errorMessage).join("; ");
    if (e instanceof Error) return e.message || e.name;
    return String(e);
}
