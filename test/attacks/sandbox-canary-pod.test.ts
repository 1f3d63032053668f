// The canary Postgres runs the source database's code (docs/security.md "The canary runs hostile
// code"). Escaped from the NOSUPERUSER restore (an untrusted extension, a Postgres bug), that code must
// find no network and no credentials. Checked here on the declared objects of both stacks (prod has
// Azure, staging not) under Pulumi mocks:
//   - the verify pod no longer runs Postgres: no sidecar, no canary volumes, and it reaches the canary
//     through its Service with TLS and a password from the canary's own Secret;
//   - the canary pod has no cloud identity, no token, no Secret but its password and TLS key;
//   - the NetworkPolicies, evaluated as Kubernetes defines them (test/support/netpol.ts): every
//     connection from the canary is denied (the cloud's metadata and token endpoints, DNS, the vault on
//     443, any Postgres, the other pods), and only verify reaches the canary, on 5432. The same evaluation
//     with the canary under the jobs' app label (what a sidecar or a careless relabel gives it) lets it
//     out: the check can fail.
// No cluster runs here: NetworkPolicy enforcement by a CNI is not shown, only what the policies say.
import assert from "node:assert/strict";
import { JOB_ENV, SECRETS } from "@supabase-backups/contracts";
import type { DeclaredResource, MockRunResult } from "../../scripts/lib/mockrun";
import { ofType, one, stackRun } from "../support/components";
import { connectionAllowed, isolatingPolicies, type Endpoint, type NetworkPolicy } from "../support/netpol";
import { CANARY_NAME, CANARY_POD_LABELS } from "../../components/canary";

const podTemplateOf = (cj: { inputs: any }) => cj.inputs.spec.jobTemplate.spec.template;
const NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

