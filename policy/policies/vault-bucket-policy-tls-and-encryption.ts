// Policy 5: the vault's bucket policy denies every request not made over TLS and every put that is not
// SSE-KMS encrypted, for every principal. Statements are judged with actions expanded against the
// AWS catalog (a Deny of `s3:*` covers all S3 actions; a Deny of `s3:Get*` does not).
import type { Unwrap } from "@pulumi/pulumi";
import type { BucketPolicyArgs } from "@pulumi/aws/s3";
import { type BackupPolicy, asArray, parseDocument, show, T } from "../lib/common";
import { catalog, expandDocument, type Statement } from "../lib/iam-catalog";

function isEveryone(principal: unknown): boolean {
    if (principal === "*") return true;
    if (principal && typeof principal === "object") return asArray((principal as any).AWS).includes("*");
    return false;
}

function conditionValues(cond: Record<string, Record<string, unknown>>, operators: string[], key: string): string[] {
    const out: string[] = [];
    for (const [op, body] of Object.entries(cond)) {
        if (!operators.includes(op) || !body || typeof body !== "object") continue;
        for (const [k, v] of Object.entries(body)) if (k.toLowerCase() === key.toLowerCase()) out.push(...asArray(v as any).map((x) => String(x).toLowerCase()));
    }
    return out;
}

function coversObjects(s: Statement): boolean {
    if (s.notResources) return false;
    return (s.resources ?? []).some((r) => r === "*" || /^arn:aws:s3:::[^/]+\/\*$/.test(r));
}
function coversBucket(s: Statement): boolean {
    if (s.notResources) return false;
    return (s.resources ?? []).some((r) => r === "*" || /^arn:aws:s3:::[^/]+$/.test(r));
}

export async function bucketPolicyProblems(doc: unknown): Promise<string[]> {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`bucket policy is ${parsed.error}`];
    const { statements } = await expandDocument(parsed.doc);
    const s3All = [...(await catalog()).keys()].filter((k) => k.startsWith("s3:"));
    const out: string[] = [];

    const tls = statements.find(
        (s) =>
            s.effect === "Deny" &&
            isEveryone(s.principal) &&
            conditionValues(s.condition, ["Bool", "BoolIfExists"], "aws:SecureTransport").includes("false") &&
            s3All.every((a) => s.actions.has(a)) &&
            coversObjects(s) &&
            coversBucket(s),
    );
    if (!tls) {
        out.push(
            "no statement denies non-TLS requests: expected Effect Deny, Principal \"*\", Action \"s3:*\" (every S3 action), Resource the bucket and bucket/*, " +
                "Condition Bool aws:SecureTransport \"false\"",
        );
    }

    const sseHeader = "s3:x-amz-server-side-encryption";
    const kmsKeyHeader = "s3:x-amz-server-side-encryption-aws-kms-key-id";
    const unencrypted = statements.find(
        (s) =>
            s.effect === "Deny" &&
            isEveryone(s.principal) &&
            s.actions.has("s3:putobject") &&
            coversObjects(s) &&
            (conditionValues(s.condition, ["StringNotEquals", "StringNotEqualsIfExists"], sseHeader).some((v) => v.startsWith("aws:kms")) ||
                conditionValues(s.condition, ["Null"], sseHeader).includes("true") ||
                conditionValues(s.condition, ["StringNotEquals", "StringNotEqualsIfExists", "StringNotLike", "StringNotLikeIfExists"], kmsKeyHeader).length > 0),
    );
    if (!unencrypted) {
        out.push(
            "no statement denies unencrypted or wrong-key puts: expected Effect Deny, Principal \"*\", Action s3:PutObject on bucket/*, with Condition " +
                `StringNotEquals ${sseHeader} "aws:kms" (or Null ${sseHeader} "true", or StringNotEquals ${kmsKeyHeader} <the vault key ARN>)`,
        );
    }

    for (const s of statements) {
        if (s.effect === "Allow" && isEveryone(s.principal)) {
            out.push(`statement ${show(s.sid ?? s.raw)} allows everyone (Principal "*"); the vault must never be public`);
        }
    }
    return out;
}

export const bucketPolicyPolicy: BackupPolicy = {
    name: "vault-bucket-policy-tls-and-encryption",
    description: "The vault bucket policy denies non-TLS requests and unencrypted (non SSE-KMS) puts for every principal, and allows nothing to everyone.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Keep BackupVault's BucketPolicy statements: Deny s3:* to \"*\" on the bucket and bucket/* when aws:SecureTransport is \"false\"; " +
        "Deny s3:PutObject to \"*\" on bucket/* when s3:x-amz-server-side-encryption is not \"aws:kms\" or the KMS key id is not the vault key.",
    validateResource: async (args, report) => {
        if (args.type !== T.bucketPolicy) return;
        const p = args.props as Unwrap<BucketPolicyArgs>;
        for (const m of await bucketPolicyProblems(p.policy)) report(m);
    },
};
