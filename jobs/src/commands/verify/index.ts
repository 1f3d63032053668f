// `supabase-backups verify`: prove that a backup restores and equals its source, without ever touching
// the source. For the newest complete run (or --run ID, or --unverified): hash chain back to the last
// verified run, every object's sha256 (streamed, decrypted with the verifier's age identity), the
// Azure copy's sha256, a canary restore with pg_restore -j into a throw-away database, then checks
// against the dump's own snapshot. Writes verify/{env}/{runId}/{verifiedAt}.json once, pushes metrics,
// and always drops the canary database (also on failure, SIGINT and SIGTERM).
//
// Exit codes: 0 passed; 5 (EXIT.verifyFailed) the backup is wrong — a failed record is written with a
// one-line reason; 1 (EXIT.failed) the verifier could not judge — canary server down, vault
// unreachable, AGE_IDENTITY not set, interrupted — no record is written (nothing was judged); 2 usage.
import { availableParallelism, tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { ChildProcess } from "node:child_process";
import type { Command } from "commander";
import type { S3Client } from "@aws-sdk/client-s3";
import {
    assertSchema,
    ConfigError,
    DbManifestSchema,
    EXIT,
    formatIssue,
    isRunId,
    JOB_ENV,
    MANIFEST_SCHEMA_VERSION,
    METRICS,
    prefixes,
    runIdTime,
    SECRETS,
    StorageManifestSchema,
    verifyRecordKey,
    VerifyRecordSchema,
    dbRunPrefix,
    type DbManifest,
    type ExitCode,
    type StorageManifest,
    type VerifyRecord,
} from "@supabase-backups/contracts";
import { action, withCommonOptions } from "../../cli/command";
import { intFlag } from "../../cli/flags";
import { createContext, type JobContext } from "../../runtime/context";
import { JobFailure, UsageError, errorMessage } from "../../runtime/errors";
import { createVaultClient, listAll, putRecordOnce } from "../../vault/s3";
import { createArchiveClient } from "../../vault/archive";
import { listCompleteRuns, loadChain, loadManifest, type LoadedManifest, type RunRef } from "../../vault/runs";
import { pushRunMetrics } from "../../runtime/metrics";
import { redact } from "../../runtime/log";
import { formatBytes } from "../../runtime/progress";
import {
    CanaryUnavailable,
    connect,
    createCanary,
    dropCanary,
    ensureRoles,
    majorOf,
    pgRestoreVersion,
    rolesFromScript,
    runPgRestore,
    SUPABASE_DEFAULT_ROLES,
    type CanaryDatabase,
} from "../../postgres/canary";
import { runChecks, type CheckResult } from "./checks";
import { decodeSpecFor, describeDecodeError, fetchVaultObject, hashStream, isDataDecodeError, type FetchResult } from "../../codec/verified-read";
import { verifyStorageRun, type StorageVerifyResult } from "./storage-sample";
import { AgeError, recipientOf } from "../../codec/age-decrypt";
import { VerificationIndex } from "../../vault/verifications";

export interface VerifyOptions {
    config?: string;
    json?: boolean;
    run?: string;
    unverified?: boolean;
    jobs?: number;
    scratch?: string;
    storage?: boolean;
    statementTimeout?: number;
}

/** The source's credentials are never read: verify gets an environment without them. */
export function withoutSourceSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    const out = { ...env };
    for (const k of [SECRETS.databaseUrl.env, SECRETS.serviceRoleKey.env, SECRETS.managementApiToken.env]) delete out[k];
    return out;
}

/** The one-line reason of a failed verification: the first failed check. */
export function reasonOf(checks: CheckResult[]): string | null {
    const bad = checks.find((c) => !c.ok);
    return bad ? `${bad.name}: ${bad.detail}`.replace(/\s*\n\s*/g, " ") : null;
}

interface RunOutcome {
    record: VerifyRecord;
    key: string;
    /** measured pg_restore time, when the restore ran */
    restoreSeconds?: number;
}

interface Env {
    ctx: JobContext;
    s3: S3Client;
    bucket: string;
    canaryUrl: string;
    jobs: number;
    scratch: string;
    signal: AbortSignal;
    records: VerificationIndex;
    complete: RunRef[];
    statementTimeoutMs: number;
    /** set while a canary database exists, so a signal handler can drop it */
    liveCanary: Set<CanaryDatabase>;
}

