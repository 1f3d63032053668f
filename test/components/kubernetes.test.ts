// Every Kubernetes object the program declares, validated against the Kubernetes (and Prometheus
// Operator) schemas with kubernetes-models, then checked against docs/architecture.md "Kubernetes".
import { strict as assert } from "node:assert";
import {
    JOB_ENV,
    METRICS,
    SECRETS,
    maxIntervalSeconds,
    validateJobConfig,
} from "@supabase-backups/contracts";
import { parser as promql } from "@prometheus-io/lezer-promql";
import { CronExpressionParser } from "cron-parser";
import { ofType, one, stackRun } from "../support/components";

/** PromQL syntax errors of an expression (Prometheus' own grammar). */
function promqlErrors(expr: string): string[] {
    const errors: string[] = [];
    promql.parse(expr).iterate({
        enter: (n) => {
            if (n.type.isError) errors.push(`at ${n.from}: …${expr.slice(Math.max(0, n.from - 20), n.from + 20)}…`);
        },
    });
    return errors;
}
import type { DeclaredResource, MockRunResult } from "../../scripts/lib/mockrun";

type Model = new (data: any) => { validate(): void };

// kubernetes-models is ESM-only ("import" condition): load it with a real dynamic import.
const esmImport = new Function("s", "return import(s)") as (s: string) => Promise<any>;
const MODELS: Record<string, string> = {
    "kubernetes:core/v1:Namespace": "kubernetes-models/v1/Namespace",
    "kubernetes:core/v1:ServiceAccount": "kubernetes-models/v1/ServiceAccount",
    "kubernetes:core/v1:Secret": "kubernetes-models/v1/Secret",
    "kubernetes:core/v1:ConfigMap": "kubernetes-models/v1/ConfigMap",
    "kubernetes:batch/v1:CronJob": "kubernetes-models/batch/v1/CronJob",
    "kubernetes:apps/v1:Deployment": "kubernetes-models/apps/v1/Deployment",
    "kubernetes:core/v1:Service": "kubernetes-models/v1/Service",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
};

async function modelFor(type: string): Promise<Model> {
    const spec = MODELS[type];
    if (!spec) throw new Error(`no kubernetes-models class mapped for ${type}`);
    const mod = await esmImport(spec);
    return mod[type.split(":").pop()!];
}

const cronJobs = (r: MockRunResult) => ofType(r, "kubernetes:batch/v1:CronJob");
const podOf = (c: DeclaredResource) => c.inputs.spec.jobTemplate.spec.template.spec;

