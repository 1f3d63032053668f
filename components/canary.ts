// The canary Postgres in its own pod (docs/security.md "The canary runs hostile code"). verify restores
// every backup into it, and a backup holds code (CHECK constraints, index expressions, SECURITY DEFINER
// functions). As a sidecar it shared the verify pod's network namespace: its egress (DNS, 443, 5432) and,
// one privilege escalation away, the verifier's cloud identity's token endpoint. Here it runs where:
//   - the service account has no cloud identity (no IRSA / workload-identity annotation) and no token
//     is mounted; the pod gets no Secret but its own password and TLS key;
//   - a NetworkPolicy selects exactly its pods with policyTypes [Ingress, Egress] and no egress rule at
//     all (not even DNS), and a second one admits only the verify pods, on 5432;
//   - the verify pod reaches it through a Service, with TLS (verify-full against the pinned self-signed
//     certificate) and a generated superuser password (CanaryCredentialsResource).
// One Deployment, always up: no API rights are needed to start it per run (the verify pod has none),
// and verify drops the database and roles it made after every run.
import * as pulumi from "@pulumi/pulumi";
import * as appsv1 from "@pulumi/kubernetes/apps/v1";
import * as corev1 from "@pulumi/kubernetes/core/v1";
import * as networkingv1 from "@pulumi/kubernetes/networking/v1";
import type * as k8s from "@pulumi/kubernetes/types/input";
import { canaryImageFor, canarySuperuser, JOB_ENV, type StackConfig } from "@supabase-backups/contracts";
import { CanaryCredentialsResource } from "./canary-credentials";
import { JOB_CONFIG_DIR, PROJECT } from "./names";

export const CANARY_NAME = `${PROJECT}-canary`;
export const CANARY_PORT = 5432;
/** The canary's pod labels: NOT the jobs' app label, so no jobs' NetworkPolicy (DNS, 443) selects it. */
export const CANARY_POD_LABELS = { "app.kubernetes.io/name": CANARY_NAME, "app.kubernetes.io/part-of": PROJECT, "app.kubernetes.io/component": "canary" };
/** The verify pods, as the canary's ingress rule and the verify egress policy select them. */
export const VERIFY_POD_SELECTOR = { "app.kubernetes.io/name": PROJECT, "app.kubernetes.io/component": "verify" };
/** In the config volume: the canary's certificate, which the verify job trusts (and nothing else for it). */
export const CANARY_CA_FILE = "canary-ca.pem";
const TLS_DIR = "/etc/canary-tls";
const POSTGRES_UID = 999; // the official and Supabase postgres images' user

/** The Service's names the certificate covers; the verify job uses `<name>.<ns>.svc`. */
export function canaryDnsNames(namespace: string): string[] {
    return [CANARY_NAME, `${CANARY_NAME}.${namespace}`, `${CANARY_NAME}.${namespace}.svc`, `${CANARY_NAME}.${namespace}.svc.cluster.local`];
}

/** The verify job's canary URL: no password (CANARY_DATABASE_PASSWORD), TLS against the pinned certificate. */
export function canaryDatabaseUrl(image: string, namespace: string): string {
    return `postgresql://${canarySuperuser(image)}@${CANARY_NAME}.${namespace}.svc:${CANARY_PORT}/postgres?sslrootcert=${encodeURIComponent(`${JOB_CONFIG_DIR}/${CANARY_CA_FILE}`)}`;
}

export interface Canary {
    /** env of the verify container: the URL and the password from the canary's password Secret */
    verifyEnv: k8s.core.v1.EnvVar[];
    /** data for the jobs' ConfigMap: the certificate */
    configData: Record<string, pulumi.Input<string>>;
}

