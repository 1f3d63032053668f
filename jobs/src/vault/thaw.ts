// Archived objects (issue 17): an object in S3 GLACIER or DEEP_ARCHIVE (or Intelligent-Tiering's archive
// tiers), or a blob in Azure's Archive tier, cannot be read until a restore (Azure: rehydration) has run,
// minutes to days later. The readers that must have the bytes — `restore db` and `verify --run` — look
// first (HEAD / Get Blob Properties), request the restore once for every archived object the run needs,
// and stop with EXIT.pending and one line saying what was requested and how long it takes; run again,
// they find the restore under way (still pending, nothing requested twice) or done (they read as usual).
// Nightly readers never call this: they read only what never goes cold, or skip what did.
import { GetObjectTaggingCommand, HeadObjectCommand, RestoreObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { EXIT } from "@supabase-backups/contracts";
import { errorMessage, httpStatusOf, JobFailure, UsageError } from "../runtime/errors";
import { listAll } from "./s3";
import type { ObjectPin, VersionIndex } from "./versions";

/** S3's retrieval tiers; Azure's rehydrate priority follows (Expedited → High, else Standard). */
export const RESTORE_TIERS = ["Standard", "Bulk", "Expedited"] as const;
export type RestoreTier = (typeof RESTORE_TIERS)[number];

export interface ThawOptions {
    tier: RestoreTier;
    /** days S3 keeps the restored copy (ignored for Intelligent-Tiering and Azure: they move the object back) */
    days: number;
}

export const DEFAULT_THAW: ThawOptions = { tier: "Standard", days: 7 };

export type ArchiveState = "online" | "archived" | "restoring" | "restored";

/** One object as the thaw sees it. */
export interface ArchivedObject {
    /** `s3://bucket/key` or `azure:container/key`, with the version when pinned */
    name: string;
    /** GLACIER, DEEP_ARCHIVE, INTELLIGENT_TIERING/ARCHIVE_ACCESS, Archive (Azure), … */
    storageClass: string;
    state: ArchiveState;
    /** S3: when the restored copy goes again */
    expiry?: string;
}

/** An object that may be archived: how to look at it, and how to ask for its restore. */
export interface ThawTarget {
    look(): Promise<ArchivedObject>;
    /** "in-progress": the store says a restore is already under way (S3 409 RestoreAlreadyInProgress) */
    request(o: ArchivedObject, opts: ThawOptions): Promise<"requested" | "in-progress">;
}

export interface ThawReport {
    /** every object is readable now */
    ready: boolean;
    requested: ArchivedObject[];
    ongoing: ArchivedObject[];
    restored: ArchivedObject[];
}

const pinName = (bucket: string, p: ObjectPin) => `s3://${bucket}/${p.key}${p.versionId ? ` (version ${p.versionId})` : ""}`;

/** An S3 object's archive state from HEAD: storage class, and x-amz-restore when a restore was asked for. */
export async function s3ArchiveState(s3: S3Client, bucket: string, pin: ObjectPin): Promise<ArchivedObject & { intelligentTiering: boolean }> {
    const name = pinName(bucket, pin);
    let h;
    try {
        h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: pin.key, VersionId: pin.versionId ?? undefined }));
    } catch (e) {
        // A missing object is the reader's to report (it says "missing" in its own words).
        if (httpStatusOf(e) === 404) return { name, storageClass: "-", state: "online", intelligentTiering: false };
        throw e;
    }
    const cls = h.StorageClass ?? "STANDARD";
    const it = !!h.ArchiveStatus;
    const storageClass = it ? `${cls}/${h.ArchiveStatus}` : cls;
    if (!it && cls !== "GLACIER" && cls !== "DEEP_ARCHIVE") return { name, storageClass, state: "online", intelligentTiering: false };
    const restore = h.Restore ?? "";
    if (/ongoing-request="true"/.test(restore)) return { name, storageClass, state: "restoring", intelligentTiering: it };
    if (/ongoing-request="false"/.test(restore)) return { name, storageClass, state: "restored", expiry: /expiry-date="([^"]+)"/.exec(restore)?.[1], intelligentTiering: it };
    return { name, storageClass, state: "archived", intelligentTiering: it };
}

