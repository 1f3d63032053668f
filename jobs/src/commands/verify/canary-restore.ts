// The canary restore's plan and its two pg_restore phases (docs/commands/verify.md "restore"):
//  - which of the source's extensions the canary cannot create: missing from its image → verify
//    refuses to judge; refused in this database (pg_cron) → left out with its own schema, and said so;
//  - pre-data and data streamed from the download (the TOC read on the way, toc-gate.ts), then
//    post-data with -j from the finished spool, both with the same -L use-list (toc.ts);
//  - between reading the TOC and the restore, the superuser's part (canary-sandbox.ts): extensions and
//    their schemas; the restore itself runs as the database's NOSUPERUSER owner.
import type { ChildProcess } from "node:child_process";
import type { Writable } from "node:stream";
import { writeFile } from "node:fs/promises";
import { EXIT, type DbManifest } from "@supabase-backups/contracts";
import { JobFailure, errorMessage } from "../../runtime/errors";
import { availableExtensions, CanaryUnavailable, connect, probeExtensions, runPgRestore, type CanaryDatabase, type RestoreResult } from "../../postgres/canary";
import { extensionPlacements, prepareAsSuperuser } from "../../postgres/canary-sandbox";
import { EXTENSION_OWN_SCHEMAS, planUseList, type Prepared, type Skipped, type TocEntry } from "../../postgres/toc";
import { TocGate } from "../../postgres/toc-gate";
import { extName } from "./checks";

export type RefusedExtensions = Map<string, { schemas: string[]; why: string }>;

/**
 * The source's extensions the canary cannot create. Throws (verify cannot judge) when one is missing
 * from the canary's image, or refused for a reason not known to be harmless.
 */
export async function planExtensions(m: DbManifest, canaryAdminUrl: string, db: CanaryDatabase): Promise<RefusedExtensions> {
    const wanted = m.snapshot.extensions.map(extName).filter((e) => e !== "plpgsql");
    const available = await availableExtensions(canaryAdminUrl).catch((err) => {
        throw new CanaryUnavailable(`cannot list the canary server's extensions: ${errorMessage(err)}`);
    });
    const missing = wanted.filter((e) => !available.has(e));
    if (missing.length) {
        throw new JobFailure(
            `the canary server lacks the source's extension${missing.length > 1 ? "s" : ""} ${missing.join(", ")}: cannot judge this backup; ` +
                `use Supabase's image at the project's version (leave verify.canaryImage unset, set supabase.postgresVersion) or an image that has them`,
            EXIT.failed,
        );
    }
    const probed = await probeExtensions(db.url, wanted).catch((err) => {
        throw new CanaryUnavailable(`cannot try the source's extensions on the canary: ${errorMessage(err)}`);
    });
    const refused: RefusedExtensions = new Map();
    for (const [name, why] of probed) {
        const schemas = EXTENSION_OWN_SCHEMAS[name];
        if (!schemas) throw new JobFailure(`the canary refuses the source's extension ${name} (${why}): cannot judge this backup`, EXIT.failed);
        refused.set(name, { schemas, why: `the canary refuses it in ${db.name}: ${why}` });
    }
    return refused;
}

export interface CanaryRestore {
    /** where the decoded dump is written while it downloads */
    input: Writable;
    /** settles once the streamed phase has ended (after `input` ends or the child is killed) */
    streamed(): Promise<RestoreResult>;
    /** post-data from the finished spool, with -j */
    postData(spool: string, jobs: number): Promise<RestoreResult>;
    /** stop the streamed phase (the bytes turned out wrong) */
    abort(): void;
    skipped(): Skipped[];
}

export function startCanaryRestore(o: { db: CanaryDatabase; refused: RefusedExtensions; listFile: string; signal: AbortSignal; env: NodeJS.ProcessEnv; bin?: string }): CanaryRestore {
    let child: ChildProcess | undefined;
    let streamed: Promise<RestoreResult> | undefined;
    let skipped: Skipped[] = [];
    let opened!: () => void;
    const started = new Promise<void>((r) => (opened = r));
    const input = new TocGate(o.bin ?? "pg_restore", o.env, async (toc, head) => {
        const list = planUseList(toc, o.refused, await prepareCanary(o, toc, head));
        skipped = list.skipped;
        await writeFile(o.listFile, list.text);
        let stdin!: Writable;
        streamed = runPgRestore({ db: o.db, jobs: 1, sections: ["pre-data", "data"], useList: o.listFile, signal: o.signal, env: o.env, bin: o.bin, onChild: (c) => ((child = c), (stdin = c.stdin!)) });
        streamed.catch(() => undefined);
        opened();
        return stdin;
    });
    let gateError: Error | undefined;
    input.on("error", (e) => (gateError ??= e));
    // made now, not when awaited: the gate may have closed long before (a bad download destroys it)
    const closed = new Promise<void>((resolve) => input.once("close", resolve));
    return {
        input,
        async streamed() {
            await Promise.race([started, closed]);
            if (streamed) return streamed;
            // The archive's table of contents could not be read: what pg_restore says about it is the
            // restore's failure (a wrong archive is a wrong backup), not the verifier's.
            const why = gateError ? errorMessage(gateError) : "the dump ended before its table of contents could be read";
            return { ok: false, seconds: 0, exitCode: 1, errors: [why], errorCount: 1, tolerated: [] };
        },
        postData: (spool, jobs) => runPgRestore({ file: spool, db: o.db, jobs, sections: ["post-data"], useList: o.listFile, signal: o.signal, env: o.env, bin: o.bin }),
        abort() {
            child?.kill("SIGTERM");
            input.destroy();
        },
        skipped: () => skipped,
    };
}

/** The superuser's part, from the TOC and the archive's head, before the owner's restore starts. */
async function prepareCanary(o: { db: CanaryDatabase; refused: RefusedExtensions; listFile: string; env: NodeJS.ProcessEnv; bin?: string }, toc: TocEntry[], head: Buffer): Promise<Prepared> {
    const placements = await extensionPlacements(o.bin ?? "pg_restore", o.env, head, toc, `${o.listFile}.extensions`, writeFile);
    const c = await connect(o.db.url);
    try {
        return await prepareAsSuperuser(c, o.db.owner, placements, toc, new Set(o.refused.keys()));
    } catch (e) {
        throw new Error(`the verifier's superuser step (extensions) failed: ${errorMessage(e)}`);
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** One line for the record: what was left out of the restore and why, grouped by reason. */
export function describeSkipped(skipped: Skipped[]): string {
    if (!skipped.length) return "";
    const byWhy = new Map<string, string[]>();
    for (const s of skipped) byWhy.set(s.why, [...(byWhy.get(s.why) ?? []), s.entry]);
    const parts = [...byWhy].map(([why, entries]) => `${entries.length > 3 ? `${entries.slice(0, 3).join(", ")} and ${entries.length - 3} more` : entries.join(", ")} (${why})`);
    return `; left out ${skipped.length} entr${skipped.length === 1 ? "y" : "ies"}: ${parts.join("; ")}`;
}
