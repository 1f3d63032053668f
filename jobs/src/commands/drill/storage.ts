// The storage drill: every bucket of the newest complete storage run (or drills.storage.buckets)
// restored by the real `restore storage` into its own `restored-<bucket>-drill-<stamp>` bucket through
// the Storage REST API (each blob's sha256 and each upload's MD5 checked by the restore), the object
// counts compared with the manifest, and every restored-* bucket emptied and deleted afterwards, also
// when a step failed.
import { type StorageManifest } from "@supabase-backups/contracts";
import { runSubcommand, subcommandEnv } from "../../cli/subcommand";
import { deleteRestoredBucket, RESTORED_BUCKET_PREFIX, type StorageRest } from "../../supabase/storage-buckets";
import { chooseRun } from "../../vault/run-choice";
import type { DrillContext } from "./context";
import { checkItems, step, type DrillItem } from "./outcome";

/** `restored-<bucket>-drill-<yyyymmddhhmmss>-<rand>`: never a bucket the project uses, at most 100 characters. */
export function drillBucketName(bucket: string, drillId: string): string {
    const [stamp, rand] = drillId.split("-");
    return `${RESTORED_BUCKET_PREFIX}${bucket.slice(0, 60)}-drill-${stamp.replace(/[TZ]/g, "").toLowerCase()}-${rand}`;
}

/**
 * Objects per bucket in the run, from the manifest's per-bucket totals (counted from its entries, which a
 * version-2 manifest keeps in a separate list; the names it lists as unsafe are not among them).
 */
export function objectsPerBucket(m: StorageManifest, buckets: string[]): Map<string, number> {
    const n = new Map(buckets.map((b) => [b, 0]));
    for (const b of m.buckets) if (n.has(b.name)) n.set(b.name, b.objects);
    return n;
}

export async function runStorageDrill(x: DrillContext): Promise<void> {
    const { ctx, d } = x;
    const m = await step(d, "choose", async () => {
        const c = await chooseRun<StorageManifest>(ctx.s3, ctx.bucket, ctx.config.env, "storage", { run: x.run, at: x.run ? undefined : "now", trust: {} });
        d.runId = c.loaded.manifest.runId;
        return { value: c.loaded.manifest, detail: c.note };
    });
    if (!m) return;
    const buckets = x.drills.storage?.buckets ?? m.buckets.map((b) => b.name);
    const expected = objectsPerBucket(m, buckets);
    const rest: StorageRest = { projectUrl: (ctx.config.supabase.url ?? `https://${ctx.config.supabase.projectRef}.supabase.co`).replace(/\/+$/, ""), serviceRoleKey: ctx.secrets.serviceRoleKey ?? "" };
    const created: string[] = [];
    try {
        const items: DrillItem[] = [];
        for (const bucket of buckets) {
            const into = drillBucketName(bucket, d.drillId);
            created.push(into);
            d.targets.push(`bucket ${into}`);
            const out = await step(d, `restore ${bucket}`, () => restoreBucket(x, m.runId, bucket, into));
            if (!out) return;
            const restored = (out.restored ?? 0) + (out.skippedIdentical ?? 0);
            items.push({ name: bucket, expected: expected.get(bucket) ?? 0, restored, ok: restored === expected.get(bucket) && out.objects === restored });
        }
        await step(d, "check", async () => {
            d.items = items;
            const detail = checkItems(items, "object counts");
            d.rtoSeconds = (Date.now() - d.startedAt.getTime()) / 1000;
            return { value: true, detail: `${detail}; every blob's sha256 and every upload's MD5 checked by the restore` };
        });
    } finally {
        await step(d, "cleanup", async () => {
            for (const b of created) {
                const problem = await deleteRestoredBucket(rest, b);
                if (problem) d.cleanupProblems.push(problem);
            }
            if (d.cleanupProblems.length) throw new Error(`${d.cleanupProblems.join("; ")} (delete them by hand)`);
            return { value: true, detail: created.length ? `emptied and deleted ${created.join(", ")}` : "nothing was created" };
        });
    }
}

/** `restore storage --run … --bucket … --into restored-…-drill-…` as a child: the operator's own restore, audited. */
async function restoreBucket(x: DrillContext, runId: string, bucket: string, into: string): Promise<{ value: any; detail: string }> {
    const { ctx, d } = x;
    const args = ["restore", "storage", "--config", ctx.configSource, "--env", ctx.config.env, "--run", runId, "--bucket", bucket, "--into", into, "--via", "rest"];
    args.push("--reason", x.reason, "--actor", `drill/${d.drillId}`, "--json");
    const r = await runSubcommand(args, subcommandEnv(ctx.env, ["serviceRoleKey"]), x.signal);
    if (r.code !== 0) throw new Error(r.error ?? `restore storage ended with ${r.signal ?? `exit ${r.code}`}`);
    const out = JSON.parse(r.stdout);
    return { value: out, detail: `${out.objects} object(s) into ${into}: ${out.restored} uploaded, ${out.bytesUploaded} bytes (audit ${out.auditEventId})` };
}
