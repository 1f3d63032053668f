// Issue 13's weakenings of the real prod program (aws.breakGlass and aws.accessLogs on): the keys'
// break-glass administration (vault key and record-signing key), the vault's create-only, SSE-C and
// notification/tagging denies, and the access-log bucket. Each must fail the named policy.
import type { DeclaredResource } from "../../../policy/evaluate";
import { add, dropSid, editDoc, type Mutant, one, props, T } from "./edit";

const ACCT = "444455556666";
const BUCKET = "acme-supabase-backups-prod";
const B = `arn:aws:s3:::${BUCKET}`;
const LOGS = `${BUCKET}-access-logs`;
const BG = `arn:aws:iam::${ACCT}:role/supabase-backups-prod-break-glass`;
const DEPLOYER = `arn:aws:iam::${ACCT}:role/platform-deployer`;
const KP = "kms-key-policy-protects-key";
const BP = "vault-bucket-policy-tls-and-encryption";
const AL = "s3-access-log-bucket-hardened";

const sid = (d: any, id: string) => {
    const s = d.Statement.find((x: any) => x.Sid === id);
    if (!s) throw new Error(`mutation target: no statement ${id}`);
    return s;
};
const VAULT_KEY = "-vault-key";
const SIGNING_KEY = "-record-signing-key";
const DRILL_SIGNING_KEY = "-drill-signing-key";
const ROLE = (id: string) => `arn:aws:iam::${ACCT}:role/supabase-backups-prod-${id}`;
const onKey = (suffix: string, f: (d: any) => void) => (rs: DeclaredResource[]) => editDoc(rs, T.key, suffix, f);

