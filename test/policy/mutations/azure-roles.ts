// Weakenings of who holds what on the Azure archive (the restore operators' role, the workload roles'
// assignments) in the real prod program: each must fail azure-archive-roles-least-privilege.
import type { DeclaredResource } from "../../../policy/evaluate";
import { add, type Mutant, one, props, T } from "./edit";

const P = "azure-archive-roles-least-privilege";
const BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";
const SA = "Microsoft.Storage/storageAccounts";
const ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const GROUP = "00000000-0000-4000-8000-000000000001";

const operatorRole = (rs: DeclaredResource[]) => props(rs, T.roleDef, "-archive-restore-operators-role");
const operatorData = (rs: DeclaredResource[]) => operatorRole(rs).permissions[0].dataActions as string[];
const operatorAssignment = (rs: DeclaredResource[]) => props(rs, ASSIGNMENT, `-archive-restore-operators-${GROUP}`);
const roleId = (rs: DeclaredResource[], suffix: string) => {
    const d = props(rs, T.roleDef, suffix);
    return `${d.scope}/providers/Microsoft.Authorization/roleDefinitions/${d.roleDefinitionId}`;
};
const principalOf = (rs: DeclaredResource[], suffix: string) => one(rs, "azure-native:managedidentity:UserAssignedIdentity", suffix).outputs!.principalId as string;
const assignTo = (rs: DeclaredResource[], name: string, roleDefinitionId: string, principalId: string, principalType: string, extra: Record<string, unknown> = {}) =>
    add(rs, ASSIGNMENT, name, { principalId, principalType, roleDefinitionId, scope: operatorRole(rs).scope, ...extra });

export const AZURE_ROLE_MUTANTS: Mutant[] = [
    { name: "Azure restore operators may delete blobs", policy: P, apply: (rs) => void operatorData(rs).push(`${BLOBS}/delete`) },
    { name: "Azure restore operators may delete blob versions", policy: P, apply: (rs) => void operatorData(rs).push(`${BLOBS}/deleteBlobVersion/action`) },
    { name: "Azure restore operators may set immutability policies (runAsSuperUser)", policy: P, apply: (rs) => void operatorData(rs).push(`${BLOBS}/immutableStorage/runAsSuperUser/action`) },
    { name: "Azure restore operators' data actions widened to blobs/*", policy: P, apply: (rs) => void (operatorRole(rs).permissions[0].dataActions = [`${BLOBS}/*`]) },
    { name: "Azure restore operators may overwrite blobs (blobs/write)", policy: P, apply: (rs) => void operatorData(rs).push(`${BLOBS}/write`) },
    { name: "Azure restore operators may retag blobs (the lifecycle deletes by tag)", policy: P, apply: (rs) => void operatorData(rs).push(`${BLOBS}/tags/write`) },
    { name: "Azure restore operators may list the account keys", policy: P, apply: (rs) => void (operatorRole(rs).permissions[0].actions = [`${SA}/listKeys/action`]) },
    { name: "Azure restore operators may write container immutability policies", policy: P, apply: (rs) => void (operatorRole(rs).permissions[0].actions = [`${SA}/blobServices/containers/immutabilityPolicies/write`]) },
    { name: "Azure restore operators' audit-prefix condition removed", policy: P, apply: (rs) => void delete operatorAssignment(rs).condition },
    {
        name: "Azure restore operators' condition widened to every env's audit records and beyond",
        policy: P,
        apply: (rs) => void (operatorAssignment(rs).condition = operatorAssignment(rs).condition.replace("'audit/prod/'", "''")),
    },
    { name: "Azure restore operators' condition ORed with true", policy: P, apply: (rs) => void (operatorAssignment(rs).condition = `(${operatorAssignment(rs).condition}) OR (@Environment[UtcNow] DateTimeGreaterThan '2000-01-01T00:00:00.0Z')`) },
    { name: "Azure the on-call group also gets the writer's role (runAsSuperUser, overwrite)", policy: P, apply: (rs) => assignTo(rs, "oncall-writer", roleId(rs, "-writer-azure-role"), GROUP, "Group") },
    { name: "Azure the writer's role assigned to the verifier identity", policy: P, apply: (rs) => void (props(rs, ASSIGNMENT, "-writer-azure-assignment").principalId = principalOf(rs, "-verifier-azure")) },
    { name: "Azure the verifier's role gains runAsSuperUser", policy: P, apply: (rs) => void props(rs, T.roleDef, "-verifier-azure-role").permissions[0].dataActions.push(`${BLOBS}/immutableStorage/runAsSuperUser/action`) },
    { name: "Azure the writer's role gains delete", policy: P, apply: (rs) => void props(rs, T.roleDef, "-writer-azure-role").permissions[0].dataActions.push(`${BLOBS}/delete`) },
    { name: "Azure gc's role gains permanentDelete (past soft delete)", policy: P, apply: (rs) => void props(rs, T.roleDef, "-gc-azure-role").permissions[0].dataActions.push(`${BLOBS}/permanentDelete/action`) },
    { name: "Azure the on-call group also gets gc's role (delete)", policy: P, apply: (rs) => assignTo(rs, "oncall-gc", roleId(rs, "-gc-azure-role"), GROUP, "Group") },
    { name: "Azure the verifier's role gains deleteBlobVersion", policy: P, apply: (rs) => void props(rs, T.roleDef, "-verifier-azure-role").permissions[0].dataActions.push(`${BLOBS}/deleteBlobVersion/action`) },
    {
        name: "Azure built-in Storage Blob Data Contributor on the container for the on-call group",
        policy: P,
        apply: (rs) => assignTo(rs, "oncall-contributor", "/subscriptions/0/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe", GROUP, "Group"),
    },
    {
        name: "Azure a new custom role with data actions * for a user, under a condition",
        policy: P,
        apply: (rs) => {
            add(rs, T.roleDef, "support", { roleDefinitionId: "11111111-1111-4111-8111-111111111111", roleName: "support-archive", scope: "/s", permissions: [{ actions: [], dataActions: ["*"] }] });
            assignTo(rs, "support-user", "/s/providers/Microsoft.Authorization/roleDefinitions/11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "User", { condition: operatorAssignment(rs).condition });
        },
    },
];
