// Every policy of the pack, in issue order. Importing this module has no side effects (no server):
// the tests and the offline gate use it; policy/index.ts hands it to `new PolicyPack`.
import type { BackupPolicy } from "./common";
import { objectLockPolicy } from "./objectLock";
import { versioningPolicy } from "./versioning";
import { encryptionPolicy } from "./encryption";
import { publicAccessPolicy } from "./publicAccess";
import { bucketPolicyPolicy } from "./bucketPolicy";
import { lifecyclePolicy } from "./lifecycle";
import { kmsPolicy } from "./kms";
import { iamPolicy } from "./iam";
import { azurePolicy } from "./azure";
import { cronJobPolicy } from "./cronjob";
import { stackPolicy } from "./stack";

export const policies: BackupPolicy[] = [
    objectLockPolicy,
    versioningPolicy,
    encryptionPolicy,
    publicAccessPolicy,
    bucketPolicyPolicy,
    lifecyclePolicy,
    kmsPolicy,
    iamPolicy,
    azurePolicy,
    cronJobPolicy,
    stackPolicy,
];

export {
    objectLockPolicy,
    versioningPolicy,
    encryptionPolicy,
    publicAccessPolicy,
    bucketPolicyPolicy,
    lifecyclePolicy,
    kmsPolicy,
    iamPolicy,
    azurePolicy,
    cronJobPolicy,
    stackPolicy,
};
export * from "./common";
