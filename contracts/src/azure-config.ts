// The stack file's `azure` section: the archive account (the secondary copy in Azure Blob), the
// cluster's OIDC issuer for the workloads' federated identities, and the people who restore from it.
import { Type } from "@sinclair/typebox";
import { Enum, strict } from "./schema-kit";

export const AzureRestoreOperatorSchema = Type.Object(
    {
        objectId: Type.String({
            pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            description: "the Entra ID object id of the user or group (az ad group show -g <name> --query id)",
        }),
        type: Enum(["User", "Group"] as const, { default: "Group", description: "the principal's type: a group (the on-call rota) or one user" }),
    },
    strict,
);

export const AzureSchema = Type.Object(
    {
        enabled: Type.Boolean({ description: "keep a secondary copy in Azure Blob" }),
        location: Type.String({ minLength: 3, default: "southeastasia" }),
        resourceGroupName: Type.String({ pattern: "^[-\\w._()]{1,90}$" }),
        accountName: Type.String({ pattern: "^[a-z0-9]{3,24}$", description: "storage account name, 3-24 lowercase letters/digits" }),
        container: Type.String({ pattern: "^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", default: "backups" }),
        oidcIssuerUrl: Type.String({ format: "uri", description: "the Kubernetes cluster's OIDC issuer, for federated credentials" }),
        restoreOperators: Type.Array(AzureRestoreOperatorSchema, {
            default: [],
            description:
                "Entra ID users or groups who restore from the archive when the AWS account is lost: each gets the archive restore-operator role on the container (read, read tags, list, and create-only writes of audit records under audit/<env>/; no delete, no immutability change, no keys)",
        }),
    },
    strict,
);
