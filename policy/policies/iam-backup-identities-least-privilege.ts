// Policy 8: the backup identities can do what docs/architecture.md "Security model" says and nothing that
// weakens the vault. Judged on the actual policy documents, with wildcards expanded against the AWS
// action catalog (lib/iam-catalog.ts), per action and per vault key: `s3:*`, `s3:Del*`, `s3:*Object*` are
// caught because they expand to the forbidden actions, not because of how they are spelled.
import {
    type BackupPolicy,
    globMatch,
    parseDocument,
    readPolicyConfig,
    asArray,
    show,
    T,
} from "../lib/common";
import { allows, categoryActions, type ForbiddenCategory, expandDocument, type Statement } from "../lib/iam-catalog";
import { classifyIdentity, DEFAULT_IDENTITIES, exactIdentities, type IdentityName, type KeyKind, sampleKeys } from "../lib/identities";
import { AZURE_BUILTIN_DATA_ROLES, AZURE_CONFIG_ACTIONS, AZURE_SENSITIVE, azureAllowed } from "../lib/azure-roles";

export interface IamConfig {
    /** environment name: the vault prefixes are `db/{env}/` … */
    env: string;
    /** the vault bucket (aws.bucketName); documents naming other buckets are judged for those too */
    bucketName: string;
    /** regular expressions matched against a role / policy name to tell which identity it is */
    identities: Record<IdentityName, string>;
}

interface Rule {
    category: ForbiddenCategory;
    /** undefined: on any resource; otherwise on these vault keys */
    keys?: KeyKind[];
    why: string;
}

const BASELINE: Rule[] = [
    { category: "config", why: "change bucket, key or IAM configuration (only the deployer may)" },
    { category: "retention-bypass", why: "bypass or lift retention" },
];

/** docs/architecture.md "Security model", as rules per identity. Unrecognised roles get the baseline. */
export const IDENTITY_RULES: Record<IdentityName | "other", Rule[]> = {
    writer: [
        ...BASELINE,
        { category: "delete", why: "delete anything" },
        { category: "read-data", keys: ["dbDump", "dbSchema", "storageBlob"], why: "read dumps or storage blobs back" },
        { category: "put-object", keys: ["verify", "audit", "drill", "otherEnvDb"], why: "write outside db/{env}/ and storage/{env}/ (it could forge verification, audit or drill records)" },
        { category: "restore-request", why: "request restores of archived objects (only the verifier, the restore operator and the drill do)" },
    ],
    verifier: [
        ...BASELINE,
        { category: "delete", why: "delete anything" },
        { category: "put-object", keys: ["dbDump", "storageBlob", "audit", "drill"], why: "write outside verify/{env}/" },
        { category: "restore-request", keys: ["storageBlob", "storageRunManifest", "verify", "audit", "otherEnvDb"], why: "request restores outside db/{env}/" },
    ],
    restoreOperator: [
        ...BASELINE,
        { category: "delete", why: "delete anything" },
        { category: "put-object", keys: ["dbDump", "storageBlob", "verify", "drill"], why: "write outside audit/{env}/" },
        { category: "restore-request", keys: ["storageBlob", "storageRunManifest", "verify", "audit", "otherEnvDb"], why: "request restores outside db/{env}/" },
    ],
    // A drill restores like an operator (read the env) and records the drill and its restores.
    drill: [
        ...BASELINE,
        { category: "delete", why: "delete anything" },
        { category: "put-object", keys: ["dbDump", "storageBlob", "storageRunManifest", "verify", "otherEnvDb"], why: "write outside drill/{env}/ and audit/{env}/ (it could forge backups or verification records)" },
        { category: "restore-request", keys: ["storageBlob", "storageRunManifest", "verify", "audit", "otherEnvDb"], why: "request restores outside db/{env}/" },
    ],
    gc: [
        ...BASELINE,
        { category: "delete", keys: ["dbDump", "dbSchema", "storageRunManifest", "verify", "audit", "drill"], why: "delete anything but unreferenced storage blobs" },
        { category: "put-object", keys: ["dbDump", "storageBlob", "storageRunManifest", "verify", "drill"], why: "write anything but its own audit records (audit/{env}/)" },
        { category: "restore-request", why: "request restores of archived objects" },
    ],
    // Deny by default: any other role, user, group or customer-managed policy gets no vault rights at all.
    other: [
        ...BASELINE,
        { category: "delete", why: "delete anything (it is not one of the stack's identities)" },
        { category: "read-data", keys: ["dbDump", "dbSchema", "storageBlob", "storageRunManifest", "verify", "audit", "drill"], why: "read the vault (it is not one of the stack's identities)" },
        { category: "put-object", keys: ["dbDump", "storageBlob", "verify", "audit", "drill"], why: "write to the vault (it is not one of the stack's identities)" },
        { category: "restore-request", why: "request restores of archived objects (it is not one of the stack's identities)" },
    ],
};

