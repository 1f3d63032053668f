// Metric names and exit codes: the jobs emit them, the PrometheusRule alerts read them, the operator
// commands return them. One definition, so an alert can never watch a metric no job pushes.

export const METRIC_PREFIX = "supabase_backups";

export const METRICS = {
    /** counter {env, kind, result}: result = success | failure | degraded | partial; each push carries the gateway's count forward */
    runsTotal: `${METRIC_PREFIX}_runs_total`,
    /** gauge {env, kind}: 1 success, 0 failure, 2 degraded, 3 partial — of the most recent run */
    lastRunStatus: `${METRIC_PREFIX}_last_run_status`,
    /** gauge {env, kind}: unix seconds of the newest complete run */
    lastSuccessTimestamp: `${METRIC_PREFIX}_last_success_timestamp_seconds`,
    /** gauge {env, kind}: bytes written by the most recent run that did not fail (a failed run pushes none) */
    bytes: `${METRIC_PREFIX}_bytes`,
    /** gauge {env, kind}: wall time of the most recent run */
    durationSeconds: `${METRIC_PREFIX}_duration_seconds`,
    /** gauge {env, kind}: consecutive failed runs (reset on success) */
    consecutiveFailures: `${METRIC_PREFIX}_consecutive_failures`,
    /** gauge {env}: measured canary restore time of the newest verified run */
    restoreSeconds: `${METRIC_PREFIX}_restore_seconds`,
    /** gauge {env}: seconds since the start of the newest run that passed verification (pushed by verify) */
    verifiedRunAgeSeconds: `${METRIC_PREFIX}_verified_run_age_seconds`,
    /** gauge {env, kind}: objects copied / skipped / failed by sync-storage */
    objects: `${METRIC_PREFIX}_objects`,
    /**
     * gauge {env, kind}: objects the newest sync-storage run did not copy because their names could
     * address another object or path (contracts/src/object-names.ts); the manifest lists them under `unsafe`
     */
    unsafeObjectNames: `${METRIC_PREFIX}_unsafe_object_names`,
    /** gauge {env}: age in seconds of Supabase's own newest backup (check-supabase) */
    supabaseBackupAgeSeconds: `${METRIC_PREFIX}_supabase_backup_age_seconds`,
    /**
     * gauge {env, kind}: vault objects whose current version is not the one the jobs wrote and recorded
     * (a writer-token overwrite), plus verification records with an invalid signature; pushed by verify
     */
    tamperedObjects: `${METRIC_PREFIX}_tampered_objects`,
    /** gauge {env}: 1 when PITR is on as config requires */
    supabasePitrOk: `${METRIC_PREFIX}_supabase_pitr_ok`,
    /**
     * gauge {env, kind=dump}: 1 when the newest dump connected as a superuser or a role that can change the
     * source (jobs/src/postgres/dump-role.ts), 0 for a read-only role
     */
    dumpRoleCanWrite: `${METRIC_PREFIX}_dump_role_can_write`,
    /** gauge {env, kind=dump}: pg_database_size of the source at the newest complete dump (capacity) */
    sourceDatabaseBytes: `${METRIC_PREFIX}_source_database_bytes`,
    /**
     * gauge {env, kind=gc}: unreferenced blobs gc kept because a storage manifest it could not read
     * (archived before manifests stopped going cold; in the Azure archive, any manifest copy it cannot
     * read or check) may name them, vault and archive blobs together; 0 when every manifest was read
     */
    gcKeptUnreadable: `${METRIC_PREFIX}_gc_kept_unreadable_blobs`,
    /** gauge {env, kind=gc}: bytes of every storage blob version in the vault, locked and hidden ones included (capacity: the vault's growth) */
    vaultStorageBytes: `${METRIC_PREFIX}_vault_storage_bytes`,
    /** gauge {env, kind=sync-storage}: bytes of every object the newest complete storage run holds (capacity) */
    sourceStorageBytes: `${METRIC_PREFIX}_source_storage_bytes`,
    /** gauge {env, kind=drill, drill}: unix seconds of the newest drill that restored and checked its data (passed or missed-target) */
    drillLastSuccessTimestamp: `${METRIC_PREFIX}_drill_last_success_timestamp_seconds`,
    /** gauge {env, kind=drill, drill}: wall time of the newest drill, cleanup included */
    drillDurationSeconds: `${METRIC_PREFIX}_drill_duration_seconds`,
    /** gauge {env, kind=drill, drill}: measured recovery time of the newest drill that restored its data (start → restored and checked) */
    drillRtoSeconds: `${METRIC_PREFIX}_drill_rto_seconds`,
    /** gauge {env, kind=drill, drill}: the RTO target of that drill's scenario (drills.rtoMinutes) */
    drillRtoTargetSeconds: `${METRIC_PREFIX}_drill_rto_target_seconds`,
    /** gauge {env, kind=drill, drill}: result of the newest drill: 1 passed, 2 missed-target, 0 failed */
    drillResult: `${METRIC_PREFIX}_drill_result`,
} as const;

/**
 * Label names. `cronJob` is set from JOB_ENV.cronJob; the alert rules select on it only for kinds that
 * run from more than one CronJob.
 */
export const METRIC_LABELS = { env: "env", kind: "kind", cronJob: "cronjob", drill: "drill" } as const;

/** The value of METRICS.drillResult per drill result. */
export const DRILL_RESULT_VALUE = { failed: 0, passed: 1, "missed-target": 2 } as const;

/** Job kinds, as they appear in the `kind` label, the CronJob names and the object tag `kind`. */
export const JOB_KINDS = ["dump", "sync-storage", "verify", "check-supabase", "gc", "drill"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Process exit codes of the CLI. Distinct so a CronJob's status and alerts tell them apart. */
export const EXIT = {
    ok: 0,
    failed: 1,
    usage: 2,
    /** the run completed on the primary vault but the secondary copy failed */
    degraded: 3,
    /** some objects failed; the manifest lists them and the next run retries */
    partial: 4,
    /** verification ran and found the backup wrong */
    verifyFailed: 5,
    /** status: RPO target missed or hash chain broken */
    unhealthy: 6,
    /**
     * an object's current version is not the one recorded (overwritten after the job wrote it), or a
     * verification record's signature is invalid; restore delivered the recorded version
     */
    tampered: 7,
    /**
     * restore db / verify --run: objects the run needs are archived (S3 GLACIER/DEEP_ARCHIVE, Azure
     * Archive); a restore (rehydration) was requested or is under way: run the same command again later
     */
    pending: 8,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
