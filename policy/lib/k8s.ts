// Kubernetes shapes the k8s policies share: a workload's pod spec and pod labels whatever its kind, and
// label selectors evaluated as Kubernetes defines them (matchLabels and matchExpressions, ANDed).
import { asArray } from "./common";

/** The pod spec of any workload kind. */
export function podSpecOf(kind: string, props: any): any {
    if (kind === "Pod") return props?.spec;
    if (kind === "CronJob") return props?.spec?.jobTemplate?.spec?.template?.spec;
    return props?.spec?.template?.spec;
}

/** The labels of the pods a workload makes. */
export function podLabelsOf(kind: string, props: any): Record<string, string> {
    const meta = kind === "Pod" ? props?.metadata : kind === "CronJob" ? props?.spec?.jobTemplate?.spec?.template?.metadata : props?.spec?.template?.metadata;
    return meta?.labels ?? {};
}

/** A label selector against a pod's labels; an absent selector selects every pod. */
export function selectorMatches(sel: any, labels: Record<string, string>): boolean {
    if (!sel) return true;
    const byLabel = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
    return byLabel && asArray<any>(sel.matchExpressions).every((e) => expressionMatches(e, labels));
}

function expressionMatches(e: any, labels: Record<string, string>): boolean {
    const has = Object.prototype.hasOwnProperty.call(labels, e?.key);
    const values = asArray<string>(e?.values);
    switch (e?.operator) {
        case "In":
            return has && values.includes(labels[e.key]);
        case "NotIn":
            return !has || !values.includes(labels[e.key]);
        case "Exists":
            return has;
        case "DoesNotExist":
            return !has;
        default:
            return false;
    }
}
