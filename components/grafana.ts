// GrafanaDashboard: the dashboard of components/dashboard.ts as a ConfigMap that Grafana's dashboard
// sidecar (k8s-sidecar, as in kube-prometheus-stack and the Grafana Helm chart) picks up by its label.
// On unless the stack file says `grafana.dashboard: false`.
import * as pulumi from "@pulumi/pulumi";
import * as corev1 from "@pulumi/kubernetes/core/v1";
import type { StackConfig } from "@supabase-backups/contracts";
import { dashboardJson, dashboardOptionsOf } from "./dashboard";

/** The label the sidecar selects on (its default `label: grafana_dashboard`, value "1"). */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: "1" } as const;
/** The annotation the sidecar reads the folder from when its folderAnnotation is set (kube-prometheus-stack's default name). */
export const GRAFANA_FOLDER_ANNOTATION = "grafana_folder";

export interface GrafanaDashboardArgs {
    config: StackConfig;
    /** where the ConfigMap goes: grafana.namespace, else the stack's namespace (an Output, so it waits for it) */
    namespace: pulumi.Input<string>;
    labels: Record<string, string>;
}

export function dashboardEnabled(cfg: StackConfig): boolean {
    return cfg.grafana?.dashboard ?? true;
}

export class GrafanaDashboard extends pulumi.ComponentResource {
    readonly configMap: corev1.ConfigMap;

    constructor(name: string, args: GrafanaDashboardArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:GrafanaDashboard", name, {}, opts);
        const cfg = args.config;
        const o = dashboardOptionsOf(cfg);
        this.configMap = new corev1.ConfigMap(
            `${name}-configmap`,
            {
                metadata: {
                    name: o.uid,
                    namespace: args.namespace,
                    labels: { ...args.labels, ...GRAFANA_DASHBOARD_LABEL },
                    annotations: cfg.grafana?.folder ? { [GRAFANA_FOLDER_ANNOTATION]: cfg.grafana.folder } : undefined,
                },
                data: { [`${o.uid}.json`]: dashboardJson(o) },
            },
            { parent: this },
        );
        this.registerOutputs({ configMap: o.uid });
    }
}
