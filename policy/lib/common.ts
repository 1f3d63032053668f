// Shared plumbing for the policies: resource type tokens, per-policy config read through ajv (defaults
// filled, unknown keys and bad values rejected with a clear message), and small helpers. Nothing here
// constructs a PolicyPack: tests import these modules directly.
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import type {
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import { RetentionSchema, storageOnlyTiers, storageRetention, type RetentionPolicy, type StackConfig } from "@supabase-backups/contracts";

/** Type tokens of the resources the program declares (AWS provider v7, azure-native v3, kubernetes v4). */
export const T = {
    bucket: "aws:s3/bucket:Bucket",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    objectLock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    kmsKey: "aws:kms/key:Key",
    kmsAlias: "aws:kms/alias:Alias",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    iamPolicy: "aws:iam/policy:Policy",
    rolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    storageAccount: "azure-native:storage:StorageAccount",
    blobService: "azure-native:storage:BlobServiceProperties",
    blobContainer: "azure-native:storage:BlobContainer",
    managementPolicy: "azure-native:storage:ManagementPolicy",
    roleDefinition: "azure-native:authorization:RoleDefinition",
    userAssignedIdentity: "azure-native:managedidentity:UserAssignedIdentity",
    federatedCredential: "azure-native:managedidentity:FederatedIdentityCredential",
    cronJob: "kubernetes:batch/v1:CronJob",
    job: "kubernetes:batch/v1:Job",
    serviceAccount: "kubernetes:core/v1:ServiceAccount",
} as const;

/** The S3 companions every vault bucket needs, keyed by type token, with a human name. */
export const BUCKET_COMPANIONS: Record<string, string> = {
    [T.versioning]: "BucketVersioning",
    [T.sse]: "BucketServerSideEncryptionConfiguration",
    [T.publicAccessBlock]: "BucketPublicAccessBlock",
    [T.ownership]: "BucketOwnershipControls",
    [T.bucketPolicy]: "BucketPolicy",
    [T.lifecycle]: "BucketLifecycleConfiguration",
    [T.objectLock]: "BucketObjectLockConfiguration",
};

export const PACK_NAME = "supabase-backups";

/** What each policy module exports: a CrossGuard policy that is always mandatory and has remediation. */
export type BackupPolicy = (ResourceValidationPolicy | StackValidationPolicy) & {
    enforcementLevel: "mandatory";
    remediationSteps: string;
    /**
     * The policy's entry in policy/config.<stack>.json, implied by the stack's validated config (its
     * floors are the stack's own numbers). Absent: every setting of the policy has a default.
     */
    configFromStack?: (cfg: StackConfig) => Record<string, unknown>;
};

/** The stack's retention as the pack config states it: every tier, absent ones as 0. */
export function retentionOf(cfg: StackConfig): RetentionPolicy {
    const r = cfg.retention;
    return { daily: r.daily, weekly: r.weekly ?? 0, monthly: r.monthly ?? 0, yearly: r.yearly ?? 0, objectLockMinDays: r.objectLockMinDays };
}

/**
 * The storage runs' retention when a bucket override keeps a tier longer than the environment
 * (contracts/bucket-retention.ts); undefined otherwise, so such a stack's pack config is as before.
 */
export function storageRetentionOf(cfg: StackConfig): RetentionPolicy | undefined {
    const env = retentionOf(cfg);
    const s = storageRetention({ retention: env, storage: cfg.storage });
    return storageOnlyTiers(env, s).length ? s : undefined;
}

/** The config key the lifecycle policies read storageRetentionOf() from. */
export const STORAGE_RETENTION_SCHEMA = {
    ...(RetentionSchema as object),
    description: "the storage runs' retention when storage.buckets[].retention keeps a tier longer than retention (rules on tag tier=storage-<tier> follow it)",
} as any;

/** `retention`, and `storageRetention` when the stack has one, for a lifecycle policy's config. */
export function lifecycleConfigFromStack(cfg: StackConfig): Record<string, unknown> {
    const storage = storageRetentionOf(cfg);
    return { retention: retentionOf(cfg), ...(storage ? { storageRetention: storage } : {}) };
}

export class PolicyConfigError extends Error {
    constructor(
        readonly policy: string,
        readonly problems: string[],
    ) {
        super(`policy config for "${policy}" is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "PolicyConfigError";
    }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });

export function describeAjvErrors(errors: ErrorObject[] | null | undefined, root: string): string[] {
    return (errors ?? []).map((e) => {
        const at = `${root}${e.instancePath.replace(/\//g, ".")}`;
        if (e.keyword === "additionalProperties") {
            return `${at}: unknown key "${(e.params as any).additionalProperty}" (known: ${Object.keys((e.parentSchema as any)?.properties ?? {}).join(", ") || "none"})`;
        }
        if (e.keyword === "required") return `${at}: missing required key "${(e.params as any).missingProperty}"`;
        if (e.keyword === "enum") return `${at}: must be one of ${(e.params as any).allowedValues.map((v: unknown) => JSON.stringify(v)).join(", ")}; found ${JSON.stringify(e.data)}`;
        return `${at}: ${e.message}; found ${JSON.stringify(e.data)}`;
    });
}

/** The JSON Schema of one policy's config object (what follows its name in the pack config file). */
export function policyConfigJsonSchema(schema: PolicyConfigSchema | undefined): object {
    return {
        type: "object",
        properties: { ...(schema?.properties ?? {}) },
        required: schema?.required ?? [],
        additionalProperties: false,
    };
}

const validators = new Map<string, ValidateFunction>();
function validatorFor(name: string, schema: PolicyConfigSchema | undefined): ValidateFunction {
    let v = validators.get(name);
    if (!v) {
        v = ajv.compile({ ...policyConfigJsonSchema(schema), $id: `policy:${name}` });
        validators.set(name, v);
    }
    return v;
}

/**
 * The policy's config as the engine (or the offline gate) hands it over, validated and with the
 * schema's defaults filled in. Invalid config throws: a policy must never run on a floor it misread.
 */
export function readPolicyConfig<C>(
    policy: { name: string; configSchema?: PolicyConfigSchema },
    args: Pick<ResourceValidationArgs | StackValidationArgs, "getConfig">,
): C {
    const raw = structuredClone(args.getConfig<Record<string, unknown>>() ?? {});
    delete raw.enforcementLevel;
    const v = validatorFor(policy.name, policy.configSchema);
    if (!v(raw)) throw new PolicyConfigError(policy.name, describeAjvErrors(v.errors, policy.name));
    return raw as C;
}

/** Input values may be Pulumi-style unset (undefined) or explicitly null. */
export function isSet<T>(v: T | null | undefined): v is T {
    return v !== undefined && v !== null;
}

export function show(v: unknown): string {
    if (v === undefined) return "unset";
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 100 ? s.slice(0, 97) + "…" : s;
}

/** Glob match as IAM does it: `*` any run of characters, `?` one character, case-sensitive by default. */
export function globToRegExp(pattern: string, flags = ""): RegExp {
    const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp(`^${re}$`, flags);
}

const globCache = new Map<string, RegExp>();
export function globMatch(pattern: string, value: string, caseInsensitive = false): boolean {
    const key = `${caseInsensitive ? "i" : "s"}:${pattern}`;
    let re = globCache.get(key);
    if (!re) {
        re = globToRegExp(pattern, caseInsensitive ? "i" : "");
        if (globCache.size > 10_000) globCache.clear();
        globCache.set(key, re);
    }
    return re.test(value);
}

export function asArray<T>(v: T | T[] | undefined | null): T[] {
    if (v === undefined || v === null) return [];
    return Array.isArray(v) ? v : [v];
}

/** Parse a policy document that may be a JSON string (most providers) or an object. */
export function parseDocument(doc: unknown): { ok: true; doc: any } | { ok: false; error: string } {
    if (typeof doc === "string") {
        try {
            return { ok: true, doc: JSON.parse(doc) };
        } catch (e: any) {
            return { ok: false, error: `not valid JSON: ${e.message}` };
        }
    }
    if (doc && typeof doc === "object") return { ok: true, doc };
    return { ok: false, error: `no policy document (found ${show(doc)})` };
}

export type { ReportViolation, ResourceValidationArgs, StackValidationArgs };
