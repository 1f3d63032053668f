// Policy 11 (validateStack): the pieces only make a backup together. Every vault bucket has all its
// companion resources (matched by their `bucket` property, or by what that property depends on), its
// default encryption uses a key this stack declares, prod keeps a secondary archive in another cloud,
// and every CronJob runs as a service account mapped to the identity its job kind needs.
import { JOB_KINDS } from "@supabase-backups/contracts";
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import { BUCKET_COMPANIONS, type BackupPolicy, asArray, parseDocument, readPolicyConfig, show, T } from "../lib/common";
import { classifyIdentity, DEFAULT_IDENTITIES, type IdentityName } from "../lib/identities";
import { isKind } from "../lib/job-kinds";
import { companionsOf, isBucket, safe } from "../lib/bucket-state";

export interface StackPolicyConfig {
    requireSecondaryArchive: boolean;
    /** the vault bucket: the one that needs every companion */
    bucketName?: string;
    /** job kind → identity (docs/architecture.md "Security model"); "check" needs no cloud identity */
    jobIdentities: Record<string, IdentityName | "check">;
    identities: Record<IdentityName, string>;
}

/** docs/architecture.md "Security model": which identity each job kind runs as. */
export const DEFAULT_JOB_IDENTITIES: Record<string, string> = { dump: "writer", "sync-storage": "writer", verify: "verifier", "check-supabase": "check", gc: "gc", drill: "drill" };
const IRSA_ANNOTATION = "eks.amazonaws.com/role-arn";
const AZURE_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id";

