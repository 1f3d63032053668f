// The dump run's pure parts: tool arguments, the S3 part size, the lock's end, the manifest and the
// one-line summary. No I/O here; engine.ts does that.
import type { ConfigSnapshot, DbManifest, JobConfig, Tier } from "@supabase-backups/contracts";
import { formatBytes } from "../../runtime/progress";
import type { CompressionPlan } from "../../postgres/client-tools";
import type { PgTarget } from "../../postgres/connection";
import type { DbSnapshot, SnapshotFacts } from "../../postgres/snapshot";
import type { ObjectResult, Secondary } from "./transfer";

/** S3 multipart parts are at least this big. */
export const MIN_PART_SIZE_MIB = 5;

/** pg_dump's arguments: the target, no password prompt, the lock wait, `extra`, the config's excluded schemas. */
export function pgDumpArgs(t: PgTarget, extra: string[], config: JobConfig, lockWaitTimeoutSec: number): string[] {
    const args = ["--dbname", t.dbnameArg, "--no-password", `--lock-wait-timeout=${lockWaitTimeoutSec}s`, ...extra];
    for (const s of config.dump?.excludeSchemas ?? []) args.push(`--exclude-schema=${s}`);
    return args;
}

/** pg_dumpall's arguments for roles.sql: roles only, without passwords. */
export function rolesArgs(t: PgTarget): string[] {
    return ["--dbname", t.dbnameArg, "--no-password", "--roles-only", "--no-role-passwords"];
}

/** A roles dump the server refused (expected on managed Postgres), as opposed to any other failure. */
export function isRolesRefusal(message: string): boolean {
    return /^pg_dumpall --roles-only exited with code/.test(message);
}

/**
 * The S3 part size in bytes: as asked, else sized so even an uncompressed dump (bytea as hex, ≈ 2.5 × the
 * database) fits in 9 000 parts (S3 allows 10 000).
 */
export function partSizeBytes(askedMiB: number | undefined, databaseBytes: number): number {
    return (askedMiB ?? Math.max(MIN_PART_SIZE_MIB, Math.ceil((databaseBytes * 2.5) / 9000 / 1024 / 1024))) * 1024 * 1024;
}

/** Whole seconds, rounded up: Azure's header has second precision and a lock must never end early. */
export function lockUntil(retainUntil: Date): Date {
    return new Date(Math.ceil(retainUntil.getTime() / 1000) * 1000);
}

/** What the manifest records about the run, gathered by the steps. */
export interface ManifestFacts {
    env: string;
    runId: string;
    started: Date;
    finished: Date;
    target: PgTarget;
    snap: Pick<DbSnapshot, "serverVersion"> & { facts: SnapshotFacts };
    pgDumpVersion: string;
    plan: Pick<CompressionPlan, "algorithm" | "level" | "by">;
    recipient: string | undefined;
    tier: Tier;
    retainUntil: Date;
    objects: ObjectResult[];
    secondary: Secondary;
    /** the archive container, when the config has an archive */
    container: string | undefined;
    previous: DbManifest["previous"];
    config: ConfigSnapshot;
}

export function buildManifest(f: ManifestFacts): DbManifest {
    return {
        schemaVersion: 1,
        kind: "db",
        env: f.env,
        runId: f.runId,
        startedAt: f.started.toISOString(),
        finishedAt: f.finished.toISOString(),
        source: { serverVersion: f.snap.serverVersion, host: f.target.host, database: f.target.database },
        pgDumpVersion: f.pgDumpVersion,
        compression: { algorithm: f.plan.algorithm, level: f.plan.level, by: f.plan.by },
        encryption: f.recipient ? { tool: "age", recipient: f.recipient } : null,
        tier: f.tier,
        retainUntil: f.retainUntil.toISOString(),
        objects: f.objects,
        secondary: {
            provider: "azure",
            status: f.secondary.status,
            ...(f.container !== undefined ? { container: f.container } : {}),
            // in the manifest's order (the objects are dumped at once and finish in any order)
            objects: f.objects.flatMap((p) => f.secondary.objects.filter((x) => x.name === p.name)),
            ...(f.secondary.error ? { error: f.secondary.error } : {}),
        },
        snapshot: f.snap.facts,
        previous: f.previous,
        config: f.config,
    };
}

/** The human summary on stdout. */
export function summaryLine(m: DbManifest, secondary: Secondary["status"], result: string, bucket: string, manifestKey: string, degraded: boolean): string {
    const dump = m.objects[0];
    return (
        `dump ${m.runId} ${result}: ${formatBytes(dump.bytes)} sha256 ${dump.sha256.slice(0, 16)}… tier ${m.tier} → s3://${bucket}/${manifestKey}` +
        ` (azure: ${secondary}${degraded && secondary === "ok" ? ", manifest copy failed" : ""})\n`
    );
}
