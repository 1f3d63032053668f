// Audit records for operator actions that touch data (restores, PITR requests, branches): who, when,
// why, what, the target with credentials removed, the result and durations (docs/security.md "Audit
// before action"). Two create-only records per action, each locked (COMPLIANCE) for as long as the
// longest-kept backup: `…/{eventId}.started.json` BEFORE anything is done (no record, no action), and
// `…/{eventId}.json` after — also for refusals and failures. A killed process leaves the first alone.
// The actor is the caller's cloud identity (identity.ts); `--actor` is kept beside it as a claim.
import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import type { S3Client } from "@aws-sdk/client-s3";
import {
    activeTiers,
    assertSchema,
    auditKey,
    AuditRecordSchema,
    auditStartedKey,
    compactStamp,
    redactUrl,
    retainUntil,
    type AuditRecord,
    type JobConfig,
    type RetentionPolicy,
    MANIFEST_SCHEMA_VERSION,
} from "@supabase-backups/contracts";
import { UsageError, errorMessage, JobFailure } from "../runtime/errors";
import { redact } from "../runtime/log";
import { putRecordOnce } from "./s3";
import { readAuditLog } from "./audit-log";

export interface AuditOptions {
    actor?: string;
    reason?: string;
}

/** Environments whose actions need a written reason. */
export function isProdEnv(env: string): boolean {
    return /^(prod|production|prd)$/i.test(env);
}

/** An audit record's lock: as long as the longest-kept tier's backups (prod: 7 years). */
export function auditRetainUntil(at: Date, retention: RetentionPolicy): Date {
    const ends = activeTiers(retention).map((t) => retainUntil(at, t, retention).getTime());
    return new Date(Math.max(at.getTime() + retention.objectLockMinDays * 86_400_000, ...ends));
}

/** What the operator says about themself (`--actor`, else $SUPABASE_BACKUPS_ACTOR, $USER / $LOGNAME, the OS user): a claim beside the identity. */
export function resolveActor(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
    const candidates = [flag, env.SUPABASE_BACKUPS_ACTOR, env.USER, env.LOGNAME];
    for (const c of candidates) if (c && c.trim()) return c.trim();
    try {
        return userInfo().username || "unknown";
    } catch {
        return "unknown";
    }
}

export function requireReason(env: string, reason: string | undefined): string | null {
    if (reason && reason.trim()) return reason.trim();
    if (isProdEnv(env)) throw new UsageError(`--reason is required in ${env}: say why (it goes into the audit record)`);
    return null;
}

/** A target for the record: URLs with their password and secret query parameters removed. */
export function auditTarget(target: string): string {
    return redact(/^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? redactUrl(target) : target);
}

export class AuditTrail {
    readonly eventId: string;
    readonly startedAt = new Date();
    private readonly durations: Record<string, number> = {};
    private runId: string | null = null;
    private readonly options: Record<string, unknown>;
    written?: { key: string; record: AuditRecord };

    /** the caller's cloud identity, established by begin() */
    actor = "";
    started?: { key: string; record: AuditRecord };

    constructor(
        private readonly s3: S3Client,
        private readonly bucket: string,
        readonly env: string,
        readonly action: string,
        /** who the operator says they are (--actor): recorded beside the identity, never instead */
        readonly actorClaim: string | null,
        readonly reason: string | null,
        private target: string,
        options: Record<string, unknown>,
        /** SSE-KMS key of the vault, when configured (sent like every other writer sends it) */
        private readonly kmsKeyArn: string | undefined,
        /** COMPLIANCE lock of both records */
        private readonly lockUntil: Date,
        private readonly identify: () => Promise<string>,
    ) {
        this.eventId = `${compactStamp(this.startedAt)}-${action.replace(/[^A-Za-z0-9_-]/g, "-")}-${randomBytes(4).toString("hex")}`;
        // Options as given, minus anything that could carry a credential.
        this.options = Object.fromEntries(
            Object.entries({ ...options, host: hostname() })
                .filter(([k, v]) => v !== undefined && !/url|token|key|secret|password/i.test(k))
                .map(([k, v]) => [k, typeof v === "string" ? redact(v) : v]),
        );
    }

    setRun(runId: string | null): void {
        this.runId = runId;
    }

    setTarget(target: string): void {
        this.target = target;
    }

    /** Facts learned while acting (e.g. the roles an incident froze), recorded with the options. */
    addOptions(facts: Record<string, unknown>): void {
        Object.assign(this.options, facts);
    }

