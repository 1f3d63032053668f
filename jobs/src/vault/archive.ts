// The Azure Blob archive (secondary copy): a container client from a connection string (tests,
// Azurite) or workload identity (Kubernetes, no shared key).
import type { ContainerClient, StoragePipelineOptions } from "@azure/storage-blob";
import { JOB_ENV, type JobConfig } from "@supabase-backups/contracts";

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
