// Policy (validateStack): who gets which rights on the Azure archive. Every role assignment the stack
// declares is judged by what its role definition grants and to whom: nobody may permanently delete, use
// a wildcard, touch account keys or change immutability. Two workload identities keep what their jobs
// need: the writer alone runAsSuperUser (each version's Locked retain-until), overwrites and tag writes;
// gc alone delete and deleteBlobVersion (unreferenced content-addressed blobs; Azure refuses a locked
// version). Anyone else may create blobs only under an audit prefix (the restore operators' audit
// records, by an ABAC condition). The deployer holds its rights from outside the stack (its subscription
// role) and is not judged here.
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import { type BackupPolicy, asArray, show, T } from "../lib/common";
import { AZ_BLOB, AZURE_BUILTIN_DATA_ROLES, AZURE_SENSITIVE, azureAllowed } from "../lib/azure-roles";
import { serviceAccountName } from "../lib/identities";

const ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const SA = "Microsoft.Storage/storageAccounts";

/** What nobody the stack assigns a role to may hold, by what it would let them do to the archive. */
export const FORBIDDEN: Record<string, { field: "dataActions" | "actions"; actions: string[] }> = {
    "delete permanently (past soft delete)": { field: "dataActions", actions: AZURE_SENSITIVE.delete.filter((x) => /permanentDelete/.test(x)) },
    "change or remove immutability (container policies, the account's default policy, version-level immutability)": {
        field: "actions",
        actions: [`${SA}/blobServices/containers/immutabilityPolicies/write`, `${SA}/blobServices/containers/immutabilityPolicies/delete`, `${SA}/write`, `${SA}/blobServices/containers/write`],
    },
    "use the account keys or sign SAS with them": { field: "actions", actions: [`${SA}/listKeys/action`, `${SA}/regenerateKey/action`, `${SA}/listAccountSas/action`, `${SA}/listServiceSas/action`] },
};
/** Only the writer: Set Blob Immutability Policy / legal hold (it sets Locked retain-until on each version). */
const RETENTION_BYPASS = AZURE_SENSITIVE["retention-bypass"];
/** Only the writer: overwrite a blob (or its tier) and write index tags (the lifecycle deletes by tag). */
const WRITER_ONLY_WRITES = [`${AZ_BLOB}/write`, `${AZ_BLOB}/tags/write`];
/** Only gc: delete blobs and versions (soft delete keeps them; Azure refuses a version still locked). */
const GC_ONLY_DELETES = AZURE_SENSITIVE.delete.filter((x) => !/permanentDelete/.test(x));

/** The workload identities with rights nobody else may hold. */
export type Workload = "writer" | "gc";
const WORKLOADS: Workload[] = ["writer", "gc"];
const CREATE = `${AZ_BLOB}/add/action`;

/** The condition an assignment needs when its role may create blobs: creation under audit/<env>/ only. */
export const AUDIT_CREATE_CONDITION = new RegExp(
    `^\\(\\(!\\(ActionMatches\\{'${CREATE.replace(/\//g, "\\/")}'\\}\\)\\) OR \\(@Resource\\[${AZ_BLOB.replace(/\//g, "\\/")}:path\\] StringStartsWith 'audit\\/[a-z0-9-]+\\/'\\)\\)$`,
);

function normalizeCondition(c: string): string {
    return c.replace(/\s+/g, " ").replace(/\(\s/g, "(").replace(/\s\)/g, ")").trim();
}

/** Role definitions by their GUID name, and each workload's managed identities (by their federated credential's subject). */
function stackFacts(rs: PolicyResource[]) {
    const defs = new Map<string, PolicyResource>();
    for (const d of rs.filter((r) => r.type === T.roleDefinition)) {
        const guid = String(d.props.roleDefinitionId ?? d.props.name ?? "").toLowerCase();
        if (guid) defs.set(guid, d);
    }
    const identities = {} as Record<Workload, PolicyResource[]>;
    for (const w of WORKLOADS) {
        const subject = new RegExp(`^system:serviceaccount:[^:]+:${serviceAccountName(w)}$`);
        const names = new Set(rs.filter((r) => r.type === T.federatedCredential && subject.test(String(r.props.subject ?? ""))).map((r) => r.props.resourceName));
        identities[w] = rs.filter((r) => r.type === T.userAssignedIdentity && names.has(r.props.resourceName ?? r.props.name));
    }
    return { defs, identities };
}

function definitionOf(a: PolicyResource, defs: Map<string, PolicyResource>): PolicyResource | undefined {
    const guid = String(a.props.roleDefinitionId ?? "").split("/").pop()?.toLowerCase();
    if (guid && defs.has(guid)) return defs.get(guid);
    // Before the definition exists its id is unknown: the assignment's dependency names it.
    if (a.props.roleDefinitionId === undefined) return a.dependencies.find((d) => d.type === T.roleDefinition);
    return undefined;
}

/** The workload identity the assignment's principal is (its principalId, or its dependency while unknown), if any. */
function workloadOf(a: PolicyResource, identities: Record<Workload, PolicyResource[]>): Workload | undefined {
    if (a.props.principalType !== undefined && a.props.principalType !== "ServicePrincipal") return undefined;
    const pid = a.props.principalId;
    const is = (ids: PolicyResource[]) =>
        pid === undefined ? a.dependencies.some((d) => ids.includes(d)) : ids.some((w) => typeof w.props.principalId === "string" && w.props.principalId.toLowerCase() === String(pid).toLowerCase());
    return WORKLOADS.find((w) => is(identities[w]));
}