/** S3 bucket names a document's resources name literally (besides the configured vault bucket). */
function bucketsNamed(statements: Statement[]): string[] {
    const out = new Set<string>();
    for (const s of statements) {
        for (const r of [...(s.resources ?? []), ...(s.notResources ?? [])]) {
            const m = /^arn:aws:s3:::([^/*?]+)/.exec(r);
            if (m) out.add(m[1]);
        }
    }
    return [...out];
}

/** How a sample key is shown in messages: its area, not the made-up run id. */
function areaLabel(kind: KeyKind, env: string): string {
    return {
        dbDump: `dumps (db/${env}/…/dump)`,
        dbSchema: `schema dumps (db/${env}/…/schema.sql)`,
        storageBlob: `storage blobs (storage/${env}/blobs/…)`,
        storageRunManifest: `storage run manifests (storage/${env}/runs/…)`,
        verify: `verification records (verify/${env}/…)`,
        audit: `audit records (audit/${env}/…)`,
        drill: `drill records (drill/${env}/…)`,
        otherEnvDb: `another environment's prefix (db/${env}-other/…)`,
    }[kind];
}

/** Actions that name the damage most plainly are listed first in messages. */
const HEADLINE = /^(s3:(PutBucketPolicy|DeleteBucketPolicy|PutBucketObjectLockConfiguration|PutLifecycleConfiguration|PutBucketVersioning|PutEncryptionConfiguration|PutBucketPublicAccessBlock|DeleteBucket|PutBucketAcl|PutObjectAcl|DeleteObject|DeleteObjectVersion|GetObject|GetObjectVersion|BypassGovernanceRetention|PutObject)|kms:(ScheduleKeyDeletion|DisableKey|DisableKeyRotation|PutKeyPolicy|CreateGrant)|iam:(PassRole|PutRolePolicy|AttachRolePolicy|CreateAccessKey))$/;

/** Judge one identity policy document; returns one message per rule broken, naming the actions. */
export async function judgeIdentityDocument(doc: unknown, identity: IdentityName | undefined, cfg: IamConfig): Promise<string[]> {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`policy document is ${parsed.error}`];
    const { statements, unknown } = await expandDocument(parsed.doc);
    const cats = await categoryActions();
    const keys = sampleKeys(cfg.env);
    const buckets = [...new Set([cfg.bucketName, ...bucketsNamed(statements)])];
    const who = identity ?? "other";
    const out: string[] = [];
    for (const rule of IDENTITY_RULES[who]) {
        const found: { id: string; text: string }[] = [];
        for (const action of cats[rule.category]) {
            if (!rule.keys) {
                const st = allows(statements, action.id);
                if (st) found.push({ id: action.id, text: `${action.id}${st.sid ? ` (statement "${st.sid}")` : ""}` });
                continue;
            }
            const hit = rule.keys.filter((k) => buckets.some((b) => allows(statements, action.id, `arn:aws:s3:::${b}/${keys[k]}`)));
            if (hit.length) found.push({ id: action.id, text: `${action.id} on ${hit.map((k) => areaLabel(k, cfg.env)).join(", ")}` });
        }
        if (found.length) {
            found.sort((a, b) => Number(HEADLINE.test(b.id)) - Number(HEADLINE.test(a.id)));
            const texts = found.map((f) => f.text);
            const shown = texts.length > 8 ? [...texts.slice(0, 8), `… and ${texts.length - 8} more`] : texts;
            out.push(`${identity ?? "this identity"} must never ${rule.why}, but the document allows ${shown.join("; ")}`);
        }
    }
    if (unknown.length) out.push(`actions not in the AWS catalog (typos grant nothing and hide intent): ${unknown.join(", ")}`);
    return out;
}

// ---- Azure custom roles: the sensitive actions and azureAllowed live in policy/lib/azure-roles.ts.
export { AZURE_BUILTIN_DATA_ROLES, AZURE_CONFIG_ACTIONS, AZURE_SENSITIVE };

export function judgeAzureRole(props: any, identity: IdentityName | undefined): string[] {
    const perms = asArray<any>(props?.permissions);
    const out: string[] = [];
    const cfgHits = AZURE_CONFIG_ACTIONS.filter((a) => azureAllowed(perms, "actions", a));
    if (cfgHits.length) out.push(`${identity ?? "this role"} must never change storage configuration, but the role allows ${cfgHits.join(", ")}`);
    // Set Blob Immutability Policy needs runAsSuperUser: the writer must hold it to put each version's
    // retain-until (the Azure counterpart of s3:PutObjectRetention). Nobody else may: with it an
    // unlocked policy can be shortened or deleted.
    const bypass = identity === "writer" ? [] : AZURE_SENSITIVE["retention-bypass"].filter((a) => azureAllowed(perms, "dataActions", a));
    if (bypass.length) out.push(`${identity ?? "this role"} must never change or remove immutability policies, but the role allows ${bypass.join(", ")}`);
    // gc deletes blobs and versions; nobody may permanently delete (it skips soft delete).
    const del = AZURE_SENSITIVE.delete.filter((a) => azureAllowed(perms, "dataActions", a) && (identity !== "gc" || /permanentDelete/.test(a)));
    if (del.length) out.push(`${identity ?? "this role (not one of the stack's identities)"} must never delete${identity === "gc" ? " permanently" : ""}, but the role allows ${del.join(", ")}`);
    if (!identity) {
        const read = AZURE_SENSITIVE["read-data"].filter((a) => azureAllowed(perms, "dataActions", a));
        if (read.length) out.push(`this role is not one of the stack's identities and must not read the archive, but allows ${read.join(", ")}`);
    }
    if (identity === "writer") {
        const read = AZURE_SENSITIVE["read-data"].filter((a) => azureAllowed(perms, "dataActions", a));
        if (read.length) out.push(`writer must never read dumps back, but the role allows ${read.join(", ")}`);
    }
    return out;
}

export const iamPolicy: BackupPolicy = {
    name: "iam-backup-identities-least-privilege",
    description:
        "The writer can never delete, read dumps or blobs, change bucket/key configuration or bypass retention; the verifier, gc and " +
        "restore operator stay within the security table of docs/architecture.md. Judged on the policy documents with wildcards expanded against the AWS action catalog.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Grant exact actions on exact prefixes (BackupIdentities): writer s3:PutObject, s3:PutObjectRetention, s3:PutObjectTagging on " +
        "db/{env}/* and storage/{env}/*, s3:ListBucket, s3:GetObject only on storage/{env}/runs/*, kms:GenerateDataKey/Encrypt; " +
        "never s3:* or prefix wildcards like s3:Del*/s3:*Object* that expand to deletes, reads or configuration changes. " +
        "Attach no AWS-managed policies to backup roles.",
    configSchema: {
        properties: {
            env: { type: "string", pattern: "^[a-z][a-z0-9-]{1,19}$", description: "environment name (vault prefixes)" },
            bucketName: { type: "string", minLength: 3, description: "the vault bucket (aws.bucketName)" },
            identities: {
                type: "object",
                properties: Object.fromEntries(Object.entries(DEFAULT_IDENTITIES).map(([k, v]) => [k, { type: "string", minLength: 1, default: v }])),
                additionalProperties: false,
                default: {},
                description: "regular expressions telling which role is which identity",
            },
        },
        required: ["env", "bucketName"],
    },
    // Exactly the stack's role names: a new role named "…-writer-2" is not the writer.
    configFromStack: (cfg) => ({ env: cfg.env, bucketName: cfg.aws.bucketName, identities: exactIdentities(cfg.env) }),
    validateResource: async (args, report) => {
        if (!IAM_TYPES.includes(args.type)) return;
        const cfg = readPolicyConfig<IamConfig>(iamPolicy, args);
        const p = args.props as any;
        const awsManaged = (arn: unknown) => typeof arn === "string" && /^arn:aws[a-z-]*:iam::aws:policy\//.test(arn);
        if (args.type === T.rolePolicy) {
            // The role's own name decides: the resource's name is the author's to choose.
            const identity = classifyIdentity([p.role], cfg.identities);
            for (const m of await judgeIdentityDocument(p.policy, identity, cfg)) report(m);
        } else if (args.type === T.iamPolicy || args.type === USER_POLICY || args.type === GROUP_POLICY) {
            // The program declares no customer-managed, user or group policy: judged as "other" whatever it is named.
            for (const m of await judgeIdentityDocument(p.policy, undefined, cfg)) report(m);
        } else if (args.type === T.role) {
            const identity = classifyIdentity([p.name], cfg.identities);
            for (const ip of asArray<any>(p.inlinePolicies)) {
                if (ip?.policy === undefined) continue;
                for (const m of await judgeIdentityDocument(ip.policy, identity, cfg)) report(`inline policy ${show(ip.name)}: ${m}`);
            }
            for (const arn of asArray<string>(p.managedPolicyArns)) {
                if (awsManaged(arn)) report(`AWS-managed policy ${arn} attached: it cannot be judged and is broader than any backup identity needs`);
            }
        } else if (ATTACHMENT_TYPES.includes(args.type)) {
            const to = [p.role, p.user, p.group, ...asArray(p.roles), ...asArray(p.users), ...asArray(p.groups)].filter((x) => typeof x === "string");
            if (awsManaged(p.policyArn)) report(`AWS-managed policy ${p.policyArn} attached to ${to.join(", ") || "?"}: it cannot be judged and is broader than any backup identity needs`);
        } else if (args.type === T.roleDefinition) {
            const identity = classifyIdentity([p.roleName], cfg.identities);
            for (const m of judgeAzureRole(p, identity)) report(m);
        } else if (args.type === ROLE_ASSIGNMENT) {
            const guid = String(p.roleDefinitionId ?? "").split("/").pop()?.toLowerCase() ?? "";
            if (AZURE_BUILTIN_DATA_ROLES[guid]) report(`role assignment of the built-in role ${AZURE_BUILTIN_DATA_ROLES[guid]} (${guid}): it grants data or configuration rights on the archive beyond any backup identity's custom role`);
        }
    },
};

const USER_POLICY = "aws:iam/userPolicy:UserPolicy";
const GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy";
const ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const ATTACHMENT_TYPES = [T.rolePolicyAttachment, "aws:iam/userPolicyAttachment:UserPolicyAttachment", "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment"] as string[];
const IAM_TYPES = [T.rolePolicy, T.role, T.iamPolicy, USER_POLICY, GROUP_POLICY, ...ATTACHMENT_TYPES, T.roleDefinition, ROLE_ASSIGNMENT] as string[];
