// The Azure archive on its own, for the day the AWS account is gone (docs/operations.md "The AWS account
// is lost"): the complete database and storage runs it holds (a manifest copy exists), a manifest's exact bytes, a
// blob's bytes at its recorded version, who the caller is, and audit records written to the archive.
// Nothing here creates an S3 client or reads AWS credentials.
import type { Readable } from "node:stream";
import type { ContainerClient } from "@azure/storage-blob";
import { assertSchema, AuditRecordSchema, isRunId, JOB_ENV, parseVaultKey, prefixes, sha256Hex, type AuditRecord } from "@supabase-backups/contracts";
import { errorMessage } from "../runtime/errors";
import { putArchiveRecord } from "./archive";
import { AuditTrail } from "./audit";
import type { LoadedManifest, RunKind, RunRef, RunStore } from "./runs";
import { isBlobArchived } from "./thaw-azure";
import { VaultReadError } from "./versions";

/** Complete runs of a kind in the archive (their manifest copy exists), oldest first. */
export async function listArchiveRuns(c: ContainerClient, env: string, kind: RunKind): Promise<RunRef[]> {
    const refs: RunRef[] = [];
    for await (const b of c.listBlobsFlat({ prefix: kind === "db" ? prefixes.db(env) : prefixes.storageRuns(env) })) {
        const p = parseVaultKey(b.name);
        if (!p || p.env !== env || !("runId" in p) || !isRunId(p.runId) || p.name !== "manifest.json") continue;
        if ((kind === "db" && p.kind === "db") || (kind === "storage" && p.kind === "storage-run")) refs.push({ runId: p.runId, manifestKey: b.name });
    }
    return refs.sort((a, b) => (a.runId < b.runId ? -1 : 1));
}

/** One listed version of an archive blob (one entry without a version id where the store keeps none). */
export interface ArchiveVersion {
    name: string;
    versionId?: string;
    /** the current version (true where the store keeps no versions) */
    current: boolean;
    size: number;
    /** the later of its creation and last modification */
    written?: Date;
    /** the version's immutability policy end, when the store reports one */
    lockedUntil?: Date;
    legalHold: boolean;
}

/** Every version of every blob under a prefix, with its lock (one listing: List Blobs with versions). */
export async function listArchiveVersions(c: ContainerClient, prefix: string): Promise<ArchiveVersion[]> {
    const out: ArchiveVersion[] = [];
    for await (const b of c.listBlobsFlat({ prefix, includeVersions: true, includeImmutabilityPolicy: true, includeLegalHold: true })) {
        const p = b.properties;
        const times = [p.createdOn, p.lastModified].filter((d): d is Date => !!d).map((d) => d.getTime());
        out.push({
            name: b.name,
            ...(b.versionId ? { versionId: b.versionId } : {}),
            current: b.versionId ? b.isCurrentVersion === true : true,
            size: p.contentLength ?? 0,
            ...(times.length ? { written: new Date(Math.max(...times)) } : {}),
            ...(p.immutabilityPolicyExpiresOn ? { lockedUntil: p.immutabilityPolicyExpiresOn } : {}),
            legalHold: p.legalHold === true,
        });
    }
    return out;
}

/** Complete storage runs in the archive, oldest first. */
export function listArchiveStorageRuns(c: ContainerClient, env: string): Promise<RunRef[]> {
    return listArchiveRuns(c, env, "storage");
}

/**
 * The archive as a run store (runs.ts): its manifest copies, read whole. One in the Archive tier is a
 * VaultReadError "archived" (a chain walk leaves it out; a restore asks for its rehydration).
 */
