// The stack file's `aws` section: the vault's account, region, KMS key, the identities that may deploy
// and restore, the break-glass role, security alerts and the vault's access logs.
import { Type } from "@sinclair/typebox";
import { Enum, strict } from "./schema-kit";

const PrincipalArns = (description: string, minItems = 0) =>
    Type.Array(Type.String({ pattern: "^arn:aws:(iam|sts)::\\d{12}:[^*?]+$" }), { minItems, description });

export const BreakGlassSchema = Type.Object(
    {
        principalArns: PrincipalArns("people (or their account root) who may assume the break-glass role, with MFA: the only ones who can delete or disable the vault key or change its policy", 1),
        mfaMaxAgeSeconds: Type.Integer({ minimum: 300, maximum: 43200, default: 3600, description: "how old the MFA sign-in may be" }),
        deployersMayChangeKeyPolicy: Type.Boolean({
            default: false,
            description:
                "false: only the break-glass role may change the key policy (the key is created with the lockout safety check bypassed, on purpose); true: deployers keep kms:PutKeyPolicy (weaker: a compromised deploy pipeline can rewrite the policy, the alert still fires)",
        }),
    },
    { ...strict, description: "the break-glass role (docs/security.md \"Vault and key policies\")" },
);

export const SecurityAlertsSchema = Type.Object(
    {
        subscriptions: Type.Array(
            Type.Object(
                {
                    protocol: Enum(["email", "https", "sqs", "lambda"] as const),
                    endpoint: Type.String({ minLength: 3, description: "address, HTTPS URL (e.g. a pager's SNS integration) or ARN" }),
                },
                strict,
            ),
            { default: [], description: "where the SNS topic of key and bucket-policy events delivers" },
        ),
    },
    { ...strict, description: "EventBridge rules on vault key and bucket configuration changes, published to an SNS topic" },
);

export const AccessLogsSchema = Type.Object(
    {
        enabled: Type.Boolean({ default: true, description: "S3 server access logging of the vault into a separate, locked log bucket" }),
        bucketName: Type.Optional(
            Type.String({ pattern: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description: "the log bucket; default <aws.bucketName>-access-logs" }),
        ),
        retentionDays: Type.Integer({ minimum: 90, maximum: 3650, default: 400, description: "days the access logs are kept (the monthly access audit needs at least a month; a year and a month covers a yearly review)" }),
    },
    strict,
);

export const AwsSchema = Type.Object(
    {
        region: Type.String({ pattern: "^[a-z]{2}(-gov)?-[a-z]+-\\d$", description: "AWS region, e.g. ap-southeast-1" }),
        accountId: Type.String({ pattern: "^\\d{12}$", description: "12-digit AWS account id the stack deploys into" }),
        bucketName: Type.String({
            pattern: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            description: "vault bucket name (globally unique)",
        }),
        kms: Type.Object(
            {
                alias: Type.String({ pattern: "^alias/[a-zA-Z0-9/_-]+$", description: "KMS alias, e.g. alias/supabase-backups-prod" }),
                deletionWindowDays: Type.Integer({ minimum: 7, maximum: 30, default: 30 }),
            },
            strict,
        ),
        oidcProviderArn: Type.String({
            pattern: "^arn:aws:iam::\\d{12}:oidc-provider/.+$",
            description: "the EKS cluster's IAM OIDC provider (IRSA)",
        }),
        // No wildcards: each entry is exempt from the bucket's config and the key's destruction denies.
        deployerArns: Type.Array(Type.String({ pattern: "^arn:aws:(iam|sts)::\\d{12}:[^*?\\s]+$" }), {
            minItems: 1,
            description: "principals that run `pulumi up`: the only ones allowed to change bucket configuration (exact ARNs, no wildcards)",
        }),
        restoreOperatorArns: Type.Array(Type.String({ pattern: "^arn:aws:(iam|sts)::\\d{12}:.+$" }), {
            default: [],
            description: "people (or their account root) who may assume the restore-operator role, with MFA",
        }),
        protect: Type.Boolean({ default: true, description: "Pulumi `protect` on the bucket and the key" }),
        breakGlass: Type.Optional(BreakGlassSchema),
        securityAlerts: Type.Optional(SecurityAlertsSchema),
        accessLogs: Type.Optional(AccessLogsSchema),
    },
    strict,
);
