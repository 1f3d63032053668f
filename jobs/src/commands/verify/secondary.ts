// The Azure copy: every object there hashes to the primary's sha256, and the manifest copy the dump
// writes beside them (so the archive is usable on its own) has the primary manifest's exact bytes.
import type { Readable } from "node:stream";
import { EXIT, type DbManifest } from "@supabase-backups/contracts";
import { JobFailure } from "../../runtime/errors";
import { createArchiveClient } from "../../vault/archive";
import { hashStream } from "../../codec/verified-read";
import { check, short, type CheckResult } from "./checks";
import type { VerifySession } from "./session";

/** One Azure blob's sha256, at the version the dump recorded when the account keeps versions. */
async function hashAzure(s: VerifySession, key: string, versionId?: string): Promise<{ sha256: string; bytes: number } | "missing"> {
    const container = await createArchiveClient(s.ctx.config.archive!, s.ctx.env);
    try {
        const blob = container.getBlobClient(key);
        const r = await (versionId ? blob.withVersion(versionId) : blob).download(0, undefined, { abortSignal: s.signal });
        return await hashStream(r.readableStreamBody as Readable, s.signal);
    } catch (err: any) {
        if (err?.statusCode === 404 || err?.code === "BlobNotFound" || err?.details?.errorCode === "BlobNotFound") return "missing";
        throw err;
    }
}

/** The "secondary" check of a run; `manifest` is the primary manifest's key and sha256. */
export async function checkSecondary(s: VerifySession, m: DbManifest, manifest: { key: string; sha256: string }): Promise<CheckResult> {
    const t = Date.now();
    const sec = m.secondary;
    if (sec.status === "disabled") return check("secondary", true, "no secondary copy (Azure disabled for this environment)", 0);
    if (sec.status === "failed") return check("secondary", false, `the Azure copy failed when the dump ran: ${sec.error ?? "no error recorded"}`, 0);
    if (!s.ctx.config.archive) throw new JobFailure("the run has an Azure copy but this verifier's config has no archive target to check it", EXIT.failed);
    if (sec.container && sec.container !== s.ctx.config.archive.container) {
        return check("secondary", false, `Azure copy is in container ${sec.container}, the configured archive is ${s.ctx.config.archive.container}`, 0);
    }
    const problems: string[] = [];
    for (const name of m.objects.map((o) => o.name)) {
        if (!sec.objects.some((o) => o.name === name)) problems.push(`${name} has no Azure copy recorded`);
    }
    const results = await Promise.all(
        sec.objects.map(async (o) => {
            const primary = m.objects.find((p) => p.name === o.name);
            const got = await hashAzure(s, o.key, o.versionId);
            if (got === "missing") return `${o.name} is missing from Azure (${o.key})`;
            if (primary && got.sha256 !== primary.sha256) return `${o.name}: Azure sha256 ${short(got.sha256)} ≠ primary ${short(primary.sha256)}`;
            if (got.sha256 !== o.sha256) return `${o.name}: Azure sha256 ${short(got.sha256)} ≠ recorded ${short(o.sha256)}`;
            return undefined;
        }),
    );
    for (const r of results) if (r) problems.push(r);
    const copy = await hashAzure(s, manifest.key);
    if (copy === "missing") problems.push(`manifest.json is missing from Azure (${manifest.key})`);
    else if (copy.sha256 !== manifest.sha256) problems.push(`manifest.json: Azure copy sha256 ${short(copy.sha256)} ≠ primary ${short(manifest.sha256)}`);
    const secs = (Date.now() - t) / 1000;
    return problems.length
        ? check("secondary", false, problems[0] + (problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""), secs)
        : check("secondary", true, `${sec.objects.length} objects and the manifest in Azure match the primary`, secs);
}
