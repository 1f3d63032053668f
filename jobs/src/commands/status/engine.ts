// `status`: the inventory a manager asks for before an incident. Runs per tier with sizes, retain-until
// and verification state; newest complete and newest verified run; the current RPO (now − newest
// complete run) against alerts.rpoHours; whether the hash chains hold or where they break; storage runs;
// Supabase's own backups and PITR. Exit 6 (unhealthy) when the RPO is missed or a chain is broken, so it
// can gate deploys and alert.
import { EXIT, prefixes, runIdTime, TIERS, type ChainBreak, type DbManifest, type ExitCode, type JobConfig, type StorageManifest } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import type { JobContext } from "../../runtime/context";
import { managementApi, type OperatorOptions } from "../../cli/operator";
import { formatAge, out, outJson, renderPairs, renderTable } from "../../cli/output";
import { errorMessage } from "../../runtime/errors";
import { redact } from "../../runtime/log";
import { formatBytes } from "../../runtime/progress";
import { loadVerifications, type Verification } from "../../vault/verifications";
import { loadChain, type LoadedManifest, type RunRef } from "../../vault/runs";
import { archivedRunInfo } from "../../vault/thaw";
import { recordTrust } from "../../vault/record-signing";
import { describeTampering, VersionIndex } from "../../vault/versions";
import { checkSupabase, type SupabaseHealth } from "../../supabase/health";
import { renderPicture, rtoOf, rtoTargetOf, type Rto } from "./render-timeline";
import { timelineOf, type Timeline } from "./timeline";
import { drillProblems, drillStatus, drillTampering, renderDrills, type DrillStatus } from "./drills";
import { bucketsStatus, renderBuckets, type BucketsStatus } from "./buckets";

export interface StatusOptions extends OperatorOptions {
    supabase: boolean;
    all?: boolean;
    runs: number;
    /** days of the run timeline */
    days?: number;
    /** print only the picture (timeline, tiers, RPO, RTO) and the verdict */
    timeline?: boolean;
    /** "archive": the env's runs from the Azure archive alone, no AWS credential used (archive.ts) */
    from?: "vault" | "archive";
}

export interface StatusReport {
    env: string;
    generatedAt: string;
    /** where the runs were read: the S3 vault, or the Azure archive alone (status --from archive) */
    from: "vault" | "archive";
    /** s3://bucket, or azure:container with --from archive */
    vault: string;
    /** what cannot be known where the runs were read (from the archive: the S3-only records), one line each */
    unknown: string[];
    healthy: boolean;
    problems: string[];
    /** one line each: vault keys overwritten after the jobs wrote them, records with an invalid signature */
    tampering: string[];
    rpo: { targetHours: number; newestCompleteRunId: string | null; ageHours: number | null; met: boolean };
    newestVerified: { runId: string; verifiedAt: string; restoreSeconds: number | null } | null;
    db: {
        runs: number;
        bytes: number;
        chain: { intact: boolean; breaks: Array<{ runId: string; reason: string }> };
        tiers: Array<{ tier: string; runs: number; bytes: number; oldest: string; newest: string; retainUntil: string }>;
        list: Array<{ runId: string; tier: string; bytes: number; retainUntil: string; verification: "passed" | "failed" | "unverified" | "unknown"; verifiedAt: string | null; secondary: string; encrypted: boolean; archived?: boolean }>;
    };
    storage: {
        runs: number;
        chain: { intact: boolean; breaks: Array<{ runId: string; reason: string }> };
        newest: { runId: string; objects: number; bytes: number; failed: number; buckets: Array<{ name: string; objects: number; bytes: number }>; retainUntil: string; archive?: StorageManifest["archive"] } | null;
        tiers: Array<{ tier: string; runs: number }>;
        /** runs whose manifest is archived (restore needed to inspect): counted, not read */
        archived: string[];
        /** per bucket of the newest run: recorded settings, the policies naming it, its retention */
        buckets: BucketsStatus | null;
    };
    supabase: (SupabaseHealth & { checked: true }) | { checked: false; reason: string };
    /** runs per UTC day and kind (timeline.ts) */
    timeline: Timeline;
    rto: Rto;
    /** the newest restore drill of each kind (drills.ts) */
    drills: DrillStatus[];
}

function dbBytes(m: DbManifest): number {
    return m.objects.reduce((n, o) => n + o.bytes, 0);
}

export async function runStatus(ctx: CommandContext, opts: StatusOptions): Promise<ExitCode> {
    return reportStatus(await buildStatus(ctx, opts), opts);
}

