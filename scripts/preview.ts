// Offline preview: `npm run preview -- --stack <name>`. Runs the real program under Pulumi mocks with
// Pulumi.<name>.yaml (secrets as placeholders) and prints the resource tree with the settings a
// reviewer cares about. No credentials, no Pulumi CLI. Bad config: every problem, exit code 1.
//   --json        print the declared resources and outputs as JSON instead
//   --dir <path>  directory holding the stack file (default: the repository root)
import { ConfigError, formatIssue } from "@supabase-backups/contracts";
import { childrenOf, runProgramUnderMocks, type DeclaredResource } from "./lib/mockrun";

function parseArgs(argv: string[]): { stack?: string; json: boolean; dir?: string } {
    let stack: string | undefined;
    let dir: string | undefined;
    let json = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--stack" || a === "-s") stack = argv[++i];
        else if (a === "--dir") dir = argv[++i];
        else if (a.startsWith("--stack=")) stack = a.slice("--stack=".length);
        else if (a === "--json") json = true;
        else if (!a.startsWith("-") && !stack) stack = a;
        else throw new Error(`unknown argument: ${a}`);
    }
    return { stack, json, dir };
}

const short = (t: string) => t.replace(/^kubernetes:/, "k8s:").replace(/^azure-native:/, "azure:");

