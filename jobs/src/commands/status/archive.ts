// `status --from archive`: the same inventory as from the vault (engine.ts), read from the Azure archive
// alone — for the day the AWS account or region is lost, to see which runs the archive can restore. No
// S3 client is created and no AWS credential is read. The archived manifests' hash chains are walked by
// the vault's own code (runs.ts loadChainFrom); a manifest its successor links with other bytes is
// TAMPERING (exit 7: the archive keeps no earlier version to compare with otherwise). What lives only in
// the vault — verification and drill records, the version history that proves overwrites — is reported
// under `unknown`, and each run's verification as "unknown", never as "unverified".
import type { ContainerClient } from "@azure/storage-blob";
import { dbRunPrefix, type DbManifest, type ExitCode, type StorageManifest } from "@supabase-backups/contracts";
import type { JobContext } from "../../runtime/context";
import { UsageError } from "../../runtime/errors";
import { createArchiveClient } from "../../vault/archive";
import { archiveRuns } from "../../vault/archive-runs";
import { loadChainFrom, type RunRef } from "../../vault/runs";
import { bucketsStatus } from "./buckets";
import { rtoOf, rtoTargetOf } from "./render-timeline";
import { timelineOf } from "./timeline";
import { ARCHIVED, dbRun, dbTiers, reportStatus, rpoOf, rpoProblems, storageSummary, supabaseStatus, type DbRun, type StatusOptions, type StatusReport } from "./engine";

/** What the archive cannot say, in the report's `unknown` (and the human "unknown here" line). */
export const ARCHIVE_UNKNOWN = [
    "verification records are in the vault only: each run's verification is unknown",
    "restore drill records are in the vault only",
    "overwrites are proven by the vault's version history: here only the hash chains prove an altered manifest",
];

export async function runArchiveStatus(ctx: JobContext, opts: StatusOptions): Promise<ExitCode> {
    return reportStatus(await buildArchiveStatus(ctx, opts), opts);
}

export async function buildArchiveStatus(ctx: JobContext, opts: StatusOptions): Promise<StatusReport> {
    const { config } = ctx;
    const env = config.env;
    if (!config.archive) throw new UsageError("--from archive: the config has no archive (azure.enabled, and archive.accountUrl / archive.container in the job config)");
    const c = await createArchiveClient(config.archive, ctx.env);
    const now = new Date();
    const store = archiveRuns(c);
    const [db, storage] = await Promise.all([loadChainFrom<DbManifest>(store, env, "db"), loadChainFrom<StorageManifest>(store, env, "storage")]);
    const list = [...db.manifests.map((l): DbRun => ({ ...dbRun(l, undefined), verification: "unknown" })), ...(await archivedDbRuns(c, env, db.archived))].sort((a, b) => (a.runId < b.runId ? -1 : 1));
    const altered = [...db.breaks, ...storage.breaks].filter((b) => b.altered);
    const tampering = altered.map((b) => `${b.altered}: ${b.reason} (the archived manifest differs from the one run ${b.runId} links to)`);
    const rpo = rpoOf(list, config, now);
    const problems = [
        ...tampering.map((t) => `TAMPERING: ${t}`),
        ...rpoProblems(rpo, env, "the archive"),
        ...db.breaks.filter((b) => !b.altered).map((b) => `database hash chain broken at ${b.runId}: ${b.reason}`),
        ...storage.breaks.filter((b) => !b.altered).map((b) => `storage hash chain broken at ${b.runId}: ${b.reason}`),
    ];
    return {
        env,
        generatedAt: now.toISOString(),
        from: "archive",
        vault: `azure:${c.containerName}`,
        unknown: ARCHIVE_UNKNOWN,
        healthy: problems.length === 0,
        problems,
        tampering,
        rpo,
        newestVerified: null,
        db: { runs: list.length, bytes: list.reduce((n, r) => n + r.bytes, 0), chain: { intact: db.breaks.length === 0, breaks: db.breaks }, tiers: dbTiers(list), list },
        storage: { ...storageSummary(storage.manifests, storage.breaks), archived: storage.archived.map((r) => r.runId), buckets: bucketsStatus(storage.manifests.at(-1)?.manifest, config) },
        supabase: await supabaseStatus(ctx, opts, now),
        timeline: timelineOf(config, now, opts.days ?? 14, list, storage.manifests, new Map()),
        rto: rtoOf(null, () => undefined, rtoTargetOf(config)),
        drills: [],
    };
}

/** Runs whose manifest copy is in the Archive tier: listed with their blobs' sizes, the rest unknown ("?"). */
async function archivedDbRuns(c: ContainerClient, env: string, refs: RunRef[]): Promise<DbRun[]> {
    return Promise.all(
        refs.map(async (ref) => {
            let bytes = 0;
            for await (const b of c.listBlobsFlat({ prefix: dbRunPrefix(env, ref.runId) })) if (b.name !== ref.manifestKey) bytes += b.properties.contentLength ?? 0;
            return { runId: ref.runId, tier: "?", bytes, retainUntil: "?", verification: "unknown" as const, verifiedAt: null, secondary: ARCHIVED, encrypted: false, archived: true };
        }),
    );
}
