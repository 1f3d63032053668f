// The Supabase side of a shard: the catalog (SQL listing) and the download source the config selects.
import type { BucketSettings, JobConfig, StoragePolicy } from "@supabase-backups/contracts";
import { requireSecret, type JobContext } from "../../runtime/context";
import { errorMessage, JobFailure, UsageError } from "../../runtime/errors";
import { registerSecret } from "../../runtime/log";
import { restSource, s3Source, S3_SOURCE_ENV, StorageCatalog, type StorageSource } from "../../supabase/storage-source";
import { pgClientConfig } from "../../postgres/connection";
import { pgTlsPolicy, securePgUrl } from "../../postgres/tls";

function projectUrl(cfg: JobConfig): string {
    return cfg.supabase.url ?? `https://${cfg.supabase.projectRef}.supabase.co`;
}

/** DATABASE_URL with TLS as the policy says (verify-full to any non-loopback host). */
function databaseUrl(ctx: JobContext) {
    const url = securePgUrl(requireSecret(ctx, "databaseUrl"), pgTlsPolicy(ctx.config, ctx.env), ctx.log, "DATABASE_URL");
    return pgClientConfig(url, { application_name: "supabase-backups sync-storage" });
}

export async function connectCatalog(ctx: JobContext): Promise<StorageCatalog> {
    return StorageCatalog.connect(databaseUrl(ctx)).catch((e) => {
        throw new JobFailure(`cannot connect to the Supabase database: ${errorMessage(e)}`);
    });
}

/** storage.mode s3: the Storage S3 protocol with the project's S3 access keys; rest: the Storage API with the service-role key. */
export function openSource(ctx: JobContext, concurrency: number): StorageSource {
    const cfg = ctx.config;
    if (cfg.storage.mode === "s3") {
        const accessKeyId = ctx.env[S3_SOURCE_ENV.accessKeyId];
        const secretAccessKey = ctx.env[S3_SOURCE_ENV.secretAccessKey];
        if (!accessKeyId || !secretAccessKey) {
            throw new UsageError(`storage.mode is s3: set ${S3_SOURCE_ENV.accessKeyId} and ${S3_SOURCE_ENV.secretAccessKey} (Storage S3 access keys from the project's settings)`);
        }
        registerSecret(secretAccessKey);
        return s3Source(
            {
                endpoint: cfg.storage.s3Endpoint ?? `${projectUrl(cfg).replace(/\/+$/, "")}/storage/v1/s3`,
                region: ctx.env[S3_SOURCE_ENV.region] ?? cfg.aws.region,
                accessKeyId,
                secretAccessKey,
            },
            concurrency,
        );
    }
    return restSource(projectUrl(cfg), requireSecret(ctx, "serviceRoleKey"));
}

/** Configured buckets (default: every bucket of the project), for the merge's per-bucket totals. */
export async function configuredBucketNames(ctx: JobContext): Promise<string[]> {
    if (ctx.config.storage.buckets) return ctx.config.storage.buckets.map((b) => b.name);
    const catalog = await StorageCatalog.connect(databaseUrl(ctx));
    try {
        return await catalog.bucketNames();
    } finally {
        await catalog.close();
    }
}

/** What the run manifest records of the buckets themselves: settings by bucket, and storage.objects' policies. */
export interface BucketFacts {
    settings: Map<string, BucketSettings>;
    policies: StoragePolicy[];
}

/**
 * The buckets' settings and policies, read when the run manifest is written. A failure is logged and
 * leaves them out (the fields are optional): the objects are what the run exists for.
 */
export async function readBucketFacts(ctx: JobContext): Promise<BucketFacts | undefined> {
    try {
        const catalog = await StorageCatalog.connect(databaseUrl(ctx));
        try {
            return { settings: await catalog.bucketSettings(), policies: await catalog.objectPolicies() };
        } finally {
            await catalog.close();
        }
    } catch (e) {
        ctx.log.warn({ err: errorMessage(e) }, "cannot read the buckets' settings and policies; the run manifest leaves them out");
        return undefined;
    }
}
