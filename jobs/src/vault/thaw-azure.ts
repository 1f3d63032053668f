// Azure's Archive tier (issue 17): a blob there cannot be read (Get Blob answers 409 BlobArchived) until it
// is rehydrated to an online tier, up to 15 hours later (Standard priority) or under an hour (High). The
// same pending/resume contract as S3's restore (thaw.ts): Get Blob Properties says Archive and, once asked,
// `rehydrate-pending-to-cool`; Set Blob Tier to Cool with the priority asks, once.
import type { ContainerClient } from "@azure/storage-blob";
import { EXIT } from "@supabase-backups/contracts";
import { errorMessage, JobFailure } from "../runtime/errors";
import type { ArchivedObject, ThawTarget } from "./thaw";

const errCode = (e: any): string | undefined => e?.code ?? e?.details?.errorCode;

/** Is this Azure error a download refused because the blob is archived? */
export function isBlobArchived(e: unknown): boolean {
    return errCode(e) === "BlobArchived";
}

/** One Azure blob (at a version when the account keeps versions) as a thaw target. */
export function azureThawTarget(container: ContainerClient, key: string, versionId?: string): ThawTarget {
    const blob = versionId ? container.getBlobClient(key).withVersion(versionId) : container.getBlobClient(key);
    const name = `azure:${container.containerName}/${key}${versionId ? ` (version ${versionId})` : ""}`;
    return {
        async look(): Promise<ArchivedObject> {
            let p;
            try {
                p = await blob.getProperties();
            } catch (e: any) {
                if (e?.statusCode === 404) return { name, storageClass: "-", state: "online" };
                throw e;
            }
            if (p.accessTier !== "Archive") return { name, storageClass: p.accessTier ?? "Hot", state: "online" };
            return { name, storageClass: "Archive", state: /^rehydrate-pending/.test(p.archiveStatus ?? "") ? "restoring" : "archived" };
        },
        async request(_o, opts) {
            try {
                // Cool: cheaper to keep than Hot for a copy read once or twice
                await blob.setAccessTier("Cool", { rehydratePriority: opts.tier === "Expedited" ? "High" : "Standard" });
                return "requested";
            } catch (e) {
                if (errCode(e) === "BlobBeingRehydrated") return "in-progress";
                // The stack's verifier role may read but not write blobs, and Set Blob Tier is a blob write.
                const hint = (e as any)?.statusCode === 403 ? ` (this identity may not change tiers: az storage blob set-tier --auth-mode login --tier Cool --rehydrate-priority Standard, then run again)` : "";
                throw new JobFailure(`the rehydration request for ${name} failed: ${errorMessage(e)}${hint}`, EXIT.failed, e);
            }
        },
    };
}
