// Policy: every workload in the backups' namespace meets the Kubernetes "restricted" Pod Security profile,
// whatever its kind (CronJob, Job, Deployment, DaemonSet, StatefulSet, ReplicaSet, Pod); images are pinned
// by digest where the stack asks for it (prod); the namespace keeps its pod-security labels; and a
// NetworkPolicy keeps default deny (Ingress and Egress policy types, no ingress rule) over its pods.
import { type BackupPolicy, asArray, readPolicyConfig, show } from "../lib/common";
import { podLabelsOf, podSpecOf, selectorMatches } from "../lib/k8s";

export interface WorkloadConfig {
    namespace: string;
    requireDigests: boolean;
}

const WORKLOAD_KINDS = ["CronJob", "Job", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Pod", "ReplicationController"];
const isWorkload = (type: string) => type.startsWith("kubernetes:") && WORKLOAD_KINDS.includes(type.split(":").pop()!);
const DIGEST = /@sha256:[0-9a-f]{64}$/;

export function restrictedProblems(spec: any, requireDigests: boolean): string[] {
    const out: string[] = [];
    if (!spec || typeof spec !== "object") return ["no pod spec"];
    for (const k of ["hostNetwork", "hostPID", "hostIPC", "hostUsers"] as const) {
        if (k === "hostUsers" ? spec[k] === true : spec[k] === true) out.push(`${k} is true: the pod shares the node's namespace`);
    }
    if (spec.automountServiceAccountToken !== false) out.push(`automountServiceAccountToken is ${show(spec.automountServiceAccountToken)}, expected false (a mounted token lets the pod call the Kubernetes API)`);
    for (const v of asArray<any>(spec.volumes)) if (v?.hostPath) out.push(`volume ${show(v.name)} mounts the node's ${show(v.hostPath.path)} (hostPath)`);
    const podSc = spec.securityContext ?? {};
    const containers = [...asArray<any>(spec.initContainers), ...asArray<any>(spec.containers), ...asArray<any>(spec.ephemeralContainers)];
    for (const c of containers) {
        const at = `container ${show(c?.name)}`;
        const sc = c?.securityContext ?? {};
        if (sc.privileged === true) out.push(`${at} is privileged`);
        if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is ${show(sc.allowPrivilegeEscalation)}, expected false`);
        const added = asArray<string>(sc.capabilities?.add).filter((x) => x !== "NET_BIND_SERVICE");
        if (added.length) out.push(`${at} adds capabilities ${added.join(", ")}`);
        if (!asArray<string>(sc.capabilities?.drop).includes("ALL")) out.push(`${at} does not drop ALL capabilities`);
        const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") out.push(`${at}: seccomp profile is ${show(seccomp)}, expected RuntimeDefault`);
        if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) out.push(`${at}: runAsNonRoot is not true`);
        if ((sc.runAsUser ?? podSc.runAsUser) === 0) out.push(`${at} runs as uid 0`);
        if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem is ${show(sc.readOnlyRootFilesystem)}, expected true`);
        for (const p of asArray<any>(c?.ports)) if (p?.hostPort !== undefined && p.hostPort !== 0) out.push(`${at} binds hostPort ${p.hostPort}`);
        if (requireDigests && !DIGEST.test(String(c?.image ?? ""))) out.push(`${at}: image ${show(c?.image)} is not pinned by digest (@sha256:…); a tag can be moved to other code`);
    }
    return out;
}

export const workloadsPolicy: BackupPolicy = {
    name: "k8s-workloads-restricted",
    description:
        "Every workload in the backups' namespace meets the restricted Pod Security profile (no privileged, host namespaces, hostPath, hostPort, added capabilities, " +
        "Unconfined seccomp, mounted service-account token, root or writable root filesystem), pins images by digest in prod; the namespace keeps pod-security " +
        "enforce=restricted and a NetworkPolicy keeps default deny.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Declare workloads through BackupSchedule (its pod template is restricted), set kubernetes.image to image@sha256:<digest> in prod, keep the Namespace labels " +
        "pod-security.kubernetes.io/enforce: restricted and the NetworkPolicy with policyTypes [Ingress, Egress] and no ingress rules.",
    configSchema: {
        properties: {
            namespace: { type: "string", minLength: 1 },
            requireDigests: { type: "boolean", default: false, description: "images pinned by digest (prod)" },
        },
        required: ["namespace"],
    },
    configFromStack: (cfg) => ({ namespace: cfg.kubernetes.namespace, requireDigests: cfg.env === "prod" }),
    validateStack: (args, report) => {
        const cfg = readPolicyConfig<WorkloadConfig>(workloadsPolicy, args);
        const inNs = (r: any) => r.props?.metadata?.namespace === cfg.namespace;
        const ns = args.resources.find((r) => r.type === "kubernetes:core/v1:Namespace" && r.props?.metadata?.name === cfg.namespace);
        if (!ns) report(`the stack declares no Namespace ${show(cfg.namespace)}: its pod-security labels cannot be enforced`);
        else if (ns.props?.metadata?.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted") {
            report(`namespace ${cfg.namespace}: label pod-security.kubernetes.io/enforce is ${show(ns.props?.metadata?.labels?.["pod-security.kubernetes.io/enforce"])}, expected "restricted"`, ns.urn);
        }
        const pods: { r: any; labels: Record<string, string> }[] = [];
        for (const r of args.resources) {
            if (!isWorkload(r.type) || !inNs(r)) continue;
            const kind = r.type.split(":").pop()!;
            for (const m of restrictedProblems(podSpecOf(kind, r.props), cfg.requireDigests)) report(`${kind} ${show(r.props?.metadata?.name ?? r.name)}: ${m}`, r.urn);
            pods.push({ r, labels: podLabelsOf(kind, r.props) });
        }
        // Default deny: some NetworkPolicy with both policy types, no ingress rule, selects every pod.
        const netpols = args.resources.filter((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && inNs(r));
        const denying = netpols.filter((n) => {
            const s = n.props?.spec ?? {};
            const types = asArray<string>(s.policyTypes);
            return types.includes("Ingress") && types.includes("Egress") && asArray(s.ingress).length === 0;
        });
        for (const n of netpols) {
            if (asArray<any>(n.props?.spec?.ingress).some((rule) => !rule || asArray(rule.from).length === 0)) report(`NetworkPolicy ${show(n.props?.metadata?.name)} allows ingress from anywhere`, n.urn);
        }
        for (const p of pods) {
            if (!denying.some((n) => selectorMatches(n.props?.spec?.podSelector ?? {}, p.labels))) {
                report(`${p.r.type.split(":").pop()} ${show(p.r.props?.metadata?.name ?? p.r.name)} is not under a default-deny NetworkPolicy (policyTypes Ingress and Egress, no ingress rules)`, p.r.urn);
            }
        }
    },
};
