// Version-pinned reads (docs/architecture.md "Version pinning"). The jobs write every vault key once, so
// the version a job wrote is the oldest data version of its key, and any newer one was written by someone
// else: a stolen writer token overwriting what the jobs wrote (Object Lock keeps the original). Every read
// of a run's object goes through openVersion() with the version the manifest or the signed verification
// record names (or the oldest one when nothing names it), and a current version other than that one is
// tampering. The one reader of object bytes: archived objects (issue 17) are told apart here too.
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { sha256Hex } from "@supabase-backups/contracts";
import { httpStatusOf } from "../runtime/errors";

/** An object as a reader wants it: a key and, when known, the exact version. */
export interface ObjectPin {
    key: string;
    /** undefined/null: the current version (a store without versioning, or nothing recorded) */
    versionId?: string | null;
}

/** Why an object could not be read: gone (or that version is), or archived (needs a restore first). */
export class VaultReadError extends Error {
    constructor(
        message: string,
        readonly kind: "missing" | "archived",
        readonly pin: ObjectPin,
        cause?: unknown,
    ) {
        super(message, { cause });
        this.name = "VaultReadError";
    }

    /** what callers that only ask "is it there?" test */
    get missing(): boolean {
        return this.kind === "missing";
    }
}

function describePin(p: ObjectPin): string {
    return p.versionId ? `${p.key} (version ${p.versionId})` : p.key;
}

/**
 * Open one object at its pinned version (the current one when the pin has none): the one place the jobs
 * GET object bytes from the vault. A missing key or version throws VaultReadError("missing"); an
 * archived one VaultReadError("archived").
 */
export async function openVersion(
    s3: S3Client,
    bucket: string,
    pin: ObjectPin,
    opts: { signal?: AbortSignal; range?: string } = {},
): Promise<{ body: Readable; versionId?: string; contentLength?: number }> {
    try {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: pin.key, VersionId: pin.versionId ?? undefined, Range: opts.range }), { abortSignal: opts.signal });
        return { body: r.Body as Readable, versionId: r.VersionId, contentLength: r.ContentLength };
    } catch (e: any) {
        const name = e?.name ?? e?.Code;
        if (httpStatusOf(e) === 404 || name === "NoSuchKey" || name === "NotFound" || name === "NoSuchVersion") {
            throw new VaultReadError(`${describePin(pin)} is missing from the vault`, "missing", pin, e);
        }
        if (name === "InvalidObjectState") throw new VaultReadError(`${describePin(pin)} is archived: restore it from its storage class first`, "archived", pin, e);
        throw e;
    }
}

