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
    if (e instanceof Error) {
        if (e.message && e.message !== "UnknownError") return e.message;
        // An S3-compatible server may answer with no message at all (the SDK says "UnknownError"): the
        // error code and the HTTP status are then all there is to say.
        const status = httpStatusOf(e);
        const code = (e as { Code?: string }).Code ?? e.name;
        return status ? `${code} (HTTP ${status})` : e.message || code;
    }
    return String(e);
}

/** The HTTP status of an AWS SDK (or Azure) error, if it has one. */
export function httpStatusOf(e: unknown): number | undefined {
    return (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
