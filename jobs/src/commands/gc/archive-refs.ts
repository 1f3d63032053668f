// The blobs the Azure archive's storage manifests name, for gc's archive pass (archive.ts). Every version
// of every run manifest copy is read (on an account with versioning, an overwrite with the writer's
// credentials leaves the version the job wrote), and each only ever adds references: a forged manifest
// can make gc keep more, never less. A manifest (or its object list) that cannot be read or does not
// check out is noted as unreadable with no time, which keeps every unreferenced archive blob of the env
// (unreadable.ts); a transport failure (Azure down, no permission) throws: the archive pass fails.
import type { ContainerClient } from "@azure/storage-blob";
import { isRunId, parseVaultKey, prefixes, type StorageManifest } from "@supabase-backups/contracts";
import { errorMessage } from "../../runtime/errors";
import { listArchiveVersions, openArchiveBlob, readArchiveBytes, type ArchiveVersion } from "../../vault/archive-runs";
import { storageEntriesVia } from "../../vault/object-list";
import { noteUnreadable, type Unreadable } from "./unreadable";

/** The run manifest versions in the archive for `env`: storage/<env>/runs/<runId>/manifest.json. */
function manifestVersions(listed: ArchiveVersion[], env: string): Array<ArchiveVersion & { runId: string }> {
    const out: Array<ArchiveVersion & { runId: string }> = [];
    for (const v of listed) {
        const p = parseVaultKey(v.name);
        if (p?.kind === "storage-run" && p.env === env && isRunId(p.runId) && p.name === "manifest.json") out.push({ ...v, runId: p.runId });
    }
    return out;
}

/** The store could not be asked (network, 5xx, 401/403): a failure of the pass, not a doubt about one manifest. */
function isTransportFailure(e: unknown): boolean {
    const x = e as { name?: string; statusCode?: number } | undefined;
    if (x?.name !== "RestError") return false;
    return x.statusCode === undefined || x.statusCode >= 500 || x.statusCode === 401 || x.statusCode === 403;
}

/** A manifest's bytes as a storage manifest of this env and run, or the reason it is not one. */
function parseManifest(bytes: Buffer, env: string, runId: string): StorageManifest {
    const m = JSON.parse(bytes.toString("utf8")) as StorageManifest;
    if (!m || m.kind !== "storage" || m.env !== env || m.runId !== runId) throw new Error(`not the storage manifest of run ${runId} (kind ${m?.kind}, run ${m?.runId})`);
    if (!Array.isArray(m.objects) && !m.objectList) throw new Error("neither objects nor an object list");
    return m;
}

/**
 * Adds to `referenced` the sha256 of every entry of every archived storage manifest version of `env`;
 * notes the unreadable ones in `unreadable`. Returns how many manifest versions were read.
 */
export async function addArchiveReferences(c: ContainerClient, env: string, referenced: Set<string>, unreadable: Unreadable): Promise<number> {
    const versions = manifestVersions(await listArchiveVersions(c, prefixes.storageRuns(env)), env);
    let read = 0;
    for (const v of versions) {
        const label = `azure:${v.name}${v.versionId ? ` (version ${v.versionId})` : ""}`;
        try {
            const m = parseManifest((await readArchiveBytes(c, v.name, v.versionId)).bytes, env, v.runId);
            // the object list's copy beside the manifest, checked against the manifest's sha256, size and count
            for await (const o of storageEntriesVia(m, (ref) => openArchiveBlob(c, ref.key))) referenced.add(o.sha256);
            read++;
        } catch (e) {
            if (isTransportFailure(e)) throw e;
            // no time: what a manifest we cannot read names is unknown, so nothing of the env's archive blobs goes
            noteUnreadable(unreadable, `${label}: ${errorMessage(e)}`, undefined);
        }
    }
    return read;
}