export function declareCanary(name: string, cfg: StackConfig, labels: Record<string, string>, opts: pulumi.CustomResourceOptions, hardened: (uid: number) => k8s.core.v1.SecurityContext): Canary {
    const ns = cfg.kubernetes.namespace;
    const image = canaryImageFor(cfg);
    const creds = new CanaryCredentialsResource(`${name}-canary-credentials`, { dnsNames: canaryDnsNames(ns) }, { parent: opts.parent });
    const meta = (n: string) => ({ name: n, namespace: ns, labels: { ...labels, ...CANARY_POD_LABELS } });

    // Its own account: no IRSA role-arn, no Azure client-id annotation, no token.
    const account = new corev1.ServiceAccount(`${name}-sa-canary`, { metadata: meta(CANARY_NAME), automountServiceAccountToken: false }, opts);
    const passwordSecret = new corev1.Secret(
        `${name}-canary-password`,
        { metadata: meta(`${CANARY_NAME}-password`), type: "Opaque", stringData: { password: pulumi.secret(creds.password) } },
        opts,
    );
    const tlsSecret = new corev1.Secret(
        `${name}-canary-tls`,
        { metadata: meta(`${CANARY_NAME}-tls`), type: "kubernetes.io/tls", stringData: { "tls.crt": creds.certPem, "tls.key": pulumi.secret(creds.keyPem) } },
        opts,
    );
    const passwordRef = { secretKeyRef: { name: passwordSecret.metadata.name, key: "password" } };

    new appsv1.Deployment(
        `${name}-canary`,
        {
            metadata: meta(CANARY_NAME),
            spec: {
                replicas: 1,
                strategy: { type: "Recreate" },
                selector: { matchLabels: CANARY_POD_LABELS },
                template: { metadata: { labels: { ...labels, ...CANARY_POD_LABELS } }, spec: canaryPodSpec(cfg, image, account.metadata.name, tlsSecret.metadata.name, passwordRef, hardened) },
            },
        },
        opts,
    );
    new corev1.Service(
        `${name}-canary-svc`,
        { metadata: meta(CANARY_NAME), spec: { type: "ClusterIP", selector: CANARY_POD_LABELS, ports: [{ name: "postgres", port: CANARY_PORT, targetPort: CANARY_PORT, protocol: "TCP" }] } },
        opts,
    );
    for (const [suffix, spec] of Object.entries(canaryNetworkPolicies())) {
        new networkingv1.NetworkPolicy(`${name}-netpol-${suffix}`, { metadata: { name: `${PROJECT}-${suffix}`, namespace: ns, labels }, spec }, opts);
    }
    return {
        verifyEnv: [
            { name: JOB_ENV.canaryDatabaseUrl, value: canaryDatabaseUrl(image, ns) },
            { name: JOB_ENV.canaryDatabasePassword, valueFrom: passwordRef },
        ],
        configData: { [CANARY_CA_FILE]: creds.certPem },
    };
}

/**
 * The three policies: the canary denies everything (both types, no rule: not even DNS), admits the
 * verify pods on 5432; the verify pods may reach the canary on 5432 (their other egress is the jobs').
 */
export function canaryNetworkPolicies(): Record<string, k8s.networking.v1.NetworkPolicySpec> {
    const port = [{ protocol: "TCP", port: CANARY_PORT }];
    return {
        "canary-deny-all": { podSelector: { matchLabels: CANARY_POD_LABELS }, policyTypes: ["Ingress", "Egress"], ingress: [], egress: [] },
        "canary-ingress-verify": { podSelector: { matchLabels: CANARY_POD_LABELS }, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: { matchLabels: VERIFY_POD_SELECTOR } }], ports: port }] },
        "verify-egress-canary": { podSelector: { matchLabels: VERIFY_POD_SELECTOR }, policyTypes: ["Egress"], egress: [{ to: [{ podSelector: { matchLabels: CANARY_POD_LABELS } }], ports: port }] },
    };
}

function canaryPodSpec(
    cfg: StackConfig,
    image: string,
    account: pulumi.Input<string>,
    tlsSecret: pulumi.Input<string>,
    passwordRef: k8s.core.v1.EnvVarSource,
    hardened: (uid: number) => k8s.core.v1.SecurityContext,
): k8s.core.v1.PodSpec {
    return {
        serviceAccountName: account,
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        // the key file must be readable by postgres and not by others: root-owned, group fsGroup, 0640
        securityContext: { runAsNonRoot: true, runAsUser: POSTGRES_UID, runAsGroup: POSTGRES_UID, fsGroup: POSTGRES_UID, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
            {
                name: "postgres",
                image,
                imagePullPolicy: cfg.kubernetes.imagePullPolicy,
                args: [
                    ...["-c", `port=${CANARY_PORT}`, "-c", "listen_addresses=*", "-c", "fsync=off", "-c", "full_page_writes=off"],
                    ...["-c", "ssl=on", "-c", `ssl_cert_file=${TLS_DIR}/tls.crt`, "-c", `ssl_key_file=${TLS_DIR}/tls.key`, "-c", "password_encryption=scram-sha-256"],
                ],
                env: [
                    // the image's init sets the superuser's password from it (Supabase's: supabase_admin and postgres)
                    { name: "POSTGRES_PASSWORD", valueFrom: passwordRef },
                    { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
                ],
                ports: [{ name: "postgres", containerPort: CANARY_PORT, protocol: "TCP" }],
                // exec probes: the kubelet needs no network path to a pod that admits only verify
                startupProbe: { exec: { command: ["pg_isready", "-h", "127.0.0.1", "-p", String(CANARY_PORT)] }, periodSeconds: 5, failureThreshold: 60 },
                readinessProbe: { exec: { command: ["pg_isready", "-h", "127.0.0.1", "-p", String(CANARY_PORT)] }, periodSeconds: 10 },
                resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "4Gi" } },
                securityContext: hardened(POSTGRES_UID),
                volumeMounts: [
                    { name: "data", mountPath: "/var/lib/postgresql/data" },
                    { name: "run", mountPath: "/var/run/postgresql" },
                    { name: "tmp", mountPath: "/tmp" },
                    { name: "tls", mountPath: TLS_DIR, readOnly: true },
                ],
            },
        ],
        volumes: [
            { name: "data", emptyDir: { sizeLimit: `${cfg.kubernetes.scratchSizeGi}Gi` } },
            { name: "run", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
            { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
            { name: "tls", secret: { secretName: tlsSecret, defaultMode: 0o640 } },
        ],
    };
}
