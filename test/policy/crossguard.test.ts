// The pack as CrossGuard runs it: `policy/index.ts` (the only file that constructs the PolicyPack) is
// started in a child process exactly as `pulumi preview --policy-pack policy` starts it, and driven over
// the analyzer gRPC protocol: it lists the eleven policies, accepts policy/config.<stack>.json through
// Configure, and reports a violation (and nothing on a compliant resource) through Analyze.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT } from "../support/policy-fixtures";
import { runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { toPolicyResources } from "../../scripts/policy";
import { evaluatePack } from "../../policy/evaluate";
import { policies } from "../../policy/policies";
import { MUTANTS } from "./mutations/corpus";

const pulumiDir = dirname(require.resolve("@pulumi/pulumi/package.json"));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const analyzerGrpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Struct } = require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [pulumiDir] }));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Empty } = require(require.resolve("google-protobuf/google/protobuf/empty_pb", { paths: [pulumiDir] }));

let prodRunPromise: ReturnType<typeof runProgramUnderMocks> | undefined;
const prodRun = () => (prodRunPromise ??= runProgramUnderMocks("prod"));

function call<T>(client: any, method: string, req: unknown): Promise<T> {
    return new Promise((resolve, reject) => client[method](req, (err: unknown, res: T) => (err ? reject(err) : resolve(res))));
}