export function stackProblems(args: Pick<StackValidationArgs, "resources">, cfg: StackPolicyConfig): { message: string; urn?: string }[] {
    const out: { message: string; urn?: string }[] = [];
    const rs = args.resources;
    const of = (type: string) => rs.filter((r) => r.type === type);

    // Vault buckets and their companions.
    const buckets = rs.filter((r) => isBucket(r.type) && (cfg.bucketName === undefined || [undefined, cfg.bucketName].includes(safe(() => r.props.bucket))));
    if (buckets.length === 0) out.push({ message: "the stack declares no S3 vault bucket (aws:s3/bucket:Bucket)" });
    const keyRefs = new Set<string>();
    for (const k of of(T.kmsKey)) for (const v of [safe(() => k.props.arn), safe(() => k.props.keyId), safe(() => k.props.id)]) if (typeof v === "string") keyRefs.add(v);
    for (const a of of(T.kmsAlias)) for (const v of [safe(() => a.props.name), safe(() => a.props.arn)]) if (typeof v === "string") keyRefs.add(v);
    for (const b of buckets) {
        const label = `bucket ${show(safe(() => b.props.bucket) ?? b.name)}`;
        const comps = companionsOf(b, rs);
        const missing = Object.entries(BUCKET_COMPANIONS).filter(([t]) => !comps.has(t)).map(([, n]) => n);
        if (missing.length) out.push({ urn: b.urn, message: `${label} has no ${missing.join(", ")} (matched by the companion's bucket property): without them the bucket is not a vault` });
        for (const [t, list] of comps) if (list.length > 1) out.push({ urn: b.urn, message: `${label} has ${list.length} ${BUCKET_COMPANIONS[t]} resources; they would overwrite each other` });
        for (const sse of comps.get(T.sse) ?? []) {
            for (const rule of asArray<any>(safe(() => sse.props.rules))) {
                const keyId = rule?.applyServerSideEncryptionByDefault?.kmsMasterKeyId;
                if (typeof keyId === "string" && keyRefs.size > 0 && !keyRefs.has(keyId)) {
                    out.push({ urn: sse.urn, message: `${label} encrypts with ${show(keyId)}, which is not a KMS key or alias this stack declares (customer-managed key expected)` });
                }
            }
        }
    }
    if (of(T.kmsKey).length === 0) out.push({ message: "the stack declares no customer-managed KMS key (aws:kms/key:Key)" });
    // A key without a policy gets AWS's default one, which has no destruction deny.
    for (const k of of(T.kmsKey)) {
        if (safe(() => k.props.policy) !== undefined) continue;
        const refs = [safe(() => k.props.keyId), safe(() => k.props.arn), safe(() => k.props.id)].filter((v) => typeof v === "string");
        const set = rs.some((r) => r.type === "aws:kms/keyPolicy:KeyPolicy" && (refs.includes(safe(() => r.props.keyId)) || (r.propertyDependencies?.keyId ?? []).some((d) => d.urn === k.urn)));
        if (!set) out.push({ urn: k.urn, message: `KMS key ${show(k.name)} has no key policy (inline or aws:kms/keyPolicy:KeyPolicy): AWS's default policy has no deny of key destruction` });
    }

    // Secondary archive in another cloud.
    if (cfg.requireSecondaryArchive) {
        const accounts = of(T.storageAccount);
        const containers = of(T.blobContainer);
        if (accounts.length === 0 || containers.length === 0) {
            out.push({
                message:
                    `this environment requires a secondary archive in another cloud, but the stack declares ${accounts.length} Azure storage account(s) and ` +
                    `${containers.length} blob container(s) (set supabase-backups:azure.enabled: true)`,
            });
        }
    }

    // CronJobs → service accounts → identities.
    const sas = of(T.serviceAccount);
    const uais = of(T.userAssignedIdentity);
    const u = (r: PolicyResource) => r.props as { resourceName?: string; name?: string };
    const roles = of(T.role);
    for (const cj of of(T.cronJob)) {
        const meta = safe(() => cj.props.metadata) ?? {};
        const label = `CronJob ${show(meta.name ?? cj.name)}`;
        const kind = JOB_KINDS.find((k) => isKind(String(meta?.labels?.["app.kubernetes.io/component"] ?? meta.name ?? cj.name), k));
        if (!kind) {
            out.push({ urn: cj.urn, message: `${label} runs no known job kind (${JOB_KINDS.join(", ")}); cannot tell which identity it needs` });
            continue;
        }
        const need = cfg.jobIdentities[kind];
        const podSpec = safe(() => cj.props.spec?.jobTemplate?.spec?.template?.spec) ?? {};
        const saName = podSpec.serviceAccountName;
        if (!saName || saName === "default") {
            out.push({ urn: cj.urn, message: `${label} (${kind}) runs as the namespace's default service account; expected the ${need} identity's service account` });
            continue;
        }
        const ns = meta.namespace;
        const sa = sas.find((s) => safe(() => s.props.metadata?.name) === saName && (ns === undefined || safe(() => s.props.metadata?.namespace) === ns));
        if (!sa) {
            out.push({ urn: cj.urn, message: `${label} (${kind}) uses service account ${show(saName)}, which the stack does not declare` });
            continue;
        }
        const roleArn: unknown = safe(() => sa.props.metadata?.annotations?.[IRSA_ANNOTATION]);
        if (need === "check") {
            if (typeof roleArn === "string") out.push({ urn: cj.urn, message: `${label} (${kind}) needs no cloud identity, but its service account ${show(saName)} assumes ${roleArn}` });
            continue;
        }
        if (typeof roleArn !== "string") {
            out.push({ urn: cj.urn, message: `${label} (${kind}) needs the ${need} identity, but service account ${show(saName)} has no ${IRSA_ANNOTATION} annotation` });
            continue;
        }
        const roleName = roleArn.split("/").pop() ?? "";
        const got = classifyIdentity([roleName], cfg.identities);
        if (got !== need) {
            out.push({ urn: cj.urn, message: `${label} (${kind}) needs the ${need} identity, but service account ${show(saName)} assumes ${roleArn} (${got ?? "no known identity"})` });
            continue;
        }
        const role = roles.find((r) => safe(() => r.props.name) === roleName || r.name === roleName);
        if (!role) {
            out.push({ urn: cj.urn, message: `${label} (${kind}): service account ${show(saName)} assumes ${roleArn}, a role this stack does not declare` });
            continue;
        }
        const trust = parseDocument(safe(() => role.props.assumeRolePolicy));
        const subject = `system:serviceaccount:${ns ?? safe(() => sa.props.metadata?.namespace)}:${saName}`;
        // Parsed, not substring-matched: an Allow with a Federated principal and StringEquals <issuer>:sub = subject.
        const trusts = (doc: any) =>
            asArray<any>(doc?.Statement).some(
                (st) =>
                    st?.Effect === "Allow" &&
                    asArray(st?.Principal?.Federated).length > 0 &&
                    Object.entries(st?.Condition?.StringEquals ?? {}).some(([k, v]) => /:sub$/.test(k) && asArray(v as any).length === 1 && asArray(v as any)[0] === subject),
            );
        if (trust.ok && !trusts(trust.doc)) {
            out.push({ urn: role.urn, message: `role ${roleName} does not trust ${subject} (IRSA sub condition), so ${label} could not assume it` });
        }

        // Azure workload identity, where the stack has the archive: the same identity on the other cloud.
        if (uais.length === 0) continue;
        const clientId: unknown = safe(() => sa.props.metadata?.annotations?.[AZURE_CLIENT_ID_ANNOTATION]);
        if (typeof clientId !== "string") {
            out.push({ urn: cj.urn, message: `${label} (${kind}) needs the ${need} identity in Azure too, but service account ${show(saName)} has no ${AZURE_CLIENT_ID_ANNOTATION} annotation` });
            continue;
        }
        const uai = uais.find((u) => safe(() => u.props.clientId) === clientId);
        if (!uai) continue; // client ids are unknown until the identities exist (preview of a new stack)
        const uaiName = String(safe(() => u(uai).resourceName) ?? safe(() => u(uai).name) ?? uai.name);
        const gotAz = classifyIdentity([uaiName], cfg.identities);
        if (gotAz !== need) {
            out.push({ urn: cj.urn, message: `${label} (${kind}) needs the ${need} identity, but service account ${show(saName)} uses the Azure identity ${uaiName} (${gotAz ?? "no known identity"})` });
            continue;
        }
        const federated = of(T.federatedCredential).some((f) => safe(() => f.props.resourceName) === uaiName && safe(() => f.props.subject) === subject);
        if (!federated) out.push({ urn: uai.urn, message: `Azure identity ${uaiName} has no federated credential for ${subject}, so ${label} could not use it` });
    }
    return out;
}