function check(name: string, ok: boolean, detail: string, seconds?: number): CheckResult {
    return seconds === undefined ? { name, ok, detail } : { name, ok, detail, seconds: Math.round(seconds * 1000) / 1000 };
}

function short(sha: string): string {
    return sha.slice(0, 12) + "…";
}

/** Hash chain from the last verified run (its manifest must be unchanged since) to the target. */
async function chainStage(e: Env, target: RunRef): Promise<{ check: CheckResult; loaded?: LoadedManifest<DbManifest> }> {
    const t = Date.now();
    // The anchor: newest earlier run with a passed record that still exists in the vault.
    let anchor: { runId: string; record: VerifyRecord } | undefined;
    for (const ref of [...e.complete].reverse()) {
        if (ref.runId >= target.runId) continue;
        const rec = await e.records.passed(ref.runId);
        if (rec) {
            anchor = { runId: ref.runId, record: rec };
            break;
        }
    }
    let chain;
    try {
        // With no anchor the whole listing is checked, open at its start (older runs expire by retention).
        chain = await loadChain<DbManifest>(e.s3, e.bucket, e.ctx.config.env, "db", { sinceRunId: anchor?.runId ?? "0" });
    } catch (err) {
        if (err instanceof SyntaxError) return { check: check("chain", false, `a manifest in the chain is not valid JSON (${err.message})`, (Date.now() - t) / 1000) };
        throw err;
    }
    const loaded = chain.manifests.find((m) => m.ref.runId === target.runId);
    const problems = chain.breaks.filter((b) => b.runId <= target.runId).map((b) => `run ${b.runId} ${b.reason}`);
    if (anchor) {
        const a = chain.manifests.find((m) => m.ref.runId === anchor!.runId);
        if (a && anchor.record.manifestSha256 && a.sha256 !== anchor.record.manifestSha256) {
            problems.unshift(`manifest of ${anchor.runId} changed since it was verified at ${anchor.record.verifiedAt} (sha256 ${short(a.sha256)} ≠ ${short(anchor.record.manifestSha256)})`);
        }
    }
    const span = chain.manifests.filter((m) => m.ref.runId <= target.runId).length;
    const detail = problems.length
        ? `hash chain broken: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`
        : `${span} run${span === 1 ? "" : "s"} linked${anchor ? ` back to ${anchor.runId}, verified ${anchor.record.verifiedAt}` : " back to the oldest run in the vault"}`;
    return { check: check("chain", problems.length === 0, detail, (Date.now() - t) / 1000), loaded };
}

/** Compare one fetched object with its manifest entry; the reason names the most specific fault. */
function objectCheck(name: string, expected: { bytes: number; sha256: string }, got: FetchResult & { contentLength?: number }, seconds: number): CheckResult {
    if (got.bytes !== expected.bytes) {
        const what = got.bytes < expected.bytes ? "truncated" : "longer than recorded";
        return check(name, false, `${what}: ${got.bytes} bytes in the vault, manifest records ${expected.bytes}`, seconds);
    }
    if (got.sha256 !== expected.sha256) return check(name, false, `sha256 ${short(got.sha256)} ≠ manifest ${short(expected.sha256)}: corrupt or altered`, seconds);
    if (got.decodeError) {
        if (!isDataDecodeError(got.decodeError)) throw got.decodeError; // e.g. scratch disk full
        return check(name, false, describeDecodeError(got.decodeError), seconds);
    }
    return check(name, true, `${formatBytes(got.bytes)}, sha256 ${short(got.sha256)} matches`, seconds);
}

async function hashAzure(e: Env, key: string): Promise<{ sha256: string; bytes: number } | "missing"> {
    const container = await createArchiveClient(e.ctx.config.archive!, e.ctx.env);
    try {
        const r = await container.getBlobClient(key).download(0, undefined, { abortSignal: e.signal });
        return await hashStream(r.readableStreamBody as Readable, e.signal);
    } catch (err: any) {
        if (err?.statusCode === 404 || err?.code === "BlobNotFound" || err?.details?.errorCode === "BlobNotFound") return "missing";
        throw err;
    }
}

/**
 * The Azure copy: every object there hashes to the primary's sha256, and the manifest copy the dump
 * writes beside them (so the archive is usable on its own) has the primary manifest's exact bytes.
 */