/** The settings worth a reviewer's eye, per type. */
export function describe(r: DeclaredResource): string[] {
    const i = r.inputs;
    const spec = i.spec ?? {};
    switch (r.type) {
        case "pulumi:providers:aws":
            // provider inputs of non-string type reach the engine JSON-encoded
            return [`region ${i.region}, allowed accounts ${([] as string[]).concat(typeof i.allowedAccountIds === "string" ? JSON.parse(i.allowedAccountIds) : i.allowedAccountIds ?? []).join(", ")}`];
        case "aws:kms/key:Key":
            return [`rotation ${i.enableKeyRotation ? `on (${i.rotationPeriodInDays} d)` : "OFF"}, deletion window ${i.deletionWindowInDays} d`];
        case "aws:kms/alias:Alias":
            return [`${i.name}`];
        case "aws:s3/bucket:Bucket":
            return [`bucket ${i.bucket}, object lock ${i.objectLockEnabled ? "enabled" : "OFF"}, forceDestroy ${i.forceDestroy}`];
        case "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
            return [`default retention ${i.rule?.defaultRetention?.mode} ${i.rule?.defaultRetention?.days ?? "?"} d`];
        case "aws:s3/bucketVersioning:BucketVersioning":
            return [`versioning ${i.versioningConfiguration?.status}`];
        case "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
            return (i.rules ?? []).map(
                (x: any) => `SSE ${x.applyServerSideEncryptionByDefault?.sseAlgorithm} key ${x.applyServerSideEncryptionByDefault?.kmsMasterKeyId}, bucket key ${x.bucketKeyEnabled ? "on" : "off"}`,
            );
        case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
            return [["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].map((k) => `${k}=${i[k]}`).join(" ")];
        case "aws:s3/bucketOwnershipControls:BucketOwnershipControls":
            return [`ownership ${i.rule?.objectOwnership}`];
        case "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration":
            return (i.rules ?? []).map((x: any) => {
                const what = x.filter?.tag
                    ? `${x.filter.tag.key}=${x.filter.tag.value}`
                    : x.filter?.and?.tags
                      ? Object.entries(x.filter.and.tags).map(([k, v]) => `${k}=${v}`).join(" and ")
                      : `prefix "${x.filter?.prefix ?? ""}"`;
                const bits = [
                    x.expiration?.days !== undefined ? `expire after ${x.expiration.days} d` : undefined,
                    ...(x.transitions ?? []).map((t: any) => `${t.storageClass} after ${t.days} d`),
                    x.expiration?.expiredObjectDeleteMarker ? "remove expired delete markers" : undefined,
                    x.noncurrentVersionExpiration ? `noncurrent versions after ${x.noncurrentVersionExpiration.noncurrentDays} d` : undefined,
                    x.abortIncompleteMultipartUpload ? `abort uploads after ${x.abortIncompleteMultipartUpload.daysAfterInitiation} d` : undefined,
                ].filter(Boolean);
                return `rule ${x.id} (${what}): ${bits.join(", ")}`;
            });
        case "aws:s3/bucketPolicy:BucketPolicy":
        case "aws:iam/rolePolicy:RolePolicy": {
            const doc = JSON.parse(i.policy);
            return [`${r.type.endsWith("RolePolicy") ? `policy "${i.name}": ` : ""}${doc.Statement.map((s: any) => `${s.Effect === "Deny" ? "-" : "+"}${s.Sid}`).join(" ")}`];
        }
        case "aws:iam/role:Role": {
            const doc = JSON.parse(i.assumeRolePolicy);
            return [
                `role ${i.name}`,
                ...doc.Statement.map((s: any) => {
                    const cond = Object.entries(s.Condition ?? {})
                        .flatMap(([, kv]: any) => Object.entries(kv).map(([k, v]) => `${k.split(":").pop()}=${v}`))
                        .join(", ");
                    return `trust ${s.Action} from ${JSON.stringify(s.Principal)} if ${cond}`;
                }),
            ];
        }
        case "azure-native:storage:StorageAccount":
            return [
                `${i.accountName} ${i.kind} ${i.sku?.name}: httpsOnly=${i.enableHttpsTrafficOnly} tls=${i.minimumTlsVersion} publicBlob=${i.allowBlobPublicAccess} sharedKey=${i.allowSharedKeyAccess}`,
                `infrastructure encryption=${i.encryption?.requireInfrastructureEncryption}, immutable storage with versioning=${i.immutableStorageWithVersioning?.enabled}`,
            ];
        case "azure-native:storage:BlobServiceProperties":
            return [`versioning=${i.isVersioningEnabled}, soft delete ${i.deleteRetentionPolicy?.days} d, container soft delete ${i.containerDeleteRetentionPolicy?.days} d`];
        case "azure-native:storage:BlobContainer":
            return [`container ${i.containerName}: public=${i.publicAccess}, version-level immutability=${i.immutableStorageWithVersioning?.enabled}`];
        case "azure-native:storage:ManagementPolicy":
            return (i.policy?.rules ?? []).map((x: any) => {
                const b = x.definition.actions.baseBlob;
                const tags = (x.definition.filters.blobIndexMatch ?? []).map((t: any) => `${t.name}${t.op}${t.value}`).join(" and ");
                const bits = [
                    b.delete ? `delete after ${b.delete.daysAfterModificationGreaterThan} d` : undefined,
                    b.tierToCool ? `cool after ${b.tierToCool.daysAfterModificationGreaterThan} d` : undefined,
                    b.tierToArchive ? `archive after ${b.tierToArchive.daysAfterModificationGreaterThan} d` : undefined,
                ].filter(Boolean);
                return `rule ${x.name} (${tags}): ${bits.join(", ")}`;
            });
        case "azure-native:managedidentity:UserAssignedIdentity":
            return [`identity ${i.resourceName}`];
        case "azure-native:managedidentity:FederatedIdentityCredential":
            return [`subject ${i.subject}`];
        case "azure-native:authorization:RoleDefinition":
            return [`role ${i.roleName}: ${(i.permissions?.[0]?.dataActions ?? []).map((a: string) => a.split("/containers/")[1] ?? a).join(", ")}`];
        case "kubernetes:core/v1:Namespace":
            return [`namespace ${i.metadata?.name} (pod security: ${i.metadata?.labels?.["pod-security.kubernetes.io/enforce"]})`];
        case "kubernetes:core/v1:ServiceAccount":
            return [`${i.metadata?.name}${Object.entries(i.metadata?.annotations ?? {}).map(([k, v]) => ` ${k.split("/")[0]}=${v}`).join("")}`];
        case "kubernetes:core/v1:Secret":
            return [`${i.metadata?.name}: ${Object.keys(i.stringData ?? {}).join(", ")} (values secret)`];
        case "kubernetes:core/v1:ConfigMap": {
            const head = `${i.metadata?.name}: ${Object.keys(i.data ?? {}).join(", ")}`;
            if (i.metadata?.labels?.grafana_dashboard !== "1") return [head];
            // The Grafana dashboard: what the sidecar will load, panel by panel.
            const d = JSON.parse(Object.values<string>(i.data ?? {})[0] ?? "{}");
            const panels = (d.panels ?? []).filter((p: any) => p.type !== "row");
            const vars = (d.templating?.list ?? []).map((v: any) => `$${v.name}`).join(" ");
            return [
                `${head} (Grafana dashboard "${d.title}", uid ${d.uid}, sidecar label grafana_dashboard=1${i.metadata?.annotations?.grafana_folder ? `, folder ${i.metadata.annotations.grafana_folder}` : ""})`,
                `${panels.length} panels, ${panels.reduce((n: number, p: any) => n + (p.targets?.length ?? 0), 0)} queries, variables ${vars}: ${panels.map((p: any) => p.title).join("; ")}`,
            ];
        }
        case "kubernetes:batch/v1:CronJob": {
            const job = spec.jobTemplate?.spec ?? {};
            const pod = job.template?.spec ?? {};
            const c = pod.containers?.[0] ?? {};
            return [
                `${i.metadata?.name}: "${spec.schedule}" ${spec.timeZone}, args ${JSON.stringify(c.args)}, sa ${pod.serviceAccountName}`,
                `concurrency ${spec.concurrencyPolicy}, start deadline ${spec.startingDeadlineSeconds}s, run deadline ${job.activeDeadlineSeconds}s, backoff ${job.backoffLimit}` +
                    (job.completionMode ? `, ${job.completionMode} ×${job.completions}` : "") +
                    (pod.initContainers?.length ? `, sidecar ${pod.initContainers.map((x: any) => x.name).join(",")}` : ""),
            ];
        }
        case "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            return [`egress: ${(spec.egress ?? []).map((e: any) => (e.ports ?? []).map((p: any) => `${p.protocol}/${p.port}`).join("+")).join("; ")}; ingress: none`];
        case "kubernetes:monitoring.coreos.com/v1:PrometheusRule": {
            const rules = (spec.groups ?? []).flatMap((g: any) => g.rules);
            const names = [...new Set(rules.map((x: any) => x.alert))];
            return [`${rules.length} alert rules: ${names.join(", ")}`];
        }
        default:
            if (r.type.startsWith("pulumi-nodejs:dynamic/supabase:"))
                return [`project ${i.projectRef}: PITR ${i.required ? `required, ${i.days} days` : "observed only"} (Management API ${i.apiUrl})`];
            return [];
    }
}

/** Reading order: provider, then the vault, archive, identities, schedule; others as registered. */
const ORDER = ["pulumi:providers:", "supabase-backups:index:BackupVault", "supabase-backups:index:ArchiveVault", "supabase-backups:index:BackupIdentities", "supabase-backups:index:BackupSchedule"];
const rank = (r: DeclaredResource) => {
    const i = ORDER.findIndex((p) => r.type.startsWith(p));
    return i < 0 ? ORDER.length : i;
};

function printTree(resources: DeclaredResource[], parent: string | undefined, depth: number, out: string[]): void {
    const children = childrenOf(resources, parent)
        .map((r, i) => ({ r, i }))
        .sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i)
        .map((x) => x.r);
    for (const r of children) {
        const pad = "  ".repeat(depth);
        out.push(`${pad}${depth ? "└ " : ""}${short(r.type)}  ${r.name}`);
        for (const line of describe(r)) out.push(`${pad}${depth ? "  " : ""}    ${line}`);
        printTree(resources, r.urn, depth + 1, out);
    }
}

function redactPaths(inputs: Record<string, any>, paths: string[]): Record<string, any> {
    const out = structuredClone(inputs);
    for (const p of paths) {
        const parts = p.replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean);
        let cur: any = out;
        for (const k of parts.slice(0, -1)) cur = cur?.[k];
        if (cur && parts.length) cur[parts[parts.length - 1]] = "[secret]";
    }
    return out;
}

