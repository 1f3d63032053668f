// Policy 5: the vault's bucket policy (BucketPolicy, or `policy` inline on the Bucket) keeps every
// protective Deny the program relies on, effective for every principal: TLS only, SSE-KMS only with the
// vault key, no SSE-C, create-only (no object-creating put without If-None-Match), no configuration
// change (notifications and tags included) or retention bypass but by the deployers, no retention change but by
// the roles that write, no delete but by gc and only under the blob prefix, no drill record but by the
// drill identity, no verification record but by the verifier. Statements are judged with
// actions expanded against the AWS catalog; a Deny with NotPrincipal, an extra condition or a wider
// exemption does not count. No Allow may name a principal outside the stack's known ones.
import { type BackupPolicy, asArray, parseDocument, readPolicyConfig } from "../lib/common";
import { bucketPolicyOf } from "../lib/bucket-state";
import { expandDocument } from "../lib/iam-catalog";
import { BUCKET_CONFIG_ACTIONS, knownRoleArns, sampleKeys } from "../lib/identities";
import { foreignAllows, type RequiredDeny, requireDeny } from "../lib/resource-policy";

export interface BucketPolicyConfig {
    env: string;
    bucketName: string;
    accountId: string;
    /** aws.deployerArns: the only principals the config and retention-bypass denies may exempt */
    deployerArns: string[];
}

const lower = (vs: string[]) => vs.map((v) => v.toLowerCase());
const tlsCondition = (op: string, key: string, values: string[]) => /^Bool(IfExists)?$/.test(op) && key.toLowerCase() === "aws:securetransport" && lower(values).every((v) => v === "false");
const headerPresent = (header: string) => (op: string, key: string, values: string[]) => op === "Null" && key.toLowerCase() === header && lower(values).every((v) => v === "false");
const SSE = "s3:x-amz-server-side-encryption";
const SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id";
const SSE_C = "s3:x-amz-server-side-encryption-customer-algorithm";
/**
 * Create-only (S3 User Guide, "Enforce conditional writes"): a put without If-None-Match is refused where
 * it creates an object. Either condition alone only refuses more (every unconditional put, or every
 * create); anything else (If-None-Match required to be absent, an exemption) lets an overwrite through.
 */
const overwriteCondition = (op: string, key: string, values: string[]) =>
    (op === "Null" && key.toLowerCase() === "s3:if-none-match" && lower(values).every((v) => v === "true")) ||
    (/^Bool(IfExists)?$/.test(op) && key.toLowerCase() === "s3:objectcreationoperation" && lower(values).every((v) => v === "true"));
/** SSE-C: the customer-key header present, with any value (StringLike "*", or Null "false"). */
const customerKeyCondition = (op: string, key: string, values: string[]) =>
    key.toLowerCase() === SSE_C && ((op === "StringLike" && values.includes("*")) || (op === "Null" && lower(values).every((v) => v === "false")));