export const stackPolicy: BackupPolicy = {
    name: "stack-backup-completeness",
    description:
        "Every vault bucket has all its companion resources, encryption uses a key the stack declares, environments that require it keep a " +
        "secondary archive in another cloud (Azure), and every CronJob's service account maps to the identity its job needs.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Declare the vault through BackupVault (it creates every companion with bucket: <the vault bucket>); keep supabase-backups:azure.enabled: true in prod; " +
        "run each CronJob as its identity's service account (dump, sync-storage → writer; verify → verifier; gc → gc; check-supabase → no cloud role) " +
        "with the IRSA annotation of that role, and the role's trust policy naming system:serviceaccount:<namespace>:<service account>.",
    configSchema: {
        properties: {
            requireSecondaryArchive: { type: "boolean", default: false, description: "true in prod: a secondary archive in another cloud" },
            bucketName: { type: "string", minLength: 3, description: "the vault bucket (aws.bucketName)" },
            jobIdentities: {
                type: "object",
                properties: Object.fromEntries(JOB_KINDS.map((k) => [k, { type: "string", enum: ["writer", "verifier", "gc", "restoreOperator", "drill", "check"] }])),
                additionalProperties: false,
                default: DEFAULT_JOB_IDENTITIES,
            },
            identities: {
                type: "object",
                properties: Object.fromEntries(Object.entries(DEFAULT_IDENTITIES).map(([k, v]) => [k, { type: "string", minLength: 1, default: v }])),
                additionalProperties: false,
                default: {},
            },
        },
    },
    // prod, or any stack with the Azure archive on, must keep the archive
    configFromStack: (cfg) => ({ requireSecondaryArchive: cfg.env === "prod" || cfg.azure?.enabled === true, bucketName: cfg.aws.bucketName }),
    validateStack: (args, report) => {
        const cfg = readPolicyConfig<StackPolicyConfig>(stackPolicy, args);
        cfg.jobIdentities = { ...DEFAULT_JOB_IDENTITIES, ...cfg.jobIdentities } as StackPolicyConfig["jobIdentities"];
        for (const p of stackProblems(args, cfg)) report(p.message, p.urn);
    },
};
