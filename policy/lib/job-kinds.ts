// Which job kind (contracts' JOB_KINDS) a CronJob runs, from its component label or its name. Shared by
// k8s-cronjob-hardened and stack-backup-completeness.

/** The job kind a CronJob runs: its app.kubernetes.io/component label, else its name. */
export function jobKindOf(meta: any): string {
    return String(meta?.labels?.["app.kubernetes.io/component"] ?? meta?.name ?? "");
}

/** `dump` is the kind of `dump`, `supabase-backups-dump`, `sync-storage-public-assets` is `sync-storage`. */
export function isKind(kindOrName: string, kind: string): boolean {
    return new RegExp(`(^|-)${kind.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(-|$)`).test(kindOrName);
}
