// A small evaluator of Kubernetes NetworkPolicies (networking.k8s.io/v1) as the API reference defines
// them, for the declared objects: a pod is isolated for a direction when some policy in its namespace
// selects it (podSelector) and lists that direction in policyTypes (default: Ingress, plus Egress when the
// policy has egress rules); an isolated pod's traffic is allowed when any rule of any such policy allows
// it (policies add up, none can deny); a connection between two pods needs the sender's egress AND the
// receiver's ingress. Peers: podSelector (in the policy's namespace unless a namespaceSelector is given),
// namespaceSelector, ipBlock (cidr minus except). Ports: protocol (default TCP), number, endPort; an
// empty `to`/`from`/`ports` means all. Not modelled: named ports, SCTP, IPv6 CIDRs, and traffic the CNI
// never filters (the node's own probes, host-network pods).
import { BlockList } from "node:net";

export interface LabelSelector {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}
export interface Peer {
    podSelector?: LabelSelector;
    namespaceSelector?: LabelSelector;
    ipBlock?: { cidr: string; except?: string[] };
}
export interface PortSpec {
    protocol?: string;
    port?: number | string;
    endPort?: number;
}
export interface NetworkPolicy {
    namespace: string;
    spec: {
        podSelector: LabelSelector;
        policyTypes?: string[];
        ingress?: { from?: Peer[]; ports?: PortSpec[] }[];
        egress?: { to?: Peer[]; ports?: PortSpec[] }[];
    };
}
/** A pod (namespace, labels, IP) or, with no namespace, an address outside the cluster's pods. */
export interface Endpoint {
    namespace?: string;
    labels?: Record<string, string>;
    namespaceLabels?: Record<string, string>;
    ip: string;
}

/** A label selector as Kubernetes reads it: every matchLabels pair and every expression; {} selects all. */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
    if (!sel) return true;
    for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
    for (const e of sel.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        if (e.operator === "In" && !(has && (e.values ?? []).includes(labels[e.key]))) return false;
        if (e.operator === "NotIn" && has && (e.values ?? []).includes(labels[e.key])) return false;
        if (e.operator === "Exists" && !has) return false;
        if (e.operator === "DoesNotExist" && has) return false;
    }
    return true;
}

function policyTypes(p: NetworkPolicy): string[] {
    return p.spec.policyTypes ?? ["Ingress", ...(p.spec.egress ? ["Egress"] : [])];
}

const nsLabels = (e: Endpoint) => e.namespaceLabels ?? { "kubernetes.io/metadata.name": e.namespace! };

function inCidr(ip: string, cidr: string): boolean {
    const [net, bits] = cidr.split("/");
    const list = new BlockList();
    list.addSubnet(net, Number(bits), "ipv4");
    return list.check(ip, "ipv4");
}

function peerMatches(peer: Peer, policyNs: string, other: Endpoint): boolean {
    if (peer.ipBlock) return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c));
    if (other.namespace === undefined) return false; // selectors match pods only
    if (peer.namespaceSelector) {
        if (!selectorMatches(peer.namespaceSelector, nsLabels(other))) return false;
    } else if (other.namespace !== policyNs) return false;
    return selectorMatches(peer.podSelector, other.labels ?? {});
}

function portMatches(ports: PortSpec[] | undefined, protocol: string, port: number): boolean {
    if (!ports?.length) return true;
    return ports.some((p) => {
        if ((p.protocol ?? "TCP") !== protocol) return false;
        if (p.port === undefined) return true;
        if (typeof p.port === "string") return false; // named ports: not modelled, never matched
        return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
    });
}

function allowedBy(policies: NetworkPolicy[], self: Endpoint, other: Endpoint, dir: "Ingress" | "Egress", protocol: string, port: number): boolean {
    if (self.namespace === undefined) return true; // outside the cluster: no policy applies
    const isolating = policies.filter((p) => p.namespace === self.namespace && selectorMatches(p.spec.podSelector, self.labels ?? {}) && policyTypes(p).includes(dir));
    if (!isolating.length) return true;
    return isolating.some((p) => {
        const rules = dir === "Egress" ? (p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })) : (p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }));
        return rules.some((r) => (!r.peers?.length || r.peers.some((peer) => peerMatches(peer, p.namespace, other))) && portMatches(r.ports, protocol, port));
    });
}

/** Whether `from` may open a connection to `to` on protocol/port: from's egress and to's ingress. */
export function connectionAllowed(policies: NetworkPolicy[], from: Endpoint, to: Endpoint, port: number, protocol = "TCP"): boolean {
    return allowedBy(policies, from, to, "Egress", protocol, port) && allowedBy(policies, to, from, "Ingress", protocol, port);
}

/** The policies that isolate a pod for a direction (select it and list the type). */
export function isolatingPolicies(policies: NetworkPolicy[], pod: Omit<Endpoint, "ip">, dir: "Ingress" | "Egress"): NetworkPolicy[] {
    return policies.filter((p) => p.namespace === pod.namespace && selectorMatches(p.spec.podSelector, pod.labels ?? {}) && policyTypes(p).includes(dir));
}