/** The protective denies of components/resource-policies.ts bucketPolicy, as requirements. */
export function requiredBucketDenies(c: BucketPolicyConfig): RequiredDeny[] {
    const b = `arn:aws:s3:::${c.bucketName}`;
    const k = sampleKeys(c.env);
    const obj = (...keys: string[]) => keys.map((key) => `${b}/${key}`);
    const roles = knownRoleArns(c.accountId, c.env);
    const everyArea = obj(k.dbDump, k.storageBlob, k.storageRunManifest, k.verify, k.audit);
    return [
        { sid: "DenyInsecureTransport", what: "TLS only", actions: ["s3:*"], arns: [b, ...obj(k.dbDump)], exempt: [], protective: tlsCondition, needsProtectiveCondition: true },
        {
            sid: "DenyNonKmsEncryption",
            what: "no put with another encryption than SSE-KMS",
            actions: ["s3:PutObject"],
            arns: obj(k.dbDump, k.storageBlob),
            exempt: [],
            protective: (op, key, values) => (/^StringNotEquals(IfExists)?$/.test(op) && key.toLowerCase() === SSE && lower(values).every((v) => v.startsWith("aws:kms"))) || headerPresent(SSE)(op, key, values),
            needsProtectiveCondition: true,
        },
        {
            sid: "DenyWrongKmsKey",
            what: "no put under another KMS key",
            actions: ["s3:PutObject"],
            arns: obj(k.dbDump, k.storageBlob),
            exempt: [],
            protective: (op, key, values) =>
                (/^StringNotEquals(IfExists)?$/.test(op) && key.toLowerCase() === SSE_KEY && values.every((v) => new RegExp(`^arn:aws:kms:[a-z0-9-]+:${c.accountId}:key/`).test(v))) || headerPresent(SSE_KEY)(op, key, values),
            needsProtectiveCondition: true,
        },
        {
            sid: "DenyCustomerProvidedKeys",
            what: "no put with a customer-provided key (SSE-C): nobody else could read the object",
            actions: ["s3:PutObject"],
            arns: everyArea,
            exempt: [],
            protective: customerKeyCondition,
            needsProtectiveCondition: true,
        },
        {
            sid: "DenyOverwrites",
            what: "create-only: no object-creating put without If-None-Match, for anyone (a stolen writer, verifier or operator token included)",
            actions: ["s3:PutObject"],
            arns: everyArea,
            exempt: [],
            protective: overwriteCondition,
            needsProtectiveCondition: true,
        },
        // BUCKET_CONFIG_ACTIONS includes the notification, tagging and ABAC actions (issue 13).
        { sid: "DenyConfigChangesExceptDeployers", what: "no configuration change (notifications and tags included) but by the deployers", actions: [...BUCKET_CONFIG_ACTIONS], arns: [b], exempt: c.deployerArns },
        { sid: "DenyRetentionBypass", what: "no governance bypass but by the deployers", actions: ["s3:BypassGovernanceRetention"], arns: everyArea, exempt: c.deployerArns },
        {
            sid: "DenyRetentionChangesExceptWriters",
            what: "no retention or legal-hold change but by the roles that write (gc: its audit records)",
            actions: ["s3:PutObjectRetention", "s3:PutObjectLegalHold"],
            arns: everyArea,
            // gc writes its own audit records, each with its lock (its identity allows that only under audit/)
            exempt: [...c.deployerArns, roles.writer, roles.verifier, roles.restoreOperator, roles.drill, roles.gc],
        },
        { sid: "DenyDeleteExceptGc", what: "no delete but by gc", actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"], arns: everyArea, exempt: [roles.gc] },
        // drill records say whether the backups restore: only the drill identity puts them (they are signed too)
        { sid: "DenyDrillRecordsExceptDrill", what: "no drill record but by the drill identity", actions: ["s3:PutObject"], arns: obj(k.drill), exempt: [roles.drill] },
        // verification records say whether a run restores: only the verifier puts them (they are signed too)
        { sid: "DenyVerifyRecordsExceptVerifier", what: "no verification record but by the verifier", actions: ["s3:PutObject"], arns: obj(k.verify), exempt: [roles.verifier] },
        { sid: "DenyDeleteOutsideBlobs", what: "no delete outside storage blobs, by anyone", actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"], arns: obj(k.dbDump, k.dbSchema, k.storageRunManifest, k.verify, k.audit), exempt: [] },
    ];
}

export async function bucketPolicyProblems(doc: unknown, c: BucketPolicyConfig): Promise<string[]> {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`bucket policy is ${parsed.error}`];
    const { statements } = await expandDocument(parsed.doc);
    const out: string[] = [];
    for (const req of requiredBucketDenies(c)) {
        const m = await requireDeny(statements, req);
        if (m) out.push(m);
    }
    const roles = Object.values(knownRoleArns(c.accountId, c.env));
    for (const m of foreignAllows(statements, [...c.deployerArns, ...roles])) out.push(`${m}; the vault must never be opened to other principals`);
    return out;
}

export const bucketPolicyPolicy: BackupPolicy = {
    name: "vault-bucket-policy-tls-and-encryption",
    description:
        "The vault bucket policy keeps every protective deny effective for every principal (TLS only; SSE-KMS with the vault key; no SSE-C; create-only puts " +
        "(If-None-Match); no config change (notifications and tags included) or retention bypass " +
        "but by the deployers; no retention change but by the writing roles; no delete but by gc, and only storage blobs; no drill record but by the drill identity; no verification record but by the verifier) and allows nothing to other principals.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Keep BackupVault's BucketPolicy (components/resource-policies.ts bucketPolicy): each Deny with Principal \"*\", no NotPrincipal, and no condition but the " +
        "protection itself (aws:SecureTransport, the SSE and SSE-C headers, Null s3:if-none-match with Bool s3:ObjectCreationOperation) or an ArnNotLike aws:PrincipalArn exemption of exactly aws.deployerArns / the stack's roles. " +
        "Add no Allow statements for other principals; grant access through the identities' own policies.",
    configSchema: {
        properties: {
            env: { type: "string", minLength: 1 },
            bucketName: { type: "string", minLength: 3 },
            accountId: { type: "string", pattern: "^\\d{12}$" },
            deployerArns: { type: "array", minItems: 1, items: { type: "string", pattern: "^arn:aws:(iam|sts)::\\d{12}:[^*?\\s]+$" } },
        },
        required: ["env", "bucketName", "accountId", "deployerArns"],
    },
    configFromStack: (cfg) => ({ env: cfg.env, bucketName: cfg.aws.bucketName, accountId: cfg.aws.accountId, deployerArns: [...cfg.aws.deployerArns] }),
    validateResource: async (args, report) => {
        const doc = bucketPolicyOf(args.type, args.props);
        if (doc === undefined) return;
        const cfg = readPolicyConfig<BucketPolicyConfig>(bucketPolicyPolicy, args);
        const bucket = (args.props as any).bucket;
        // Another bucket's policy (an access-log bucket) is not the vault's: its Allows are still judged.
        const isVault = bucket === undefined || bucket === cfg.bucketName || asArray(bucket).length === 0;
        const problems = await bucketPolicyProblems(doc, cfg);
        // Another bucket may let an AWS service in (S3 log delivery), never everyone or another account.
        for (const m of isVault ? problems : problems.filter((p) => /not one of the stack's principals|allows everyone/.test(p) && !/ allows Service:/.test(p))) report(m);
    },
};
