// Which run and which shard this process is: from flags, else from the Job's environment, so that every
// pod of an Indexed Job agrees without talking to the others.
import { createHash } from "node:crypto";
import { isRunId, JOB_ENV, newRunId, runIdTime } from "@supabase-backups/contracts";
import { UsageError } from "../../runtime/errors";
import { RUN_ID_ENV } from "./run";

/**
 * The run id: --run-id, else $SUPABASE_BACKUPS_RUN_ID, else — for a CronJob-created Job, whose name ends
 * in its scheduled time in minutes (`sync-storage-29378040`) — derived from $JOB_NAME so every shard
 * of the Indexed Job computes the same id; else (unsharded only) a fresh one.
 */
export function resolveRunId(explicit: string | undefined, env: NodeJS.ProcessEnv, now: Date, sharded: boolean): string {
    const given = explicit ?? env[RUN_ID_ENV];
    if (given) {
        if (!isRunId(given)) throw new UsageError(`--run-id: not a run id: "${given}" (expected e.g. 20261122T193000Z-k3x9qa)`);
        return given;
    }
    const job = env.JOB_NAME;
    const m = job ? /-(\d{7,})$/.exec(job) : null;
    if (m) {
        const suffix = createHash("sha256").update(job!).digest("hex").replace(/[^a-z0-9]/g, "").slice(0, 6);
        return newRunId(new Date(Number(m[1]) * 60_000), suffix);
    }
    if (sharded) throw new UsageError(`a sharded run needs a run id all shards share: pass --run-id, or set ${RUN_ID_ENV} or JOB_NAME (the Job's name)`);
    return newRunId(now);
}

/** True when resolveRunId made the id up (no flag, env or Job name fixed it): only such an id may move. */
export function isFreshRunId(explicit: string | undefined, env: NodeJS.ProcessEnv): boolean {
    return !(explicit ?? env[RUN_ID_ENV]) && !(env.JOB_NAME && /-(\d{7,})$/.test(env.JOB_NAME));
}

/**
 * A fresh id made in the same second as the newest complete run sorts after it: the random suffixes
 * would otherwise order the two by chance, and the later run would neither chain to the earlier nor
 * sort after it. (An id from an earlier second is left alone: that is a deliberate --now.)
 */
export function afterNewest(runId: string, newest: string | undefined): string {
    if (!newest || newest < runId || runIdTime(newest).getTime() !== runIdTime(runId).getTime()) return runId;
    return newRunId(new Date(runIdTime(runId).getTime() + 1000));
}

/** The shard: --shard I/N, else the Indexed Job's completion index of its completions, else 0/1. */
export function parseShard(value: string | undefined, env: NodeJS.ProcessEnv, configShards: number): { index: number; count: number } {
    if (value !== undefined) {
        const m = /^(\d+)\/(\d+)$/.exec(value);
        if (!m) throw new UsageError(`--shard: expected I/N (e.g. 0/4), got "${value}"`);
        const index = Number(m[1]);
        const count = Number(m[2]);
        if (count < 1 || index >= count) throw new UsageError(`--shard: index ${index} is not within 0..${count - 1}`);
        return { index, count };
    }
    const idx = env[JOB_ENV.jobCompletionIndex];
    if (idx !== undefined && idx !== "") {
        const count = Number(env[JOB_ENV.jobCompletions] ?? configShards);
        const index = Number(idx);
        if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
            throw new UsageError(`${JOB_ENV.jobCompletionIndex}=${idx} / ${JOB_ENV.jobCompletions}=${env[JOB_ENV.jobCompletions] ?? ""}: not a valid shard`);
        }
        return { index, count };
    }
    return { index: 0, count: 1 };
}