/** The report, printed (JSON or human), and the exit code: 0 healthy, 7 tampering, 6 otherwise unhealthy. */
export function reportStatus(r: StatusReport, opts: StatusOptions): ExitCode {
    if (opts.json) outJson(r);
    else {
        out(renderPicture({ timeline: r.timeline, rpo: r.rpo, rto: r.rto, dbTiers: r.db.tiers, storageTiers: r.storage.tiers }));
        if (!opts.timeline) printHuman(r, !!opts.all, opts.runs);
        else out(`\nSTATUS: ${r.healthy ? "HEALTHY" : "UNHEALTHY"}\n${r.problems.map((p) => `  ! ${p}\n`).join("")}`);
    }
    return r.tampering.length ? EXIT.tampered : r.healthy ? EXIT.ok : EXIT.unhealthy;
}

/** Every version of the env's runs, listed once per prefix; what was overwritten, and the forged records. */
async function vaultVersions(ctx: CommandContext): Promise<{ db: VersionIndex; storage: VersionIndex }> {
    const env = ctx.config.env;
    const [db, storage] = await Promise.all([VersionIndex.load(ctx.s3, ctx.bucket, prefixes.db(env)), VersionIndex.load(ctx.s3, ctx.bucket, prefixes.storageRuns(env))]);
    return { db, storage };
}

export type DbRun = StatusReport["db"]["list"][number];

export async function buildStatus(ctx: CommandContext, opts: StatusOptions): Promise<StatusReport> {
    const { config } = ctx;
    const env = config.env;
    const now = new Date();
    const versions = await vaultVersions(ctx);
    // Manifests at the versions the jobs wrote: the chain and the list show what was backed up, not an overwrite.
    const [db, storage, { byRun: verifications, forged }] = await Promise.all([
        loadChain<DbManifest>(ctx.s3, ctx.bucket, env, "db", { versions: versions.db }),
        loadChain<StorageManifest>(ctx.s3, ctx.bucket, env, "storage", { versions: versions.storage }),
        loadVerifications(ctx.s3, ctx.bucket, env, recordTrust(config.vault)),
    ]);
    const tampering = [...versions.db.overwritten(), ...versions.storage.overwritten()].map(describeTampering);
    tampering.push(...forged.map((k) => `${k}: verification record with an invalid signature (forged or altered): not trusted`));
    const drills = await drillStatus(ctx);
    tampering.push(...drillTampering(drills));
    const list = [...db.manifests.map((l) => dbRun(l, verifications.get(l.ref.runId))), ...(await archivedDbRuns(ctx, db.archived, versions.db, verifications))].sort((a, b) => (a.runId < b.runId ? -1 : 1));
    const rpo = rpoOf(list, config, now);
    const problems = [
        ...tampering.map((t) => `TAMPERING: ${t}`),
        ...rpoProblems(rpo, env),
        ...db.breaks.map((b) => `database hash chain broken at ${b.runId}: ${b.reason}`),
        ...storage.breaks.map((b) => `storage hash chain broken at ${b.runId}: ${b.reason}`),
    ];
    problems.push(...drillProblems(drills));
    const verified = [...list].reverse().find((r) => r.verification === "passed");
    return {
        env,
        generatedAt: now.toISOString(),
        from: "vault",
        vault: `s3://${ctx.bucket}`,
        unknown: [],
        healthy: problems.length === 0,
        problems,
        tampering,
        rpo,
        newestVerified: verified ? { runId: verified.runId, verifiedAt: verified.verifiedAt!, restoreSeconds: verifications.get(verified.runId)?.restoreSeconds ?? null } : null,
        db: {
            runs: list.length,
            bytes: list.reduce((n, r) => n + r.bytes, 0),
            chain: { intact: db.breaks.length === 0, breaks: db.breaks },
            tiers: dbTiers(list),
            list,
        },
        storage: { ...storageSummary(storage.manifests, storage.breaks), archived: storage.archived.map((r) => r.runId), buckets: bucketsStatus(storage.manifests.at(-1)?.manifest, config) },
        supabase: await supabaseStatus(ctx, opts, now),
        timeline: timelineOf(config, now, opts.days ?? 14, list, storage.manifests, verifications),
        rto: rtoOf(verified ? { runId: verified.runId, restoreSeconds: verifications.get(verified.runId)?.restoreSeconds ?? null } : null, (id) => list.find((x) => x.runId === id)?.bytes, rtoTargetOf(config)),
        drills,
    };
}

/** One database run as listed: size, lock, verification, secondary, encryption. */
export function dbRun(l: LoadedManifest<DbManifest>, v: Verification | undefined): DbRun {
    const m = l.manifest;
    return {
        runId: l.ref.runId,
        tier: m.tier,
        bytes: dbBytes(m),
        retainUntil: m.retainUntil,
        verification: (v?.result ?? "unverified") as DbRun["verification"],
        verifiedAt: v?.verifiedAt ?? null,
        secondary: m.secondary?.status ?? "-",
        encrypted: !!m.encryption,
    };
}

