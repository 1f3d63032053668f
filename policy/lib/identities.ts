// The backup identities (writer, verifier, gc, restore operator) as the policies recognise them: the
// patterns that tell which role or managed identity is which, and sample vault keys to judge access on.
// Shared by iam-backup-identities-least-privilege, vault-lifecycle-respects-retention and
// stack-backup-completeness.
import { roleArn, roleName, serviceAccountName } from "../../components/names";
import { auditKey, dbObjectKey, drillRecordKey, newRunId, storageBlobKey, storageRunManifestKey, verifyRecordKey } from "@supabase-backups/contracts";

export type IdentityName = "writer" | "verifier" | "gc" | "restoreOperator" | "drill";

/** Default patterns: the components name roles `supabase-backups-<env>-<identity>`. */
export const DEFAULT_IDENTITIES: Record<IdentityName, string> = {
    writer: "(^|[-_/])writer([-_/]|$)",
    verifier: "(^|[-_/])verifier([-_/]|$)",
    gc: "(^|[-_/])gc([-_/]|$)",
    restoreOperator: "(^|[-_/])restore(-?operator)?([-_/]|$)",
    drill: "(^|[-_/])drill([-_/]|$)",
};

export type KeyKind = "dbDump" | "dbSchema" | "storageBlob" | "storageRunManifest" | "verify" | "audit" | "drill" | "otherEnvDb";

/** Representative keys of each vault area, built with the contracts' own path functions. */
export function sampleKeys(env: string): Record<KeyKind, string> {
    const at = new Date(Date.UTC(2026, 0, 1, 3, 30));
    const runId = newRunId(at, "sample");
    const sha = "ab".repeat(32);
    return {
        dbDump: dbObjectKey(env, runId, "dump"),
        dbSchema: dbObjectKey(env, runId, "schema.sql"),
        storageBlob: storageBlobKey(env, sha),
        storageRunManifest: storageRunManifestKey(env, runId),
        verify: verifyRecordKey(env, runId, at),
        audit: auditKey(env, at, "sample-event"),
        drill: drillRecordKey(env, "table", runId),
        otherEnvDb: dbObjectKey(`${env}-other`, runId, "dump"),
    };
}

export function classifyIdentity(names: (string | undefined)[], identities: Record<IdentityName, string>): IdentityName | undefined {
    for (const id of Object.keys(identities) as IdentityName[]) {
        const re = new RegExp(identities[id], "i");
        if (names.some((n) => typeof n === "string" && re.test(n))) return id;
    }
    return undefined;
}

/** The ARNs of the stack's own roles (components/names.ts is the one place that names them). */
export function knownRoleArns(accountId: string, env: string): Record<IdentityName, string> {
    return {
        writer: roleArn(accountId, env, "writer"),
        verifier: roleArn(accountId, env, "verifier"),
        gc: roleArn(accountId, env, "gc"),
        restoreOperator: roleArn(accountId, env, "restore-operator"),
        drill: roleArn(accountId, env, "drill"),
    };
}

/** The exact role name of each identity, as an anchored pattern for classifyIdentity. */
export function exactIdentities(env: string): Record<IdentityName, string> {
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return {
        writer: `^${esc(roleName(env, "writer"))}$`,
        verifier: `^${esc(roleName(env, "verifier"))}$`,
        gc: `^${esc(roleName(env, "gc"))}$`,
        restoreOperator: `^${esc(roleName(env, "restore-operator"))}$`,
        drill: `^${esc(roleName(env, "drill"))}$`,
    };
}

/** The action lists the program's denies are built from: judged against the same lists. */
export { BUCKET_CONFIG_ACTIONS, KEY_DESTROY_ACTIONS } from "../../components/iam-policies";

/** The break-glass role's name (components/break-glass.ts names it with roleName like the others). */
export function breakGlassRoleName(env: string): string {
    return roleName(env, "break-glass");
}

/** The break-glass role's ARN. */
export function breakGlassRoleArn(accountId: string, env: string): string {
    return roleArn(accountId, env, "break-glass" as Parameters<typeof roleArn>[2]);
}

/** The Kubernetes service account a workload identity's federated credential names (components/names.ts). */
export { serviceAccountName };
