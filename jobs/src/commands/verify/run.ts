// One run's verification, as named steps over explicit state: manifest → chain → key → fetch (the Azure
// copy alongside) → restore → checks → storage → record. A step that finds the backup wrong adds a
// failed check and ends the steps (the record is still written); a fault of the verifier itself (canary
// server down, vault unreachable, AGE_IDENTITY unset, interrupted) throws, and nothing is recorded.
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { assertSchema, ConfigError, DbManifestSchema, dbRunPrefix, EXIT, formatIssue, SECRETS, type DbManifest, type VerifyRecord } from "@supabase-backups/contracts";
import { JobFailure, errorMessage } from "../../runtime/errors";
import type { Logger } from "../../runtime/log";
import { formatBytes } from "../../runtime/progress";
import { listAll } from "../../vault/s3";
import { loadManifest, type LoadedManifest, type RunRef } from "../../vault/runs";
import { openVersion, type Tampering } from "../../vault/versions";
import {
    CanaryUnavailable,
    connect,
    createCanary,
    dropCanary,
    ensureRoles,
    majorOf,
    pgRestoreVersion,
    rolesFromScript,
    SUPABASE_DEFAULT_ROLES,
    type CanaryDatabase,
    type RestoreResult,
} from "../../postgres/canary";
import { decodeSpecFor, describeDecodeError, fetchVaultObject, isDataDecodeError, type FetchResult } from "../../codec/verified-read";
import { AgeError, recipientOf } from "../../codec/age-decrypt";
import { check, runChecks, short, type CheckResult } from "./checks";
import { describeSkipped, planExtensions, startCanaryRestore, type RefusedExtensions } from "./canary-restore";
import { checkChain } from "./chain";
import { checkSecondary } from "./secondary";
import { buildRecord, writeRecord } from "./record";
import type { StorageVerifyResult } from "./storage-sample";
import type { VerifySession } from "./session";

export interface RunOutcome {
    record: VerifyRecord;
    key: string;
    /** measured pg_restore time, when the restore ran */
    restoreSeconds?: number;
    /** the run's keys overwritten after the job wrote them (the record proves the original) */
    tampered: Tampering[];
}

type DbObject = DbManifest["objects"][number];

interface Fetched {
    o: DbObject;
    r?: FetchResult;
    c: CheckResult;
}

/** Seconds to two decimals. */
function seconds2(ms: number): number {
    return Math.round(ms / 10) / 100;
}

