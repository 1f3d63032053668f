// One changed object, end to end: download (verified) → store its blob → record its entry, retried with
// backoff. How failures end: a vault error stops the run (after the retries), a credentials refusal
// stops it at once, an object deleted since the listing is recorded as vanished, anything else is
// retried and finally recorded as failed (the next run tries again).
//
// Memory: objects up to the memory threshold (declared size from the row) are buffered, and a byte
// budget of concurrency × threshold bounds what all buffered objects (downloading, or waiting for / in
// an upload slot) hold together; larger objects (and rows without a size) are spooled to the scratch
// directory (the CronJob's emptyDir) and the file is removed once uploaded.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { backoffMs, ByteBudget, Semaphore, sleep, type TaskGroup } from "../../runtime/concurrency";
import { errorMessage, JobFailure } from "../../runtime/errors";
import type { Progress } from "../../runtime/progress";
import { SourceError, type SourceObject, type StorageCatalog, type StorageSource } from "../../supabase/storage-source";
import { storageBlobKey, type StorageObject } from "@supabase-backups/contracts";
import type { ArchiveCopy } from "./archive-copy";
import type { BlobInfo, BlobStore } from "./blobs";
import { fetchVerified, type Fetched } from "./download";
import { entryFrom, withArchiveRecord, withBlob } from "./plan";
import { VaultError, type RunScope, type Tally, type Timing } from "./run";

export interface TransferSettings {
    concurrency: number;
    retries: number;
    retryBaseMs: number;
    memoryThreshold: number;
    stallMs: number;
    /** the shard's own scratch directory */
    scratch: string;
}

/** What the transfers work with and record into; `tasks` tells whether the run already failed. */
export interface TransferDeps {
    run: Pick<RunScope, "env" | "log">;
    source: StorageSource;
    catalog: StorageCatalog;
    blobs: BlobStore;
    /** the Azure copy, from the same verified bytes (archive-copy.ts); never fails the transfer */
    archive?: ArchiveCopy;
    tally: Tally;
    timing: Timing;
    progress: Progress;
    tasks: TaskGroup;
    signal: AbortSignal;
}

/** After a failed attempt: stop (vanished), retry, or give up on the object. */
type Verdict = { next: "vanished" } | { next: "retry" | "give-up"; object: SourceObject; error: string };

export class Transfers {
    private readonly downloads: Semaphore;
    private readonly uploads: Semaphore;
    private readonly memory: ByteBudget;
    private spoolSeq = 0;

    constructor(
        private readonly d: TransferDeps,
        private readonly s: TransferSettings,
    ) {
        // Downloads and uploads overlap, `concurrency` of each (an object's upload cannot start before its
        // download ends: its key is the hash of its bytes).
        this.downloads = new Semaphore(s.concurrency);
        this.uploads = new Semaphore(s.concurrency);
        this.memory = new ByteBudget(Math.max(s.concurrency * s.memoryThreshold, s.memoryThreshold));
    }

    /**
     * Sync one new or changed object (`prev`: its previous entry); its entry, or undefined when it failed
     * or vanished (recorded in the tally). Throws only what must stop the run.
     */
    async sync(o: SourceObject, prev?: StorageObject): Promise<StorageObject | undefined> {
        let lastError = "";
        for (let attempt = 0; attempt <= this.s.retries; attempt++) {
            if (this.d.tasks.failed) return undefined;
            if (attempt > 0) await sleep(backoffMs(this.s.retryBaseMs, attempt - 1));
            try {
                return await this.transferOnce(o, prev);
            } catch (e) {
                const v = await this.judge(o, e, attempt);
                if (v.next === "vanished") return undefined;
                o = v.object;
                lastError = v.error;
                if (v.next === "give-up") break;
            }
        }
        this.d.tally.failed.push({ bucket: o.bucket, name: o.name, error: lastError });
        this.d.tally.stats.failed++;
        return undefined;
    }

