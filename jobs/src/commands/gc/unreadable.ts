// Storage manifests gc cannot read (issue 17): one archived to GLACIER before manifests stopped going
// cold answers GET with InvalidObjectState. gc must never delete what such a run may reference, and must
// not fail the nightly run either: it keeps every unreferenced blob as old as the newest unreadable
// manifest (a run references only blobs that existed when its manifest was written), says so in one log
// line and a metric, and collects the younger ones as usual.
import type { BlobListing, GcPlan } from "./plan";

export interface Unreadable {
    /** manifest keys (and versions) that could not be read */
    keys: string[];
    /** the newest of their write times; undefined when a time is unknown (then nothing is deleted) */
    newest?: Date;
    /** a time was unknown */
    unknownTime: boolean;
}

export function noteUnreadable(u: Unreadable, key: string, written: Date | undefined): void {
    u.keys.push(key);
    if (!written) u.unknownTime = true;
    else if (!u.newest || written > u.newest) u.newest = written;
}

/** The plan without the blobs an unreadable manifest may reference; returns how many were kept. */
export function keepForUnreadable<T extends BlobListing>(plan: GcPlan<T>, u: Unreadable): number {
    if (!u.keys.length) return 0;
    const mayBeNamed = (b: T) => u.unknownTime || !b.lastModified || b.lastModified.getTime() <= u.newest!.getTime();
    const kept = plan.delete.filter(mayBeNamed);
    plan.delete = plan.delete.filter((b) => !mayBeNamed(b));
    plan.bytesReclaimed -= kept.reduce((n, b) => n + b.size, 0);
    return kept.length;
}