    /** Time a phase; its seconds land in `durations`. */
    async time<T>(phase: string, fn: () => Promise<T>): Promise<T> {
        const t = Date.now();
        try {
            return await fn();
        } finally {
            this.durations[`${phase}Seconds`] = (this.durations[`${phase}Seconds`] ?? 0) + (Date.now() - t) / 1000;
        }
    }

    record(result: AuditRecord["result"], error: unknown): AuditRecord {
        const finishedAt = result === "started" ? null : new Date();
        return {
            schemaVersion: MANIFEST_SCHEMA_VERSION,
            kind: "audit",
            eventId: this.eventId,
            env: this.env,
            action: this.action,
            actor: this.actor,
            actorClaim: this.actorClaim,
            reason: this.reason,
            startedAt: this.startedAt.toISOString(),
            finishedAt: finishedAt?.toISOString() ?? null,
            runId: this.runId,
            target: auditTarget(this.target),
            options: this.options,
            result,
            error: error === undefined || error === null ? null : redact(errorMessage(error)).slice(0, 2000),
            durations: finishedAt ? { ...this.durations, totalSeconds: (finishedAt.getTime() - this.startedAt.getTime()) / 1000 } : {},
        };
    }

    /** Before any data action: who (the cloud identity), then the "started" record. Throws when either fails. */
    async begin(): Promise<string> {
        this.actor = await this.identify();
        const record = this.record("started", null);
        const key = await this.put(auditStartedKey(this.env, this.startedAt, this.eventId), record);
        this.started = { key, record };
        return key;
    }

    /** After the action: the record with its result. */
    async write(result: Exclude<AuditRecord["result"], "started">, error?: unknown): Promise<string> {
        const record = this.record(result, error);
        const key = await this.put(auditKey(this.env, this.startedAt, this.eventId), record);
        this.written = { key, record };
        return key;
    }

    /** Where the records go: the vault (an archive restore writes them to the archive: archive-runs.ts). */
    protected async put(key: string, record: AuditRecord): Promise<string> {
        assertSchema(AuditRecordSchema, record, "audit record");
        // Create-only (If-None-Match where the store enforces it), locked COMPLIANCE until lockUntil; no
        // `tier` tag, so no lifecycle rule expires it.
        await putRecordOnce(this.s3, { bucket: this.bucket, kmsKeyArn: this.kmsKeyArn }, { key, tags: { env: this.env, kind: "audit" }, retainUntil: this.lockUntil }, record);
        return key;
    }
}

/** A failure that was a deliberate refusal (not a crash): recorded with result "refused". */
export class Refusal extends JobFailure {
    constructor(message: string, exitCode: JobFailure["exitCode"] = 2) {
        super(message, exitCode);
        this.name = "Refusal";
    }
}

/**
 * Run an action under an audit record: the record is written whatever happens (succeeded, failed,
 * refused). A failure to write it is itself an error the operator sees.
 */
export async function audited<T>(trail: AuditTrail, fn: (trail: AuditTrail) => Promise<T>, log?: { info: (o: object, m: string) => void; error: (o: object, m: string) => void }): Promise<T> {
    try {
        const key = await trail.begin();
        log?.info({ auditKey: key, actor: trail.actor }, "audit record written: started");
    } catch (e) {
        // No record, no action: nothing has been read, written or requested yet.
        throw new JobFailure(`nothing done: the "started" audit record could not be written: ${redact(errorMessage(e)).split("\n")[0]}`);
    }
    let result: T;
    try {
        result = await fn(trail);
    } catch (e) {
        const kind: "refused" | "failed" = e instanceof Refusal || e instanceof UsageError ? "refused" : "failed";
        try {
            const key = await trail.write(kind, e);
            log?.info({ auditKey: key, result: kind }, "audit record written");
        } catch (we) {
            log?.error({ err: errorMessage(we) }, "could not write the audit record");
            throw new JobFailure(`${errorMessage(e)} (and the audit record could not be written: ${errorMessage(we)})`, e instanceof JobFailure ? e.exitCode : 1);
        }
        throw e;
    }
    try {
        const key = await trail.write("succeeded");
        log?.info({ auditKey: key, result: "succeeded" }, "audit record written");
    } catch (we) {
        throw new JobFailure(`the action succeeded but its audit record could not be written: ${errorMessage(we)}`);
    }
    return result;
}

/** The audit records of an env, one per action (its finished record, else its started one), oldest first. */
export async function listAudit(s3: S3Client, bucket: string, env: string, since?: Date): Promise<AuditRecord[]> {
    const log = await readAuditLog(s3, bucket, env);
    return log.entries.map((e) => e.record).filter((r) => !since || new Date(r.startedAt) >= since);
}