/** An S3 object as a thaw target (RestoreObject at the pinned version). */
export function s3ThawTarget(s3: S3Client, bucket: string, pin: ObjectPin): ThawTarget {
    let it = false;
    return {
        async look() {
            const s = await s3ArchiveState(s3, bucket, pin);
            it = s.intelligentTiering;
            return s;
        },
        async request(o, opts) {
            if (opts.tier === "Expedited" && /DEEP_ARCHIVE/.test(o.storageClass)) {
                throw new UsageError(`${o.name} is in ${o.storageClass}, which has no Expedited retrieval: use --restore-tier Standard (within 12 hours) or Bulk (within 48 hours)`);
            }
            try {
                // Intelligent-Tiering moves the object back to its frequent tier: S3 refuses Days there.
                const RestoreRequest = it ? { GlacierJobParameters: { Tier: opts.tier } } : { Days: opts.days, GlacierJobParameters: { Tier: opts.tier } };
                await s3.send(new RestoreObjectCommand({ Bucket: bucket, Key: pin.key, VersionId: pin.versionId ?? undefined, RestoreRequest }));
                return "requested";
            } catch (e: any) {
                const code = e?.name ?? e?.Code;
                if (code === "RestoreAlreadyInProgress") return "in-progress";
                if (code === "GlacierExpeditedRetrievalNotAvailable") {
                    throw new JobFailure(`S3 has no Expedited retrieval capacity for ${o.name} right now: run again with --restore-tier Standard (3–5 hours), or later`);
                }
                throw new JobFailure(`the restore request for ${o.name} failed: ${errorMessage(e)}`, EXIT.failed, e);
            }
        },
    };
}

/** S3 targets for every key under a run's prefix, each at the version the job wrote (or the recorded one). */
export async function runThawTargets(s3: S3Client, bucket: string, versions: VersionIndex, prefix: string, recorded: Map<string, string | null | undefined> = new Map()): Promise<ThawTarget[]> {
    // a store without versions lists no versions: its keys then come from a plain listing
    const keys = versions.available ? versions.keys(prefix) : (await listAll(s3, bucket, prefix)).map((o) => o.key);
    return keys.map((key) => s3ThawTarget(s3, bucket, versions.pin(key, recorded.get(key))));
}

/** Look at every target, ask for the restore of each archived one not already under way. */
export async function thaw(targets: ThawTarget[], opts: ThawOptions): Promise<ThawReport> {
    const report: ThawReport = { ready: true, requested: [], ongoing: [], restored: [] };
    const seen = await Promise.all(targets.map(async (t) => ({ t, o: await t.look() })));
    for (const { t, o } of seen) {
        if (o.state === "online") continue;
        if (o.state === "restored") report.restored.push(o);
        else if (o.state === "restoring") report.ongoing.push(o);
        else (await t.request(o, opts)) === "requested" ? report.requested.push(o) : report.ongoing.push({ ...o, state: "restoring" });
    }
    report.ready = !report.requested.length && !report.ongoing.length;
    return report;
}

/** How long a restore takes, as the providers document it (AWS "Archive retrieval options", Azure "Blob rehydration"). */
export function expectedTime(storageClass: string, tier: RestoreTier): string {
    if (/^Archive$/i.test(storageClass)) return tier === "Expedited" ? "High priority: under 1 hour for blobs under 10 GB" : "Standard priority: up to 15 hours";
    const deep = /DEEP_ARCHIVE/.test(storageClass);
    if (tier === "Expedited") return "Expedited: typically 1–5 minutes";
    if (tier === "Bulk") return deep ? "Bulk: typically within 48 hours" : "Bulk: typically 5–12 hours";
    return deep ? "Standard: typically within 12 hours" : "Standard: typically 3–5 hours";
}