export function archiveRuns(c: ContainerClient): RunStore {
    return {
        list: (env, kind) => listArchiveRuns(c, env, kind),
        async load<T>(ref: RunRef, versionId?: string | null): Promise<LoadedManifest<T>> {
            const pin = { key: ref.manifestKey, versionId };
            let got;
            try {
                got = await readArchiveBytes(c, ref.manifestKey, versionId ?? undefined);
            } catch (e) {
                if (isBlobArchived(e)) throw new VaultReadError(`${ref.manifestKey} is in the Archive tier of the archive`, "archived", pin, e);
                if ((e as { statusCode?: number }).statusCode === 404) throw new VaultReadError(`${ref.manifestKey} is not in the archive`, "missing", pin, e);
                throw new Error(`archive read of ${ref.manifestKey}: ${errorMessage(e)}`);
            }
            return { ref, manifest: JSON.parse(got.bytes.toString("utf8")) as T, sha256: got.sha256, bytes: got.bytes, versionId: versionId ?? undefined };
        },
    };
}

/** A blob's bytes, whole (manifests: small JSON), with their sha256. */
export async function readArchiveBytes(c: ContainerClient, key: string, versionId?: string): Promise<{ bytes: Buffer; sha256: string }> {
    const b = c.getBlobClient(key);
    const bytes = await (versionId ? b.withVersion(versionId) : b).downloadToBuffer();
    return { bytes, sha256: sha256Hex(bytes) };
}

/** A blob's bytes as a stream, at the recorded version when there is one (the caller verifies them). */
export async function openArchiveBlob(c: ContainerClient, key: string, versionId?: string): Promise<Readable> {
    const b = c.getBlobClient(key);
    try {
        const r = await (versionId ? b.withVersion(versionId) : b).download();
        return r.readableStreamBody as Readable;
    } catch (e) {
        const status = (e as { statusCode?: number }).statusCode;
        if (status === 404) throw new Error(`${key}${versionId ? ` (version ${versionId})` : ""} is not in the archive`);
        throw new Error(`archive read of ${key}: ${errorMessage(e)}`);
    }
}

/**
 * The caller's Azure identity for the audit record: with a connection string, its account (a shared
 * key names no person); else the Entra ID token's subject (user principal name or app id, object id).
 */
export async function archiveIdentity(env: NodeJS.ProcessEnv = process.env): Promise<string> {
    const cs = env[JOB_ENV.azureConnectionString];
    if (cs) {
        const account = /AccountName=([^;]+)/i.exec(cs)?.[1] ?? "?";
        const endpoint = /BlobEndpoint=([^;]+)/i.exec(cs)?.[1];
        return `azure-shared-key:${account}${endpoint ? `@${new URL(endpoint).host}` : ""}`;
    }
    const { DefaultAzureCredential } = await import("@azure/identity");
    const token = await new DefaultAzureCredential().getToken("https://storage.azure.com/.default");
    if (!token) throw new Error("no Azure token");
    const claims = JSON.parse(Buffer.from(token.token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, string | undefined>;
    const who = claims.upn ?? claims.unique_name ?? claims.preferred_username ?? claims.appid ?? claims.azp ?? "?";
    return `azure:${who} (oid ${claims.oid ?? "?"}, tenant ${claims.tid ?? "?"})`;
}

/**
 * Audit records of an action read from the archive, written beside the runs in the archive under the
 * vault's audit keys: create-only, no tags (no lifecycle rule matches them), kept by the account's
 * default immutability policy (the caller needs no right to set one).
 */
export class ArchiveAuditTrail extends AuditTrail {
    constructor(
        private readonly container: ContainerClient,
        a: { env: string; action: string; actorClaim: string | null; reason: string | null; target: string; options: Record<string, unknown>; lockUntil: Date; identify: () => Promise<string> },
    ) {
        super(undefined as never, "", a.env, a.action, a.actorClaim, a.reason, a.target, a.options, undefined, a.lockUntil, a.identify);
    }

    protected override async put(key: string, record: AuditRecord): Promise<string> {
        assertSchema(AuditRecordSchema, record, "audit record");
        const r = await putArchiveRecord(this.container, { key }, record);
        if (r.how === "existing") throw new Error(`audit record ${key} already exists in the archive`);
        return key;
    }
}