/** Compare one fetched object with its manifest entry; the reason names the most specific fault. */
function objectCheck(name: string, expected: { bytes: number; sha256: string }, got: FetchResult, seconds: number): CheckResult {
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

/**
 * Verify one run; `storage` (the newest storage run's result) joins this run's record. Throws
 * JobFailure(EXIT.failed) when the verifier itself cannot judge.
 */
export function verifyRun(s: VerifySession, target: RunRef, storage?: Promise<StorageVerifyResult | undefined>): Promise<RunOutcome> {
    return new RunVerification(s, target, storage).run();
}

class RunVerification {
    private readonly started = Date.now();
    private readonly verifiedAt = new Date();
    private readonly log: Logger;
    /** where the dump is spooled for the parallel post-data restore */
    private readonly spool: string;
    private readonly checks: CheckResult[] = [];
    private readonly durations: VerifyRecord["durations"] = { downloadSeconds: 0, restoreSeconds: 0, checksSeconds: 0, totalSeconds: 0 };
    /** sha256 of the manifest's bytes, once read (also when they are not a valid manifest) */
    private manifestSha256: string | null = null;
    /** the manifest, once read and valid */
    private manifest?: DbManifest;
    /** the exact manifest verified: key, version, sha256 (what the signed record pins) */
    private manifestPin?: NonNullable<VerifyRecord["manifest"]>;
    /** the run's keys whose current version is not the one the job wrote */
    private tampered: Tampering[] = [];
    private identity?: string;
    private identityRecipient?: string;
    private downloadStarted = 0;
    private readonly fetched = new Map<string, Fetched>();
    /** the Azure copy's check, running alongside the downloads */
    private secondary?: Promise<CheckResult>;
    private dumpBytes = 0;
    private restoreSeconds?: number;
    /** set while the canary database exists */
    private canary?: CanaryDatabase;
    /** the source's extensions the canary refuses in its database (left out of the restore) */
    private refused: RefusedExtensions = new Map();

    constructor(
        private readonly s: VerifySession,
        private readonly target: RunRef,
        private readonly storage?: Promise<StorageVerifyResult | undefined>,
    ) {
        this.log = s.ctx.log.child({ runId: target.runId });
        this.spool = join(s.scratch, `sbv-${target.runId}-${randomBytes(4).toString("hex")}.dump`);
    }

    async run(): Promise<RunOutcome> {
        try {
            await this.steps();
            // The canary goes before the record: nothing is left behind even if the put fails.
            await this.dropCanaryNow();
            return await this.record();
        } catch (err) {
            if (err instanceof CanaryUnavailable) throw new JobFailure(err.message, EXIT.failed, err);
            throw err;
        } finally {
            await this.dropCanaryNow();
            await rm(this.spool, { force: true }).catch(() => undefined);
        }
    }

    /** The steps up to the checks; each returns early once the run is judged wrong. */
    private async steps(): Promise<void> {
        const ref = await this.findRun();
        if (!ref) return;
        const loaded = await this.readManifest(ref);
        const m = this.manifest;
        if (!loaded || !m) return;
        await this.loadIdentity(m);
        if (!(await this.fetchSmall(m, loaded))) return;
        const db = await this.prepareCanary(m);
        if (!(await this.restore(m, db))) return;
        await this.runChecks(m, db);
    }

    /** 1. The run is complete (has a manifest). */
    private async findRun(): Promise<RunRef | undefined> {
        const { runId } = this.target;
        const ref = this.s.complete.find((r) => r.runId === runId);
        if (ref) return ref;
        const leftovers = await listAll(this.s.s3, this.s.bucket, dbRunPrefix(this.s.ctx.config.env, runId));
        const detail = leftovers.length
            ? `run ${runId} has ${leftovers.length} object(s) but no manifest.json: incomplete, or its manifest was deleted`
            : `run ${runId} does not exist in the vault (no manifest, no objects)`;
        this.checks.push(check("manifest", false, detail));
        return undefined;
    }

    /** 2. Hash chain back to the last verified run (it also loads this run's manifest bytes), then the manifest. */
    private async readManifest(ref: RunRef): Promise<LoadedManifest<DbManifest> | undefined> {
        const chain = await checkChain(this.s, this.target);
        const pinned = this.s.versions.pin(ref.manifestKey).versionId;
        const loaded = chain.loaded ?? (await loadManifest<DbManifest>(this.s.s3, this.s.bucket, ref, pinned).catch(() => undefined));
        if (!loaded) {
            this.checks.push(check("manifest", false, `manifest of ${this.target.runId} cannot be read`), chain.check);
            return undefined;
        }
        this.manifestSha256 = loaded.sha256;
        this.manifestPin = { key: loaded.ref.manifestKey, versionId: loaded.versionId ?? null, sha256: loaded.sha256 };
        const env = this.s.ctx.config.env;
        try {
            const m = assertSchema<DbManifest>(DbManifestSchema, loaded.manifest, loaded.ref.manifestKey);
            if (m.runId !== this.target.runId || m.env !== env) throw new Error(`manifest claims run ${m.runId} of env ${m.env}`);
            this.manifest = m;
            this.tampered = [loaded.ref.manifestKey, ...m.objects.map((o) => o.key)]
                .map((k, i) => this.s.versions.tampering(k, i === 0 ? loaded.versionId : m.objects[i - 1].versionId))
                .filter((t): t is Tampering => !!t);
            for (const t of this.tampered) this.log.error({ key: t.key, pinned: t.pinned, current: t.current }, "tampering: a newer version was written over this object; verifying the version the job wrote");
            const version = loaded.versionId ? `, version ${loaded.versionId}` : "";
            this.checks.push(check("manifest", true, `${loaded.ref.manifestKey}${version}, sha256 ${short(loaded.sha256)}`));
        } catch (err) {
            const detail = err instanceof ConfigError ? `invalid: ${formatIssue(err.issues[0])}` : errorMessage(err);
            this.checks.push(check("manifest", false, detail));
        }
        this.checks.push(chain.check);
        return loaded;
    }

    /** 3. The decryption key, before any download. */
    private async loadIdentity(m: DbManifest): Promise<void> {
        if (!m.encryption) return;
        const identity = this.s.ctx.secrets.ageIdentity;
        if (!identity) throw new JobFailure(`run ${this.target.runId} is encrypted to ${m.encryption.recipient}, but ${SECRETS.ageIdentity.env} is not set`, EXIT.failed);
        this.identity = identity;
        this.identityRecipient = await recipientOf(identity).catch(() => undefined);
        if (this.identityRecipient !== m.encryption.recipient) {
            // Still decrypt below: the file header is the authority; this only sharpens the message.
            this.log.warn({ recipient: m.encryption.recipient, mine: this.identityRecipient }, "the verifier's age identity is not the dump's recipient");
        }
    }

    /** 4. The small objects (roles.sql is needed before the restore); the Azure copy is checked alongside all of it. */
    private async fetchSmall(m: DbManifest, loaded: LoadedManifest<DbManifest>): Promise<boolean> {
        this.downloadStarted = Date.now();
        this.secondary = checkSecondary(this.s, m, { key: loaded.ref.manifestKey, sha256: loaded.sha256 });
        this.secondary.catch(() => undefined);
        for (const f of await Promise.all(m.objects.filter((o) => o.name !== "dump").map((o) => this.fetchObject(m, o)))) this.fetched.set(f.o.name, f);
        if ([...this.fetched.values()].every((f) => f.c.ok) && m.objects.some((o) => o.name === "dump")) return true;
        await this.pushObjectChecks(m);
        return false;
    }

    /** Fetch, hash and decode one object (the dump to the spool, `tee` also getting its decoded bytes). */
    private async fetchObject(m: DbManifest, o: DbObject, tee?: Writable): Promise<Fetched> {
        const t = Date.now();
        const spec = decodeSpecFor(m, o.name, this.identity);
        try {
            const pin = this.s.versions.pin(o.key, o.versionId);
            const open = () => openVersion(this.s.s3, this.s.bucket, pin, { signal: this.s.signal });
            const r = await fetchVaultObject(open, spec, o.name === "dump" ? this.spool : "memory", this.s.signal, tee);
            return { o, r, c: objectCheck(o.name, o, r, (Date.now() - t) / 1000) };
        } catch (err: any) {
            tee?.destroy();
            if (err?.missing) return { o, r: undefined, c: check(o.name, false, `missing from the vault: ${o.key}`, (Date.now() - t) / 1000) };
            throw err;
        }
    }

    /** The object checks in manifest order (a wrong age identity named as such), then the Azure copy's. */
    private async pushObjectChecks(m: DbManifest): Promise<void> {
        for (const o of m.objects) {
            const f = this.fetched.get(o.name);
            if (!f) continue;
            const de = f.r?.decodeError;
            if (!f.c.ok && de instanceof AgeError && de.kind === "identity" && m.encryption) {
                const detail = `${o.name} cannot be decrypted with ${SECRETS.ageIdentity.env} (${this.identityRecipient ?? "unparsable"}): it is encrypted to ${m.encryption.recipient}`;
                this.checks.push(check("decrypt", false, detail, f.c.seconds));
            } else this.checks.push(f.c);
        }
        if (!m.objects.some((o) => o.name === "dump")) this.checks.push(check("dump", false, "manifest lists no dump object"));
        this.checks.push(await this.secondary!);
    }

    /** 5a. A canary database that can take this dump, with the dump's roles. */
    private async prepareCanary(m: DbManifest): Promise<CanaryDatabase> {
        const pgRestore = await pgRestoreVersion();
        const dumpMajor = majorOf(m.pgDumpVersion);
        const restoreMajor = majorOf(pgRestore);
        if (dumpMajor && restoreMajor && restoreMajor < dumpMajor) {
            throw new JobFailure(`${pgRestore} cannot read an archive from ${m.pgDumpVersion}: install a newer pg_restore in the job image`, EXIT.failed);
        }
        const canary = await createCanary(this.s.canaryUrl, this.s.ctx.config.env);
        this.canary = canary;
        this.s.liveCanary.add(canary);
        this.s.signal.throwIfAborted();
        this.log.info({ database: canary.name, server: canary.serverVersion }, "canary database created");
        const canaryMajor = majorOf(canary.serverVersion);
        const sourceMajor = majorOf(m.source.serverVersion);
        if (canaryMajor && sourceMajor && canaryMajor < sourceMajor) {
            // PostgreSQL does not support restoring into an older major version: a configuration fault.
            throw new JobFailure(
                `the canary server is PostgreSQL ${canary.serverVersion}, older than the source's ${m.source.serverVersion}: set supabase.postgresVersion to the project's version (or verify.canaryImage to postgres:${sourceMajor})`,
                EXIT.failed,
            );
        }
        const rolesSql = this.fetched.get("roles.sql")?.r?.data;
        const roles = rolesSql ? rolesFromScript(rolesSql.toString("utf8")) : SUPABASE_DEFAULT_ROLES;
        // added to the database's owner role (createCanary), dropped with it
        const created = await ensureRoles(this.s.canaryUrl, roles).catch((err) => {
            throw new CanaryUnavailable(`cannot create roles on the canary server: ${errorMessage(err)}`);
        });
        canary.createdRoles.push(...created);
        // with the roles in place: extension scripts grant to them
        this.refused = await planExtensions(m, this.s.canaryUrl, canary);
        return canary;
    }

    /**
     * 5b. Canary restore, streamed: pre-data and data are restored from the download as it arrives (one
     * pg_restore reading stdin), so downloading, hashing, decrypting and decompressing overlap the data
     * load; then post-data (indexes, constraints, policies: the parallel part) runs with -j from the
     * finished spool. If the bytes turn out wrong, the restore is discarded.
     */
    private async restore(m: DbManifest, db: CanaryDatabase): Promise<boolean> {
        const { signal, jobs } = this.s;
        const tRestore = Date.now();
        const canary = startCanaryRestore({ db, refused: this.refused, listFile: `${this.spool}.list`, signal, env: this.s.ctx.env });
        const dump = await this.fetchObject(m, m.objects.find((o) => o.name === "dump")!, canary.input);
        this.fetched.set("dump", dump);
        this.durations.downloadSeconds = seconds2(Date.now() - this.downloadStarted);
        this.dumpBytes = dump.r?.bytes ?? 0;
        await this.pushObjectChecks(m);
        if (!dump.c.ok) {
            canary.abort();
            await canary.streamed().catch(() => undefined);
            return false;
        }
        let restore = await canary.streamed();
        signal.throwIfAborted();
        if (restore.ok) {
            const post = await canary.postData(this.spool, jobs);
            signal.throwIfAborted();
            restore = { ...post, seconds: restore.seconds + post.seconds, tolerated: [...restore.tolerated, ...post.tolerated] };
        }
        this.restoreSeconds = Math.round(((Date.now() - tRestore) / 1000) * 100) / 100;
        this.durations.restoreSeconds = this.restoreSeconds;
        await rm(this.spool, { force: true });
        await rm(`${this.spool}.list`, { force: true });
        await rm(`${this.spool}.list.extensions`, { force: true });
        if (!restore.ok) {
            await this.restoreFailed(restore);
            return false;
        }
        // What was set apart or left out is said in the record, never silently dropped.
        const setApart = restore.tolerated.length ? `; set apart ${restore.tolerated.length}× the known-harmless ${restore.tolerated[0]}` : "";
        const detail = `pg_restore (pre-data and data streamed from the download, post-data -j ${jobs}) into ${db.name} (PostgreSQL ${db.serverVersion})`;
        this.checks.push(check("restore", true, detail + setApart + describeSkipped(canary.skipped()), this.restoreSeconds));
        return true;
    }

    private async restoreFailed(restore: RestoreResult): Promise<void> {
        // A canary that went away mid-restore is an infrastructure fault, not a bad backup.
        const alive = await connect(this.s.canaryUrl).then(
            (c) => c.end().then(() => true),
            () => false,
        );
        if (!alive) throw new CanaryUnavailable(`canary server went away during the restore: ${restore.errors[0] ?? "pg_restore exited " + restore.exitCode}`);
        const errors = `${restore.errorCount || "exit " + restore.exitCode} error${restore.errorCount === 1 ? "" : "s"}`;
        this.checks.push(check("restore", false, `pg_restore failed (${errors}): ${(restore.errors[0] ?? "").split("\n")[0]}`, this.restoreSeconds));
        // The restore-time metric is of restores that worked.
        this.restoreSeconds = undefined;
    }

    /** 6. Checks against the dump's own snapshot. */
    private async runChecks(m: DbManifest, db: CanaryDatabase): Promise<void> {
        const t = Date.now();
        const results = await runChecks({
            manifest: m,
            connect: () => connect(db.url),
            userChecks: this.s.ctx.config.verify.checks,
            concurrency: this.s.jobs,
            statementTimeoutMs: this.s.statementTimeoutMs,
            leftOut: { extensions: [...this.refused.keys()], schemas: [...this.refused.values()].flatMap((r) => r.schemas) },
        });
        this.checks.push(...results);
        this.durations.checksSeconds = seconds2(Date.now() - t);
        this.s.signal.throwIfAborted();
    }

    /** 7. The storage check (when this run carries it), then the record, written once. */
    private async record(): Promise<RunOutcome> {
        // An interrupted verification judged nothing: no record.
        this.s.signal.throwIfAborted();
        const storage = this.storage ? await this.storage : undefined;
        if (storage) this.checks.push(check("storage", storage.ok, storage.detail, storage.seconds));
        this.durations.totalSeconds = seconds2(Date.now() - this.started);
        const built = buildRecord({
            env: this.s.ctx.config.env,
            runId: this.target.runId,
            verifiedAt: this.verifiedAt,
            checks: this.checks,
            manifestSha256: this.manifestSha256,
            manifest: this.manifestPin,
            tampered: this.tampered,
            dumpBytes: this.dumpBytes,
            durations: this.durations,
            storage,
        });
        const { key, record } = await writeRecord(this.s, built, this.verifiedAt, this.manifest);
        this.log.info({ key, result: record.result, reason: record.reason }, "verification record written");
        return { record, key, restoreSeconds: this.restoreSeconds, tampered: this.tampered };
    }

    /** Drop the canary database if it exists; both the normal path and `finally` call it. */
    private async dropCanaryNow(): Promise<void> {
        const canary = this.canary;
        if (!canary) return;
        await dropCanary(this.s.canaryUrl, canary, this.log);
        this.s.liveCanary.delete(canary);
        this.canary = undefined;
    }
}