async function main(): Promise<number> {
    let args: { stack?: string; json: boolean; dir?: string };
    try {
        args = parseArgs(process.argv.slice(2));
    } catch (e: any) {
        console.error(`preview: ${e.message}\nusage: npm run preview -- --stack <name> [--json] [--dir <path>]`);
        return 2;
    }
    if (!args.stack) {
        console.error("usage: npm run preview -- --stack <name> [--json]   (reads Pulumi.<name>.yaml)");
        return 2;
    }
    try {
        const r = await runProgramUnderMocks(args.stack, { projectDir: args.dir });
        if (args.json) {
            // Secret inputs are shown as "[secret]" (here they are placeholders, but never print them).
            const resources = r.resources.map((x) => ({ ...x, inputs: redactPaths(x.inputs, x.secretPaths), state: undefined }));
            console.log(JSON.stringify({ stack: r.stack, resources, outputs: r.outputs }, null, 2));
            return 0;
        }
        const out: string[] = [`Offline preview of stack "${r.stack}" (${r.source}), Pulumi engine mocked: nothing is created.`];
        if (r.placeholders.length) out.push(`Secrets shown as placeholders: ${r.placeholders.join(", ")}`);
        out.push("");
        printTree(r.resources, undefined, 0, out);
        out.push("", `${r.resources.filter((x) => x.custom).length} resources in ${r.resources.filter((x) => !x.custom).length} components.`, "", "Outputs:");
        for (const [k, v] of Object.entries(r.outputs)) out.push(`  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
        console.log(out.join("\n"));
        return 0;
    } catch (e) {
        if (e instanceof ConfigError) {
            console.error(`${args.stack}: invalid configuration, nothing declared (${e.issues.length} problem${e.issues.length === 1 ? "" : "s"}):`);
            for (const i of e.issues) console.error(`  - ${formatIssue(i)}`);
            return 1;
        }
        if (/cannot read stack file/.test((e as Error).message)) {
            console.error(`preview: ${(e as Error).message}`);
            return 1;
        }
        console.error(`preview failed: ${(e as Error).stack ?? e}`);
        return 1;
    }
}

if (require.main === module) {
    // Exit only once stdout is flushed (a piped --json would be cut off otherwise).
    main().then((code) => {
        process.exitCode = code;
        process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
    });
}
