// One object of a dump run: a producer's output (pg_dump, pg_dumpall) → [transforms] → [age] → sha256 →
// the S3 sink (required) and the Azure sink (optional) at once. A failure kills the producer and aborts
// both uploads; an Azure-only failure is recorded on the run's secondary and the object still counts.
import type { S3Client } from "@aws-sdk/client-s3";
import type { ContainerClient } from "@azure/storage-blob";
import { dbObjectKey, type JobConfig } from "@supabase-backups/contracts";
import { createHash } from "node:crypto";
import { pipeline, type Readable, type Transform } from "node:stream";
import { errorMessage } from "../../runtime/errors";
import type { Logger } from "../../runtime/log";
import { formatBytes, type Progress } from "../../runtime/progress";
import type { VaultTags } from "../../vault/write-params";
import { ageEncrypt } from "../../codec/age-encrypt";
import type { DumpProcess } from "../../postgres/client-tools";
import { abortSinks, azureSink, finishSinks, pump, s3Sink, type ObjectTarget, type Sink } from "./sinks";

export const CONTENT_TYPES = {
    dump: "application/vnd.postgresql.custom-archive",
    sql: "application/sql",
    age: "application/vnd.age",
} as const;

export type ObjectName = "dump" | "schema.sql" | "roles.sql";

export interface ObjectResult {
    name: ObjectName;
    key: string;
    bytes: number;
    sha256: string;
    contentType: string;
    /** the S3 VersionId of the stored object: readers read exactly this version */
    versionId?: string;
}

/** The Azure copy of the run so far: disabled, ok (objects committed), or failed (why). */
export interface Secondary {
    status: "ok" | "failed" | "disabled";
    error?: string;
    objects: Array<{ name: string; key: string; bytes: number; sha256: string; versionId?: string }>;
}

/** Everything an object's transfer needs, fixed for the run. */
export interface TransferSettings {
    env: string;
    runId: string;
    s3: S3Client;
    vault: JobConfig["vault"];
    /** present while the Azure copy is wanted and has not failed */
    azure?: ContainerClient;
    secondary: Secondary;
    recipient?: string;
    retainUntil: Date;
    tags: VaultTags;
    partSize: number;
    queueSize: number;
    blockSize: number;
    azureConcurrency: number;
    stallMs: number;
    progress: Progress;
    log: Logger;
}

/** The run's sinks for one object: S3 always, Azure while the secondary is still ok. */
function sinksFor(s: TransferSettings, t: ObjectTarget): Sink[] {
    const sinks: Sink[] = [s3Sink(s.s3, t, { vault: s.vault, partSize: s.partSize, queueSize: s.queueSize }, s.log)];
    if (s.azure && s.secondary.status === "ok") sinks.push(azureSink(s.azure, t, { blockSize: s.blockSize, concurrency: s.azureConcurrency }));
    return sinks;
}

/** What became of the Azure sink: its object joins the secondary, or the secondary is failed (degraded). */
function recordSecondary(s: TransferSettings, sinks: Sink[], object: Omit<ObjectResult, "contentType">): void {
    const azure = sinks.find((x) => !x.required);
    if (!azure) return;
    if (azure.committed) {
        s.secondary.objects.push({ name: object.name, key: object.key, bytes: object.bytes, sha256: object.sha256, ...(azure.versionId ? { versionId: azure.versionId } : {}) });
        return;
    }
    s.secondary.status = "failed";
    s.secondary.error = `${object.name}: ${errorMessage(azure.failure)}`;
    s.log.warn({ object: object.name, err: s.secondary.error }, "Azure copy failed; the run completes on S3 only (degraded)");
}

/** What an object's bytes come from: a running tool (pg_dump, pg_dumpall), or its output held in memory (prefetch.ts). */
export type Producer = Pick<DumpProcess, "stdout" | "exited"> & { child: Pick<DumpProcess["child"], "kill"> };

/** Stream one producer's output into the sinks; returns its stored bytes' size and sha256. */
export async function transfer(s: TransferSettings, name: ObjectName, proc: Producer, transforms: Transform[], contentType: string): Promise<ObjectResult> {
    const key = dbObjectKey(s.env, s.runId, name);
    const t: ObjectTarget = { key, contentType: s.recipient ? CONTENT_TYPES.age : contentType, retainUntil: s.retainUntil, tags: s.tags };
    const sinks = sinksFor(s, t);
    const hash = createHash("sha256");
    let bytes = 0;
    try {
        let out: Readable = transforms.length ? (pipeline([proc.stdout, ...transforms], () => undefined) as unknown as Readable) : proc.stdout;
        if (s.recipient) out = await ageEncrypt(out, s.recipient);
        await pump(out, sinks, {
            stallMs: s.stallMs,
            log: s.log,
            onChunk: (c) => {
                hash.update(c);
                bytes += c.length;
                s.progress.add(c.length);
            },
        });
        await proc.exited; // a pg_dump that failed or was killed must never look complete
        await finishSinks(sinks, s.stallMs);
    } catch (e) {
        proc.child.kill("SIGTERM");
        const err = e instanceof Error ? e : new Error(String(e));
        await abortSinks(sinks, err);
        throw err;
    }
    const sha256 = hash.digest("hex");
    recordSecondary(s, sinks, { name, key, bytes, sha256 });
    // "null" is the version of an object in a bucket without versioning: nothing to pin
    const stored = sinks.find((x) => x.required)?.versionId;
    const versionId = stored && stored !== "null" ? stored : undefined;
    s.log.info({ object: name, key, bytes, sha256, versionId }, `uploaded ${name} (${formatBytes(bytes)})`);
    return { name, key, bytes, sha256, contentType: t.contentType, ...(versionId ? { versionId } : {}) };
}
