// Policy: the canary Postgres (verify restores every backup into it, and a backup holds code) stays
// isolated: no NetworkPolicy that selects it has an egress rule, and at least one denies its egress;
// its ingress comes only from the verify pods, on the Postgres port; its service account carries no
// cloud identity, and it reads no Secret but its own. k8s-workloads-restricted holds it to the
// restricted profile like every pod; this rule is what makes it a sandbox (docs/security.md).
import { type BackupPolicy, asArray, readPolicyConfig, show } from "../lib/common";
import { podLabelsOf, podSpecOf, selectorMatches } from "../lib/k8s";

export interface CanaryConfig {
    namespace: string;
}

const COMPONENT = "app.kubernetes.io/component";
const CLOUD_IDENTITY_ANNOTATIONS = ["eks.amazonaws.com/role-arn", "azure.workload.identity/client-id", "iam.gke.io/gcp-service-account"];
const POSTGRES_PORTS = new Set<unknown>([5432, "5432", "postgres"]);
const NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

/** The Secrets a pod spec reads: env, envFrom, volumes (also projected). */
export function secretsOf(spec: any): string[] {
    const out: string[] = [];
    const containers = [...asArray<any>(spec?.initContainers), ...asArray<any>(spec?.containers)];
    for (const c of containers) {
        for (const e of asArray<any>(c?.env)) if (e?.valueFrom?.secretKeyRef) out.push(String(e.valueFrom.secretKeyRef.name));
        for (const e of asArray<any>(c?.envFrom)) if (e?.secretRef) out.push(String(e.secretRef.name));
    }
    for (const v of asArray<any>(spec?.volumes)) {
        if (v?.secret) out.push(String(v.secret.secretName));
        for (const s of asArray<any>(v?.projected?.sources)) if (s?.secret) out.push(String(s.secret.name));
    }
    return out;
}

/** Why an ingress rule admits more than the verify pods on the Postgres port (undefined: it does not). */
function ingressProblem(rule: any): string | undefined {
    const from = asArray<any>(rule?.from);
    if (!from.length) return "from anywhere";
    for (const peer of from) {
        if (peer?.ipBlock) return `from the addresses ${show(peer.ipBlock.cidr)}`;
        if (peer?.namespaceSelector) return "from pods of other namespaces";
        if (peer?.podSelector?.matchLabels?.[COMPONENT] !== "verify") return `from pods other than verify's (${show(peer?.podSelector)})`;
    }
    const ports = asArray<any>(rule?.ports);
    if (!ports.length || ports.some((p) => !POSTGRES_PORTS.has(p?.port) || (p?.protocol ?? "TCP") !== "TCP" || p?.endPort !== undefined)) return `on ports ${show(ports)} (only TCP 5432)`;
    return undefined;
}

function canaryProblems(kind: string, r: any, labels: Record<string, string>, netpols: any[], accounts: any[]): string[] {
    const out: string[] = [];
    const selecting = netpols.filter((n) => selectorMatches(n.props?.spec?.podSelector ?? {}, labels));
    for (const n of selecting) {
        const s = n.props?.spec ?? {};
        const name = show(n.props?.metadata?.name ?? n.name);
        if (asArray(s.egress).length) out.push(`NetworkPolicy ${name} lets it out (egress rules ${show(s.egress)}): a restored function could reach the network`);
        for (const rule of asArray<any>(s.ingress)) {
            const why = ingressProblem(rule);
            if (why) out.push(`NetworkPolicy ${name} admits connections ${why}`);
        }
    }
    if (!selecting.some((n) => asArray<string>(n.props?.spec?.policyTypes).includes("Egress"))) out.push("no NetworkPolicy denies its egress (policyTypes Egress, no rule)");
    if (!selecting.some((n) => asArray<string>(n.props?.spec?.policyTypes).includes("Ingress"))) out.push("no NetworkPolicy limits its ingress");
    const spec = podSpecOf(kind, r.props);
    const saName = spec?.serviceAccountName;
    const sa = accounts.find((a) => a.props?.metadata?.name === saName);
    if (!sa) out.push(`its service account ${show(saName)} is not declared by the stack (the default one may carry a cloud identity)`);
    for (const a of CLOUD_IDENTITY_ANNOTATIONS) if (sa?.props?.metadata?.annotations?.[a] !== undefined) out.push(`its service account ${show(saName)} has a cloud identity (${a})`);
    if (labels["azure.workload.identity/use"] === "true") out.push("its pods ask for an Azure workload identity");
    const own = `${r.props?.metadata?.name}-`;
    for (const s of secretsOf(spec)) if (!s.startsWith(own)) out.push(`it reads the Secret ${show(s)}, not one of its own (${own}*)`);
    return out;
}

export const canaryPolicy: BackupPolicy = {
    name: "k8s-canary-isolated",
    description:
        "The canary Postgres that verify restores every backup into has no egress (no NetworkPolicy selecting it has an egress rule, one denies it), " +
        "admits only the verify pods on TCP 5432, runs under a declared service account without cloud identity, and reads only its own Secrets.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Declare the canary through components/canary.ts (labels app.kubernetes.io/component=canary): keep its deny-all NetworkPolicy without egress rules, " +
        "admit only pods labelled app.kubernetes.io/component=verify on 5432, and give it its own service account without IRSA/workload-identity annotations.",
    configSchema: { properties: { namespace: { type: "string", minLength: 1 } }, required: ["namespace"] },
    configFromStack: (cfg) => ({ namespace: cfg.kubernetes.namespace }),
    validateStack: (args, report) => {
        const cfg = readPolicyConfig<CanaryConfig>(canaryPolicy, args);
        const inNs = (r: any) => r.props?.metadata?.namespace === cfg.namespace;
        const netpols = args.resources.filter((r) => r.type === NETPOL && inNs(r));
        const accounts = args.resources.filter((r) => r.type === "kubernetes:core/v1:ServiceAccount" && inNs(r));
        let canaries = 0;
        for (const r of args.resources) {
            if (!r.type.startsWith("kubernetes:") || !inNs(r)) continue;
            const kind = r.type.split(":").pop()!;
            const labels = podLabelsOf(kind, r.props);
            if (labels[COMPONENT] !== "canary" || !podSpecOf(kind, r.props)) continue;
            canaries++;
            for (const m of canaryProblems(kind, r, labels, netpols, accounts)) report(`canary ${kind} ${show(r.props?.metadata?.name ?? r.name)}: ${m}`, r.urn);
        }
        const verifies = args.resources.some((r) => r.type === "kubernetes:batch/v1:CronJob" && inNs(r) && r.props?.spec?.jobTemplate?.spec?.template?.metadata?.labels?.[COMPONENT] === "verify");
        if (verifies && !canaries) report("the stack runs verify but declares no canary workload (app.kubernetes.io/component=canary): where would it restore?");
    },
};
