// Restore drills (docs/operations.md "Restore drills"): what the stack file schedules, the recovery-time
// targets per scenario, and the record each drill leaves in the vault. The CronJobs (components/plan.ts),
// the `drill` command, `status` and the alerts all read these.
import { Type, type Static } from "@sinclair/typebox";
import { strict } from "./schema-kit";
import { canonicalJson, RecordSignatureSchema, signingPayload } from "./record-signature";


/** What a drill rehearses: every Storage bucket of a run, one table with its row count, the whole database. */
export const DRILL_KINDS = ["storage", "table", "full"] as const;
export type DrillKind = (typeof DRILL_KINDS)[number];

/** The runbook scenario whose RTO target each drill kind is held to. */
export const DRILL_SCENARIOS = { storage: "storage", table: "corruption", full: "fullLoss" } as const satisfies Record<DrillKind, string>;
export type DrillScenario = (typeof DRILL_SCENARIOS)[DrillKind];

/** A drill's outcome: restored and checked within the target, restored and checked but slower, or not restored/checked. */
export const DRILL_RESULTS = ["passed", "missed-target", "failed"] as const;
export type DrillResult = (typeof DRILL_RESULTS)[number];

const Cron = (description: string) => Type.String({ minLength: 9, format: "cron", description });
const Minutes = (description: string) => Type.Number({ exclusiveMinimum: 0, maximum: 10080, description });
const QualifiedTable = Type.String({ pattern: "^[a-z_][a-z0-9_$]*\\.[a-z_][a-z0-9_$]*$", description: "schema-qualified table name, e.g. public.profiles" });

export const DrillsSchema = Type.Object(
    {
        scratchDatabaseUrl: Type.String({
            pattern: "^postgres(ql)?://[^:@/?#]+@[^/?#]+/[A-Za-z0-9_]+(\\?[^#]*)?$",
            description:
                "Postgres URL (user, host, database; no password: secret drillScratchPassword) of a server the table and full drills create a throw-away database on and drop afterwards. Never the source project; it holds the environment's data while a drill runs",
        }),
        rtoMinutes: Type.Object(
            {
                corruption: Minutes("target for the table drill (a table restored side by side after corruption or deletion), minutes"),
                fullLoss: Minutes("target for the full drill (the whole database restored into an empty server), minutes"),
                storage: Minutes("target for the storage drill (every bucket of the newest storage run restored), minutes"),
            },
            { ...strict, description: "recovery time objectives per scenario: a drill slower than its target records missed-target and alerts" },
        ),
        storage: Type.Optional(
            Type.Object(
                {
                    schedule: Cron("when the storage drill runs (e.g. monthly `0 5 2 * *`)"),
                    buckets: Type.Optional(
                        Type.Array(Type.String({ pattern: "^[a-z0-9][a-z0-9._-]{0,80}$" }), { minItems: 1, description: "buckets to restore; default every bucket of the storage run" }),
                    ),
                },
                strict,
            ),
        ),
        table: Type.Optional(
            Type.Object(
                {
                    schedule: Cron("when the table drill runs (e.g. monthly `0 5 3 * *`)"),
                    tables: Type.Optional(
                        Type.Array(QualifiedTable, { minItems: 1, description: "tables to restore (each must be in verify.tables, whose row counts the dump records); default the largest of them" }),
                    ),
                },
                strict,
            ),
        ),
        full: Type.Optional(Type.Object({ schedule: Cron("when the full drill runs (e.g. quarterly `0 4 1 1,4,7,10 *`)") }, strict)),
    },
    { ...strict, description: "scheduled restore drills with recovery-time targets (docs/operations.md, Restore drills)" },
);
export type DrillsConfig = Static<typeof DrillsSchema>;

const IsoTime = Type.String({ format: "date-time" });

export const DrillStepSchema = Type.Object(
    {
        name: Type.String(),
        ok: Type.Boolean(),
        seconds: Type.Number({ minimum: 0 }),
        detail: Type.String(),
    },
    strict,
);
export type DrillStep = Static<typeof DrillStepSchema>;

