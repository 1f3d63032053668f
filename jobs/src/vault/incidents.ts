// Incidents live in the audit log: `incident start` and `incident end` are audit records (create-only,
// locked), so the incident time that `restore pitr --before-incident` uses cannot be edited afterwards.
import type { AuditRecord } from "@supabase-backups/contracts";
import type { S3Client } from "@aws-sdk/client-s3";
import { listAudit } from "./audit";

export const INCIDENT_START = "incident-start";
export const INCIDENT_END = "incident-end";

export interface Incident {
    eventId: string;
    /** when it happened, as the operator said (default: when `incident start` ran) */
    incidentTime: string;
    startedAt: string;
    actor: string;
    reason: string | null;
    /** roles the start froze, with whether each could log in before */
    frozen: Array<{ role: string; couldLogin: boolean }>;
    forensicDumpJob: string | null;
}

function asIncident(r: AuditRecord): Incident {
    const o = r.options as Record<string, unknown>;
    return {
        eventId: r.eventId,
        incidentTime: typeof o.incidentTime === "string" ? o.incidentTime : r.startedAt,
        startedAt: r.startedAt,
        actor: r.actor,
        reason: r.reason,
        frozen: Array.isArray(o.frozen) ? (o.frozen as Incident["frozen"]) : [],
        forensicDumpJob: typeof o.forensicDumpJob === "string" ? o.forensicDumpJob : null,
    };
}

/** The open incident: the newest successful start that no successful end names. Records oldest first. */
export function openIncident(records: readonly AuditRecord[]): Incident | undefined {
    const ended = new Set(records.filter((r) => r.action === INCIDENT_END && r.result === "succeeded").map((r) => String((r.options as Record<string, unknown>).incident)));
    const open = records.filter((r) => r.action === INCIDENT_START && r.result === "succeeded" && !ended.has(r.eventId));
    return open.length ? asIncident(open[open.length - 1]) : undefined;
}

export async function loadOpenIncident(s3: S3Client, bucket: string, env: string): Promise<Incident | undefined> {
    return openIncident(await listAudit(s3, bucket, env));
}
