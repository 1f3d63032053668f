// The Azure Blob archive (secondary copy): a container client from a connection string (tests,
// Azurite) or workload identity (Kubernetes, no shared key).
import { ContainerClient, type StoragePipelineOptions } from "@azure/storage-blob";
import { JOB_ENV, type JobConfig } from "@supabase-backups/contracts";

export async function createArchiveClient(
    archive: NonNullable<JobConfig["archive"]>,
    env: NodeJS.ProcessEnv = process.env,
    options?: StoragePipelineOptions,
): Promise<ContainerClient> {
    const cs = env[JOB_ENV.azureConnectionString];
    if (cs) return new ContainerClient(cs, archive.container, options);
    const { DefaultAzureCredential } = await import("@azure/identity");
    return new ContainerClient(`${archive.accountUrl.replace(/\/$/, "")}/${archive.container}`, new DefaultAzureCredential(), options);
}
