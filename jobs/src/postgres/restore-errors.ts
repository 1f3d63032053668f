// Reading pg_restore's stderr. Every error fails a restore (a backup restored "with errors ignored" is
// not proven), with one exception that is known exactly: pg_restore 17+ writes
// `SET transaction_timeout = 0;` at the top of every archive it restores, and a server older than 17
// has no such parameter. That error, on that statement, changes nothing in the restored database, so
// it is set apart (and reported) instead of counted; any other error, however similar, still counts.

/** The one tolerated failure: the error line and the statement pg_restore reports under it. */
const TX_TIMEOUT_ERROR = /^pg_restore: error: could not execute query: ERROR:\s+unrecognized configuration parameter "transaction_timeout"$/;
const TX_TIMEOUT_COMMAND = /^Command was: SET transaction_timeout = 0;$/;
const IGNORED = /^pg_restore: warning: errors ignored on restore: (\d+)$/;
/** A table's data that did not load: pg_restore names the table (not its schema) … */
const COPY_FAILED = /^pg_restore: error: COPY failed for table "((?:[^"]|"")+)": (.*)$/;
/** … or, when the COPY statement itself failed, the statement names it qualified. */
const COPY_COMMAND = /^Command was: COPY ((?:"(?:[^"]|"")+"|[^\s.(]+)\.(?:"(?:[^"]|"")+"|[^\s(]+))/;

/** An error loading one table's data (the data section): the table as pg_restore named it. */
export interface DataError {
    /** `name` (COPY failed for table) or `schema.name` (from the failed COPY statement), unquoted */
    table: string;
    message: string;
}

export interface RestoreErrors {
    /** the first error lines (without the `pg_restore: error:` prefix) */
    errors: string[];
    errorCount: number;
    /** known-harmless errors set apart (see above), each as one line */
    tolerated: string[];
    /** errors that left a table's data (partly) unloaded: every one, not only the first */
    dataErrors: DataError[];
    /** pg_restore's own count of errors it ignored, when it printed one */
    ignoredReported?: number;
    /** the last 2000 characters of stderr */
    tail: string;
}

export class RestoreErrorScanner {
    private partial = "";
    /** an error line whose next line decides whether it is the tolerated one */
    private pending: string | undefined;
    readonly result: RestoreErrors = { errors: [], errorCount: 0, tolerated: [], dataErrors: [], tail: "" };
    /** the last counted error line, until a `Command was: COPY …` line names its table */
    private lastError: string | undefined;

    feed(chunk: string): void {
        const lines = (this.partial + chunk).split("\n");
        this.partial = lines.pop() ?? "";
        for (const line of lines) this.line(line);
    }

    finish(): RestoreErrors {
        if (this.partial) this.line(this.partial);
        this.partial = "";
        this.settlePending(undefined);
        return this.result;
    }

    private line(line: string): void {
        this.result.tail = (this.result.tail + line + "\n").slice(-2000);
        if (this.pending !== undefined) {
            const tolerated = TX_TIMEOUT_COMMAND.test(line);
            this.settlePending(tolerated ? line : undefined);
            if (tolerated) return;
        }
        const copy = COPY_COMMAND.exec(line);
        if (copy && this.lastError !== undefined) {
            this.result.dataErrors.push({ table: unquote(copy[1]), message: this.lastError.replace(/^pg_restore: error:\s*/, "") });
            this.lastError = undefined;
            return;
        }
        const ignored = IGNORED.exec(line);
        if (ignored) this.result.ignoredReported = Number(ignored[1]);
        else if (TX_TIMEOUT_ERROR.test(line)) this.pending = line;
        else if (/^pg_restore: error:/.test(line)) this.count(line);
    }

    private settlePending(command: string | undefined): void {
        if (this.pending === undefined) return;
        if (command) this.result.tolerated.push(`${this.pending.replace(/^pg_restore: error:\s*/, "")} (${command})`);
        else this.count(this.pending);
        this.pending = undefined;
    }

    private count(line: string): void {
        this.result.errorCount++;
        const failed = COPY_FAILED.exec(line);
        if (failed) this.result.dataErrors.push({ table: failed[1].replace(/""/g, '"'), message: failed[2] });
        this.lastError = failed ? undefined : line;
        if (this.result.errors.length < 5) this.result.errors.push(line.replace(/^pg_restore: error:\s*/, ""));
    }
}

/** `"a"."b"` or a.b → a.b (identifiers as written in a COPY statement). */
function unquote(qualified: string): string {
    return [...qualified.matchAll(/"((?:[^"]|"")+)"|([^."]+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2])).join(".");
}

/**
 * Did the restore succeed? Exit 0 with no error; or exit 1 (pg_restore exits 1 whenever it ignored an
 * error) where every error it printed is a tolerated one and it says it ignored errors rather than
 * stopped. Its count can be lower than the errors printed: with -j, the workers' errors are printed but
 * not all of them counted (seen with pg_restore 17.12: 4 printed, "errors ignored on restore: 2").
 */
export function restoreSucceeded(exitCode: number | null, r: RestoreErrors): boolean {
    if (r.errorCount > 0) return false;
    if (exitCode === 0) return true;
    const ignored = r.ignoredReported ?? 0;
    return exitCode === 1 && r.tolerated.length > 0 && ignored >= 1 && ignored <= r.tolerated.length;
}