for (const stack of ["staging", "prod"] as const) {
    describe(`Kubernetes (${stack})`, () => {
        let r: MockRunResult;
        before(async () => {
            r = await stackRun(stack);
        });

        it("every object validates against its schema (kubernetes-models)", async () => {
            const k8s = r.resources.filter((x) => x.type.startsWith("kubernetes:"));
            assert.ok(k8s.length >= 12, `only ${k8s.length} Kubernetes objects`);
            const problems: string[] = [];
            for (const obj of k8s) {
                const M = await modelFor(obj.type);
                try {
                    new M(obj.inputs).validate();
                } catch (e: any) {
                    problems.push(`${obj.type} ${obj.name}: ${e.message}`);
                }
            }
            assert.deepEqual(problems, []);
        });

        it("the schema check is not vacuous: a broken CronJob fails it", async () => {
            const M = await modelFor("kubernetes:batch/v1:CronJob");
            const bad = structuredClone(cronJobs(r)[0].inputs);
            bad.spec.concurrencyPolicy = 42;
            assert.throws(() => new M(bad).validate());
        });

        it("one CronJob per kind, sync-storage once per distinct bucket schedule", () => {
            const names = cronJobs(r).map((c) => c.inputs.metadata.name).sort();
            assert.deepEqual(names, ["check-supabase", "drill-full", "drill-storage", "drill-table", "dump", "gc", "sync-storage", "sync-storage-public-assets", "verify"]);
            const daily = cronJobs(r).find((c) => c.inputs.metadata.name === "sync-storage")!;
            const weekly = cronJobs(r).find((c) => c.inputs.metadata.name === "sync-storage-public-assets")!;
            assert.equal(daily.inputs.spec.schedule, "0 4 * * *");
            assert.deepEqual(podOf(daily).containers[0].args, ["sync-storage", "--bucket", "user-media"]);
            assert.equal(weekly.inputs.spec.schedule, "30 4 * * 0", "04:30 as the runbooks say, not the minute of the daily sync");
            assert.deepEqual(podOf(weekly).containers[0].args, ["sync-storage", "--bucket", "public-assets"]);
            assert.equal(one(r, "kubernetes:batch/v1:CronJob", "-dump").inputs.spec.schedule, "30 3 * * *");
            // no two sync-storage CronJobs start at the same minute (they would compete for Storage and the vault)
            const starts = (c: DeclaredResource) => {
                const it = CronExpressionParser.parse(c.inputs.spec.schedule, { tz: c.inputs.spec.timeZone, currentDate: new Date(Date.UTC(2026, 0, 1)) });
                return Array.from({ length: 40 }, () => it.next().getTime()).filter((t) => t < Date.UTC(2026, 0, 15));
            };
            const seen = new Set(starts(daily));
            assert.deepEqual(starts(weekly).filter((t) => seen.has(t)).map((t) => new Date(t).toISOString()), []);
        });

        it("CronJobs are hardened as docs/architecture.md \"Kubernetes\" says", () => {
            for (const c of cronJobs(r)) {
                const name = c.inputs.metadata.name;
                const spec = c.inputs.spec;
                const job = spec.jobTemplate.spec;
                const pod = podOf(c);
                assert.equal(spec.timeZone, "Asia/Manila", name);
                assert.equal(spec.concurrencyPolicy, "Forbid", name);
                assert.ok(spec.startingDeadlineSeconds >= 120 && spec.startingDeadlineSeconds <= 3600, `${name}: starting deadline of minutes`);
                assert.ok(Number.isInteger(job.backoffLimit) && job.backoffLimit >= 1, name);
                assert.ok(job.activeDeadlineSeconds > 0 && job.activeDeadlineSeconds < maxIntervalSeconds(spec.schedule, spec.timeZone), `${name}: ends before the next run`);
                assert.ok(job.ttlSecondsAfterFinished > 0, name);
                assert.equal(pod.restartPolicy, "Never");
                assert.equal(pod.automountServiceAccountToken, false);
                assert.equal(pod.securityContext.runAsNonRoot, true);
                assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
                for (const ctr of [...pod.containers, ...(pod.initContainers ?? [])]) {
                    const sc = ctr.securityContext;
                    assert.equal(sc.runAsNonRoot, true, `${name}/${ctr.name}`);
                    assert.equal(sc.readOnlyRootFilesystem, true, `${name}/${ctr.name}`);
                    assert.equal(sc.allowPrivilegeEscalation, false, `${name}/${ctr.name}`);
                    assert.deepEqual(sc.capabilities.drop, ["ALL"], `${name}/${ctr.name}`);
                    assert.equal(sc.seccompProfile.type, "RuntimeDefault");
                    assert.ok(ctr.resources.requests.cpu && ctr.resources.requests.memory, `${name}/${ctr.name}: requests`);
                    assert.ok(ctr.resources.limits.memory && ctr.resources.limits.cpu, `${name}/${ctr.name}: limits`);
                }
                // scratch on an emptyDir, mounted where the image writes (TMPDIR)
                const main = pod.containers[0];
                const tmpdir = main.env.find((e: any) => e.name === "TMPDIR").value;
                const mount = main.volumeMounts.find((m: any) => m.mountPath === tmpdir);
                assert.ok(mount, `${name}: TMPDIR is mounted`);
                assert.ok(pod.volumes.find((v: any) => v.name === mount.name).emptyDir, `${name}: scratch is an emptyDir`);
                assert.equal(main.volumeMounts.find((m: any) => m.name === "config").readOnly, true);
                assert.equal(main.env.find((e: any) => e.name === JOB_ENV.config).value, "/etc/supabase-backups/job-config.json");
                assert.equal(main.env.find((e: any) => e.name === JOB_ENV.cronJob).value, name);
            }
        });

        it("each job runs as its identity, with only its secrets, from Secret references", () => {
            const want: Record<string, { sa: string; secrets: string[] }> = {
                dump: { sa: "supabase-backups-writer", secrets: [SECRETS.databaseUrl.env, SECRETS.serviceRoleKey.env] },
                "sync-storage": { sa: "supabase-backups-writer", secrets: [SECRETS.databaseUrl.env, SECRETS.serviceRoleKey.env] },
                verify: { sa: "supabase-backups-verifier", secrets: [JOB_ENV.canaryDatabasePassword, ...(stack === "prod" ? [SECRETS.ageIdentity.env] : [])] },
                "check-supabase": { sa: "supabase-backups-check", secrets: [SECRETS.managementApiToken.env] },
                gc: { sa: "supabase-backups-gc", secrets: [] },
                drill: { sa: "supabase-backups-drill", secrets: [SECRETS.serviceRoleKey.env, SECRETS.drillScratchPassword.env, ...(stack === "prod" ? [SECRETS.ageIdentity.env] : [])] },
            };
            for (const c of cronJobs(r)) {
                const kind = c.inputs.metadata.labels["app.kubernetes.io/component"];
                const pod = podOf(c);
                assert.equal(pod.serviceAccountName, want[kind].sa, c.name);
                const fromSecrets = pod.containers[0].env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.name);
                assert.deepEqual(fromSecrets.sort(), [...want[kind].secrets].sort(), c.name);
                assert.ok(!pod.containers[0].env.some((e: any) => Object.values(SECRETS).some((s) => s.env === e.name) && e.value !== undefined), `${c.name}: no secret inline`);
            }
            for (const s of ofType(r, "kubernetes:core/v1:Secret")) {
                assert.ok(Object.keys(s.inputs.stringData).length > 0);
                // Pulumi lifts secretness to the top-level property: the whole stringData is secret.
                for (const k of Object.keys(s.inputs.stringData))
                    assert.ok(s.secretPaths.includes("stringData") || s.secretPaths.includes(`stringData.${k}`), `${s.name}.${k} is a Pulumi secret`);
            }
        });

        it("service accounts carry IRSA and (prod) Azure workload identity annotations", () => {
            for (const id of ["writer", "verifier", "gc", "drill"]) {
                const sa = one(r, "kubernetes:core/v1:ServiceAccount", `-sa-${id}`).inputs;
                assert.equal(sa.metadata.annotations["eks.amazonaws.com/role-arn"], r.outputs.roleArns[id]);
                if (stack === "prod") assert.equal(sa.metadata.annotations["azure.workload.identity/client-id"], r.outputs.azureClientIds[id]);
                else assert.equal(sa.metadata.annotations["azure.workload.identity/client-id"], undefined);
            }
            const check = one(r, "kubernetes:core/v1:ServiceAccount", "-sa-check").inputs;
            assert.deepEqual(check.metadata.annotations, {});
        });

        it("verify points CANARY_DATABASE_URL at the canary Deployment's Service (test/attacks/sandbox-canary-pod.test.ts: no egress, no credentials)", () => {
            const pod = podOf(one(r, "kubernetes:batch/v1:CronJob", "-verify"));
            const url = new URL(pod.containers[0].env.find((e: any) => e.name === JOB_ENV.canaryDatabaseUrl).value);
            const svc = one(r, "kubernetes:core/v1:Service", "-canary-svc").inputs;
            const dep = one(r, "kubernetes:apps/v1:Deployment", "-canary").inputs;
            assert.equal(url.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
            assert.equal(Number(url.port), svc.spec.ports[0].port);
            assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
            for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) assert.equal(dep.spec.template.metadata.labels[k], v);
            assert.equal(dep.spec.replicas, 1);
            assert.equal(dep.spec.strategy.type, "Recreate", "one canary at a time");
            const canary = dep.spec.template.spec.containers[0];
            assert.equal(canary.ports[0].containerPort, svc.spec.ports[0].targetPort);
            assert.ok(canary.args.includes("ssl=on"), "TLS: verify connects with verify-full");
            assert.ok(canary.startupProbe.exec && canary.readinessProbe.exec, "exec probes: nothing needs to reach the pod but verify");
            // Supabase's own image at the project's exact version: same major, same extensions
            const version = stack === "prod" ? "17.6.1.011" : "15.8.1.085";
            assert.match(canary.image, new RegExp(`^public\\.ecr\\.aws/supabase/postgres:${version.replace(/\./g, "\\.")}(@sha256:[0-9a-f]{64})?$`));
            if (stack === "prod") assert.match(canary.image, /@sha256:/, "prod pins the canary by digest (kubernetes.canaryImage)");
            assert.equal(decodeURIComponent(url.username), "supabase_admin", "Supabase's images make supabase_admin the superuser");
        });

        it(`sync-storage is ${stack === "prod" ? "an Indexed Job with one pod per shard" : "a plain Job (shards = 1)"}`, () => {
            for (const c of cronJobs(r).filter((x) => x.inputs.metadata.labels["app.kubernetes.io/component"] === "sync-storage")) {
                const job = c.inputs.spec.jobTemplate.spec;
                if (stack === "prod") {
                    assert.equal(job.completionMode, "Indexed");
                    assert.equal(job.completions, 4);
                    assert.equal(job.parallelism, 4);
                    assert.equal(podOf(c).containers[0].env.find((e: any) => e.name === JOB_ENV.jobCompletions).value, "4");
                    // all shards of one Job share a run id derived from the Job's name
                    assert.equal(
                        podOf(c).containers[0].env.find((e: any) => e.name === "JOB_NAME")?.valueFrom?.fieldRef?.fieldPath,
                        "metadata.labels['batch.kubernetes.io/job-name']",
                    );
                } else {
                    assert.equal(job.completionMode, undefined);
                    assert.equal(job.completions, undefined);
                }
            }
        });

        it("the ConfigMap holds a job config that validates against JobConfigSchema", () => {
            const cm = one(r, "kubernetes:core/v1:ConfigMap", "-schedule-config");
            const raw = JSON.parse(cm.inputs.data["job-config.json"]);
            const v = validateJobConfig(raw, "job-config.json");
            assert.ok(v.ok, JSON.stringify(!v.ok && v.issues));
            assert.equal(raw.env, stack);
            assert.equal(raw.vault.bucket, r.outputs.bucketName);
            assert.equal(raw.vault.kmsKeyArn, r.outputs.kmsKeyArn);
            if (stack === "prod") assert.equal(`${raw.archive.accountUrl}/${raw.archive.container}`, r.outputs.archiveContainerUrl);
            else assert.equal(raw.archive, undefined);
            const text = cm.inputs.data["job-config.json"];
            assert.doesNotMatch(text, /placeholder/, "no secret in the ConfigMap");
        });

        it("NetworkPolicy: no ingress, egress only DNS and HTTPS; Postgres only for the pods that read the source (and the drills' scratch server)", () => {
            const np = one(r, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "-netpol").inputs.spec;
            assert.deepEqual(np.policyTypes, ["Ingress", "Egress"]);
            assert.deepEqual(np.ingress, []);
            assert.deepEqual(np.podSelector.matchLabels["app.kubernetes.io/name"], "supabase-backups");
            const ports = (spec: any) => spec.egress.flatMap((e: any) => e.ports.map((p: any) => `${p.protocol}/${p.port}`)).sort();
            assert.deepEqual(ports(np), ["TCP/443", "TCP/53", "UDP/53"]);
            const db = one(r, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "-netpol-database").inputs.spec;
            assert.deepEqual(db.policyTypes, ["Egress"]);
            assert.deepEqual(ports(db), ["TCP/5432", "TCP/6543"]);
            // which pods the database policy selects, evaluated on the CronJobs' own pod labels
            const selects = (labels: Record<string, string>) =>
                Object.entries(db.podSelector.matchLabels).every(([k, v]) => labels[k] === v) &&
                db.podSelector.matchExpressions.every((e: any) => e.operator === "In" && e.values.includes(labels[e.key]));
            for (const c of cronJobs(r)) {
                const l = c.inputs.spec.jobTemplate.spec.template.metadata.labels;
                assert.equal(l["app.kubernetes.io/name"], "supabase-backups", `${c.name} pods are selected by the policy`);
                const kind = l["app.kubernetes.io/component"];
                assert.equal(selects(l), kind === "dump" || kind === "sync-storage" || kind === "drill", `${c.name} (${kind}) reaches Postgres only if it reads the source or is a drill`);
            }
        });

        it("PrometheusRule alerts are derived from the schedules and watch only contract metrics", () => {
            const rules = one(r, "kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs.spec.groups.flatMap((g: any) => g.rules);
            const known = new Set(Object.values(METRICS));
            for (const rule of rules) {
                const names = (rule.expr.match(/supabase_backups_[a-z_]+/g) ?? []) as string[];
                assert.ok(names.length > 0, rule.alert);
                for (const n of names) assert.ok(known.has(n as any), `${rule.alert} watches unknown metric ${n}`);
            }
            assert.ok(promqlErrors("sum(rate(x[5m]) ").length > 0, "the syntax check can fail");
            for (const rule of rules) assert.deepEqual(promqlErrors(rule.expr), [], `${rule.alert}: ${rule.expr}`);
            const byAlert = (a: string) => rules.filter((x: any) => x.alert === a);
            const grace = stack === "prod" ? 60 * 60 : 60 * 60;
            // dead man's switch per CronJob: period + grace from the cron expression (drills: test/components/drills.test.ts)
            for (const c of cronJobs(r).filter((x) => x.inputs.metadata.labels["app.kubernetes.io/component"] !== "drill")) {
                const name = c.inputs.metadata.name;
                const period = maxIntervalSeconds(c.inputs.spec.schedule, c.inputs.spec.timeZone);
                const dms = byAlert("SupabaseBackupNoCompleteRun").find((x: any) => x.labels.cronjob === name);
                assert.ok(dms, `${name}: dead man's switch`);
                assert.match(dms.expr, new RegExp(`> ${period + grace}$`));
                const twice = byAlert("SupabaseBackupFailedTwice").find((x: any) => x.labels.cronjob === name);
                assert.match(twice.expr, new RegExp(`^\\(max by \\(env, kind\\) \\(${METRICS.consecutiveFailures}\\{[^}]*\\}\\) >= 2\\) or `));
                assert.match(twice.expr, new RegExp(`\\[${Math.round((2 * period + grace) / 60)}m\\]\\)\\) >= 1\\)$`), `${name}: two runs in two periods`);
                // the failure rate, from the run counters the jobs carry forward (issue 17 item 2)
                const rate = byAlert("SupabaseBackupFailureRateHigh").find((x: any) => x.labels.cronjob === name);
                assert.ok(rate, `${name}: failure-rate alert`);
                const w = Math.max(7 * 86400, 4 * period) / 86400;
                const sel = (perKind: number) => `env="${stack}",kind="${c.inputs.metadata.labels["app.kubernetes.io/component"]}"${perKind > 1 ? `,cronjob="${name}"` : ""}`;
                const n = cronJobs(r).filter((x) => x.inputs.metadata.labels["app.kubernetes.io/component"] === c.inputs.metadata.labels["app.kubernetes.io/component"]).length;
                assert.equal(
                    rate.expr,
                    `sum by (env, kind) (increase(${METRICS.runsTotal}{${sel(n)},result="failure"}[${w}d])) / sum by (env, kind) (increase(${METRICS.runsTotal}{${sel(n)}}[${w}d])) > 0.25`,
                );
                const never = byAlert("SupabaseBackupNeverRan").find((x: any) => x.labels.cronjob === name);
                assert.equal(never.for, `${Math.round((period + grace) / 60)}m`);
            }
            // two sync-storage CronJobs: each is told apart by its cronjob label, the weekly one waits 7 d + grace
            const weekly = byAlert("SupabaseBackupNoCompleteRun").find((x: any) => x.labels.cronjob === "sync-storage-public-assets");
            assert.match(weekly.expr, /cronjob="sync-storage-public-assets"/);
            assert.match(weekly.expr, new RegExp(`> ${7 * 86400 + grace}$`));
            assert.doesNotMatch(byAlert("SupabaseBackupNoCompleteRun").find((x: any) => x.labels.cronjob === "dump").expr, /cronjob=/);
            assert.equal(byAlert("SupabaseBackupVerificationFailed").length, 1);
            assert.match(byAlert("SupabaseBackupVerificationFailed")[0].expr, new RegExp(`${METRICS.lastRunStatus}\\{env="${stack}",kind="verify"\\}`));
            assert.equal(byAlert("SupabaseBackupTampering")[0].expr, `max by (env) (${METRICS.tamperedObjects}{env="${stack}",kind="verify"}) > 0`);
            assert.match(byAlert("SupabaseBackupSizeAnomaly")[0].expr, /< 0\.5 \* quantile_over_time\(0\.5, supabase_backups_bytes\{env="[a-z]+",kind="dump"\}\[7d\]\)/);
            assert.match(byAlert("SupabaseBackupSizeAnomaly")[0].expr, /\) or \(supabase_backups_bytes\{[^}]*\} > 2 \* quantile_over_time/, "a jump trips it too");
            // capacity: growth in 7 days always; near-quota where the stack file gives the quota (prod does)
            assert.match(byAlert("SupabaseBackupDatabaseGrowthFast")[0].expr, new RegExp(`${METRICS.sourceDatabaseBytes}\\{env="${stack}"\\}\\) > 1\\.5 \\* .*\\[1d\\] offset 7d`));
            assert.match(byAlert("SupabaseBackupStorageGrowthFast")[0].expr, new RegExp(`${METRICS.sourceStorageBytes}\\{env="${stack}"\\}`));
            assert.match(byAlert("SupabaseBackupVaultStorageGrowthFast")[0].expr, new RegExp(`${METRICS.vaultStorageBytes}\\{env="${stack}"\\}\\) > 1\\.5 \\* .*\\[1d\\] offset 7d`));
            const quota = stack === "prod" ? 1 : 0;
            assert.equal(byAlert("SupabaseBackupDatabaseNearQuota").length, quota);
            assert.equal(byAlert("SupabaseBackupStorageNearQuota").length, quota);
            if (quota) assert.match(byAlert("SupabaseBackupDatabaseNearQuota")[0].expr, new RegExp(`> ${Math.floor(0.8 * 107374182400)}$`));
            assert.equal(byAlert("SupabasePitrOff").length, stack === "prod" ? 1 : 0);
            // the RPO alert: 26 h in both stack files (the runbooks' 24 h schedule + 2 h for the dump to land; Pulumi.<stack>.yaml says why)
            assert.match(byAlert("SupabaseBackupRpoMissed")[0].expr, new RegExp(`${METRICS.lastSuccessTimestamp}\\{env="${stack}",kind="dump"\\}\\) > ${26 * 3600}$`));
            assert.match(byAlert("SupabaseStorageUnsafeObjectNames")[0].expr, new RegExp(`^max by \\(env\\) \\(${METRICS.unsafeObjectNames}\\{env="${stack}",kind="sync-storage"\\}\\) > 0$`));
            for (const rule of rules) assert.equal(rule.labels.team, "platform", "alert labels from config");
        });

        it("namespace enforces the restricted pod security standard", () => {
            const ns = one(r, "kubernetes:core/v1:Namespace").inputs.metadata;
            assert.equal(ns.name, `supabase-backups-${stack}`);
            assert.equal(ns.labels["pod-security.kubernetes.io/enforce"], "restricted");
        });
    });
}
