// The mutation corpus: named weakenings of the real program's declared resources (prod), applied from
// outside the pack. Each names the policy that must catch it. mutations.test.ts runs every one.
import type { DeclaredResource } from "../../../policy/evaluate";
import { add, dropSid, editDoc, type Mutant, one, props, T } from "./edit";
import { ACCESS_LOG_MUTANTS, BREAK_GLASS_TRUST_MUTANTS, KEY_MUTANTS, VAULT_WRITE_MUTANTS } from "./issue13";
import { CANARY_MUTANTS } from "./canary";
import { AZURE_ROLE_MUTANTS } from "./azure-roles";

export type { Mutant } from "./edit";

const BUCKET = "acme-supabase-backups-prod";
const B = `arn:aws:s3:::${BUCKET}`;
const ACCT = "444455556666";
const pod = (rs: DeclaredResource[], suffix = "-dump") => props(rs, T.cronJob, suffix).spec.jobTemplate.spec.template.spec;
const c0 = (rs: DeclaredResource[], suffix = "-dump") => pod(rs, suffix).containers[0];
const writerDoc = (statements: object[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });

const BP = "vault-bucket-policy-tls-and-encryption";
const KP = "kms-key-policy-protects-key";
const IAM = "iam-backup-identities-least-privilege";
const TRUST = "iam-role-trust-restricted";
const K8S = "k8s-workloads-restricted";
const AZ = "azure-archive-hardened";
const LOCK = "vault-object-lock-compliance";
const LC = "vault-lifecycle-respects-retention";

