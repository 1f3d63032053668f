// Garbage collection of content-addressed storage blobs, as a pure plan: which blobs no retained run
// manifest references. Retained = the manifest still exists (lifecycle rules expire manifests by their
// tier tag; blobs are never expired by lifecycle, since many runs share them). Blobs younger than the
// grace period are kept: a run in progress has uploaded them but has not written its manifest yet.
// The same plan decides for the S3 vault and for the Azure archive (archive.ts): a listing carries what
// its store needs to delete (S3 versions come from the version index, Azure's ride on the listing).

export interface BlobListing {
    key: string;
    sha256: string;
    size: number;
    lastModified?: Date;
    /** only data versions under a delete marker (an earlier gc's plain DELETE): the key lists as absent */
    hidden?: boolean;
}

export interface GcPlan<T extends BlobListing = BlobListing> {
    /** blobs to delete */
    delete: T[];
    /** unreferenced, but younger than the grace period */
    tooYoung: number;
    referenced: number;
    bytesReclaimed: number;
    /** referenced blobs hidden by a delete marker: the marker goes, so readers find them again */
    unhide: T[];
}

export function planGc<T extends BlobListing>(blobs: T[], referenced: Set<string>, now: Date, graceDays: number): GcPlan<T> {
    const cutoff = now.getTime() - graceDays * 86_400_000;
    const plan: GcPlan<T> = { delete: [], tooYoung: 0, referenced: 0, bytesReclaimed: 0, unhide: [] };
    for (const b of blobs) {
        if (referenced.has(b.sha256)) {
            plan.referenced++;
            if (b.hidden) plan.unhide.push(b);
        } else if (!b.lastModified || b.lastModified.getTime() > cutoff) {
            // Unknown age counts as young: never delete what we cannot prove is old.
            plan.tooYoung++;
        } else {
            plan.delete.push(b);
            plan.bytesReclaimed += b.size;
        }
    }
    return plan;
}