for (const stack of ["staging", "prod"] as const) {
    describe(`attack surface of the canary Postgres (${stack} stack under mocks)`, () => {
        let r: MockRunResult;
        let ns: string;
        let canaryTpl: any;
        let policies: NetworkPolicy[];
        before(async () => {
            r = await stackRun(stack);
            canaryTpl = one(r, "kubernetes:apps/v1:Deployment", "-canary").inputs.spec.template;
            ns = one(r, "kubernetes:apps/v1:Deployment", "-canary").inputs.metadata.namespace;
            policies = ofType(r, NETPOL).map((p) => ({ namespace: p.inputs.metadata.namespace, spec: p.inputs.spec }));
        });

        it("the verify pod runs no Postgres: one container (the job), no canary volume, the canary reached by its Service", () => {
            const cj = one(r, "kubernetes:batch/v1:CronJob", "-verify");
            const tpl = podTemplateOf(cj);
            assert.equal(tpl.spec.initContainers, undefined);
            assert.deepEqual(tpl.spec.containers.map((c: any) => c.name), ["verify"]);
            assert.ok(!tpl.spec.containers[0].image.includes("postgres"), tpl.spec.containers[0].image);
            assert.deepEqual(tpl.spec.volumes.map((v: any) => v.name).sort(), ["config", "scratch"]);
            assert.equal(tpl.metadata.annotations, undefined, "no container to keep the identity from: no skip-containers");
            const env = tpl.spec.containers[0].env;
            const url = new URL(env.find((e: any) => e.name === JOB_ENV.canaryDatabaseUrl).value);
            assert.equal(url.hostname, `${CANARY_NAME}.${ns}.svc`);
            assert.equal(url.password, "", "no password in the literal URL");
            assert.equal(url.searchParams.get("sslrootcert"), "/etc/supabase-backups/canary-ca.pem", "TLS against the pinned certificate");
            const pw = env.find((e: any) => e.name === JOB_ENV.canaryDatabasePassword);
            assert.deepEqual(pw.valueFrom.secretKeyRef, { name: `${CANARY_NAME}-password`, key: "password" });
            const cm = one(r, "kubernetes:core/v1:ConfigMap", "-schedule-config");
            assert.match(cm.inputs.data["canary-ca.pem"], /^-----BEGIN CERTIFICATE-----/);
            assert.doesNotMatch(JSON.stringify(cm.inputs.data), /PRIVATE KEY/);
        });

        it("the canary pod has no credentials: no cloud identity, no token, no Secret but its password and TLS key", () => {
            const spec = canaryTpl.spec;
            assert.equal(spec.automountServiceAccountToken, false);
            assert.equal(spec.serviceAccountName, CANARY_NAME);
            const sa = ofType(r, "kubernetes:core/v1:ServiceAccount").find((s) => s.inputs.metadata.name === spec.serviceAccountName)!;
            assert.equal(sa.inputs.automountServiceAccountToken, false);
            assert.deepEqual(sa.inputs.metadata.annotations ?? {}, {}, "no eks.amazonaws.com/role-arn, no azure.workload.identity/client-id");
            assert.equal(canaryTpl.metadata.labels["azure.workload.identity/use"], undefined);
            assert.equal(canaryTpl.metadata.annotations, undefined);
            const [ctr] = spec.containers;
            assert.equal(spec.containers.length, 1);
            assert.equal(spec.initContainers, undefined);
            assert.equal(ctr.envFrom, undefined);
            const secretNames = new Set(Object.values(SECRETS).map((s) => s.env));
            for (const e of ctr.env) assert.ok(!secretNames.has(e.name) && !/^(AWS_|AZURE_|CANARY_)/.test(e.name), `${e.name} in the canary`);
            assert.deepEqual(ctr.env.filter((e: any) => e.valueFrom).map((e: any) => [e.name, e.valueFrom.secretKeyRef]), [["POSTGRES_PASSWORD", { name: `${CANARY_NAME}-password`, key: "password" }]]);
            for (const v of spec.volumes) {
                assert.ok(v.emptyDir || v.secret?.secretName === `${CANARY_NAME}-tls`, `volume ${v.name}: ${JSON.stringify(v)}`);
                assert.equal(v.projected, undefined);
            }
            const tls = ofType(r, "kubernetes:core/v1:Secret").find((s) => s.inputs.metadata.name === `${CANARY_NAME}-tls`)!;
            assert.deepEqual(Object.keys(tls.inputs.stringData).sort(), ["tls.crt", "tls.key"]);
            assert.ok(tls.secretPaths.some((p) => p === "stringData" || p === "stringData.tls.key"), "the key is a Pulumi secret");
            // no other Secret is readable by the canary, and its secrets are in no job's Secret
            for (const s of ofType(r, "kubernetes:core/v1:Secret").filter((s) => !s.inputs.metadata.name.startsWith(CANARY_NAME))) {
                assert.ok(!Object.keys(s.inputs.stringData).some((k) => /canary/i.test(k)), s.name);
            }
            assert.equal(ctr.securityContext.allowPrivilegeEscalation, false);
            assert.equal(ctr.securityContext.readOnlyRootFilesystem, true);
        });

        it("exactly one egress-deny NetworkPolicy (both types, no rule) selects the canary, and no policy gives it any egress", () => {
            const canaryPod = { namespace: ns, labels: canaryTpl.metadata.labels };
            const egress = isolatingPolicies(policies, canaryPod, "Egress");
            assert.equal(egress.length, 1, "one policy isolates its egress");
            assert.deepEqual(egress[0].spec.policyTypes, ["Ingress", "Egress"]);
            assert.deepEqual(egress[0].spec.egress, []);
            assert.deepEqual(egress[0].spec.ingress, []);
            // which of the declared pods that policy selects: the canary's alone
            const pods = [
                ...ofType(r, "kubernetes:batch/v1:CronJob").map((c) => ({ name: c.inputs.metadata.name, labels: podTemplateOf(c).metadata.labels })),
                { name: "canary", labels: canaryTpl.metadata.labels },
            ];
            const denyAll = ofType(r, NETPOL).find((p) => p.inputs.spec === egress[0].spec || JSON.stringify(p.inputs.spec) === JSON.stringify(egress[0].spec)) as DeclaredResource;
            const selected = pods.filter((p) => isolatingPolicies([{ namespace: ns, spec: denyAll.inputs.spec }], { namespace: ns, labels: p.labels }, "Egress").length).map((p) => p.name);
            assert.deepEqual(selected, ["canary"]);
            assert.deepEqual(Object.fromEntries(Object.entries(canaryTpl.metadata.labels).filter(([k]) => k in CANARY_POD_LABELS)), CANARY_POD_LABELS);
        });

        describe("the NetworkPolicies evaluated as Kubernetes defines them", () => {
            const pod = (kind: string): Endpoint => {
                const cj = ofType(r, "kubernetes:batch/v1:CronJob").find((c) => c.inputs.metadata.name === kind)!;
                return { namespace: ns, labels: podTemplateOf(cj).metadata.labels, ip: "10.1.0.10" };
            };
            const canary = (): Endpoint => ({ namespace: ns, labels: canaryTpl.metadata.labels, ip: "10.1.0.20" });
            const kubeDns: Endpoint = { namespace: "kube-system", labels: { "k8s-app": "kube-dns" }, ip: "10.2.0.10" };
            const otherNsPod: Endpoint = { namespace: "monitoring", labels: { app: "pushgateway" }, ip: "10.3.0.5" };
            /** an address in kubernetes.egressCidrs (S3, STS, KMS, the source database) */
            const allowedCidrIp = (): string => {
                const cidr: string = one(r, NETPOL, "-netpol").inputs.spec.egress.flatMap((e: any) => e.to).find((t: any) => t.ipBlock).ipBlock.cidr;
                const [net] = cidr.split("/");
                return net === "0.0.0.0" ? "52.216.10.1" : net.replace(/\.0$/, ".1");
            };
            const external = (ip: string): Endpoint => ({ ip });

            it("canary → anywhere is denied: metadata/token endpoints, DNS, the vault and the source's CIDRs, other pods", () => {
                const from = canary();
                const targets: [string, Endpoint, number, string?][] = [
                    ["EC2 instance metadata (IMDS)", external("169.254.169.254"), 80],
                    ["EKS Pod Identity agent", external("169.254.170.23"), 80],
                    ["STS/S3/KMS on 443 in egressCidrs", external(allowedCidrIp()), 443],
                    ["Postgres 5432 in egressCidrs", external(allowedCidrIp()), 5432],
                    ["Supabase pooler 6543", external(allowedCidrIp()), 6543],
                    ["the internet", external("93.184.216.34"), 443],
                    ["kube-dns (UDP)", kubeDns, 53, "UDP"],
                    ["kube-dns (TCP)", kubeDns, 53],
                    ["the verify pod", pod("verify"), 8080],
                    ["the dump pod", pod("dump"), 5432],
                    ["a pod in another namespace (Pushgateway)", otherNsPod, 9091],
                ];
                const allowed = targets.filter(([, to, port, proto]) => connectionAllowed(policies, from, to, port, proto ?? "TCP")).map(([what]) => what);
                assert.deepEqual(allowed, []);
            });

            it("verify → canary:5432 is allowed, and nothing else reaches the canary", () => {
                assert.equal(connectionAllowed(policies, pod("verify"), canary(), 5432), true);
                assert.equal(connectionAllowed(policies, pod("verify"), canary(), 22), false, "only 5432");
                for (const kind of ["dump", "sync-storage", "gc", "check-supabase"]) assert.equal(connectionAllowed(policies, pod(kind), canary(), 5432), false, kind);
                assert.equal(connectionAllowed(policies, otherNsPod, canary(), 5432), false, "another namespace");
                assert.equal(connectionAllowed(policies, external("10.0.0.7"), canary(), 5432), false, "a node or VPC address");
            });

            it("the evaluation is not vacuous: the jobs keep their egress, and a canary under the jobs' label gets it too", () => {
                assert.equal(connectionAllowed(policies, pod("verify"), external(allowedCidrIp()), 443), true, "verify reaches the vault");
                assert.equal(connectionAllowed(policies, pod("dump"), external(allowedCidrIp()), 5432), true, "dump reaches the source");
                assert.equal(connectionAllowed(policies, pod("verify"), kubeDns, 53, "UDP"), true, "verify resolves the Service");
                assert.equal(connectionAllowed(policies, pod("verify"), external(allowedCidrIp()), 5432), false, "verify never reaches the source");
                // the defence removed: the canary labelled as one of the jobs (as the sidecar was, in the verify pod)
                const asJob: Endpoint = { namespace: ns, labels: pod("verify").labels, ip: "10.1.0.20" };
                assert.equal(connectionAllowed(policies, asJob, external(allowedCidrIp()), 443), true);
                assert.equal(connectionAllowed(policies, asJob, kubeDns, 53, "UDP"), true);
            });
        });
    });
}