async function secondaryStage(e: Env, m: DbManifest, manifest: { key: string; sha256: string }): Promise<CheckResult> {
    const t = Date.now();
    const s = m.secondary;
    if (s.status === "disabled") return check("secondary", true, "no secondary copy (Azure disabled for this environment)", 0);
    if (s.status === "failed") return check("secondary", false, `the Azure copy failed when the dump ran: ${s.error ?? "no error recorded"}`, 0);
    if (!e.ctx.config.archive) throw new JobFailure("the run has an Azure copy but this verifier's config has no archive target to check it", EXIT.failed);
    if (s.container && s.container !== e.ctx.config.archive.container) {
        return check("secondary", false, `Azure copy is in container ${s.container}, the configured archive is ${e.ctx.config.archive.container}`, 0);
    }
    const problems: string[] = [];
    for (const name of m.objects.map((o) => o.name)) {
        if (!s.objects.some((o) => o.name === name)) problems.push(`${name} has no Azure copy recorded`);
    }
    const results = await Promise.all(
        s.objects.map(async (o) => {
            const primary = m.objects.find((p) => p.name === o.name);
            const got = await hashAzure(e, o.key);
            if (got === "missing") return `${o.name} is missing from Azure (${o.key})`;
            if (primary && got.sha256 !== primary.sha256) return `${o.name}: Azure sha256 ${short(got.sha256)} ≠ primary ${short(primary.sha256)}`;
            if (got.sha256 !== o.sha256) return `${o.name}: Azure sha256 ${short(got.sha256)} ≠ recorded ${short(o.sha256)}`;
            return undefined;
        }),
    );
    for (const r of results) if (r) problems.push(r);
    const copy = await hashAzure(e, manifest.key);
    if (copy === "missing") problems.push(`manifest.json is missing from Azure (${manifest.key})`);
    else if (copy.sha256 !== manifest.sha256) problems.push(`manifest.json: Azure copy sha256 ${short(copy.sha256)} ≠ primary ${short(manifest.sha256)}`);
    const secs = (Date.now() - t) / 1000;
    return problems.length
        ? check("secondary", false, problems[0] + (problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""), secs)
        : check("secondary", true, `${s.objects.length} objects and the manifest in Azure match the primary`, secs);
}

function emptyDurations() {
    return { downloadSeconds: 0, restoreSeconds: 0, checksSeconds: 0, totalSeconds: 0 };
}