/** A whole (small) object at its pinned version: bytes, sha256 and the version actually read. */
export async function readVersion(s3: S3Client, bucket: string, pin: ObjectPin): Promise<{ bytes: Buffer; sha256: string; versionId?: string }> {
    const r = await openVersion(s3, bucket, pin);
    const chunks: Buffer[] = [];
    for await (const c of r.body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
    const bytes = Buffer.concat(chunks);
    return { bytes, sha256: sha256Hex(bytes), versionId: r.versionId };
}

export interface ObjectVersion {
    versionId: string;
    isLatest: boolean;
    lastModified?: Date;
    size?: number;
}

/** A key whose current version is not the pinned one. `current` null: the key's newest entry is a delete marker. */
export interface Tampering {
    key: string;
    pinned: string | null;
    current: string | null;
}

/**
 * Every version under a prefix, listed once (ListObjectVersions). `available` is false on a store without
 * the API (then pins carry only what was recorded, and nothing can be judged tampered).
 */
export class VersionIndex {
    private constructor(
        /** data versions per key, oldest first (delete markers apart) */
        private readonly byKey: Map<string, ObjectVersion[]>,
        /** keys whose newest entry is a delete marker */
        private readonly hidden: Set<string>,
        readonly available: boolean,
        /** delete markers per key (version ids) */
        private readonly markers: Map<string, string[]> = new Map(),
    ) {}

    static empty(): VersionIndex {
        return new VersionIndex(new Map(), new Set(), false);
    }

    static async load(s3: S3Client, bucket: string, prefix: string): Promise<VersionIndex> {
        const byKey = new Map<string, ObjectVersion[]>();
        const hidden = new Set<string>();
        const markers = new Map<string, string[]>();
        let keyMarker: string | undefined;
        let versionMarker: string | undefined;
        try {
            do {
                const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
                for (const v of r.Versions ?? []) {
                    // S3 lists a key's versions newest first: prepend, so each list ends up oldest first.
                    const list = byKey.get(v.Key!) ?? [];
                    list.unshift({ versionId: v.VersionId ?? "null", isLatest: !!v.IsLatest, lastModified: v.LastModified, size: v.Size });
                    byKey.set(v.Key!, list);
                }
                for (const m of r.DeleteMarkers ?? []) {
                    if (m.IsLatest) hidden.add(m.Key!);
                    markers.set(m.Key!, [...(markers.get(m.Key!) ?? []), m.VersionId ?? "null"]);
                }
                keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
                versionMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
            } while (keyMarker);
        } catch (e: any) {
            // A store without versions (s3rver in tests): nothing to pin against, say so to the caller.
            const status = httpStatusOf(e);
            if (status === 405 || status === 501 || e?.name === "NotImplemented") return VersionIndex.empty();
            throw e;
        }
        // order within a page is newest first, but a key can span pages: sort by time where the store gives it
        for (const list of byKey.values()) if (list.every((v) => v.lastModified)) list.sort((a, b) => a.lastModified!.getTime() - b.lastModified!.getTime());
        return new VersionIndex(byKey, hidden, true, markers);
    }

    /** Keys whose newest entry is a delete marker but which still have data versions underneath. */
    hiddenKeys(): string[] {
        return [...this.hidden].filter((k) => this.versions(k).length > 0).sort();
    }

    /** Is the key's newest entry a delete marker (plain GETs and listings do not find it)? */
    isHidden(key: string): boolean {
        return this.hidden.has(key);
    }

    /** The delete markers of a key (their version ids). */
    deleteMarkers(key: string): string[] {
        return this.markers.get(key) ?? [];
    }

    /** Keys with data versions under a prefix, sorted (a delete marker alone over one still counts). */
    keys(prefix = ""): string[] {
        return [...this.byKey.keys()].filter((k) => k.startsWith(prefix)).sort();
    }

    /** Data versions of a key, oldest first. */
    versions(key: string): ObjectVersion[] {
        return this.byKey.get(key) ?? [];
    }

    /** The version to read: the recorded one, else the oldest (the one the job wrote). */
    pin(key: string, recorded?: string | null): ObjectPin {
        if (recorded) return { key, versionId: recorded };
        const oldest = this.versions(key)[0];
        return { key, versionId: this.available && oldest && oldest.versionId !== "null" ? oldest.versionId : undefined };
    }

    /** The key's current data version differs from the pinned one (a newer version was written over it). */
    tampering(key: string, recorded?: string | null): Tampering | undefined {
        if (!this.available) return undefined;
        const versions = this.versions(key);
        if (!versions.length) return undefined;
        const pinned = recorded ?? versions[0].versionId;
        const newest = versions[versions.length - 1];
        // A delete marker alone over the pinned version is lifecycle expiry, not an overwrite.
        if (newest.versionId === pinned) return undefined;
        return { key, pinned, current: this.hidden.has(key) ? null : newest.versionId };
    }

    /** Every key with more than one data version: the jobs write each key once. */
    overwritten(): Tampering[] {
        const out: Tampering[] = [];
        for (const key of [...this.byKey.keys()].sort()) {
            const t = this.tampering(key);
            if (t) out.push(t);
        }
        return out;
    }
}

/** One line for a tampered key. */
export function describeTampering(t: Tampering): string {
    const now = t.current === null ? "deleted (a delete marker)" : `version ${t.current}`;
    return `${t.key}: the current ${now} is not the version the job wrote and recorded (${t.pinned ?? "unknown"}): overwritten after the backup`;
}