    private async transferOnce(o: SourceObject, prev: StorageObject | undefined): Promise<StorageObject> {
        // In-memory objects reserve their size from the buffer budget until uploaded.
        const reserved = o.size !== null && o.size <= this.s.memoryThreshold ? o.size : 0;
        await this.memory.acquire(reserved);
        let f: Fetched | undefined;
        try {
            f = await this.downloads.run(() => this.d.timing.time("download", () => this.fetch(o)));
            const fetched = f;
            const blob = await this.uploads.run(() => this.d.blobs.store(fetched, prev));
            const archived = await this.d.archive?.copy(storageBlobKey(this.d.run.env, fetched.sha256), fetched, prev);
            const entry = this.record(o, fetched, blob);
            return this.d.archive?.enabled ? withArchiveRecord(entry, archived) : entry;
        } finally {
            this.memory.release(reserved);
            if (f) f.buffer = undefined;
            if (f?.file) await rm(f.file, { force: true });
        }
    }

    /** Download `o` again (bounded like a transfer) and hand the verified bytes to `use` (the archive catch-up). */
    async withBytes(o: SourceObject, use: (f: Fetched) => Promise<void>): Promise<void> {
        const reserved = o.size !== null && o.size <= this.s.memoryThreshold ? o.size : 0;
        await this.memory.acquire(reserved);
        let f: Fetched | undefined;
        try {
            f = await this.downloads.run(() => this.d.timing.time("download", () => this.fetch(o)));
            await use(f);
        } finally {
            this.memory.release(reserved);
            if (f) f.buffer = undefined;
            if (f?.file) await rm(f.file, { force: true });
        }
    }

    private fetch(o: SourceObject): Promise<Fetched> {
        return fetchVerified(this.d.source, o, {
            signal: this.d.signal,
            memoryThreshold: this.s.memoryThreshold,
            stallMs: this.s.stallMs,
            spoolPath: () => join(this.s.scratch, `${++this.spoolSeq}.part`),
        });
    }

    private record(o: SourceObject, f: Fetched, blob: BlobInfo): StorageObject {
        const { tally } = this.d;
        if (blob.how === "uploaded") {
            tally.stats.copied++;
            tally.stats.bytesUploaded += f.size;
        } else tally.stats.deduplicated++;
        this.d.progress.add(f.size, 1);
        return withBlob(entryFrom(this.d.run.env, o, f.sha256, f.size), blob.lockedUntil, blob.versionId);
    }

    private async judge(o: SourceObject, e: unknown, attempt: number): Promise<Verdict> {
        const { log } = this.d.run;
        const last = attempt === this.s.retries;
        if (e instanceof VaultError) {
            if (last) throw e; // the vault is down: the run stops, no manifest
            log.warn({ bucket: o.bucket, name: o.name, attempt, err: e.message }, "vault error, retrying");
            return { next: "retry", object: o, error: e.message };
        }
        let error: string;
        if (e instanceof SourceError && e.kind === "not-found") {
            const now = await this.d.catalog.current(o.bucket, o.name);
            if (!now) {
                log.warn({ bucket: o.bucket, name: o.name }, "object deleted after listing: recorded as vanished");
                this.d.tally.vanished.push({ bucket: o.bucket, name: o.name });
                return { next: "vanished" };
            }
            if (now.updatedAt !== o.updatedAt || now.eTag !== o.eTag) o = now; // replaced meanwhile: fetch the new one
            error = e.message;
        } else if (e instanceof SourceError && e.kind === "fatal") {
            if (/HTTP (401|403)\b/.test(e.message)) throw new JobFailure(`Supabase Storage refused the credentials: ${e.message}`);
            return { next: "give-up", object: o, error: e.message };
        } else {
            error = errorMessage(e);
        }
        log.warn({ bucket: o.bucket, name: o.name, attempt, err: error }, last ? "object failed" : "object failed, retrying");
        return { next: "retry", object: o, error };
    }
}