/** A thaw that is not done: the command stops here with EXIT.pending. */
export class RestorePending extends JobFailure {
    constructor(
        message: string,
        readonly report: ThawReport,
    ) {
        super(message, EXIT.pending);
        this.name = "RestorePending";
    }
}

/** The one line: what was requested now, what was under way already, how long it takes, what to do. */
export function describePending(what: string, r: ThawReport, opts: ThawOptions): string {
    const classes = [...new Set([...r.requested, ...r.ongoing].map((o) => o.storageClass))];
    const times = classes.map((c) => `${c}: ${expectedTime(c, opts.tier)}`).join("; ");
    const keep = r.requested.some((o) => o.name.startsWith("s3://") && !/INTELLIGENT/.test(o.storageClass)) ? `, restored copies kept ${opts.days} days` : "";
    const parts = [
        ...(r.requested.length ? [`restore requested now for ${r.requested.length} archived object(s) (${names(r.requested)}; tier ${opts.tier}${keep})`] : []),
        ...(r.ongoing.length ? [`restore already under way for ${r.ongoing.length} (${names(r.ongoing)}; nothing requested again)`] : []),
    ];
    return `${what} is archived: ${parts.join("; ")}; ${times}. Run the same command again then: it exits ${EXIT.pending} until every object is readable`;
}

function names(os: ArchivedObject[]): string {
    const short = os.map((o) => o.name.replace(/ \(version [^)]*\)$/, "").split("/").pop() ?? o.name);
    return short.length > 4 ? `${short.slice(0, 4).join(", ")}, … ${short.length - 4} more` : short.join(", ");
}

/** Thaw, and stop with EXIT.pending unless every object is readable now. */
export async function requireThawed(what: string, targets: ThawTarget[], opts: ThawOptions, log: { info(o: object, m: string): void }): Promise<ThawReport> {
    const r = await thaw(targets, opts);
    if (r.restored.length) log.info({ restored: r.restored.map((o) => ({ name: o.name, expiry: o.expiry })) }, "archived objects restored: reading the restored copies");
    if (r.ready) return r;
    log.info({ requested: r.requested.map((o) => o.name), ongoing: r.ongoing.map((o) => o.name), tier: opts.tier, days: opts.days }, "archived objects: restore pending");
    throw new RestorePending(describePending(what, r, opts), r);
}

/**
 * What can be learnt about a run whose manifest is archived without restoring it: its `tier` tag (S3
 * serves tags of archived objects), its lock's end from HEAD (when the caller may read retention), and
 * its size from the version listing the caller already holds.
 */
export async function archivedRunInfo(s3: S3Client, bucket: string, manifestKey: string, versions: VersionIndex): Promise<{ tier?: string; retainUntil?: string; bytes: number }> {
    const prefix = manifestKey.slice(0, manifestKey.lastIndexOf("/") + 1);
    const pin = versions.pin(manifestKey);
    const [tier, head] = await Promise.all([
        tagOf(s3, bucket, pin, "tier"),
        s3.send(new HeadObjectCommand({ Bucket: bucket, Key: manifestKey, VersionId: pin.versionId ?? undefined })).catch(() => undefined),
    ]);
    const bytes = versions.keys(prefix).filter((k) => k !== manifestKey).reduce((n, k) => n + (versions.versions(k)[0]?.size ?? 0), 0);
    return { tier, retainUntil: head?.ObjectLockRetainUntilDate?.toISOString(), bytes };
}

/** One tag of an object (S3 serves the tags of an archived object); undefined when absent or unreadable. */
export async function tagOf(s3: S3Client, bucket: string, pin: ObjectPin, name: string): Promise<string | undefined> {
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: pin.key, VersionId: pin.versionId ?? undefined })).catch(() => undefined);
    return tags?.TagSet?.find((t) => t.Key === name)?.Value;
}