/** The same weakenings on both keys: the record-signing key is administered like the vault key. */
const keyWeakenings: [string, (d: any) => void][] = [
    ["break-glass destruction deny removed", dropSid("DenyKeyDestructionExceptBreakGlass")],
    ["destruction deny exempts every role of the account instead of the break-glass role", (d) => (sid(d, "DenyKeyDestructionExceptBreakGlass").Condition.ArnNotLike["aws:PrincipalArn"] = `arn:aws:iam::${ACCT}:role/*`)],
    ["destruction deny exempts another principal (the people, not the role)", (d) => (sid(d, "DenyKeyDestructionExceptBreakGlass").Condition.ArnNotLike["aws:PrincipalArn"] = `arn:aws:iam::${ACCT}:role/security-incident-responder`)],
    ["deployers exempted too while break-glass is configured", (d) => (sid(d, "DenyKeyDestructionExceptBreakGlass").Condition.ArnNotLike["aws:PrincipalArn"] = [BG, DEPLOYER])],
    [
        "destruction deny turned into NotPrincipal of the break-glass role",
        (d) => {
            const s = sid(d, "DenyKeyDestructionExceptBreakGlass");
            delete s.Principal;
            delete s.Condition;
            s.NotPrincipal = { AWS: BG };
        },
    ],
    ["PutKeyPolicy left out of the break-glass deny (deployersMayChangeKeyPolicy is false)", (d) => (sid(d, "DenyKeyDestructionExceptBreakGlass").Action = ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation"])],
    ["missing-MFA deny removed", dropSid("DenyKeyDestructionWithoutMfa")],
    ["missing-MFA deny as Bool without IfExists (credentials with no MFA key escape it)", (d) => (sid(d, "DenyKeyDestructionWithoutMfa").Condition = { Bool: { "aws:MultiFactorAuthPresent": "false" } })],
    ["missing-MFA deny exempts the deployer", (d) => (sid(d, "DenyKeyDestructionWithoutMfa").Condition.ArnNotLike = { "aws:PrincipalArn": DEPLOYER })],
    ["stale-MFA deny removed", dropSid("DenyKeyDestructionWithStaleMfa")],
    ["MFA age bound raised to 12 hours (config: 1 hour)", (d) => (sid(d, "DenyKeyDestructionWithStaleMfa").Condition.NumericGreaterThanIfExists["aws:MultiFactorAuthAge"] = "43200")],
    [
        "both MFA conditions merged into one deny (ANDed: a stale MFA sign-in escapes it)",
        (d) => {
            const s = sid(d, "DenyKeyDestructionWithoutMfa");
            s.Condition = { ...s.Condition, ...sid(d, "DenyKeyDestructionWithStaleMfa").Condition };
            dropSid("DenyKeyDestructionWithStaleMfa")(d);
        },
    ],
    ["break-glass Allow without its MFA condition", (d) => delete sid(d, "BreakGlassAdministersKey").Condition],
    ["break-glass Allow with MFA only if present (BoolIfExists)", (d) => (sid(d, "BreakGlassAdministersKey").Condition = { BoolIfExists: { "aws:MultiFactorAuthPresent": "true" } })],
    ["break-glass may decrypt (read every backup)", (d) => sid(d, "BreakGlassAdministersKey").Action.push("kms:Decrypt")],
];

export const KEY_MUTANTS: Mutant[] = [
    ...keyWeakenings.map(([name, f]): Mutant => ({ name: `vault key policy: ${name}`, policy: KP, apply: onKey(VAULT_KEY, f) })),
    ...keyWeakenings.map(([name, f]): Mutant => ({ name: `record-signing key policy: ${name}`, policy: KP, apply: onKey(SIGNING_KEY, f) })),
    { name: "record-signing key policy: kms:Sign no longer reserved to the verifier", policy: KP, apply: onKey(SIGNING_KEY, dropSid("SignOnlyAsTheVerifier")) },
    { name: "record-signing key policy: kms:Sign also for the writer", policy: KP, apply: onKey(SIGNING_KEY, (d) => (sid(d, "SignOnlyAsTheVerifier").Condition.ArnNotEquals["aws:PrincipalArn"] = [`arn:aws:iam::${ACCT}:role/supabase-backups-prod-verifier`, `arn:aws:iam::${ACCT}:role/supabase-backups-prod-writer`])) },
    // drill records have their own key, for the drill identity alone: neither signer may make the other's records
    ...keyWeakenings.slice(0, 2).map(([name, f]): Mutant => ({ name: `drill signing key policy: ${name}`, policy: KP, apply: onKey(DRILL_SIGNING_KEY, f) })),
    { name: "drill signing key policy: kms:Sign no longer reserved to the drill identity", policy: KP, apply: onKey(DRILL_SIGNING_KEY, dropSid("SignOnlyAsTheDrill")) },
    { name: "drill signing key policy: kms:Sign also for the verifier", policy: KP, apply: onKey(DRILL_SIGNING_KEY, (d) => (sid(d, "SignOnlyAsTheDrill").Condition.ArnNotEquals["aws:PrincipalArn"] = [ROLE("drill"), ROLE("verifier")])) },
    { name: "drill signing key policy: kms:Sign for the verifier instead of the drill identity", policy: KP, apply: onKey(DRILL_SIGNING_KEY, (d) => (sid(d, "SignOnlyAsTheDrill").Condition.ArnNotEquals["aws:PrincipalArn"] = ROLE("verifier"))) },
    { name: "record-signing key policy: kms:Sign also for the drill identity (one key for both signers)", policy: KP, apply: onKey(SIGNING_KEY, (d) => (sid(d, "SignOnlyAsTheVerifier").Condition.ArnNotEquals["aws:PrincipalArn"] = [ROLE("verifier"), ROLE("drill")])) },
    { name: "record-signing key tagged as the drill key (its deny still names the verifier)", policy: KP, apply: (rs) => (props(rs, T.key, SIGNING_KEY).tags["supabase-backups/signs"] = "drill") },
    { name: "vault key policy: the deployer-only deny of a stack without break-glass (deployers may destroy)", policy: KP, apply: onKey(VAULT_KEY, (d) => (d.Statement = [d.Statement[0], { Sid: "DenyKeyDestructionExceptDeployers", Effect: "Deny", Principal: { AWS: "*" }, Action: ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation", "kms:PutKeyPolicy"], Resource: "*", Condition: { ArnNotLike: { "aws:PrincipalArn": [DEPLOYER] } } }])) },
    { name: "separate KeyPolicy resource with only the deployer-only deny", policy: KP, apply: (rs) => add(rs, T.keyPolicy, "kp13", { keyId: "x", policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "DenyKeyDestructionExceptDeployers", Effect: "Deny", Principal: { AWS: "*" }, Action: ["kms:*"], Resource: "*", Condition: { ArnNotLike: { "aws:PrincipalArn": [DEPLOYER] } } }] }) }) },
    // The lockout check is bypassed (only the break-glass role may re-policy the keys): without its Allow nobody could.
    { name: "vault key: lockout check bypassed and the break-glass Allow removed (nobody could change the policy)", policy: "kms-key-rotation-and-deletion-window", apply: onKey(VAULT_KEY, dropSid("BreakGlassAdministersKey")) },
    { name: "record-signing key: lockout check bypassed and the break-glass Allow removed", policy: "kms-key-rotation-and-deletion-window", apply: onKey(SIGNING_KEY, dropSid("BreakGlassAdministersKey")) },
];

const TRUST = "iam-role-trust-restricted";
const onBreakGlassTrust = (f: (d: any) => void) => (rs: DeclaredResource[]) => editDoc(rs, T.role, "-break-glass-role", f, "assumeRolePolicy");
export const BREAK_GLASS_TRUST_MUTANTS: Mutant[] = [
    { name: "break-glass role trusts an extra person", policy: TRUST, apply: onBreakGlassTrust((d) => d.Statement[0].Principal.AWS.push(`arn:aws:iam::${ACCT}:user/contractor`)) },
    { name: "break-glass role trusts the deployer", policy: TRUST, apply: onBreakGlassTrust((d) => d.Statement[0].Principal.AWS.push(DEPLOYER)) },
    { name: "break-glass role assumable without MFA", policy: TRUST, apply: onBreakGlassTrust((d) => delete d.Statement[0].Condition) },
];

const onVaultPolicy = (f: (d: any) => void) => (rs: DeclaredResource[]) => editDoc(rs, T.policy, "-vault-policy", f);
const withoutAction = (action: string) => onVaultPolicy((d) => (sid(d, "DenyConfigChangesExceptDeployers").Action = sid(d, "DenyConfigChangesExceptDeployers").Action.filter((a: string) => a !== action)));

export const VAULT_WRITE_MUTANTS: Mutant[] = [
    { name: "create-only deny exempts the writer", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyOverwrites").Condition.ArnNotLike = { "aws:PrincipalArn": `arn:aws:iam::${ACCT}:role/supabase-backups-prod-writer` })) },
    { name: "create-only deny inverted (denies puts WITH If-None-Match)", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyOverwrites").Condition.Null["s3:if-none-match"] = "false")) },
    { name: "create-only deny narrowed to db/*", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyOverwrites").Resource = `${B}/db/*`)) },
    { name: "create-only deny only for one principal", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyOverwrites").Principal = { AWS: `arn:aws:iam::${ACCT}:role/supabase-backups-prod-verifier` })) },
    { name: "create-only deny with an unrelated condition added", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyOverwrites").Condition.StringEquals = { "aws:RequestedRegion": "us-east-1" })) },
    { name: "SSE-C deny only for a named algorithm nobody sends", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyCustomerProvidedKeys").Condition = { StringEquals: { "s3:x-amz-server-side-encryption-customer-algorithm": "none" } })) },
    { name: "SSE-C deny turned into NotPrincipal of the writer", policy: BP, apply: onVaultPolicy((d) => { const s = sid(d, "DenyCustomerProvidedKeys"); delete s.Principal; s.NotPrincipal = { AWS: `arn:aws:iam::${ACCT}:role/supabase-backups-prod-writer` }; }) },
    { name: "drill-record deny removed (any principal granted puts could write a passed drill)", policy: BP, apply: onVaultPolicy(dropSid("DenyDrillRecordsExceptDrill")) },
    { name: "drill-record deny exempts the writer too", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyDrillRecordsExceptDrill").Condition.ArnNotLike["aws:PrincipalArn"] = [ROLE("drill"), ROLE("writer")])) },
    { name: "drill-record deny narrowed to another env's drill records", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyDrillRecordsExceptDrill").Resource = `${B}/drill/staging/*`)) },
    { name: "verification-record deny removed (any principal granted puts could write a passed verification)", policy: BP, apply: onVaultPolicy(dropSid("DenyVerifyRecordsExceptVerifier")) },
    { name: "verification-record deny exempts the drill identity too", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyVerifyRecordsExceptVerifier").Condition.ArnNotLike["aws:PrincipalArn"] = [ROLE("verifier"), ROLE("drill")])) },
    { name: "verification-record deny narrowed to another env's records", policy: BP, apply: onVaultPolicy((d) => (sid(d, "DenyVerifyRecordsExceptVerifier").Resource = `${B}/verify/staging/*`)) },
    { name: "config deny without s3:PutBucketNotification", policy: BP, apply: withoutAction("s3:PutBucketNotification") },
    { name: "config deny without s3:PutBucketTagging", policy: BP, apply: withoutAction("s3:PutBucketTagging") },
];

const onLogPolicy = (f: (d: any) => void) => (rs: DeclaredResource[]) => editDoc(rs, T.policy, "-access-logs-policy", f);
const LOG_ARN = `arn:aws:s3:::${LOGS}`;

export const ACCESS_LOG_MUTANTS: Mutant[] = [
    ...["DenyInsecureTransport", "DenyDeletes", "DenyWritesExceptLogDelivery", "DenyConfigChangesExceptDeployers"].map((s): Mutant => ({ name: `log bucket policy without ${s}`, policy: AL, apply: onLogPolicy(dropSid(s)) })),
    { name: "log bucket policy: deletes allowed to the deployer", policy: AL, apply: onLogPolicy((d) => (sid(d, "DenyDeletes").Condition = { ArnNotLike: { "aws:PrincipalArn": DEPLOYER } })) },
    { name: "log bucket policy: write deny exempts an IAM role instead of log delivery", policy: AL, apply: onLogPolicy((d) => (sid(d, "DenyWritesExceptLogDelivery").Condition = { ArnNotLike: { "aws:PrincipalArn": DEPLOYER } })) },
    { name: "log bucket policy: log delivery accepted from any bucket (aws:SourceArn dropped)", policy: AL, apply: onLogPolicy((d) => delete sid(d, "S3LogDeliveryForTheVaultOnly").Condition.ArnLike) },
    { name: "log bucket policy: log delivery for another account", policy: AL, apply: onLogPolicy((d) => (sid(d, "S3LogDeliveryForTheVaultOnly").Condition.StringEquals["aws:SourceAccount"] = "999988887777")) },
    { name: "log bucket policy: an account role allowed to read and delete logs", policy: AL, apply: onLogPolicy((d) => d.Statement.push({ Effect: "Allow", Principal: { AWS: DEPLOYER }, Action: ["s3:GetObject", "s3:DeleteObject"], Resource: `${LOG_ARN}/*` })) },
    { name: "log bucket policy: public read", policy: AL, apply: onLogPolicy((d) => d.Statement.push({ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `${LOG_ARN}/*` })) },
    { name: "log bucket policy: log delivery may also delete", policy: AL, apply: onLogPolicy((d) => (sid(d, "S3LogDeliveryForTheVaultOnly").Action = ["s3:PutObject", "s3:DeleteObject"])) },
    { name: "log bucket policy removed", policy: AL, apply: (rs) => rs.splice(rs.indexOf(one(rs, T.policy, "-access-logs-policy")), 1) },
    { name: "log bucket: public access block off", policy: AL, apply: (rs) => (props(rs, T.pab, "-access-logs-public-access").blockPublicPolicy = false) },
    { name: "log bucket: versioning suspended", policy: AL, apply: (rs) => (props(rs, T.versioning, "-access-logs-versioning").versioningConfiguration.status = "Suspended") },
    { name: "log bucket: logs expire after 30 days (retentionDays 400)", policy: AL, apply: (rs) => (props(rs, T.lifecycle, "-access-logs-lifecycle").rules[0].expiration.days = 30) },
    { name: "log bucket: an extra lifecycle rule expiring a prefix after 1 day", policy: AL, apply: (rs) => props(rs, T.lifecycle, "-access-logs-lifecycle").rules.push({ id: "x", status: "Enabled", filter: { prefix: "s3-access/" }, expiration: { days: 1 } }) },
    { name: "log bucket: SSE-KMS default encryption (S3 log delivery would fail)", policy: AL, apply: (rs) => (props(rs, T.sse, "-access-logs-sse").rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/x" }) },
    { name: "log bucket: a default Object Lock retention (S3 log delivery would fail)", policy: AL, apply: (rs) => add(rs, T.lock, "logs-lock", { bucket: LOGS, objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: "COMPLIANCE", days: 400 } } }) },
    { name: "log bucket: Object Lock not enabled (versioning could be suspended)", policy: AL, apply: (rs) => (props(rs, T.bucket, "-access-logs-bucket").objectLockEnabled = false) },
    { name: "log bucket removed while aws.accessLogs is on", policy: AL, apply: (rs) => rs.splice(rs.indexOf(one(rs, T.bucket, "-access-logs-bucket")), 1) },
    { name: "the vault's access logging removed", policy: AL, apply: (rs) => rs.splice(rs.indexOf(one(rs, T.logging, "-vault-logging")), 1) },
    { name: "the vault logs into another bucket", policy: AL, apply: (rs) => (props(rs, T.logging, "-vault-logging").targetBucket = "someone-elses-bucket") },
];