export function assignmentProblems(a: PolicyResource, def: PolicyResource | undefined, workload: Workload | undefined): string[] {
    const who = `${show(a.props.principalType ?? "principal")} ${show(a.props.principalId)}`;
    if (!def) {
        const guid = String(a.props.roleDefinitionId ?? "").split("/").pop()?.toLowerCase() ?? "";
        const builtin = AZURE_BUILTIN_DATA_ROLES[guid];
        return [`assigns ${builtin ? `the built-in role ${builtin}` : `a role the stack does not define (${show(a.props.roleDefinitionId)})`} to ${who}: its rights on the archive cannot be judged`];
    }
    const perms = asArray<any>(def.props.permissions);
    const role = show(def.props.roleName ?? def.name);
    const out: string[] = [];
    const wild = perms.flatMap((p) => [...asArray<string>(p?.dataActions), ...asArray<string>(p?.actions)]).filter((x) => /[*?]/.test(String(x)));
    if (wild.length) out.push(`role ${role}, assigned to ${who}, grants wildcard actions ${wild.join(", ")}: they include delete and immutability changes`);
    for (const [what, { field, actions }] of Object.entries(FORBIDDEN)) {
        const hits = actions.filter((x) => azureAllowed(perms, field, x));
        if (hits.length) out.push(`role ${role}, assigned to ${who}, lets it ${what}: ${hits.join(", ")}`);
    }
    if (workload !== "gc") {
        const del = GC_ONLY_DELETES.filter((x) => azureAllowed(perms, "dataActions", x));
        if (del.length) out.push(`role ${role} lets ${who}, which is not the gc workload identity, delete: ${del.join(", ")}`);
    }
    if (workload === "writer") return out;
    const bypass = RETENTION_BYPASS.filter((x) => azureAllowed(perms, "dataActions", x));
    if (bypass.length) out.push(`role ${role} lets ${who}, which is not the writer workload identity, set or remove blob immutability policies and legal holds: ${bypass.join(", ")}`);
    const writes = WRITER_ONLY_WRITES.filter((x) => azureAllowed(perms, "dataActions", x));
    if (writes.length) out.push(`role ${role} lets ${who}, which is not the writer workload identity, overwrite blobs or their tags: ${writes.join(", ")}`);
    const cond = typeof a.props.condition === "string" ? normalizeCondition(a.props.condition) : undefined;
    const okCondition = cond !== undefined && AUDIT_CREATE_CONDITION.test(cond) && [undefined, "2.0"].includes(a.props.conditionVersion);
    if (azureAllowed(perms, "dataActions", CREATE) && !okCondition) {
        out.push(`role ${role} lets ${who} create blobs anywhere in the archive (${CREATE}); anyone but the writer may create only audit records: the assignment needs the condition that limits creation to audit/<env>/ (found ${show(a.props.condition)})`);
    }
    return out;
}

export function archiveRoleProblems(args: Pick<StackValidationArgs, "resources">): { message: string; urn?: string }[] {
    const rs = args.resources;
    const { defs, identities } = stackFacts(rs);
    const out: { message: string; urn?: string }[] = [];
    const assigned = new Map<PolicyResource, boolean[]>();
    for (const a of rs.filter((r) => r.type === ROLE_ASSIGNMENT)) {
        const def = definitionOf(a, defs);
        const workload = workloadOf(a, identities);
        if (def) assigned.set(def, [...(assigned.get(def) ?? []), workload === "writer"]);
        for (const m of assignmentProblems(a, def, workload)) out.push({ message: m, urn: a.urn });
    }
    // A definition the stack declares but does not assign to the writer still must not carry the bypass.
    for (const d of defs.values()) {
        const to = assigned.get(d) ?? [];
        const perms = asArray<any>(d.props.permissions);
        const bypass = RETENTION_BYPASS.filter((x) => azureAllowed(perms, "dataActions", x));
        if (bypass.length && (to.length === 0 || to.some((w) => !w))) {
            out.push({ urn: d.urn, message: `role ${show(d.props.roleName ?? d.name)} holds ${bypass.join(", ")} but is not assigned to the writer workload identity alone` });
        }
    }
    return out;
}

export const archiveRolesPolicy: BackupPolicy = {
    name: "azure-archive-roles-least-privilege",
    description:
        "Every Azure role assignment the stack declares on the archive: no permanent delete, no wildcard actions, no account keys, no immutability change for anyone; " +
        "Set Blob Immutability Policy, overwrites and tag writes only for the writer workload identity, delete only for gc's; anyone else may create blobs only under audit/<env>/ (ABAC condition).",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Assign only the stack's custom roles (BackupIdentities, ArchiveRestoreOperators). Give people the restore-operator role (blobs/read, blobs/tags/read, blobs/add/action) " +
        "through azure.restoreOperators, which adds the condition ((!(ActionMatches{'…/blobs/add/action'})) OR (@Resource[…/blobs:path] StringStartsWith 'audit/<env>/')). " +
        "Never grant permanentDelete, delete or deleteBlobVersion (but to gc), immutableStorage/runAsSuperUser (but to the writer), immutabilityPolicies/write|delete, storageAccounts/write, listKeys or a wildcard.",
    validateStack: (args: StackValidationArgs, report) => {
        for (const p of archiveRoleProblems(args)) report(p.message, p.urn);
    },
};