/**
 * Runs whose manifest is archived (GLACIER before manifests stopped going cold, issue 17): listed from
 * what S3 still serves (tier tag, lock, sizes), marked "archived (restore needed to inspect)"; never fatal.
 */
async function archivedDbRuns(ctx: CommandContext, refs: RunRef[], versions: VersionIndex, verifications: Map<string, Verification>): Promise<DbRun[]> {
    return Promise.all(
        refs.map(async (ref) => {
            const info = await archivedRunInfo(ctx.s3, ctx.bucket, ref.manifestKey, versions);
            const v = verifications.get(ref.runId);
            const verification = (v?.result ?? "unverified") as DbRun["verification"];
            return { runId: ref.runId, tier: info.tier ?? "?", bytes: info.bytes, retainUntil: info.retainUntil ?? "?", verification, verifiedAt: v?.verifiedAt ?? null, secondary: ARCHIVED, encrypted: false, archived: true };
        }),
    );
}

export const ARCHIVED = "archived (restore needed to inspect)";

/** Per tier: runs, bytes, oldest and newest run, the latest retain-until. */
export function dbTiers(list: DbRun[]): StatusReport["db"]["tiers"] {
    return TIERS.map((tier) => {
        const rs = list.filter((r) => r.tier === tier);
        if (!rs.length) return undefined;
        return {
            tier,
            runs: rs.length,
            bytes: rs.reduce((n, r) => n + r.bytes, 0),
            oldest: rs[0].runId,
            newest: rs[rs.length - 1].runId,
            retainUntil: rs.map((r) => r.retainUntil).sort().at(-1)!,
        };
    }).filter((x): x is NonNullable<typeof x> => !!x);
}

/** The RPO now: the newest complete run's age against alerts.rpoHours. */
export function rpoOf(list: DbRun[], config: JobConfig, now: Date): StatusReport["rpo"] {
    const newest = list.at(-1);
    const ageHours = newest ? (now.getTime() - runIdTime(newest.runId).getTime()) / 3_600_000 : null;
    return { targetHours: config.alerts.rpoHours, newestCompleteRunId: newest?.runId ?? null, ageHours, met: ageHours !== null && ageHours <= config.alerts.rpoHours };
}

export function rpoProblems(rpo: StatusReport["rpo"], env: string, where = "the vault"): string[] {
    if (rpo.newestCompleteRunId === null) return [`no complete database run in ${where} for ${env}: RPO target of ${rpo.targetHours} h missed`];
    if (!rpo.met) return [`RPO missed: the newest complete database run ${rpo.newestCompleteRunId} is ${rpo.ageHours!.toFixed(1)} h old (target ${rpo.targetHours} h)`];
    return [];
}

export function storageSummary(manifests: Array<LoadedManifest<StorageManifest>>, breaks: ChainBreak[]): Omit<StatusReport["storage"], "archived" | "buckets"> {
    const sNewest = manifests.at(-1)?.manifest;
    return {
        runs: manifests.length,
        chain: { intact: breaks.length === 0, breaks },
        newest: sNewest
            ? {
                  runId: sNewest.runId,
                  // from the per-bucket totals: a version-2 manifest keeps its entries in a separate list
                  objects: sNewest.buckets.reduce((n, b) => n + b.objects, 0),
                  bytes: sNewest.buckets.reduce((n, b) => n + b.bytes, 0),
                  failed: sNewest.failed.length,
                  buckets: sNewest.buckets,
                  retainUntil: sNewest.retainUntil,
                  ...(sNewest.archive ? { archive: sNewest.archive } : {}),
              }
            : null,
        tiers: TIERS.map((tier) => ({ tier, runs: manifests.filter((m) => m.manifest.tier === tier).length })).filter((t) => t.runs > 0),
    };
}

/** Supabase's own backups and PITR, when asked and a token is there; an API failure is reported, not fatal. */
export async function supabaseStatus(ctx: JobContext, opts: StatusOptions, now: Date): Promise<StatusReport["supabase"]> {
    if (!opts.supabase) return { checked: false, reason: "skipped (--no-supabase)" };
    if (!ctx.secrets.managementApiToken) return { checked: false, reason: "SUPABASE_ACCESS_TOKEN not set" };
    try {
        return { checked: true, ...(await checkSupabase(managementApi(ctx), ctx.config, now)) };
    } catch (e) {
        return { checked: false, reason: redact(errorMessage(e)) };
    }
}