/** Verify one run. Throws JobFailure(EXIT.failed) when the verifier itself cannot judge. */
async function verifyRun(e: Env, target: RunRef, storage: Promise<StorageVerifyResult | undefined> | undefined): Promise<RunOutcome> {
    const { ctx } = e;
    const env = ctx.config.env;
    const started = Date.now();
    const verifiedAt = new Date();
    const log = ctx.log.child({ runId: target.runId });
    const checks: CheckResult[] = [];
    const durations = emptyDurations();
    let manifest: DbManifest | undefined;
    let manifestSha: string | null = null;
    let dumpBytes = 0;
    let restoreSeconds: number | undefined;
    const spool = join(e.scratch, `sbv-${target.runId}-${randomBytes(4).toString("hex")}.dump`);
    let canary: CanaryDatabase | undefined;

    const finish = async (): Promise<RunOutcome> => {
        // An interrupted verification judged nothing: no record.
        e.signal.throwIfAborted();
        let storageResult: StorageVerifyResult | undefined;
        if (storage) {
            storageResult = await storage;
            if (storageResult) checks.push(check("storage", storageResult.ok, storageResult.detail, storageResult.seconds));
        }
        durations.totalSeconds = Math.round((Date.now() - started) / 10) / 100;
        const reason = reasonOf(checks);
        const record: VerifyRecord = {
            schemaVersion: MANIFEST_SCHEMA_VERSION,
            kind: "verify",
            env,
            runId: target.runId,
            verifiedAt: verifiedAt.toISOString(),
            result: reason ? "failed" : "passed",
            reason: reason ? redact(reason) : null,
            manifestSha256: manifestSha,
            dumpBytes,
            durations,
            checks: checks.map((c) => ({ ...c, detail: redact(c.detail) })),
            ...(storageResult
                ? {
                      storage: {
                          runId: storageResult.runId,
                          blobsReferenced: storageResult.blobsReferenced,
                          blobsMissing: storageResult.blobsMissing,
                          sampled: storageResult.sampled,
                          sampleMismatches: storageResult.sampleMismatches,
                      },
                  }
                : {}),
        };
        assertSchema(VerifyRecordSchema, record, "verification record");
        const key = verifyRecordKey(env, target.runId, verifiedAt);
        // Write-once, kept as long as the run it proves (same tier tag, same retain-until); SSE-KMS with
        // the vault key like every other object (the bucket policy denies other keys). S3 refuses a
        // retain-until in the past: a run at the end of its retention gets the bucket's default lock.
        const retainUntil = manifest && new Date(manifest.retainUntil).getTime() > Date.now() + 60_000 ? new Date(manifest.retainUntil) : undefined;
        await putRecordOnce(e.s3, ctx.config.vault, { key, tags: { ...(manifest ? { tier: manifest.tier } : {}), env, kind: "verify" }, retainUntil }, record);
        e.records.add(key, record);
        log.info({ key, result: record.result, reason: record.reason }, "verification record written");
        return { record, key, restoreSeconds };
    };

    // 1. The run's manifest.
    const complete = e.complete.find((r) => r.runId === target.runId);
    if (!complete) {
        const leftovers = await listAll(e.s3, e.bucket, dbRunPrefix(env, target.runId));
        checks.push(
            check(
                "manifest",
                false,
                leftovers.length
                    ? `run ${target.runId} has ${leftovers.length} object(s) but no manifest.json: incomplete, or its manifest was deleted`
                    : `run ${target.runId} does not exist in the vault (no manifest, no objects)`,
            ),
        );
        return finish();
    }

    // 2. Hash chain back to the last verified run (also loads this run's manifest bytes).
    const chain = await chainStage(e, target);
    const loaded = chain.loaded ?? (await loadManifest<DbManifest>(e.s3, e.bucket, complete).catch(() => undefined));
    if (!loaded) {
        checks.push(check("manifest", false, `manifest of ${target.runId} cannot be read`));
        checks.push(chain.check);
        return finish();
    }
    manifestSha = loaded.sha256;
    try {
        manifest = assertSchema<DbManifest>(DbManifestSchema, loaded.manifest, loaded.ref.manifestKey);
        if (manifest.runId !== target.runId || manifest.env !== env) throw new Error(`manifest claims run ${manifest.runId} of env ${manifest.env}`);
        checks.push(check("manifest", true, `${loaded.ref.manifestKey}, sha256 ${short(loaded.sha256)}`));
    } catch (err) {
        const detail = err instanceof ConfigError ? `invalid: ${formatIssue(err.issues[0])}` : errorMessage(err);
        manifest = undefined;
        checks.push(check("manifest", false, detail));
        checks.push(chain.check);
        return finish();
    }
    checks.push(chain.check);
    const m = manifest;

    // 3. Decryption key, before any download.
    let identity: string | undefined;
    let identityRecipient: string | undefined;
    if (m.encryption) {
        identity = ctx.secrets.ageIdentity;
        if (!identity) throw new JobFailure(`run ${target.runId} is encrypted to ${m.encryption.recipient}, but ${SECRETS.ageIdentity.env} is not set`, EXIT.failed);
        identityRecipient = await recipientOf(identity).catch(() => undefined);
        if (identityRecipient !== m.encryption.recipient) {
            // Still decrypt below: the file header is the authority; this only sharpens the message.
            log.warn({ recipient: m.encryption.recipient, mine: identityRecipient }, "the verifier's age identity is not the dump's recipient");
        }
    }

    try {
        // 4. The small objects (roles.sql is needed before the restore), the Azure copy alongside all of it.
        const tDownload = Date.now();
        const fetchOne = async (o: DbManifest["objects"][number], tee?: Writable) => {
            const t = Date.now();
            const spec = decodeSpecFor(m, o.name, identity);
            try {
                const r = await fetchVaultObject(e.s3, e.bucket, o.key, spec, o.name === "dump" ? spool : "memory", e.signal, tee);
                return { o, r, c: objectCheck(o.name, o, r, (Date.now() - t) / 1000) };
            } catch (err: any) {
                tee?.destroy();
                if (err?.missing) return { o, r: undefined, c: check(o.name, false, `missing from the vault: ${o.key}`, (Date.now() - t) / 1000) };
                throw err;
            }
        };
        type Fetched = Awaited<ReturnType<typeof fetchOne>>;
        const fetched = new Map<string, Fetched>();
        const secondaryP = secondaryStage(e, m, { key: loaded.ref.manifestKey, sha256: loaded.sha256 });
        secondaryP.catch(() => undefined);
        /** the object checks in manifest order, then the Azure copy */
        const pushObjectChecks = async () => {
            for (const o of m.objects) {
                const f = fetched.get(o.name);
                if (!f) continue;
                const de = f.r?.decodeError;
                if (!f.c.ok && de instanceof AgeError && de.kind === "identity" && m.encryption) {
                    checks.push(check("decrypt", false, `${o.name} cannot be decrypted with ${SECRETS.ageIdentity.env} (${identityRecipient ?? "unparsable"}): it is encrypted to ${m.encryption.recipient}`, f.c.seconds));
                } else checks.push(f.c);
            }
            if (!m.objects.some((o) => o.name === "dump")) checks.push(check("dump", false, "manifest lists no dump object"));
            checks.push(await secondaryP);
        };
        for (const f of await Promise.all(m.objects.filter((o) => o.name !== "dump").map((o) => fetchOne(o)))) fetched.set(f.o.name, f);
        const dumpObj = m.objects.find((o) => o.name === "dump");
        if ([...fetched.values()].some((f) => !f.c.ok) || !dumpObj) {
            await pushObjectChecks();
            return await finish();
        }

        // 5. Canary restore, streamed: pre-data and data are restored from the download as it arrives
        //    (one pg_restore reading stdin), so downloading, hashing, decrypting and decompressing overlap
        //    the data load; then post-data (indexes, constraints, policies: the parallel part) runs with
        //    -j from the finished spool. If the bytes turn out wrong, the restore is discarded.
        const pgRestore = await pgRestoreVersion();
        const dumpMajor = majorOf(m.pgDumpVersion);
        const restoreMajor = majorOf(pgRestore);
        if (dumpMajor && restoreMajor && restoreMajor < dumpMajor) {
            throw new JobFailure(`${pgRestore} cannot read an archive from ${m.pgDumpVersion}: install a newer pg_restore in the job image`, EXIT.failed);
        }
        canary = await createCanary(e.canaryUrl, env);
        e.liveCanary.add(canary);
        e.signal.throwIfAborted();
        log.info({ database: canary.name, server: canary.serverVersion }, "canary database created");
        const canaryMajor = majorOf(canary.serverVersion);
        const sourceMajor = majorOf(m.source.serverVersion);
        if (canaryMajor && sourceMajor && canaryMajor < sourceMajor) {
            // PostgreSQL does not support restoring into an older major version: a configuration fault.
            throw new JobFailure(
                `the canary server is PostgreSQL ${canary.serverVersion}, older than the source's ${m.source.serverVersion}: set verify.canaryImage to postgres:${sourceMajor}`,
                EXIT.failed,
            );
        }
        const rolesSql = fetched.get("roles.sql")?.r?.data;
        const roles = rolesSql ? rolesFromScript(rolesSql.toString("utf8")) : SUPABASE_DEFAULT_ROLES;
        canary.createdRoles = await ensureRoles(e.canaryUrl, roles).catch((err) => {
            throw new CanaryUnavailable(`cannot create roles on the canary server: ${errorMessage(err)}`);
        });
        const db = canary;
        const dropNow = async () => {
            if (!canary) return;
            await dropCanary(e.canaryUrl, canary, log);
            e.liveCanary.delete(canary);
            canary = undefined;
        };
        const tRestore = Date.now();
        let streamChild: ChildProcess | undefined;
        const streamed = runPgRestore({ db, jobs: 1, sections: ["pre-data", "data"], signal: e.signal, env: ctx.env, onChild: (c) => (streamChild = c) });
        streamed.catch(() => undefined);
        const dumpFetched = await fetchOne(dumpObj, streamChild!.stdin!);
        fetched.set("dump", dumpFetched);
        durations.downloadSeconds = Math.round((Date.now() - tDownload) / 10) / 100;
        dumpBytes = dumpFetched.r?.bytes ?? 0;
        await pushObjectChecks();
        if (!dumpFetched.c.ok) {
            streamChild?.kill("SIGTERM");
            await streamed.catch(() => undefined);
            await dropNow();
            return await finish();
        }
        let restore = await streamed;
        e.signal.throwIfAborted();
        if (restore.ok) {
            const post = await runPgRestore({ file: spool, db, jobs: e.jobs, sections: ["post-data"], signal: e.signal, env: ctx.env });
            e.signal.throwIfAborted();
            restore = { ...post, seconds: restore.seconds + post.seconds };
        }
        restoreSeconds = Math.round(((Date.now() - tRestore) / 1000) * 100) / 100;
        durations.restoreSeconds = restoreSeconds;
        await rm(spool, { force: true });
        if (!restore.ok) {
            // A canary that went away mid-restore is an infrastructure fault, not a bad backup.
            const alive = await connect(e.canaryUrl).then(
                (c) => c.end().then(() => true),
                () => false,
            );
            if (!alive) throw new CanaryUnavailable(`canary server went away during the restore: ${restore.errors[0] ?? "pg_restore exited " + restore.exitCode}`);
            checks.push(
                check(
                    "restore",
                    false,
                    `pg_restore failed (${restore.errorCount || "exit " + restore.exitCode} error${restore.errorCount === 1 ? "" : "s"}): ${(restore.errors[0] ?? "").split("\n")[0]}`,
                    restoreSeconds,
                ),
            );
            restoreSeconds = undefined;
            await dropNow();
            return await finish();
        }
        checks.push(check("restore", true, `pg_restore (pre-data and data streamed from the download, post-data -j ${e.jobs}) into ${db.name} (PostgreSQL ${db.serverVersion})`, restoreSeconds));

        // 6. Checks against the dump's own snapshot.
        const tChecks = Date.now();
        const dbUrl = canary.url;
        checks.push(
            ...(await runChecks({
                manifest: m,
                connect: () => connect(dbUrl),
                userChecks: ctx.config.verify.checks,
                concurrency: e.jobs,
                statementTimeoutMs: e.statementTimeoutMs,
            })),
        );
        durations.checksSeconds = Math.round((Date.now() - tChecks) / 10) / 100;
        e.signal.throwIfAborted();
        // The canary goes before the record: nothing is left behind even if the put fails.
        await dropNow();
        return await finish();
    } catch (err) {
        if (err instanceof CanaryUnavailable) throw new JobFailure(err.message, EXIT.failed, err);
        throw err;
    } finally {
        if (canary) {
            await dropCanary(e.canaryUrl, canary, log);
            e.liveCanary.delete(canary);
        }
        await rm(spool, { force: true }).catch(() => undefined);
    }
}

