// The Azure Blob archive (secondary copy): a container client from a connection string (tests,
// Azurite) or workload identity (Kubernetes, no shared key).
import type { ContainerClient, StoragePipelineOptions } from "@azure/storage-blob";
import { JOB_ENV, serializeRecord, type JobConfig } from "@supabase-backups/contracts";
import { vaultTags, type VaultTags } from "./write-params";

export async function createArchiveClient(
    archive: NonNullable<JobConfig["archive"]>,
    env: NodeJS.ProcessEnv = process.env,
    options?: StoragePipelineOptions,
): Promise<ContainerClient> {
    // Loaded here, not at start: the Azure SDK is ~370 of the CLI's ~530 modules, and only runs that copy
    // to or read from the archive need it (docs/benchmarks.md "CLI start-up").
    const { ContainerClient } = await import("@azure/storage-blob");
    const cs = env[JOB_ENV.azureConnectionString];
    if (cs) return new ContainerClient(cs, archive.container, options);
    const { DefaultAzureCredential } = await import("@azure/identity");
    return new ContainerClient(`${archive.accountUrl.replace(/\/$/, "")}/${archive.container}`, new DefaultAzureCredential(), options);
}

/** What one archive write carries: the same tags and retain-until as its S3 twin. */
export interface ArchiveWrite {
    key: string;
    contentType: string;
    /** index tags (lifecycle rules match `tier`); absent: none (audit records, kept by immutability) */
    tags?: VaultTags;
    /** the Locked immutability policy's end; undefined: the account's default policy applies */
    retainUntil?: Date;
}

/**
 * The options of every create-only archive write: `If-None-Match: *` (the service refuses an existing
 * blob with 409), index tags, and a Locked version-level immutability policy (it can only be extended).
 */
export function archiveWriteOptions(w: ArchiveWrite) {
    return {
        blobHTTPHeaders: { blobContentType: w.contentType },
        ...(w.tags ? { tags: vaultTags(w.tags) } : {}),
        conditions: { ifNoneMatch: "*" },
        ...(w.retainUntil ? { immutabilityPolicy: { expiriesOn: w.retainUntil, policyMode: "Locked" as const } } : {}),
    };
}

/** The create-only write found the blob already there (409 BlobAlreadyExists; 412 from some proxies). */
export function isArchiveConflict(e: unknown): boolean {
    const x = e as { statusCode?: number; code?: string } | undefined;
    return x?.statusCode === 409 || x?.statusCode === 412 || x?.code === "BlobAlreadyExists";
}

/**
 * Azure refused a delete because the version is still immutable (409 BlobImmutableDueToPolicy) or under a
 * legal hold: the lock doing its job, not a failure.
 */
export function isImmutabilityRefusal(e: unknown): boolean {
    const x = e as { statusCode?: number; code?: string } | undefined;
    return x?.code === "BlobImmutableDueToPolicy" || x?.code === "BlobImmutableDueToLegalHold";
}

/** The store has no immutability API (Azurite answers 501 APINotImplemented). */
export function isNoImmutabilityApi(e: unknown): boolean {
    const x = e as { statusCode?: number; code?: string } | undefined;
    return x?.statusCode === 501 || x?.code === "APINotImplemented";
}

/** A record (manifest) as the exact bytes the S3 copy holds, create-only; "existing" when already there. */
export async function putArchiveRecord(container: ContainerClient, w: Omit<ArchiveWrite, "contentType">, value: unknown): Promise<{ how: "uploaded" | "existing"; versionId?: string }> {
    const body = serializeRecord(value);
    try {
        const r = await container.getBlockBlobClient(w.key).upload(body, body.length, archiveWriteOptions({ ...w, contentType: "application/json" }));
        return { how: "uploaded", versionId: r.versionId };
    } catch (e) {
        if (isArchiveConflict(e)) return { how: "existing" };
        throw e;
    }
}