function printHuman(r: StatusReport, showAll: boolean, maxRuns: number): void {
    out(
        "\n" +
        renderPairs([
            ["env", `${r.env}   ${r.from} ${r.vault}   at ${r.generatedAt}`],
            [
                "RPO",
                r.rpo.newestCompleteRunId
                    ? `newest complete run ${r.rpo.newestCompleteRunId}, ${formatAge(r.rpo.ageHours! * 3600)} ago; target ${r.rpo.targetHours} h: ${r.rpo.met ? "met" : "MISSED"}`
                    : `no complete run; target ${r.rpo.targetHours} h: MISSED`,
            ],
            ["newest verified", r.from === "archive" ? "unknown (verification records are in the vault)" : r.newestVerified ? `${r.newestVerified.runId} (verified ${r.newestVerified.verifiedAt}${r.newestVerified.restoreSeconds !== null ? `, restore took ${r.newestVerified.restoreSeconds.toFixed(1)} s` : ""})` : "none"],
            ["db hash chain", r.db.chain.intact ? `intact over ${r.db.runs} run(s)` : `BROKEN: ${r.db.chain.breaks.map((b) => `${b.runId}: ${b.reason}`).join("; ")}`],
            ["db runs", `${r.db.runs}, ${formatBytes(r.db.bytes)}`],
            ...(r.unknown.length ? [["unknown here", r.unknown.join("; ")] as [string, string]] : []),
        ]),
    );
    if (r.db.tiers.length) out("\n" + renderTable(["tier", "runs", "size", "oldest", "newest", "retain until (latest)"], r.db.tiers.map((t) => [t.tier, t.runs, formatBytes(t.bytes), t.oldest, t.newest, t.retainUntil])));
    const runs = showAll ? r.db.list : r.db.list.slice(-maxRuns);
    if (runs.length) {
        out(`\nDatabase runs${showAll || r.db.list.length <= maxRuns ? "" : ` (newest ${maxRuns} of ${r.db.list.length}; --all for every run)`}:\n`);
        out(renderTable(["run", "tier", "size", "retain until", "verified", "secondary", "encrypted"], [...runs].reverse().map((x) => [x.runId, x.tier, formatBytes(x.bytes), x.retainUntil, x.verification === "passed" ? `yes ${x.verifiedAt}` : x.verification === "failed" ? "FAILED" : x.verification === "unknown" ? "?" : "no", x.secondary, x.archived ? "?" : x.encrypted ? "age" : "no"])));
    }
    const s = r.storage;
    out(
        "\n" +
            renderPairs([
                ["storage runs", `${s.runs}${s.tiers.length ? ` (${s.tiers.map((t) => `${t.tier} ${t.runs}`).join(", ")})` : ""}${s.archived.length ? `; ${s.archived.length} more ${ARCHIVED}` : ""}`],
                ["newest storage run", s.newest ? `${s.newest.runId}: ${s.newest.objects} objects, ${formatBytes(s.newest.bytes)}${s.newest.failed ? `, ${s.newest.failed} FAILED` : ""}; ${s.newest.buckets.map((b) => `${b.name} ${b.objects}`).join(", ")}${s.newest.archive ? `; Azure archive ${s.newest.archive.status}${s.newest.archive.missing ? ` (${s.newest.archive.missing} not there yet)` : ""}` : ""}` : "none"],
                ["storage hash chain", s.chain.intact ? "intact" : `BROKEN: ${s.chain.breaks.map((b) => `${b.runId}: ${b.reason}`).join("; ")}`],
            ]),
    );
    if (s.buckets) out(renderBuckets(s.buckets));
    const sb = r.supabase;
    out(
        "\n" +
            renderPairs(
                sb.checked
                    ? [
                          ["Supabase backups", `${sb.backupsCompleted} completed, newest restore point ${sb.newestRestorePointAt ?? "none"}${Number.isFinite(sb.backupAgeSeconds) ? ` (${formatAge(sb.backupAgeSeconds)} ago)` : ""}`],
                          ["Supabase PITR", `${sb.pitrEnabled ? "on" : "off"}${sb.pitrAddon ? ` (${sb.pitrAddon})` : ""}${sb.pitrWindow ? `, window ${sb.pitrWindow.earliest} .. ${sb.pitrWindow.latest}` : ""}${sb.pitrRequired ? "; required" : ""}`],
                          ["Supabase", sb.problems.length ? sb.problems.join("; ") : "ok"],
                      ]
                    : [["Supabase", `not checked: ${sb.reason}`]],
            ),
    );
    out(renderDrills(r.drills, new Date(r.generatedAt)));
    out(`\nSTATUS: ${r.healthy ? "HEALTHY" : "UNHEALTHY"}\n`);
    for (const p of r.problems) out(`  ! ${p}\n`);
}