async function newestStorage(e: Env): Promise<StorageVerifyResult | undefined> {
    const runs = await listCompleteRuns(e.s3, e.bucket, e.ctx.config.env, "storage");
    const last = runs[runs.length - 1];
    if (!last) return undefined;
    const t = Date.now();
    let m: StorageManifest;
    try {
        const loaded = await loadManifest<StorageManifest>(e.s3, e.bucket, last);
        m = assertSchema<StorageManifest>(StorageManifestSchema, loaded.manifest, last.manifestKey);
    } catch (err) {
        const detail = err instanceof ConfigError ? `invalid: ${formatIssue(err.issues[0])}` : errorMessage(err);
        return { runId: last.runId, blobsReferenced: 0, blobsMissing: 0, sampled: 0, sampleMismatches: 0, ok: false, detail: `storage run ${last.runId}: manifest ${detail}`, seconds: (Date.now() - t) / 1000 };
    }
    return verifyStorageRun({
        s3: e.s3,
        bucket: e.bucket,
        env: e.ctx.config.env,
        manifest: m,
        ratio: e.ctx.config.verify.storageSampleRatio,
        min: e.ctx.config.verify.storageSampleMin,
        signal: e.signal,
    });
}

function printHuman(o: RunOutcome): void {
    const r = o.record;
    const d = r.durations;
    const head =
        r.result === "passed"
            ? `verify ${r.runId}: passed in ${d.totalSeconds.toFixed(1)} s (download ${d.downloadSeconds.toFixed(1)} s, restore ${d.restoreSeconds.toFixed(1)} s, checks ${d.checksSeconds.toFixed(1)} s), ${formatBytes(r.dumpBytes)}`
            : `verify ${r.runId}: FAILED: ${r.reason}`;
    process.stdout.write(head + "\n");
    for (const c of r.checks) process.stdout.write(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}\n`);
    process.stdout.write(`  record: ${o.key}\n`);
}

export async function runVerify(opts: VerifyOptions): Promise<ExitCode> {
    if (opts.run && opts.unverified) throw new UsageError("--run and --unverified cannot be combined");
    if (opts.run && !isRunId(opts.run)) throw new UsageError(`--run: not a run id: "${opts.run}" (expected e.g. 20261122T193000Z-k3x9qa)`);
    const jobs = opts.jobs ?? availableParallelism();
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs: expected an integer 1..64, got ${opts.jobs}`);
    const env = withoutSourceSecrets(process.env);
    const ctx = createContext({ config: opts.config, command: "verify" }, env);
    const canaryUrl = env[JOB_ENV.canaryDatabaseUrl];
    if (!canaryUrl) throw new UsageError(`no canary server: set ${JOB_ENV.canaryDatabaseUrl} (a Postgres URL of a superuser on a throw-away server)`);
    const started = Date.now();
    const s3 = createVaultClient(ctx.config.vault);
    const bucket = ctx.config.vault.bucket;

    const ac = new AbortController();
    const liveCanary = new Set<CanaryDatabase>();
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
        if (interrupted) return;
        interrupted = sig;
        ctx.log.warn({ signal: sig, canary: [...liveCanary].map((c) => c.name) }, "interrupted: stopping and dropping the canary database");
        ac.abort(new JobFailure(`interrupted by ${sig}; canary database dropped, nothing recorded`, EXIT.failed));
        // Drop now (WITH FORCE ends pg_restore's and the checks' sessions); the finally blocks drop again.
        for (const c of liveCanary) void dropCanary(canaryUrl, c, ctx.log);
        // Cleanup runs in the finally blocks; a hard stop if it hangs.
        setTimeout(() => process.exit(EXIT.failed), 30_000).unref();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    const outcomes: RunOutcome[] = [];
    let exit: ExitCode = EXIT.ok;
    let failure: unknown;
    try {
        const complete = await listCompleteRuns(s3, bucket, ctx.config.env, "db");
        const records = await VerificationIndex.load(s3, bucket, ctx.config.env);
        let targets: RunRef[];
        if (opts.run) {
            targets = [complete.find((r) => r.runId === opts.run) ?? { runId: opts.run, manifestKey: "" }];
        } else if (opts.unverified) {
            targets = [];
            for (const r of complete) if (!(await records.passed(r.runId))) targets.push(r);
            if (!targets.length) ctx.log.info("every complete run has a passed verification");
        } else {
            const newest = complete[complete.length - 1];
            if (!newest) throw new JobFailure(`no complete database run under ${prefixes.db(ctx.config.env)}: nothing to verify`, EXIT.failed);
            targets = [newest];
        }
        const e: Env = {
            ctx,
            s3,
            bucket,
            canaryUrl,
            jobs,
            scratch: opts.scratch ?? tmpdir(),
            signal: ac.signal,
            records,
            complete,
            statementTimeoutMs: (opts.statementTimeout ?? 1800) * 1000,
            liveCanary,
        };
        // Storage is checked once, alongside the newest target's restore (network vs CPU).
        const storage = opts.storage === false ? undefined : newestStorage(e);
        storage?.catch(() => undefined);
        for (let i = 0; i < targets.length; i++) {
            ac.signal.throwIfAborted();
            const o = await verifyRun(e, targets[i], i === targets.length - 1 ? storage : undefined);
            outcomes.push(o);
            if (o.record.result === "failed") exit = EXIT.verifyFailed;
            if (!opts.json) printHuman(o);
        }
    } catch (err) {
        failure = ac.signal.aborted && ac.signal.reason instanceof JobFailure ? ac.signal.reason : err;
    } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        // Belt and braces: anything still live (an exception between create and drop) goes now.
        for (const c of liveCanary) await dropCanary(canaryUrl, c, ctx.log);
    }

    // Metrics: result, duration, measured restore time, and the age of the newest verified run.
    const passed = outcomes.filter((o) => o.record.result === "passed");
    const newestPassed = passed.map((o) => o.record.runId).sort().pop() ?? (await newestVerifiedRun(s3, bucket, ctx.config.env).catch(() => undefined));
    const restore = passed.length ? passed[passed.length - 1].restoreSeconds : undefined;
    await pushRunMetrics(
        ctx.config.alerts.pushgatewayUrl,
        ctx.config.env,
        "verify",
        {
            result: failure || exit !== EXIT.ok ? "failure" : "success",
            durationSeconds: (Date.now() - started) / 1000,
            bytes: outcomes.reduce((s, o) => s + o.record.dumpBytes, 0) || undefined,
            restoreSeconds: restore,
            extra: newestPassed
                ? [{ name: METRICS.verifiedRunAgeSeconds, help: "seconds since the newest run that passed verification started", value: Math.round((Date.now() - runIdTime(newestPassed).getTime()) / 1000) }]
                : [],
        },
        ctx.log,
    );
    s3.destroy();

    if (opts.json) process.stdout.write(JSON.stringify({ records: outcomes.map((o) => ({ key: o.key, ...o.record })) }, null, 2) + "\n");
    if (failure) {
        if (failure instanceof JobFailure) throw failure;
        throw new JobFailure(`could not verify: ${errorMessage(failure)}`, EXIT.failed, failure);
    }
    const failed = outcomes.filter((o) => o.record.result === "failed");
    if (failed.length) {
        const f = failed[0];
        throw new JobFailure(`run ${f.record.runId} failed verification: ${f.record.reason}${failed.length > 1 ? ` (and ${failed.length - 1} more runs)` : ""}`, EXIT.verifyFailed);
    }
    return exit;
}

