// SecurityAlerts: an alert within minutes when someone touches the vault key or the vault's bucket
// configuration (docs/security.md "Vault and key policies"). EventBridge rules on the CloudTrail
// management events of this key and these buckets publish to an SNS topic; the stack file subscribes a
// pager (HTTPS integration), a mailbox, a queue or a function. The in-cluster alerting (PrometheusRule)
// cannot see the AWS control plane, and these events must page even when the cluster is the thing that
// was compromised.
import * as pulumi from "@pulumi/pulumi";
import * as sns from "@pulumi/aws/sns";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import type { PolicyDocument } from "./iam-policies";
import { namePrefix } from "./names";

/** CloudTrail event names on the stack's keys (vault, record signing) that destroy them, or could (a policy change). */
export const KEY_ALERT_EVENTS = ["ScheduleKeyDeletion", "DisableKey", "DisableKeyRotation", "PutKeyPolicy", "CancelKeyDeletion", "EnableKey"] as const;

/** CloudTrail event names (as CloudTrail spells them) that change a bucket's protection. */
export const BUCKET_ALERT_EVENTS = [
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketAcl",
    "PutBucketVersioning",
    "PutObjectLockConfiguration",
    "PutBucketObjectLockConfiguration",
    "PutBucketLifecycle",
    "PutBucketLifecycleConfiguration",
    "DeleteBucketLifecycle",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "PutBucketPublicAccessBlock",
    "DeleteBucketPublicAccessBlock",
    "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketReplication",
    "DeleteBucketReplication",
    "PutBucketTagging",
    "DeleteBucketTagging",
    "DeleteBucket",
] as const;

/** The rule on the keys' events: only these keys (CloudTrail lists the key in the event's resources). */
export function keyEventPattern(keyArns: string[]): object {
    return {
        source: ["aws.kms"],
        "detail-type": ["AWS API Call via CloudTrail"],
        detail: { eventSource: ["kms.amazonaws.com"], eventName: [...KEY_ALERT_EVENTS], resources: { ARN: [...keyArns] } },
    };
}

/** The rule on bucket configuration changes of the vault (and its access-log bucket). */
export function bucketEventPattern(bucketNames: string[]): object {
    return {
        source: ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        detail: { eventSource: ["s3.amazonaws.com"], eventName: [...BUCKET_ALERT_EVENTS], requestParameters: { bucketName: bucketNames } },
    };
}

/** Only these rules may publish to the topic. */
export function alertTopicPolicy(topicArn: string, ruleArns: string[]): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "EventBridgeRulesPublish",
                Effect: "Allow",
                Principal: { Service: "events.amazonaws.com" },
                Action: "sns:Publish",
                Resource: topicArn,
                Condition: { ArnEquals: { "aws:SourceArn": ruleArns } },
            },
        ],
    };
}

export interface SecurityAlertsArgs {
    env: string;
    /** the vault key and the record-signing key: a destroyed signing key stops every record from being trusted */
    keyArns: pulumi.Input<string>[];
    bucketNames: string[];
    subscriptions: { protocol: string; endpoint: string }[];
    tags?: Record<string, string>;
}

export class SecurityAlerts extends pulumi.ComponentResource {
    readonly topicArn: pulumi.Output<string>;

    constructor(name: string, args: SecurityAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:SecurityAlerts", name, {}, opts);
        const child = { parent: this };
        const tags = { project: "supabase-backups", env: args.env, ...args.tags };
        const prefix = namePrefix(args.env);
        // Not KMS-encrypted: EventBridge cannot publish to a topic under the AWS-managed SNS key, and the
        // events carry names and ARNs, no data or secrets.
        const topic = new sns.Topic(`${name}-topic`, { name: `${prefix}-security`, displayName: `supabase-backups ${args.env} security`, tags }, child);
        this.topicArn = topic.arn;
        const rules = [
            new cloudwatch.EventRule(
                `${name}-key`,
                {
                    name: `${prefix}-vault-key-changes`,
                    description: `supabase-backups ${args.env}: the vault key or the record-signing key was scheduled for deletion, disabled, or its policy or rotation changed`,
                    eventPattern: pulumi.all(args.keyArns).apply((arns) => JSON.stringify(keyEventPattern(arns))),
                    tags,
                },
                child,
            ),
            new cloudwatch.EventRule(
                `${name}-bucket`,
                {
                    name: `${prefix}-vault-bucket-changes`,
                    description: `supabase-backups ${args.env}: the vault bucket's policy or protection configuration changed`,
                    eventPattern: JSON.stringify(bucketEventPattern(args.bucketNames)),
                    tags,
                },
                child,
            ),
        ];
        const policy = new sns.TopicPolicy(
            `${name}-topic-policy`,
            { arn: topic.arn, policy: pulumi.all([topic.arn, ...rules.map((r) => r.arn)]).apply(([t, ...r]) => JSON.stringify(alertTopicPolicy(t, r))) },
            child,
        );
        rules.forEach((rule, i) => new cloudwatch.EventTarget(`${name}-target-${i}`, { rule: rule.name, arn: topic.arn }, { parent: this, dependsOn: [policy] }));
        args.subscriptions.forEach(
            (s, i) => new sns.TopicSubscription(`${name}-subscription-${i}`, { topic: topic.arn, protocol: s.protocol, endpoint: s.endpoint }, child),
        );
        this.registerOutputs({ topicArn: this.topicArn });
    }
}
