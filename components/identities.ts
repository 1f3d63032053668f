// BackupIdentities: who may do what (docs/architecture.md "Security model"). AWS roles with IRSA
// trust for the workloads and an MFA-only role for people restoring; Azure user-assigned identities
// with federated credentials and custom roles holding only the data actions each workload needs.
import * as pulumi from "@pulumi/pulumi";
import * as iam from "@pulumi/aws/iam";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as authorization from "@pulumi/azure-native/authorization";
import {
    drillPolicy,
    gcPolicy,
    irsaTrustPolicy,
    restoreOperatorPolicy,
    restoreOperatorTrustPolicy,
    verifierPolicy,
    writerPolicy,
    type PolicyDocument,
    type VaultPolicyContext,
} from "./iam-policies";
import { RECORD_SIGNERS, recordSigningPolicy, type SignedRecords } from "./record-signing";
import { CLOUD_IDENTITIES, roleName, serviceAccountName, stableGuid, type CloudIdentity } from "./names";

const BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";

/**
 * Azure data actions per identity. The writer can add and write blobs, tag them and set their
 * (version-level) immutability policy; it cannot read (List Blobs needs `blobs/read`, so it does not
 * list either: the primary vault decides what exists) and cannot delete.
 */
export const AZURE_DATA_ACTIONS: Record<CloudIdentity, string[]> = {
    writer: [
        `${BLOBS}/write`,
        `${BLOBS}/add/action`,
        `${BLOBS}/tags/write`,
        // Set Blob Immutability Policy (retain-until on each version) under Entra ID auth. The jobs
        // must set mode Locked: a Locked policy can only be extended, by anyone.
        `${BLOBS}/immutableStorage/runAsSuperUser/action`,
    ],
    verifier: [`${BLOBS}/read`, `${BLOBS}/tags/read`],
    // gc collects the archive's content-addressed storage blobs too (jobs/src/commands/gc/archive.ts:
    // no lifecycle rule may, they carry no tier tag): it lists and reads the storage manifests there and
    // deletes blobs and their versions. Never permanently (soft delete still holds them), and never past
    // an immutability policy: it has no runAsSuperUser, and Azure refuses deleting a locked version.
    gc: [`${BLOBS}/read`, `${BLOBS}/delete`, `${BLOBS}/deleteBlobVersion/action`, `${BLOBS}/tags/read`],
    // The drills restore from the S3 vault; like gc, the identity exists on both clouds with tags read only.
    drill: [`${BLOBS}/tags/read`],
};

export interface AzureIdentityArgs {
    resourceGroupName: pulumi.Input<string>;
    location: string;
    /** the storage account's resource id: the scope of the custom roles */
    storageAccountId: pulumi.Input<string>;
    /** the Kubernetes cluster's OIDC issuer URL */
    oidcIssuerUrl: string;
}

export interface BackupIdentitiesArgs {
    env: string;
    accountId: string;
    region: string;
    bucketName: string;
    kmsKeyArn: pulumi.Input<string>;
    oidcProviderArn: string;
    namespace: string;
    restoreOperatorArns: string[];
    /** the key that signs verification records: the verifier alone gets kms:Sign on it */
    recordSigningKeyArn?: pulumi.Input<string>;
    /** the key that signs drill records (drills configured): the drill identity alone gets kms:Sign on it */
    drillSigningKeyArn?: pulumi.Input<string>;
    azure?: AzureIdentityArgs;
    tags?: Record<string, string>;
}

export interface AzureIdentity {
    clientId: pulumi.Output<string>;
    principalId: pulumi.Output<string>;
}

export const POLICY_BUILDERS: Record<CloudIdentity | "restore-operator", (c: VaultPolicyContext) => PolicyDocument> = {
    writer: writerPolicy,
    verifier: verifierPolicy,
    gc: gcPolicy,
    drill: drillPolicy,
    "restore-operator": restoreOperatorPolicy,
};

export class BackupIdentities extends pulumi.ComponentResource {
    readonly roles: Record<CloudIdentity, iam.Role>;
    readonly roleArns: Record<CloudIdentity, pulumi.Output<string>>;
    readonly restoreOperatorRole?: iam.Role;
    readonly azure?: Record<CloudIdentity, AzureIdentity>;

