// BackupSchedule: the Kubernetes side (docs/architecture.md "Kubernetes"). Namespace, one service
// account per identity, Secrets holding only what each identity needs, the job config, hardened
// CronJobs, a NetworkPolicy, and the PrometheusRule derived from the schedules.
import * as pulumi from "@pulumi/pulumi";
import * as corev1 from "@pulumi/kubernetes/core/v1";
import * as batchv1 from "@pulumi/kubernetes/batch/v1";
import * as networkingv1 from "@pulumi/kubernetes/networking/v1";
import * as apiextensions from "@pulumi/kubernetes/apiextensions";
import type * as k8s from "@pulumi/kubernetes/types/input";
import { JOB_ENV, SECRETS, type SecretName, type StackConfig } from "@supabase-backups/contracts";
import { declareCanary } from "./canary";
import {
    CLOUD_IDENTITIES,
    JOB_CONFIG_DIR,
    JOB_CONFIG_FILE,
    JOB_IDENTITY,
    SCRATCH_DIR,
    serviceAccountName,
    type CloudIdentity,
    type WorkloadIdentity,
} from "./names";
import { alertRules, plannedJobs, type PlannedJob } from "./plan";

export interface BackupScheduleArgs {
    config: StackConfig;
    secrets: Partial<Record<SecretName, string>>;
    /** job-config.json (JobConfigSchema) */
    jobConfig: pulumi.Input<string>;
    roleArns: Record<CloudIdentity, pulumi.Input<string>>;
    /** Azure workload identity client ids, when the archive is enabled */
    azureClientIds?: Record<CloudIdentity, pulumi.Input<string>>;
}

/** Which secrets each identity's pods receive (least privilege: the writer never gets the age key). */
export const IDENTITY_SECRETS: Record<WorkloadIdentity, SecretName[]> = {
    writer: ["databaseUrl", "serviceRoleKey", "storageS3AccessKeyId", "storageS3SecretAccessKey"],
    verifier: ["ageIdentity"],
    gc: [],
    check: ["managementApiToken"],
    // a drill decrypts dumps, restores buckets into restored-* through the Storage API, and creates
    // throw-away databases on the scratch server; it never gets DATABASE_URL
    drill: ["ageIdentity", "serviceRoleKey", "drillScratchPassword"],
};

export const APP_LABEL = { "app.kubernetes.io/name": "supabase-backups", "app.kubernetes.io/part-of": "supabase-backups" };

/** Requests and limits per kind. verify restores into the canary pod (components/canary.ts), which has its own. */
const RESOURCES: Record<PlannedJob["kind"], k8s.core.v1.ResourceRequirements> = {
    dump: { requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } },
    "sync-storage": { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } },
    verify: { requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } },
    "check-supabase": { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "250m", memory: "256Mi" } },
    gc: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } },
    drill: { requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } },
};

const RUN_AS = 10001; // the job image's fixed non-root user (jobs/Dockerfile)

const dropAll = (user: number): k8s.core.v1.SecurityContext => ({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: user,
    runAsGroup: user,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
});

export class BackupSchedule extends pulumi.ComponentResource {
    readonly namespace: pulumi.Output<string>;
    readonly cronJobs: Record<string, batchv1.CronJob> = {};
    readonly jobs: PlannedJob[];

