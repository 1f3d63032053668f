// Weakenings of the canary's sandbox (components/canary.ts) in the real prod program: each lets code
// restored from a backup reach the network, a cloud identity or another job's secrets, and must fail
// k8s-canary-isolated.
import type { DeclaredResource } from "../../../policy/evaluate";
import { add, type Mutant, one, props, T } from "./edit";

const P = "k8s-canary-isolated";
const NS = "supabase-backups-prod";
const canaryPod = (rs: DeclaredResource[]) => props(rs, T.deployment, "-canary").spec.template;
const denyAll = (rs: DeclaredResource[]) => props(rs, T.netpol, "-netpol-canary-deny-all").spec;
const ingress = (rs: DeclaredResource[]) => props(rs, T.netpol, "-netpol-canary-ingress-verify").spec.ingress[0];
const account = (rs: DeclaredResource[]) => props(rs, "kubernetes:core/v1:ServiceAccount", "-sa-canary").metadata;

export const CANARY_MUTANTS: Mutant[] = [
    { name: "canary: DNS egress added to its deny-all policy", policy: P, apply: (rs) => (denyAll(rs).egress = [{ ports: [{ protocol: "UDP", port: 53 }] }]) },
    {
        name: "canary: a second policy selects it by expression and lets it reach the internet on 443",
        policy: P,
        apply: (rs) =>
            add(rs, T.netpol, "sneaky-egress", {
                metadata: { name: "sneaky", namespace: NS },
                spec: { podSelector: { matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["canary", "verify"] }] }, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 443 }] }] },
            }),
    },
    { name: "canary: its deny-all policy no longer covers Egress", policy: P, apply: (rs) => (denyAll(rs).policyTypes = ["Ingress"]) },
    { name: "canary: ingress from every namespace", policy: P, apply: (rs) => (ingress(rs).from = [{ namespaceSelector: {} }]) },
    { name: "canary: ingress from any pod of the namespace", policy: P, apply: (rs) => (ingress(rs).from = [{ podSelector: {} }]) },
    { name: "canary: ingress on every port", policy: P, apply: (rs) => delete ingress(rs).ports },
    { name: "canary: its service account gets an IRSA role", policy: P, apply: (rs) => (account(rs).annotations = { "eks.amazonaws.com/role-arn": "arn:aws:iam::444455556666:role/supabase-backups-prod-verifier" }) },
    { name: "canary: runs as the verifier's service account", policy: P, apply: (rs) => (canaryPod(rs).spec.serviceAccountName = "supabase-backups-verifier") },
    { name: "canary: pods ask for an Azure workload identity", policy: P, apply: (rs) => (canaryPod(rs).metadata.labels["azure.workload.identity/use"] = "true") },
    {
        name: "canary: reads the verifier's secrets (the age identity)",
        policy: P,
        apply: (rs) => canaryPod(rs).spec.containers[0].env.push({ name: "AGE_IDENTITY", valueFrom: { secretKeyRef: { name: "supabase-backups-verifier-secrets", key: "AGE_IDENTITY" } } }),
    },
    { name: "canary: its Deployment removed while verify still runs", policy: P, apply: (rs) => void rs.splice(rs.indexOf(one(rs, T.deployment, "-canary")), 1) },
];