/** `drill/{env}/{kind}/{yyyy}/{mm}/{dd}/{drillId}.json`: one per drill, create-only, locked like audit records. */
export const DrillRecordSchema = Type.Object(
    {
        schemaVersion: Type.Literal(1),
        kind: Type.Literal("drill"),
        drill: Type.Unsafe<DrillKind>({ type: "string", enum: [...DRILL_KINDS] }),
        scenario: Type.Unsafe<DrillScenario>({ type: "string", enum: Object.values(DRILL_SCENARIOS) }),
        drillId: Type.String({ pattern: "^\\d{8}T\\d{6}Z-[a-z0-9]{6}$" }),
        env: Type.String(),
        startedAt: IsoTime,
        finishedAt: IsoTime,
        /** what was restored: the run, and per bucket or table what the manifest says and what came back */
        restored: Type.Object(
            {
                runId: Type.Union([Type.String(), Type.Null()]),
                /** the throw-away target, without credentials (database or restored-* bucket names) */
                targets: Type.Array(Type.String()),
                items: Type.Array(
                    Type.Object({ name: Type.String(), expected: Type.Number(), restored: Type.Union([Type.Number(), Type.Null()]), ok: Type.Boolean() }, strict),
                ),
            },
            strict,
        ),
        steps: Type.Array(DrillStepSchema),
        /** seconds from the start until the data was restored and checked (cleanup not counted) */
        rtoSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
        rtoTargetSeconds: Type.Number({ exclusiveMinimum: 0 }),
        result: Type.Unsafe<DrillResult>({ type: "string", enum: [...DRILL_RESULTS] }),
        /** one line: why it failed or missed the target; null when it passed */
        reason: Type.Union([Type.String(), Type.Null()]),
        /** true when every throw-away database and restored-* bucket was removed afterwards */
        cleanedUp: Type.Boolean(),
        /** the drill's audit event (audit/{env}/…) */
        auditEventId: Type.String(),
        /** Ed25519 signature over drillSigningPayload(record), by the drill identity's key (KMS or a secret) */
        signature: Type.Optional(RecordSignatureSchema),
    },
    strict,
);
export type DrillRecord = Static<typeof DrillRecordSchema>;

/**
 * The bytes a drill record's signature covers: the whole record but its signature (what was restored,
 * the steps, the measured RTO, the result), canonical, so a signed record for another drill, result or
 * time does not verify and nobody without the drill identity's key can make one.
 */
export function drillSigningPayload(r: DrillRecord): Buffer {
    const { signature: _signature, ...content } = r;
    return signingPayload("drill", [r.env, r.drill, r.drillId, canonicalJson(content)]);
}

export interface DrillConfigIssue {
    key: string;
    expected: string;
    found: string;
}

/** host:port/database of a Postgres URL, lower-cased; undefined when it does not parse. */
function endpointOf(url: string): string | undefined {
    try {
        const u = new URL(url);
        return `${u.hostname.toLowerCase()}:${u.port || "5432"}${u.pathname.replace(/\/+$/, "") || "/postgres"}`;
    } catch {
        return undefined;
    }
}

/**
 * The rules a schema cannot say: the scratch server is not the source (the project's own hosts, or the
 * databaseUrl secret's host and port when it is known), the table drill only restores tables whose row
 * counts the dump records, the storage drill only buckets the sync covers. Secret values are never echoed.
 */
export function drillIssues(
    cfg: { drills?: DrillsConfig; alerts: { rtoMinutes?: number }; supabase: { projectRef: string }; verify: { tables: string[] }; storage: { buckets?: Array<{ name: string }> } },
    databaseUrl?: string,
): DrillConfigIssue[] {
    const d = cfg.drills;
    if (!d) return [];
    const out: DrillConfigIssue[] = [];
    const scratch = endpointOf(d.scratchDatabaseUrl);
    const ref = cfg.supabase.projectRef;
    const host = scratch?.split(":")[0] ?? "";
    const user = /^postgres(?:ql)?:\/\/([^:@/]+)@/.exec(d.scratchDatabaseUrl)?.[1] ?? "";
    const source = databaseUrl ? endpointOf(databaseUrl) : undefined;
    const sameServer = source !== undefined && scratch !== undefined && source.split("/")[0] === scratch.split("/")[0];
    if (host.includes(ref) || user.endsWith(`.${ref}`) || sameServer) {
        out.push({
            key: "drills.scratchDatabaseUrl",
            expected: "a Postgres server other than the source project (a drill creates and drops databases there)",
            found: sameServer ? "the same host and port as the databaseUrl secret" : `a URL of project ${ref}`,
        });
    }
    if (cfg.alerts.rtoMinutes !== undefined) {
        out.push({ key: "alerts.rtoMinutes", expected: "unset with drills: drills.rtoMinutes.fullLoss is the one full-restore target (status compares the verified restore with it)", found: String(cfg.alerts.rtoMinutes) });
    }
    const recorded = new Set(cfg.verify.tables);
    (d.table?.tables ?? []).forEach((t, i) => {
        if (!recorded.has(t)) out.push({ key: `drills.table.tables[${i}]`, expected: "a table listed in verify.tables (the dump records only their row counts, which the drill checks)", found: JSON.stringify(t) });
    });
    if (d.table && !d.table.tables && recorded.size === 0) {
        out.push({ key: "drills.table.tables", expected: "tables to restore, or verify.tables listing some (the table drill checks their recorded row counts)", found: "nothing" });
    }
    const synced = cfg.storage.buckets?.map((b) => b.name);
    (d.storage?.buckets ?? []).forEach((b, i) => {
        if (synced && !synced.includes(b)) out.push({ key: `drills.storage.buckets[${i}]`, expected: `a bucket storage.buckets syncs (${synced.join(", ")})`, found: JSON.stringify(b) });
    });
    return out;
}