    constructor(name: string, args: BackupIdentitiesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:BackupIdentities", name, {}, opts);
        const tags = { project: "supabase-backups", env: args.env, ...args.tags };
        const context = pulumi.output(args.kmsKeyArn).apply(
            (kmsKeyArn): VaultPolicyContext => ({ bucket: args.bucketName, env: args.env, region: args.region, accountId: args.accountId, kmsKeyArn }),
        );

        const roles = {} as Record<CloudIdentity, iam.Role>;
        for (const id of CLOUD_IDENTITIES) {
            const role = new iam.Role(
                `${name}-${id}`,
                {
                    name: roleName(args.env, id),
                    description: `supabase-backups ${args.env}: ${id} (service account ${args.namespace}/${serviceAccountName(id)})`,
                    assumeRolePolicy: JSON.stringify(irsaTrustPolicy(args.oidcProviderArn, args.namespace, serviceAccountName(id))),
                    maxSessionDuration: 3600,
                    tags,
                },
                { parent: this },
            );
            new iam.RolePolicy(
                `${name}-${id}-vault`,
                { name: "vault", role: role.id, policy: context.apply((c) => JSON.stringify(POLICY_BUILDERS[id](c))) },
                { parent: this },
            );
            roles[id] = role;
        }
        this.roles = roles;
        if (args.recordSigningKeyArn) this.recordSigning(name, args.recordSigningKeyArn, "verify");
        if (args.drillSigningKeyArn) this.recordSigning(name, args.drillSigningKeyArn, "drill");
        this.roleArns = Object.fromEntries(CLOUD_IDENTITIES.map((id) => [id, roles[id].arn])) as Record<CloudIdentity, pulumi.Output<string>>;

        if (args.restoreOperatorArns.length > 0) {
            this.restoreOperatorRole = new iam.Role(
                `${name}-restore-operator`,
                {
                    name: roleName(args.env, "restore-operator"),
                    description: `supabase-backups ${args.env}: people restoring (MFA required)`,
                    assumeRolePolicy: JSON.stringify(restoreOperatorTrustPolicy(args.restoreOperatorArns)),
                    maxSessionDuration: 3600,
                    tags,
                },
                { parent: this },
            );
            new iam.RolePolicy(
                `${name}-restore-operator-vault`,
                {
                    name: "vault",
                    role: this.restoreOperatorRole.id,
                    policy: context.apply((c) => JSON.stringify(restoreOperatorPolicy(c))),
                },
                { parent: this },
            );
        }

        if (args.azure) {
            const az = args.azure;
            const out = {} as Record<CloudIdentity, AzureIdentity>;
            for (const id of CLOUD_IDENTITIES) {
                const identity = new managedidentity.UserAssignedIdentity(
                    `${name}-${id}-azure`,
                    { resourceName: roleName(args.env, id), resourceGroupName: az.resourceGroupName, location: az.location, tags },
                    { parent: this },
                );
                new managedidentity.FederatedIdentityCredential(
                    `${name}-${id}-federated`,
                    {
                        resourceName: identity.name,
                        resourceGroupName: az.resourceGroupName,
                        federatedIdentityCredentialResourceName: "kubernetes",
                        issuer: az.oidcIssuerUrl,
                        subject: `system:serviceaccount:${args.namespace}:${serviceAccountName(id)}`,
                        audiences: ["api://AzureADTokenExchange"],
                    },
                    { parent: this },
                );
                const role = new authorization.RoleDefinition(
                    `${name}-${id}-azure-role`,
                    {
                        roleDefinitionId: stableGuid(`role-definition:${args.env}:${id}`),
                        roleName: roleName(args.env, id),
                        description: `supabase-backups ${args.env}: ${id} data actions on the archive account`,
                        roleType: "CustomRole",
                        scope: az.storageAccountId,
                        assignableScopes: [az.storageAccountId],
                        permissions: [{ actions: [], notActions: [], dataActions: AZURE_DATA_ACTIONS[id], notDataActions: [] }],
                    },
                    { parent: this },
                );
                new authorization.RoleAssignment(
                    `${name}-${id}-azure-assignment`,
                    {
                        roleAssignmentName: stableGuid(`role-assignment:${args.env}:${id}`),
                        principalId: identity.principalId,
                        principalType: "ServicePrincipal",
                        roleDefinitionId: role.id,
                        scope: az.storageAccountId,
                    },
                    { parent: this },
                );
                out[id] = { clientId: identity.clientId, principalId: identity.principalId };
            }
            this.azure = out;
        }

        this.registerOutputs({
            roleArns: this.roleArns,
            restoreOperatorRoleArn: this.restoreOperatorRole?.arn,
            azureClientIds: this.azure ? Object.fromEntries(CLOUD_IDENTITIES.map((id) => [id, this.azure![id].clientId])) : undefined,
        });
    }

    /** The signer's second inline policy: kms:Sign on its own record-signing key (components/record-signing.ts). */
    private recordSigning(name: string, keyArn: pulumi.Input<string>, signs: SignedRecords): void {
        const id = RECORD_SIGNERS[signs].identity;
        new iam.RolePolicy(
            `${name}-${id}-record-signing`,
            { name: "record-signing", role: this.roles[id].id, policy: pulumi.output(keyArn).apply((arn) => JSON.stringify(recordSigningPolicy(arn, signs))) },
            { parent: this },
        );
    }
}