/** Newest run with a passed record (for the age metric when this invocation verified nothing new). */
async function newestVerifiedRun(s3: S3Client, bucket: string, env: string): Promise<string | undefined> {
    const idx = await VerificationIndex.load(s3, bucket, env);
    for (const runId of idx.runIds().sort().reverse()) if (await idx.passed(runId)) return runId;
    return undefined;
}

export function register(program: Command): void {
    const cmd = program
        .command("verify")
        .summary("prove the newest backup restores and equals its source (canary restore)")
        .description(
            "Verify a database backup without touching the source. Checks the hash chain back to the last verified run; " +
                "streams every object of the run from the vault (decrypting with AGE_IDENTITY when encrypted) and compares its sha256 " +
                "with the manifest; compares the Azure copy's sha256 with the primary's; restores with pg_restore -j into a throw-away " +
                "database on the canary server; then checks exact row counts against the dump's snapshot, the newest migration, RLS, " +
                "extensions, app_version, health and the SQL checks in verify.checks. Also checks the newest storage run: every blob " +
                "exists, and a sample (verify.storageSampleRatio, at least verify.storageSampleMin) is re-hashed. Writes " +
                "verify/{env}/{runId}/{verifiedAt}.json once, pushes metrics, and always drops the canary database.",
        )
        .option("--run <runId>", "verify this run (e.g. 20261122T193000Z-k3x9qa) instead of the newest complete one")
        .option("--unverified", "verify every complete run without a passed verification, oldest first")
        .option("-j, --jobs <n>", "pg_restore parallel jobs and check connections (default: the CPU count)", intFlag(1, 256))
        .option("--scratch <dir>", "where the dump is spooled for pg_restore (needs the decompressed dump's size; default $TMPDIR)")
        .option("--no-storage", "skip the storage check (blobs of the newest storage run)")
        .option("--statement-timeout <seconds>", "limit for each check query (default 1800)", intFlag(1));
    withCommonOptions(cmd)
        .addHelpText(
            "after",
            `
Environment:
  ${JOB_ENV.canaryDatabaseUrl}   Postgres URL of a superuser on the canary server (required); the dump is
                        restored into a new database there, dropped afterwards. In Kubernetes: the sidecar.
  ${SECRETS.ageIdentity.env}          age identity (AGE-SECRET-KEY-1…) when dumps are encrypted
  ${JOB_ENV.azureConnectionString}   Azure connection string (else workload identity) for the secondary copy
  ${SECRETS.databaseUrl.env} is never read: verify does not connect to the source database.

Exit codes:
  ${EXIT.ok}  verification passed (record written)
  ${EXIT.verifyFailed}  the backup is wrong: corrupt/truncated/altered object, broken hash chain, missing manifest,
     undecryptable with AGE_IDENTITY, Azure copy differs, restore or a check failed (failed record written)
  ${EXIT.failed}  could not verify: canary server down, vault unreachable, AGE_IDENTITY unset, interrupted
     (no record written)
  ${EXIT.usage}  bad flags or config`,
        )
        .action(action("verify", (opts: VerifyOptions) => runVerify(opts)));
}
