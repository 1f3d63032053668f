// The pack's policies, in issue order: the one list of them. Each lives in the file named after it
// (policy/policies/<policy name>.ts, one policy a file); what several share is in policy/lib/. Importing
// this module has no side effects (no server): the tests and the offline gate use it; policy/index.ts
// hands it to `new PolicyPack`, and the pack config's schema and generator (policy/config.ts) walk it.
import type { BackupPolicy } from "../lib/common";
import { objectLockPolicy } from "./vault-object-lock-compliance";
import { versioningPolicy } from "./vault-versioning-enabled";
import { encryptionPolicy } from "./vault-sse-kms-customer-key";
import { publicAccessPolicy } from "./vault-public-access-blocked";
import { bucketPolicyPolicy } from "./vault-bucket-policy-tls-and-encryption";
import { lifecyclePolicy } from "./vault-lifecycle-respects-retention";
import { kmsPolicy } from "./kms-key-rotation-and-deletion-window";
import { keyPolicyPolicy } from "./kms-key-policy-protects-key";
import { iamPolicy } from "./iam-backup-identities-least-privilege";
import { trustPolicy } from "./iam-role-trust-restricted";
import { azurePolicy } from "./azure-archive-hardened";
import { archiveRolesPolicy } from "./azure-archive-roles-least-privilege";
import { cronJobPolicy } from "./k8s-cronjob-hardened";
import { workloadsPolicy } from "./k8s-workloads-restricted";
import { canaryPolicy } from "./k8s-canary-isolated";
import { stackPolicy } from "./stack-backup-completeness";
import { accessLogPolicy } from "./s3-access-log-bucket-hardened";

export const policies: BackupPolicy[] = [
    objectLockPolicy,
    versioningPolicy,
    encryptionPolicy,
    publicAccessPolicy,
    bucketPolicyPolicy,
    lifecyclePolicy,
    kmsPolicy,
    keyPolicyPolicy,
    iamPolicy,
    trustPolicy,
    azurePolicy,
    archiveRolesPolicy,
    cronJobPolicy,
    workloadsPolicy,
    canaryPolicy,
    stackPolicy,
    accessLogPolicy,
];
