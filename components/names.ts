// Names that several components (and the policy pack) must agree on. Role ARNs are computed from the
// account id and the role name, so the bucket policy can name the gc role without a dependency cycle
// (the identities need the vault's key ARN; the vault's bucket policy needs the gc role's ARN).
import { JOB_KINDS, type JobKind } from "@supabase-backups/contracts";

export const PROJECT = "supabase-backups";

/** AWS/Azure identities a workload assumes. `check` (check-supabase) needs no cloud identity. */
export const CLOUD_IDENTITIES = ["writer", "verifier", "gc", "drill"] as const;
export type CloudIdentity = (typeof CLOUD_IDENTITIES)[number];
export type WorkloadIdentity = CloudIdentity | "check";

/** Which identity each job kind runs as (docs/architecture.md "Security model"). */
export const JOB_IDENTITY: Record<JobKind, WorkloadIdentity> = {
    dump: "writer",
    "sync-storage": "writer",
    verify: "verifier",
    "check-supabase": "check",
    gc: "gc",
    drill: "drill",
};
// Compile-time and run-time guard: every job kind has an identity.
for (const k of JOB_KINDS) if (!JOB_IDENTITY[k]) throw new Error(`no identity for job kind ${k}`);

export function namePrefix(env: string): string {
    return `${PROJECT}-${env}`;
}

/** Roles for people: restoring (MFA), and the break-glass role that alone may destroy the vault key. */
export type PersonRole = "restore-operator" | "break-glass";

/** IAM role name: `supabase-backups-prod-writer`, `…-restore-operator`. */
export function roleName(env: string, identity: CloudIdentity | PersonRole): string {
    return `${namePrefix(env)}-${identity}`;
}

export function roleArn(accountId: string, env: string, identity: CloudIdentity | PersonRole): string {
    return `arn:aws:iam::${accountId}:role/${roleName(env, identity)}`;
}

/** Kubernetes service account of an identity (one namespace per environment). */
export function serviceAccountName(identity: WorkloadIdentity): string {
    return `${PROJECT}-${identity}`;
}

export function bucketArn(bucket: string): string {
    return `arn:aws:s3:::${bucket}`;
}

/** The issuer host/path of an IAM OIDC provider ARN (`oidc.eks.<region>.amazonaws.com/id/<ID>`). */
export function oidcIssuerFromProviderArn(providerArn: string): string {
    const i = providerArn.indexOf(":oidc-provider/");
    if (i < 0) throw new Error(`not an IAM OIDC provider ARN: ${providerArn}`);
    return providerArn.slice(i + ":oidc-provider/".length);
}

/** Mount point and file name of the job config the CronJobs read (JOB_ENV.config holds the path). */
export const JOB_CONFIG_DIR = "/etc/supabase-backups";
export const JOB_CONFIG_FILE = "job-config.json";
/** The job image writes only under /tmp (TMPDIR); the pods mount the scratch emptyDir there. */
export const SCRATCH_DIR = "/tmp";

/** A stable GUID from a seed (Azure role definitions and assignments are named by GUID). */
export function stableGuid(seed: string): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const h: string = require("node:crypto").createHash("sha256").update(seed).digest("hex");
    const v = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${v}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