    constructor(name: string, args: BackupScheduleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:BackupSchedule", name, {}, opts);
        const cfg = args.config;
        const ns = cfg.kubernetes.namespace;
        const azure = !!args.azureClientIds;
        const labels = { ...APP_LABEL, "supabase-backups/env": cfg.env };

        const namespace = new corev1.Namespace(
            `${name}-ns`,
            {
                metadata: {
                    name: ns,
                    labels: {
                        ...labels,
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
            },
            { parent: this },
        );
        this.namespace = namespace.metadata.name;
        const inNs = { parent: this, dependsOn: [namespace] };

        const accounts = {} as Record<WorkloadIdentity, corev1.ServiceAccount>;
        for (const id of [...CLOUD_IDENTITIES, "check"] as WorkloadIdentity[]) {
            const annotations: Record<string, pulumi.Input<string>> = {};
            if (id !== "check") {
                annotations["eks.amazonaws.com/role-arn"] = args.roleArns[id];
                annotations["eks.amazonaws.com/sts-regional-endpoints"] = "true";
                if (args.azureClientIds) annotations["azure.workload.identity/client-id"] = args.azureClientIds[id];
            }
            accounts[id] = new corev1.ServiceAccount(
                `${name}-sa-${id}`,
                {
                    metadata: { name: serviceAccountName(id), namespace: ns, labels, annotations },
                    automountServiceAccountToken: false,
                },
                inNs,
            );
        }

        // One Secret per identity with only its secrets; values stay Pulumi secrets end to end.
        const secretNames: Partial<Record<WorkloadIdentity, string>> = {};
        for (const [id, keys] of Object.entries(IDENTITY_SECRETS) as [WorkloadIdentity, SecretName[]][]) {
            const present = keys.filter((k) => args.secrets[k] !== undefined);
            if (!present.length) continue;
            const secretName = `${serviceAccountName(id)}-secrets`;
            new corev1.Secret(
                `${name}-secret-${id}`,
                {
                    metadata: { name: secretName, namespace: ns, labels },
                    type: "Opaque",
                    immutable: false,
                    stringData: Object.fromEntries(present.map((k) => [SECRETS[k].env, pulumi.secret(args.secrets[k]!)])),
                },
                inNs,
            );
            secretNames[id] = secretName;
        }

        this.jobs = plannedJobs(cfg);
        // The canary Postgres runs in its own pod without egress or credentials (components/canary.ts).
        const canary = this.jobs.some((j) => j.kind === "verify") ? declareCanary(name, cfg, labels, inNs, dropAll) : undefined;

        const configMap = new corev1.ConfigMap(
            `${name}-config`,
            { metadata: { name: "supabase-backups-config", namespace: ns, labels }, data: { [JOB_CONFIG_FILE]: args.jobConfig, ...postgresCaData(cfg), ...canary?.configData } },
            inNs,
        );

        for (const j of this.jobs) {
            const identity = JOB_IDENTITY[j.kind];
            const podLabels: Record<string, string> = {
                ...labels,
                "app.kubernetes.io/component": j.kind,
                "app.kubernetes.io/instance": j.name,
            };
            if (azure && identity !== "check") podLabels["azure.workload.identity/use"] = "true";
            const secretName = secretNames[identity];
            const env: k8s.core.v1.EnvVar[] = [
                { name: JOB_ENV.config, value: `${JOB_CONFIG_DIR}/${JOB_CONFIG_FILE}` },
                { name: JOB_ENV.cronJob, value: j.name },
                { name: "AWS_REGION", value: cfg.aws.region },
                // The image writes only under TMPDIR=/tmp (spools, tsx cache): that is the scratch emptyDir.
                { name: "HOME", value: SCRATCH_DIR },
                { name: "TMPDIR", value: SCRATCH_DIR },
                ...postgresCaEnv(cfg),
                ...IDENTITY_SECRETS[identity]
                    .filter((k) => args.secrets[k] !== undefined)
                    .map((k) => ({ name: SECRETS[k].env, valueFrom: { secretKeyRef: { name: secretName!, key: SECRETS[k].env } } })),
            ];
            const shards = j.kind === "sync-storage" ? cfg.storage.shards : 1;
            if (shards > 1) {
                // Every shard of one Indexed Job must write into the same run: sync-storage derives the run
                // id from the Job's name (the CronJob's scheduled time), which the downward API provides.
                env.push(
                    { name: JOB_ENV.jobCompletions, value: String(shards) },
                    { name: "JOB_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } } },
                );
            }
            if (j.kind === "verify" && canary) env.push(...canary.verifyEnv);

            const volumes: k8s.core.v1.Volume[] = [
                { name: "config", configMap: { name: configMap.metadata.name, defaultMode: 0o444 } },
                { name: "scratch", emptyDir: { sizeLimit: `${cfg.kubernetes.scratchSizeGi}Gi` } },
            ];
            const podSpec: k8s.core.v1.PodSpec = {
                serviceAccountName: accounts[identity].metadata.name,
                // IRSA and Azure workload identity inject their own projected tokens; the Kubernetes
                // API token is not needed.
                automountServiceAccountToken: false,
                restartPolicy: "Never",
                enableServiceLinks: false,
                securityContext: {
                    runAsNonRoot: true,
                    runAsUser: RUN_AS,
                    runAsGroup: RUN_AS,
                    fsGroup: RUN_AS,
                    seccompProfile: { type: "RuntimeDefault" },
                },
                containers: [
                    {
                        name: j.kind,
                        image: cfg.kubernetes.image,
                        imagePullPolicy: cfg.kubernetes.imagePullPolicy,
                        args: j.args,
                        env,
                        resources: RESOURCES[j.kind],
                        securityContext: dropAll(RUN_AS),
                        volumeMounts: [
                            { name: "config", mountPath: JOB_CONFIG_DIR, readOnly: true },
                            { name: "scratch", mountPath: SCRATCH_DIR },
                        ],
                    },
                ],
                volumes,
            };
            const jobSpec: k8s.batch.v1.JobSpec = {
                backoffLimit: shards > 1 ? shards : 1,
                activeDeadlineSeconds: j.activeDeadlineSeconds,
                ttlSecondsAfterFinished: 3 * 86400,
                ...(shards > 1 ? { completionMode: "Indexed", completions: shards, parallelism: shards } : {}),
                template: { metadata: { labels: podLabels }, spec: podSpec },
            };
            this.cronJobs[j.name] = new batchv1.CronJob(
                `${name}-${j.name}`,
                {
                    metadata: { name: j.name, namespace: ns, labels: { ...labels, "app.kubernetes.io/component": j.kind } },
                    spec: {
                        schedule: j.schedule,
                        timeZone: j.timeZone,
                        concurrencyPolicy: "Forbid",
                        startingDeadlineSeconds: j.startingDeadlineSeconds,
                        successfulJobsHistoryLimit: 3,
                        failedJobsHistoryLimit: 3,
                        suspend: false,
                        jobTemplate: { metadata: { labels: podLabels }, spec: jobSpec },
                    },
                },
                inNs,
            );
        }

        // NetworkPolicies add up: every pod gets the base (no ingress; DNS, HTTPS, the Pushgateway), and
        // only the pods that talk to Postgres (dump, sync-storage; drill, to its scratch server) also reach it.
        new networkingv1.NetworkPolicy(
            `${name}-netpol`,
            {
                metadata: { name: "supabase-backups-egress", namespace: ns, labels },
                spec: { podSelector: { matchLabels: APP_LABEL }, policyTypes: ["Ingress", "Egress"], ingress: [], egress: egressRules(cfg) },
            },
            inNs,
        );
        new networkingv1.NetworkPolicy(
            `${name}-netpol-database`,
            {
                metadata: { name: "supabase-backups-egress-database", namespace: ns, labels },
                spec: {
                    podSelector: { matchLabels: APP_LABEL, matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: [...DATABASE_CLIENTS] }] },
                    policyTypes: ["Egress"],
                    egress: databaseEgressRules(cfg),
                },
            },
            inNs,
        );

        new apiextensions.CustomResource(
            `${name}-alerts`,
            {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: { name: "supabase-backups", namespace: ns, labels },
                spec: { groups: [{ name: `supabase-backups-${cfg.env}`, rules: alertRules(cfg, this.jobs) }] },
            },
            inNs,
        );

        this.registerOutputs({ namespace: this.namespace, cronJobs: Object.keys(this.cronJobs) });
    }
}

/** The job kinds that connect to Postgres (the source; a drill, its scratch server): the only pods with Postgres egress. */
export const DATABASE_CLIENTS = ["dump", "sync-storage", "drill"] as const satisfies readonly PlannedJob["kind"][];

/** Postgres (5432 direct, 6543 pooler) to the configured CIDRs: for DATABASE_CLIENTS only. */
export function databaseEgressRules(cfg: StackConfig): k8s.networking.v1.NetworkPolicyEgressRule[] {
    return [
        {
            to: cfg.kubernetes.egressCidrs.map((cidr) => ({ ipBlock: { cidr } })),
            ports: [
                { protocol: "TCP", port: 5432 },
                { protocol: "TCP", port: 6543 },
            ],
        },
    ];
}

/** Every pod: DNS to kube-dns, HTTPS to the configured CIDRs (S3, KMS, STS, Azure, Supabase's APIs), the Pushgateway. */
export function egressRules(cfg: StackConfig): k8s.networking.v1.NetworkPolicyEgressRule[] {
    const rules: k8s.networking.v1.NetworkPolicyEgressRule[] = [
        {
            to: [
                {
                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
                    podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
                },
            ],
            ports: [
                { protocol: "UDP", port: 53 },
                { protocol: "TCP", port: 53 },
            ],
        },
        {
            to: cfg.kubernetes.egressCidrs.map((cidr) => ({ ipBlock: { cidr } })),
            ports: [{ protocol: "TCP", port: 443 }],
        },
    ];
    if (cfg.alerts.pushgatewayUrl) {
        const u = new URL(cfg.alerts.pushgatewayUrl);
        const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
        // In-cluster Pushgateway: any namespace (pod IPs are not in the egress CIDRs).
        rules.push({ to: [{ namespaceSelector: {} }], ports: [{ protocol: "TCP", port }] });
    }
    return rules;
}

/** The CA bundle that signs the database's certificate (postgres.caBundle): a file in the config volume. */
const POSTGRES_CA_FILE = "postgres-ca.pem";

function postgresCaData(cfg: StackConfig): Record<string, string> {
    return cfg.postgres?.caBundle ? { [POSTGRES_CA_FILE]: cfg.postgres.caBundle } : {};
}

/** libpq's own variable: the jobs verify Postgres servers (verify-full) against the mounted bundle. */
function postgresCaEnv(cfg: StackConfig): k8s.core.v1.EnvVar[] {
    return cfg.postgres?.caBundle ? [{ name: "PGSSLROOTCERT", value: `${JOB_CONFIG_DIR}/${POSTGRES_CA_FILE}` }] : [];
}
