// ArchiveRestoreOperators: the Azure role for people restoring from the archive on the day the AWS
// account is lost (docs/operations.md "The AWS account is lost"), assigned to each configured Entra ID
// user or group (azure.restoreOperators), scoped to the archive container alone. It reads what
// `restore … --from archive` reads and creates only what it writes: its audit records.
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { prefixes } from "@supabase-backups/contracts";
import { roleName, stableGuid } from "./names";

const BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";

/**
 * Data actions of the archive restore-operator role. `blobs/read` is Get Blob (at a version too) and
 * List Blobs; `add/action` creates a blob and cannot overwrite one (overwriting needs `blobs/write`,
 * which the role does not hold) — the assignment's condition limits it to the audit prefix. No delete,
 * no `immutableStorage/runAsSuperUser` (Set Blob Immutability Policy), no tags write, no control-plane
 * action (so no listKeys and no container or account change).
 */
export const ARCHIVE_RESTORE_DATA_ACTIONS = [`${BLOBS}/read`, `${BLOBS}/tags/read`, `${BLOBS}/add/action`];

/** The blob path attribute of Azure ABAC conditions (the name within the container). */
export const BLOB_PATH_ATTRIBUTE = `@Resource[${BLOBS}:path]`;

/**
 * The role assignment's condition (Azure ABAC, version 2.0): creating a blob is allowed only under
 * the environment's audit prefix, where ArchiveAuditTrail writes (jobs/src/vault/archive-runs.ts);
 * every other action of the role is unaffected. A restore operator cannot plant a manifest or a blob
 * that a later restore would trust.
 */
export function auditWriteCondition(env: string): string {
    return `((!(ActionMatches{'${BLOBS}/add/action'})) OR (${BLOB_PATH_ATTRIBUTE} StringStartsWith '${prefixes.audit(env)}'))`;
}

/** The container's resource id (the role's scope): the account's id and the container's name. */
export function containerScope(accountId: string, container: string): string {
    return `${accountId}/blobServices/default/containers/${container}`;
}

export interface ArchiveRestoreOperatorsArgs {
    env: string;
    /** the archive storage account's resource id */
    storageAccountId: pulumi.Input<string>;
    container: string;
    operators: Array<{ objectId: string; type: "User" | "Group" }>;
}

export class ArchiveRestoreOperators extends pulumi.ComponentResource {
    readonly roleDefinition: authorization.RoleDefinition;
    readonly scope: pulumi.Output<string>;

    constructor(name: string, args: ArchiveRestoreOperatorsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:ArchiveRestoreOperators", name, {}, opts);
        this.scope = pulumi.output(args.storageAccountId).apply((id) => containerScope(id, args.container));
        this.roleDefinition = new authorization.RoleDefinition(
            `${name}-role`,
            {
                roleDefinitionId: stableGuid(`role-definition:${args.env}:restore-operator`),
                roleName: roleName(args.env, "restore-operator"),
                description: `supabase-backups ${args.env}: people restoring from the archive container (read, list, create audit records; no delete)`,
                roleType: "CustomRole",
                scope: this.scope,
                assignableScopes: [this.scope],
                permissions: [{ actions: [], notActions: [], dataActions: ARCHIVE_RESTORE_DATA_ACTIONS, notDataActions: [] }],
            },
            { parent: this },
        );
        for (const op of args.operators) {
            const id = op.objectId.toLowerCase();
            new authorization.RoleAssignment(
                `${name}-${id}`,
                {
                    roleAssignmentName: stableGuid(`role-assignment:${args.env}:restore-operator:${id}`),
                    principalId: id,
                    principalType: op.type,
                    roleDefinitionId: this.roleDefinition.id,
                    scope: this.scope,
                    condition: auditWriteCondition(args.env),
                    conditionVersion: "2.0",
                    description: "supabase-backups restore operator: restores from the archive (docs/operations.md)",
                },
                { parent: this },
            );
        }
        this.registerOutputs({ roleDefinitionId: this.roleDefinition.id, scope: this.scope });
    }
}
