// Finding runs in the vault: complete runs are the ones whose manifest exists (no "latest" pointer),
// found by listing, newest last. Shared by dump (previous link, tier choice), sync-storage, verify and
// status.
import type { S3Client } from "@aws-sdk/client-s3";
import {
    checkChain,
    isRunId,
    parseVaultKey,
    prefixes,
    type ChainBreak,
    type DbManifest,
    type StorageManifest,
} from "@supabase-backups/contracts";
import { getJson, listAll } from "./s3";
import { VaultReadError, VersionIndex } from "./versions";

export type RunKind = "db" | "storage";

export interface RunRef {
    runId: string;
    manifestKey: string;
}

/** Complete runs of a kind, oldest first. */
export async function listCompleteRuns(s3: S3Client, bucket: string, env: string, kind: RunKind): Promise<RunRef[]> {
    const prefix = kind === "db" ? prefixes.db(env) : prefixes.storageRuns(env);
    const objects = await listAll(s3, bucket, prefix);
    const refs: RunRef[] = [];
    for (const o of objects) {
        const p = parseVaultKey(o.key);
        if (!p || p.env !== env || !("runId" in p) || !isRunId(p.runId) || p.name !== "manifest.json") continue;
        if ((kind === "db" && p.kind === "db") || (kind === "storage" && p.kind === "storage-run")) refs.push({ runId: p.runId, manifestKey: o.key });
    }
    return refs.sort((a, b) => (a.runId < b.runId ? -1 : 1));
}

export interface LoadedManifest<T> {
    ref: RunRef;
    manifest: T;
    sha256: string;
    bytes: Buffer;
    /** the version read (undefined on a store without versioning) */
    versionId?: string;
}

/** A run's manifest, at `versionId` when given (versions.ts: the recorded or the original version). */
export async function loadManifest<T = DbManifest | StorageManifest>(s3: S3Client, bucket: string, ref: RunRef, versionId?: string | null): Promise<LoadedManifest<T>> {
    const { value, sha256, bytes, versionId: read } = await getJson<T>(s3, bucket, { key: ref.manifestKey, versionId });
    return { ref, manifest: value, sha256, bytes, versionId: read ?? versionId ?? undefined };
}

/** The newest complete run and its manifest hash: the `previous` link of the next run. */
export async function newestComplete<T = DbManifest | StorageManifest>(s3: S3Client, bucket: string, env: string, kind: RunKind): Promise<LoadedManifest<T> | undefined> {
    const runs = await listCompleteRuns(s3, bucket, env, kind);
    const last = runs[runs.length - 1];
    return last ? loadManifest<T>(s3, bucket, last) : undefined;
}

/**
 * Where complete runs are read from: the S3 vault (vaultRuns), or the Azure archive alone
 * (archive-runs.ts). `load` throws VaultReadError "archived" for a manifest that needs a restore first.
 */
export interface RunStore {
    list(env: string, kind: RunKind): Promise<RunRef[]>;
    load<T>(ref: RunRef, versionId?: string | null): Promise<LoadedManifest<T>>;
}

export function vaultRuns(s3: S3Client, bucket: string): RunStore {
    return { list: (env, kind) => listCompleteRuns(s3, bucket, env, kind), load: (ref, versionId) => loadManifest(s3, bucket, ref, versionId) };
}

type Chained = { runId: string; previous: { runId: string; sha256: string } | null };
interface ChainOptions {
    sinceRunId?: string;
    concurrency?: number;
    versions?: VersionIndex;
}

/**
 * Load every complete run's manifest (small JSON) and check the chain. With `versions`, each manifest is
 * read at its original version, and the chain holds only over what the jobs wrote.
 */
export async function loadChain<T extends Chained>(s3: S3Client, bucket: string, env: string, kind: RunKind, opts: ChainOptions = {}): Promise<{ manifests: LoadedManifest<T>[]; breaks: ChainBreak[]; archived: RunRef[] }> {
    return loadChainFrom<T>(vaultRuns(s3, bucket), env, kind, opts);
}

/** The same check over any store: the vault's, or the archive's copies (restore db / status --from archive). */
export async function loadChainFrom<T extends Chained>(store: RunStore, env: string, kind: RunKind, opts: ChainOptions = {}): Promise<{ manifests: LoadedManifest<T>[]; breaks: ChainBreak[]; archived: RunRef[] }> {
    let runs = await store.list(env, kind);
    if (opts.sinceRunId) runs = runs.filter((r) => r.runId >= opts.sinceRunId!);
    const loaded: Array<LoadedManifest<T> | undefined> = new Array(runs.length);
    let next = 0;
    const workers = Array.from({ length: Math.min(opts.concurrency ?? 8, runs.length) }, async () => {
        while (next < runs.length) {
            const i = next++;
            // With a version index, each manifest as the job wrote it: an overwrite cannot re-link the chain.
            // One archived before manifests stopped going cold (issue 17) is left out, never fatal.
            loaded[i] = await store.load<T>(runs[i], opts.versions?.pin(runs[i].manifestKey).versionId).catch((e) => {
                if (e instanceof VaultReadError && e.kind === "archived") return undefined;
                throw e;
            });
        }
    });
    await Promise.all(workers);
    const manifests = loaded.filter((m): m is LoadedManifest<T> => !!m);
    const archived = runs.filter((_, i) => !loaded[i]);
    const breaks = checkChain(
        [
            ...manifests.map((m) => ({ runId: m.ref.runId, sha256: m.sha256, previous: m.manifest.previous })),
            ...archived.map((r) => ({ runId: r.runId, sha256: "", previous: null, archived: true })),
        ],
        { allowOpenStart: !!opts.sinceRunId },
    );
    // A manifest whose own runId differs from its key's is an altered (moved) manifest.
    for (const m of manifests) {
        if (m.manifest.runId !== m.ref.runId) breaks.push({ runId: m.ref.runId, reason: `manifest at ${m.ref.manifestKey} claims run ${m.manifest.runId}`, altered: m.ref.runId });
    }
    return { manifests, breaks, archived };
}