export const MUTANTS: Mutant[] = [
    // ---- bucket policy: each protective statement removed, or made ineffective
    ...["DenyInsecureTransport", "DenyNonKmsEncryption", "DenyWrongKmsKey", "DenyCustomerProvidedKeys", "DenyOverwrites", "DenyConfigChangesExceptDeployers", "DenyRetentionBypass", "DenyRetentionChangesExceptWriters", "DenyDeleteExceptGc", "DenyDeleteOutsideBlobs"].map(
        (sid): Mutant => ({ name: `bucket policy without ${sid}`, policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", dropSid(sid)) }),
    ),
    { name: "bucket policy: foreign account allowed s3:*", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => d.Statement.push({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::999988887777:root" }, Action: "s3:*", Resource: [B, `${B}/*`] })) },
    { name: "bucket policy: public read", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => d.Statement.push({ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `${B}/*` })) },
    { name: "bucket policy: delete deny exempts a wildcard", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => (d.Statement.find((s: any) => s.Sid === "DenyDeleteExceptGc").Condition.ArnNotLike["aws:PrincipalArn"] = `arn:aws:iam::${ACCT}:*`)) },
    { name: "bucket policy: config deny exempts an extra role", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => d.Statement.find((s: any) => s.Sid === "DenyConfigChangesExceptDeployers").Condition.ArnNotLike["aws:PrincipalArn"].push(`arn:aws:iam::${ACCT}:role/intern`)) },
    { name: "bucket policy: delete deny turned into NotPrincipal", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => { const s = d.Statement.find((x: any) => x.Sid === "DenyDeleteExceptGc"); delete s.Principal; s.NotPrincipal = { AWS: `arn:aws:iam::${ACCT}:root` }; }) },
    { name: "bucket policy: retention deny only for one principal", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => (d.Statement.find((s: any) => s.Sid === "DenyRetentionBypass").Principal = { AWS: `arn:aws:iam::${ACCT}:role/someone` })) },
    { name: "bucket policy: delete deny with an unrelated condition", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => (d.Statement.find((s: any) => s.Sid === "DenyDeleteOutsideBlobs").Condition = { StringEquals: { "aws:RequestedRegion": "us-east-1" } })) },
    { name: "bucket policy: TLS deny narrowed to s3:Get*", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => (d.Statement.find((s: any) => s.Sid === "DenyInsecureTransport").Action = "s3:Get*")) },
    { name: "bucket policy: delete deny narrowed to one prefix", policy: BP, apply: (rs) => editDoc(rs, T.policy, "-vault-policy", (d) => (d.Statement.find((s: any) => s.Sid === "DenyDeleteExceptGc").Resource = `${B}/audit/*`)) },
    { name: "bucket policy inline on the Bucket with an Allow to another account", policy: BP, apply: (rs) => (props(rs, T.bucket, "-vault-bucket").policy = writerDoc([{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::999988887777:root" }, Action: "s3:*", Resource: `${B}/*` }])) },
    // ---- KMS key policy and grants
    ...KEY_MUTANTS,
    ...BREAK_GLASS_TRUST_MUTANTS,
    { name: "key policy: Principal * kms:*", policy: KP, apply: (rs) => editDoc(rs, T.key, "-vault-key", (d) => d.Statement.push({ Effect: "Allow", Principal: "*", Action: "kms:*", Resource: "*" })) },
    { name: "key policy: foreign account allowed Decrypt", policy: KP, apply: (rs) => editDoc(rs, T.key, "-vault-key", (d) => d.Statement.push({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::999988887777:root" }, Action: "kms:Decrypt", Resource: "*" })) },
    { name: "separate KeyPolicy resource without the destruction deny", policy: KP, apply: (rs) => add(rs, "aws:kms/keyPolicy:KeyPolicy", "k", { keyId: "x", policy: writerDoc([{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: "kms:*", Resource: "*" }]) }) },
    { name: "kms Grant to a foreign account", policy: KP, apply: (rs) => add(rs, "aws:kms/grant:Grant", "g", { keyId: "x", granteePrincipal: "arn:aws:iam::999988887777:root", operations: ["Decrypt"] }) },
    { name: "kms Grant of RetireGrant/CreateGrant to the writer", policy: KP, apply: (rs) => add(rs, "aws:kms/grant:Grant", "g2", { keyId: "x", granteePrincipal: `arn:aws:iam::${ACCT}:role/supabase-backups-prod-writer`, operations: ["Decrypt", "CreateGrant"] }) },
    { name: "key deletion window 7 days", policy: "kms-key-rotation-and-deletion-window", apply: (rs) => (props(rs, T.key, "-vault-key").deletionWindowInDays = 7) },
    { name: "key rotation off", policy: "kms-key-rotation-and-deletion-window", apply: (rs) => (props(rs, T.key, "-vault-key").enableKeyRotation = false) },
    { name: "key policy removed, no KeyPolicy resource", policy: "stack-backup-completeness", apply: (rs) => delete props(rs, T.key, "-vault-key").policy },
    // ---- issue 13: the vault's create-only, SSE-C and notification/tagging denies
    ...VAULT_WRITE_MUTANTS,
    // ---- issue 13: the access-log bucket (prod has aws.accessLogs on)
    ...ACCESS_LOG_MUTANTS,
    ...CANARY_MUTANTS,
    // ---- other spellings and inline arguments
    { name: "BucketLifecycleConfigurationV2 with a 1-day expiry", policy: LC, apply: (rs) => add(rs, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "lc2", { bucket: BUCKET, rules: [{ id: "x", status: "Enabled", filter: { prefix: "" }, expiration: { days: 1 }, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } }] }) },
    { name: "BucketObjectLockConfigurationV2 with a 1-day GOVERNANCE lock", policy: LOCK, apply: (rs) => add(rs, "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2", "lock2", { bucket: BUCKET, rule: { defaultRetention: { mode: "GOVERNANCE", days: 1 } } }) },
    { name: "inline objectLockConfiguration 1-day GOVERNANCE", policy: LOCK, apply: (rs) => (props(rs, T.bucket, "-vault-bucket").objectLockConfiguration = { objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: "GOVERNANCE", days: 1 } } }) },
    { name: "inline lifecycleRules 1-day expiry", policy: LC, apply: (rs) => (props(rs, T.bucket, "-vault-bucket").lifecycleRules = [{ enabled: true, prefix: "", expiration: { days: 1 }, abortIncompleteMultipartUploadDays: 1 }]) },
    { name: "BucketVersioningV2 suspended", policy: "vault-versioning-enabled", apply: (rs) => add(rs, "aws:s3/bucketVersioningV2:BucketVersioningV2", "v2", { bucket: BUCKET, versioningConfiguration: { status: "Suspended" } }) },
    { name: "inline versioning disabled", policy: "vault-versioning-enabled", apply: (rs) => (props(rs, T.bucket, "-vault-bucket").versioning = { enabled: false }) },
    { name: "BucketServerSideEncryptionConfigurationV2 AES256", policy: "vault-sse-kms-customer-key", apply: (rs) => add(rs, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "sse2", { bucket: BUCKET, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }) },
    { name: "inline SSE with the AWS-managed key", policy: "vault-sse-kms-customer-key", apply: (rs) => (props(rs, T.bucket, "-vault-bucket").serverSideEncryptionConfiguration = { rule: { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/aws/s3" }, bucketKeyEnabled: true } }) },
    { name: "a second lock configuration (V2) fighting the first", policy: "stack-backup-completeness", apply: (rs) => add(rs, "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2", "lock3", { bucket: BUCKET, rule: { defaultRetention: { mode: "COMPLIANCE", days: 3650 } } }) },
    { name: "lock 1 day COMPLIANCE", policy: LOCK, apply: (rs) => (props(rs, T.lock).rule.defaultRetention.days = 1) },
    { name: "public access block off", policy: "vault-public-access-blocked", apply: (rs) => (props(rs, T.pab, "-vault-public-access").restrictPublicBuckets = false) },
    // ---- IAM: deny by default, documents, attachments, trust
    { name: "customer-managed policy with delete and read (named like the writer)", policy: IAM, apply: (rs) => add(rs, "aws:iam/policy:Policy", "writer-extra", { name: "supabase-backups-prod-writer-extra", policy: writerDoc([{ Effect: "Allow", Action: ["s3:DeleteObject", "s3:GetObject"], Resource: `${B}/*` }]) }) },
    { name: "new role with an unrecognised name reading and deleting", policy: IAM, apply: (rs) => add(rs, T.role, "analytics", { name: "analytics-export", assumeRolePolicy: writerDoc([{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::999988887777:root" }, Action: "sts:AssumeRole" }]), inlinePolicies: [{ name: "x", policy: writerDoc([{ Effect: "Allow", Action: ["s3:GetObject", "s3:DeleteObject"], Resource: `${B}/*` }]) }] }) },
    { name: "new role trusted by a foreign account", policy: TRUST, apply: (rs) => add(rs, T.role, "analytics2", { name: "analytics-export-2", assumeRolePolicy: writerDoc([{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::999988887777:root" }, Action: "sts:AssumeRole" }]) }) },
    { name: "role named like the writer gets read (writer-2)", policy: IAM, apply: (rs) => add(rs, T.rolePolicy, "w2", { role: "supabase-backups-prod-writer-2", policy: writerDoc([{ Effect: "Allow", Action: "s3:GetObject", Resource: `${B}/*` }]) }) },
    { name: "user policy with s3:*", policy: IAM, apply: (rs) => add(rs, "aws:iam/userPolicy:UserPolicy", "u", { user: "ci-bot", policy: writerDoc([{ Effect: "Allow", Action: "s3:*", Resource: "*" }]) }) },
    { name: "group policy reading dumps", policy: IAM, apply: (rs) => add(rs, "aws:iam/groupPolicy:GroupPolicy", "g", { group: "analysts", policy: writerDoc([{ Effect: "Allow", Action: "s3:GetObject*", Resource: `${B}/db/*` }]) }) },
    { name: "AWS-managed AmazonS3FullAccess attached to the writer", policy: IAM, apply: (rs) => add(rs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", { role: "supabase-backups-prod-writer", policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess" }) },
    { name: "AWS-managed AdministratorAccess attached to a user", policy: IAM, apply: (rs) => add(rs, "aws:iam/userPolicyAttachment:UserPolicyAttachment", "ua", { user: "ci-bot", policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" }) },
    { name: "writer inline policy allows s3:Del*", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-writer-vault", (d) => d.Statement.push({ Effect: "Allow", Action: "s3:Del*", Resource: `${B}/storage/*` })) },
    { name: "writer may request restores of archived dumps (s3:RestoreObject)", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-writer-vault", (d) => d.Statement.push({ Effect: "Allow", Action: "s3:RestoreObject", Resource: `${B}/db/*` })) },
    { name: "verifier may request restores beyond its env's database runs (s3:Restore* on *)", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-verifier-vault", (d) => d.Statement.push({ Effect: "Allow", Action: "s3:Restore*", Resource: `${B}/*` })) },
    { name: "verifier may delete", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-verifier-vault", (d) => d.Statement.push({ Effect: "Allow", Action: "s3:DeleteObjectVersion", Resource: `${B}/*` })) },
    // gc may write its own audit records only (issue 15): a put right anywhere else is a weakening
    { name: "gc may write storage run manifests", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-gc-vault", (d) => { d.Statement = d.Statement.filter((s: any) => s.Sid !== "NeverWriteElsewhere"); d.Statement.push({ Effect: "Allow", Action: "s3:PutObject", Resource: `${B}/storage/prod/runs/*` }); }) },
    { name: "gc may write verification records", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-gc-vault", (d) => { d.Statement = d.Statement.filter((s: any) => s.Sid !== "NeverWriteElsewhere"); d.Statement.find((s: any) => s.Sid === "WriteAuditRecords").Resource = `${B}/*`; }) },
    { name: "gc may change the lifecycle", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-gc-vault", (d) => d.Statement.push({ Effect: "Allow", Action: "s3:PutLifecycleConfiguration", Resource: B })) },
    { name: "restore operator may schedule key deletion (its deny dropped)", policy: IAM, apply: (rs) => editDoc(rs, T.rolePolicy, "-restore-operator-vault", (d) => { dropSid("NeverDestroyTheKey")(d); d.Statement.push({ Effect: "Allow", Action: "kms:ScheduleKeyDeletion", Resource: "*" }); }) },
    { name: "restore operator's MFA condition removed", policy: TRUST, apply: (rs) => editDoc(rs, T.role, "-restore-operator", (d) => delete d.Statement[0].Condition, "assumeRolePolicy") },
    { name: "restore operator trusts an extra person", policy: TRUST, apply: (rs) => editDoc(rs, T.role, "-restore-operator", (d) => d.Statement[0].Principal.AWS.push(`arn:aws:iam::${ACCT}:user/contractor`), "assumeRolePolicy") },
    { name: "writer trust for any service account (StringLike *)", policy: TRUST, apply: (rs) => editDoc(rs, T.role, "-writer", (d) => { const c = d.Statement[0].Condition; c.StringLike = { [Object.keys(c.StringEquals)[0]]: "system:serviceaccount:*" }; delete c.StringEquals[Object.keys(c.StringEquals)[0]]; }, "assumeRolePolicy") },
    { name: "writer trusts another service account", policy: TRUST, apply: (rs) => editDoc(rs, T.role, "-writer", (d) => { const c = d.Statement[0].Condition.StringEquals; const k = Object.keys(c).find((x) => x.endsWith(":sub"))!; c[k] = "system:serviceaccount:default:default"; }, "assumeRolePolicy") },
    { name: "gc trusted by EC2", policy: TRUST, apply: (rs) => editDoc(rs, T.role, "-gc", (d) => d.Statement.push({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }), "assumeRolePolicy") },
    // ---- Azure
    { name: "Azure RoleAssignment of Storage Blob Data Owner", policy: IAM, apply: (rs) => add(rs, "azure-native:authorization:RoleAssignment", "owner", { principalId: "x", roleDefinitionId: "/subscriptions/0/providers/Microsoft.Authorization/roleDefinitions/b7e6dc6d-f1e8-4753-8033-0f276bb0955b", scope: "/x" }) },
    { name: "Azure custom role (unknown identity) with blobs/delete", policy: IAM, apply: (rs) => add(rs, T.roleDef, "rd", { roleName: "cleanup", permissions: [{ dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete"] }] }) },
    { name: "Azure gc role with permanentDelete", policy: IAM, apply: (rs) => props(rs, T.roleDef, "-gc-azure-role").permissions[0].dataActions.push("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/permanentDelete/action") },
    { name: "Azure writer role with roleDefinitions/write", policy: IAM, apply: (rs) => (props(rs, T.roleDef, "-writer-azure-role").permissions[0].actions = ["Microsoft.Authorization/roleDefinitions/write"]) },
    ...AZURE_ROLE_MUTANTS,
    { name: "Azure network rules open to the internet", policy: AZ, apply: (rs) => (props(rs, T.account).networkRuleSet = { defaultAction: "Deny", ipRules: [{ iPAddressOrRange: "0.0.0.0/0" }] }) },
    { name: "Azure version.delete after 0 days", policy: AZ, apply: (rs) => (props(rs, T.mgmt).policy.rules[0].definition.actions.version.delete.daysAfterCreationGreaterThan = 0) },
    { name: "Azure soft delete off", policy: AZ, apply: (rs) => (props(rs, T.blobService).deleteRetentionPolicy = { enabled: false }) },
    { name: "Azure immutability 1 day", policy: AZ, apply: (rs) => (props(rs, T.account).immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays = 1) },
    { name: "Azure shared keys on", policy: AZ, apply: (rs) => (props(rs, T.account).allowSharedKeyAccess = true) },
    // ---- Kubernetes
    { name: "hostPath / mounted", policy: K8S, apply: (rs) => pod(rs).volumes.push({ name: "root", hostPath: { path: "/" } }) },
    { name: "SYS_ADMIN added", policy: K8S, apply: (rs) => (c0(rs).securityContext.capabilities.add = ["SYS_ADMIN"]) },
    { name: "seccomp Unconfined", policy: K8S, apply: (rs) => { c0(rs).securityContext.seccompProfile = { type: "Unconfined" }; } },
    { name: "service-account token mounted", policy: K8S, apply: (rs) => (pod(rs).automountServiceAccountToken = true) },
    { name: "hostPort", policy: K8S, apply: (rs) => (c0(rs).ports = [{ containerPort: 8080, hostPort: 8080 }]) },
    { name: "image :latest in prod", policy: K8S, apply: (rs) => (c0(rs).image = "ghcr.io/acme/supabase-backups-jobs:latest") },
    { name: "canary image by tag in prod", policy: K8S, apply: (rs) => (props(rs, T.deployment, "-canary").spec.template.spec.containers[0].image = "public.ecr.aws/supabase/postgres:17.6.1.011") },
    { name: "canary pod mounts its service-account token", policy: K8S, apply: (rs) => (props(rs, T.deployment, "-canary").spec.template.spec.automountServiceAccountToken = true) },
    { name: "canary's deny-all NetworkPolicy deleted", policy: K8S, apply: (rs) => rs.splice(rs.indexOf(one(rs, T.netpol, "-netpol-canary-deny-all")), 1) },
    { name: "privileged verify container", policy: K8S, apply: (rs) => (c0(rs, "-verify").securityContext.privileged = true) },
    { name: "hostNetwork on gc", policy: K8S, apply: (rs) => (pod(rs, "-gc").hostNetwork = true) },
    { name: "runs as root (uid 0)", policy: K8S, apply: (rs) => { c0(rs).securityContext.runAsUser = 0; } },
    { name: "namespace's pod-security label dropped", policy: K8S, apply: (rs) => delete props(rs, T.ns).metadata.labels["pod-security.kubernetes.io/enforce"] },
    { name: "NetworkPolicy deleted", policy: K8S, apply: (rs) => rs.splice(rs.indexOf(one(rs, T.netpol, "-netpol")), 1) },
    { name: "NetworkPolicy allows all ingress", policy: K8S, apply: (rs) => (props(rs, T.netpol, "-netpol").spec.ingress = [{}]) },
    {
        name: "privileged Deployment in the namespace",
        policy: K8S,
        apply: (rs) =>
            add(rs, "kubernetes:apps/v1:Deployment", "debug", {
                metadata: { name: "debug", namespace: "supabase-backups-prod" },
                spec: { template: { metadata: { labels: { app: "debug" } }, spec: { containers: [{ name: "sh", image: "busybox@sha256:" + "a".repeat(64), securityContext: { privileged: true } }] } } },
            }),
    },
    { name: "DaemonSet with host PID", policy: K8S, apply: (rs) => add(rs, "kubernetes:apps/v1:DaemonSet", "ds", { metadata: { name: "ds", namespace: "supabase-backups-prod" }, spec: { template: { spec: { hostPID: true, containers: [{ name: "x", image: "x@sha256:" + "b".repeat(64) }] } } } }) },
    { name: "bare Pod with a writable root filesystem", policy: K8S, apply: (rs) => add(rs, "kubernetes:core/v1:Pod", "p", { metadata: { name: "p", namespace: "supabase-backups-prod" }, spec: { automountServiceAccountToken: false, containers: [{ name: "x", image: "x@sha256:" + "c".repeat(64), securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" }, readOnlyRootFilesystem: false } }] } }) },
    { name: "CronJob concurrency Allow", policy: "k8s-cronjob-hardened", apply: (rs) => (props(rs, T.cronJob, "-dump").spec.concurrencyPolicy = "Allow") },
];