describe("policy pack under the CrossGuard analyzer protocol", function () {
    this.timeout(120_000);
    let child: ChildProcess;
    let client: any;

    before(async () => {
        // What the Pulumi CLI does: run the pack's entry in its directory and read the port from stdout.
        child = spawn(process.execPath, ["--import", "tsx", "index.ts"], { cwd: join(ROOT, "policy"), stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr!.on("data", (d) => (stderr += d));
        const port = await new Promise<number>((resolve, reject) => {
            let out = "";
            child.stdout!.on("data", (d) => {
                out += d;
                const m = /^(\d+)\s*$/m.exec(out);
                if (m) resolve(Number(m[1]));
            });
            child.on("exit", (code) => reject(new Error(`policy pack exited (${code}) before serving: ${stderr}`)));
            setTimeout(() => reject(new Error(`policy pack did not print its port: ${stderr}`)), 60_000);
        });
        client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });

    after(() => {
        client?.close();
        if (child && child.exitCode === null) child.kill("SIGKILL");
    });

    it("GetAnalyzerInfo lists every mandatory policy with their remediation and config schemas", async () => {
        const info: any = await call(client, "getAnalyzerInfo", new Empty());
        assert.equal(info.getName(), "supabase-backups");
        const ps = info.getPoliciesList();
        assert.equal(ps.length, policies.length);
        for (const p of ps) {
            assert.equal(p.getEnforcementlevel(), analyzerPb.EnforcementLevel.MANDATORY, p.getName());
            assert.ok(p.getRemediationSteps().length > 30, p.getName());
        }
        const lock = ps.find((p: any) => p.getName() === "vault-object-lock-compliance");
        assert.deepEqual(lock.getConfigschema().getRequiredList(), ["minRetentionDays"]);
    });

    it("the served pack holds exactly the list of policy/policies/index.ts, in its order", async () => {
        const info: any = await call(client, "getAnalyzerInfo", new Empty());
        assert.deepEqual(
            info.getPoliciesList().map((p: any) => p.getName()),
            policies.map((p) => p.name),
        );
    });

    async function configure(config: Record<string, any>): Promise<void> {
        const req = new analyzerPb.ConfigureAnalyzerRequest();
        for (const [name, props] of Object.entries(config)) {
            const pc = new analyzerPb.PolicyConfig();
            pc.setEnforcementlevel(analyzerPb.EnforcementLevel.MANDATORY);
            pc.setProperties(Struct.fromJavaScript(props));
            req.getPolicyconfigMap().set(name, pc);
        }
        await call(client, "configure", req);
    }

    async function analyze(type: string, name: string, props: Record<string, any>): Promise<{ policy: string; message: string; level: number }[]> {
        const req = new analyzerPb.AnalyzeRequest();
        req.setType(type);
        req.setName(name);
        req.setUrn(`urn:pulumi:prod::supabase-backups::${type}::${name}`);
        req.setProperties(Struct.fromJavaScript(props));
        const opts = new analyzerPb.AnalyzerResourceOptions();
        opts.setProtect(false);
        req.setOptions(opts);
        const res: any = await call(client, "analyze", req);
        return res.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), message: d.getMessage(), level: d.getEnforcementlevel() }));
    }

    it("Configure takes policy/config.prod.json; Analyze reports a 1-day GOVERNANCE lock and passes the real one", async () => {
        await configure(JSON.parse(readFileSync(join(ROOT, "policy", "config.prod.json"), "utf8")));
        const type = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration";
        const bad = await analyze(type, "vault-lock", { bucket: "acme-supabase-backups-prod", objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: "GOVERNANCE", days: 1 } } });
        const lock = bad.filter((d) => d.policy === "vault-object-lock-compliance");
        assert.ok(lock.some((d) => /"GOVERNANCE", expected "COMPLIANCE"/.test(d.message)), JSON.stringify(bad));
        assert.ok(lock.some((d) => /1 day\(s\), below the stack's minimum of 30 days/.test(d.message)), JSON.stringify(bad));
        assert.ok(lock.every((d) => d.level === analyzerPb.EnforcementLevel.MANDATORY));
        const good = await analyze(type, "vault-lock", { bucket: "acme-supabase-backups-prod", objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: "COMPLIANCE", days: 30 } } });
        assert.deepEqual(good, []);
    });

    async function analyzeStack(resources: ReturnType<typeof toPolicyResources>): Promise<{ policy: string; message: string; urn: string }[]> {
        const req = new analyzerPb.AnalyzeStackRequest();
        req.setResourcesList(
            resources.map((r) => {
                const ar = new analyzerPb.AnalyzerResource();
                ar.setType(r.type);
                ar.setName(r.name);
                ar.setUrn(r.urn!);
                // What the engine sends for a stack: the resources' outputs (inputs plus computed values).
                ar.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify({ ...r.props, ...(r.outputs ?? {}) }))));
                const opts = new analyzerPb.AnalyzerResourceOptions();
                opts.setProtect(!!r.protect);
                ar.setOptions(opts);
                if (r.parentUrn) ar.setParent(r.parentUrn);
                ar.setDependenciesList(r.dependencies ?? []);
                return ar;
            }),
        );
        const res: any = await call(client, "analyzeStack", req);
        return res.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), message: d.getMessage(), urn: d.getUrn() }));
    }

    it("AnalyzeStack passes the real prod program and fails it without the Azure archive", async () => {
        await configure(JSON.parse(readFileSync(join(ROOT, "policy", "config.prod.json"), "utf8")));
        const rs = toPolicyResources((await prodRun()).resources);
        assert.deepEqual(await analyzeStack(rs), []);
        const ds = await analyzeStack(rs.filter((r) => !r.type.startsWith("azure-native:")));
        assert.ok(ds.some((d) => d.policy === "stack-backup-completeness" && /requires a secondary archive in another cloud/.test(d.message)), JSON.stringify(ds));
        const noLock = await analyzeStack(rs.filter((r) => r.type !== "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"));
        assert.ok(noLock.some((d) => d.policy === "stack-backup-completeness" && /has no BucketObjectLockConfiguration/.test(d.message) && d.urn.endsWith("::supabase-backups-vault-bucket")), JSON.stringify(noLock));
    });

    it("Analyze on every resource of the real prod program gives exactly what the offline gate's evaluator gives", async () => {
        const config = JSON.parse(readFileSync(join(ROOT, "policy", "config.prod.json"), "utf8"));
        await configure(config);
        const rs = structuredClone(toPolicyResources((await prodRun()).resources));
        // the vault's resources (the access-log bucket has companions of the same types)
        const edit = (type: string, f: (p: any) => void) => f(rs.find((r) => r.type === type && !r.name.includes("-access-logs-"))!.props);
        for (const [label, mutate] of [
            ["as declared", () => undefined],
            [
                "weakened",
                () => {
                    edit("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", (p) => (p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }));
                    edit("aws:s3/bucketVersioning:BucketVersioning", (p) => (p.versioningConfiguration.status = "Suspended"));
                    edit("kubernetes:batch/v1:CronJob", (p) => (p.spec.concurrencyPolicy = "Allow"));
                    edit("azure-native:storage:StorageAccount", (p) => (p.minimumTlsVersion = "TLS1_0"));
                },
            ],
        ] as const) {
            mutate();
            const viaServer: string[] = [];
            for (const r of rs) {
                // The engine shows "<policy description>\n<message>"; the gate prints the description once per policy.
                for (const d of await analyze(r.type, r.name, JSON.parse(JSON.stringify(r.props)))) viaServer.push(`${d.policy} ${r.name}: ${d.message.slice(d.message.indexOf("\n") + 1)}`);
            }
            const offline = (await evaluatePack(rs, config, { stack: "prod" })).filter((v) => v.resourceName && v.policy !== "stack-backup-completeness").map((v) => `${v.policy} ${v.resourceName}: ${v.message}`);
            assert.deepEqual(viaServer.sort(), offline.sort(), label);
            if (label === "weakened") assert.ok(viaServer.length >= 4, viaServer.join("\n"));
        }
    });

    it("corpus mutants through the real server: a bucket policy without DenyDeleteExceptGc (Analyze), the namespace's pod-security label dropped (AnalyzeStack)", async () => {
        await configure(JSON.parse(readFileSync(join(ROOT, "policy", "config.prod.json"), "utf8")));
        const rs = structuredClone(toPolicyResources((await prodRun()).resources));
        const [bp] = MUTANTS.filter((m) => m.name === "bucket policy without DenyDeleteExceptGc");
        bp.apply(rs);
        const policyRes = rs.find((r) => r.type === "aws:s3/bucketPolicy:BucketPolicy" && r.name.endsWith("-vault-policy"))!;
        const ds = await analyze(policyRes.type, policyRes.name, JSON.parse(JSON.stringify(policyRes.props)));
        assert.ok(ds.some((d) => d.policy === bp.policy && /no effective deny "DenyDeleteExceptGc"/.test(d.message)), JSON.stringify(ds));
        const [ns] = MUTANTS.filter((m) => m.name === "namespace's pod-security label dropped");
        const clean = structuredClone(toPolicyResources((await prodRun()).resources));
        ns.apply(clean);
        const st = await analyzeStack(clean);
        assert.ok(st.some((d) => d.policy === ns.policy && /pod-security\.kubernetes\.io\/enforce is unset/.test(d.message)), JSON.stringify(st));
    });

    it("Analyze judges an IAM document with wildcards expanded (s3:Del*) inside the real server", async () => {
        const policy = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["s3:PutObject", "s3:Del*"], Resource: "arn:aws:s3:::acme-supabase-backups-prod/db/prod/*" }] });
        const ds = await analyze("aws:iam/rolePolicy:RolePolicy", "writer-vault", { role: "supabase-backups-prod-writer", policy });
        assert.ok(ds.some((d) => d.policy === "iam-backup-identities-least-privilege" && /writer must never delete anything, but the document allows s3:DeleteObject/.test(d.message)), JSON.stringify(ds));
    });
});
