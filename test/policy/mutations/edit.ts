// Editing helpers of the mutation corpus: find one declared resource by type and name suffix, edit its
// policy document, drop a statement by Sid, add a resource.
import type { DeclaredResource } from "../../../policy/evaluate";

export interface Mutant {
    name: string;
    policy: string;
    apply: (rs: DeclaredResource[]) => void;
}

export const T = {
    bucket: "aws:s3/bucket:Bucket",
    lock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    policy: "aws:s3/bucketPolicy:BucketPolicy",
    pab: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    key: "aws:kms/key:Key",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    cronJob: "kubernetes:batch/v1:CronJob",
    deployment: "kubernetes:apps/v1:Deployment",
    ns: "kubernetes:core/v1:Namespace",
    netpol: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    account: "azure-native:storage:StorageAccount",
    blobService: "azure-native:storage:BlobServiceProperties",
    mgmt: "azure-native:storage:ManagementPolicy",
    roleDef: "azure-native:authorization:RoleDefinition",
    keyPolicy: "aws:kms/keyPolicy:KeyPolicy",
    logging: "aws:s3/bucketLogging:BucketLogging",
};

export const one = (rs: DeclaredResource[], type: string, suffix = ""): DeclaredResource => {
    const hits = rs.filter((r) => r.type === type && r.name.endsWith(suffix));
    if (hits.length !== 1) throw new Error(`mutation target: expected one ${type} *${suffix}, found ${hits.length}`);
    return hits[0];
};
export const props = (rs: DeclaredResource[], type: string, suffix = "") => one(rs, type, suffix).props;
export const doc = (p: any, key = "policy") => {
    const d = JSON.parse(p[key]);
    return { d, save: () => (p[key] = JSON.stringify(d)) };
};
export const editDoc = (rs: DeclaredResource[], type: string, suffix: string, f: (d: any) => void, key = "policy") => {
    const p = props(rs, type, suffix);
    const x = doc(p, key);
    f(x.d);
    x.save();
};
export const dropSid = (sid: string) => (d: any) => (d.Statement = d.Statement.filter((s: any) => s.Sid !== sid));
export const add = (rs: DeclaredResource[], type: string, name: string, p: Record<string, any>) => rs.push({ type, name, props: p, urn: `urn:pulumi:prod::supabase-backups::${type}::${name}` });
