// Azure role rights that matter on the archive, shared by iam-backup-identities-least-privilege (each
// role definition judged by the identity its name says) and azure-archive-roles-least-privilege (each
// assignment judged by who receives it).
import { asArray, globMatch } from "./common";

// A handful of data actions matter; listed here because iam-data is AWS only.
export const AZ_BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";
export const AZURE_SENSITIVE: Record<"delete" | "read-data" | "retention-bypass", string[]> = {
    delete: [`${AZ_BLOB}/delete`, `${AZ_BLOB}/deleteBlobVersion/action`, `${AZ_BLOB}/permanentDelete/action`],
    "read-data": [`${AZ_BLOB}/read`],
    "retention-bypass": [`${AZ_BLOB}/immutableStorage/runAsSuperUser/action`],
};
export const AZURE_CONFIG_ACTIONS = [
    "Microsoft.Storage/storageAccounts/write",
    "Microsoft.Storage/storageAccounts/delete",
    "Microsoft.Storage/storageAccounts/listKeys/action",
    "Microsoft.Storage/storageAccounts/regenerateKey/action",
    "Microsoft.Storage/storageAccounts/managementPolicies/write",
    "Microsoft.Storage/storageAccounts/blobServices/write",
    "Microsoft.Storage/storageAccounts/blobServices/containers/write",
    "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/write",
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/delete",
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleDefinitions/write",
];

export function azureAllowed(perms: any[], field: "dataActions" | "actions", action: string): boolean {
    const not = field === "dataActions" ? "notDataActions" : "notActions";
    return perms.some(
        (p) => asArray<string>(p?.[field]).some((a) => globMatch(a, action, true)) && !asArray<string>(p?.[not]).some((a) => globMatch(a, action, true)),
    );
}

/** Built-in Azure roles with data or configuration rights on storage (and the owner-type roles). */
export const AZURE_BUILTIN_DATA_ROLES: Record<string, string> = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": "Storage Blob Delegator",
};
