// Runs the real Pulumi program (components/program.ts) under `pulumi.runtime.setMocks` with a stack's
// own config file, and returns every resource it declared with its inputs and parent. Used by the
// offline preview (scripts/preview.ts), the component tests and the policy pack's gate.
//
// Several runs can happen in one process (mocha runs many files): each run installs a fresh mock
// monitor and config, runs the program inside `runInPulumiStack`, and waits for every registration to
// finish before the next one starts. Runs are serialized.
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
    CONFIG_NAMESPACE,
    readStackFile,
    stackFilePath,
    type StackFile,
} from "@supabase-backups/contracts";
import { CANARY_CREDENTIALS_TYPE, makeCanaryCredentials } from "../../components/canary-credentials";

export interface DeclaredResource {
    /** `aws:s3/bucket:Bucket`, `supabase-backups:index:BackupVault`, `kubernetes:batch/v1:CronJob`… */
    type: string;
    /** logical name */
    name: string;
    urn: string;
    /** parent URN; undefined only for the stack itself */
    parent?: string;
    /** false for ComponentResources (and the stack) */
    custom: boolean;
    /** provider reference `urn::id` when one was set explicitly */
    provider?: string;
    /** resolved inputs, secrets unwrapped (their paths are in `secretPaths`) */
    inputs: Record<string, any>;
    /** dotted paths of inputs that were Pulumi secrets, e.g. `stringData.DATABASE_URL` */
    secretPaths: string[];
    /** what the mock returned as outputs (inputs plus computed ids/ARNs) */
    state: Record<string, any>;
    /** Pulumi `protect` */
    protect: boolean;
    /** URNs this resource depends on (dependsOn and input dependencies) */
    dependencies: string[];
}

export interface MockRunOverrides {
    /** directory holding Pulumi.<stack>.yaml; default: the repository root */
    projectDir?: string;
    /** replace top-level values under `supabase-backups:` (a value of undefined removes the key) */
    values?: Record<string, unknown>;
    /** last word: change the parsed stack file (values, secretKeys…) before it reaches the runtime */
    mutate?: (file: StackFile) => void;
}

export interface MockRunResult {
    stack: string;
    /** `Pulumi.prod.yaml` */
    source: string;
    resources: DeclaredResource[];
    /** the stack outputs, resolved */
    outputs: Record<string, any>;
    /** secrets that were placeholders (absent or encrypted in the file) */
    placeholders: string[];
}

export const REPO_ROOT = resolve(__dirname, "..", "..");

// eslint-disable-next-line @typescript-eslint/no-require-imports
const rpc = require("@pulumi/pulumi/runtime/rpc");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings");

function unwrapSecrets(value: any, path: string, out: string[]): any {
    if (value === null || typeof value !== "object") return value;
    if (value[rpc.specialSigKey] === rpc.specialSecretSig) {
        out.push(path);
        return unwrapSecrets(value.value, path, []);
    }
    if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${path}[${i}]`, out));
    const o: Record<string, any> = {};
    for (const [k, v] of Object.entries(value)) o[k] = unwrapSecrets(v, path ? `${path}.${k}` : k, out);
    return o;
}

function fakeUuid(seed: string): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const h: string = require("node:crypto").createHash("sha1").update(seed).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Plausible outputs for the types the program declares, so ARNs and ids flow into policies. */
function mockState(args: pulumi.runtime.MockResourceArgs, accountId: string, region: string): { id: string; state: Record<string, any> } {
    const i = args.inputs ?? {};
    const sub = "00000000-0000-0000-0000-000000000000";
    switch (args.type) {
        case "aws:s3/bucket:Bucket":
            return { id: i.bucket, state: { ...i, arn: `arn:aws:s3:::${i.bucket}`, region } };
        case "aws:kms/key:Key": {
            const keyId = fakeUuid(args.name);
            return { id: keyId, state: { ...i, keyId, arn: `arn:aws:kms:${region}:${accountId}:key/${keyId}` } };
        }
        case "aws:kms/alias:Alias":
            return { id: i.name, state: { ...i, arn: `arn:aws:kms:${region}:${accountId}:${i.name}` } };
        case "aws:iam/role:Role":
            return { id: i.name ?? args.name, state: { ...i, arn: `arn:aws:iam::${accountId}:role/${i.name ?? args.name}`, uniqueId: `AROA${fakeUuid(args.name).replace(/-/g, "").slice(0, 17).toUpperCase()}` } };
        case "aws:sns/topic:Topic":
            return { id: `arn:aws:sns:${region}:${accountId}:${i.name ?? args.name}`, state: { ...i, arn: `arn:aws:sns:${region}:${accountId}:${i.name ?? args.name}` } };
        case "aws:cloudwatch/eventRule:EventRule":
            return { id: i.name ?? args.name, state: { ...i, arn: `arn:aws:events:${region}:${accountId}:rule/${i.name ?? args.name}` } };
        case "azure-native:resources:ResourceGroup":
            return { id: `/subscriptions/${sub}/resourceGroups/${i.resourceGroupName}`, state: { ...i, name: i.resourceGroupName } };
        case "azure-native:storage:StorageAccount":
            return {
                id: `/subscriptions/${sub}/resourceGroups/${i.resourceGroupName}/providers/Microsoft.Storage/storageAccounts/${i.accountName}`,
                state: { ...i, name: i.accountName, primaryEndpoints: { blob: `https://${i.accountName}.blob.core.windows.net/` } },
            };
        case "azure-native:managedidentity:UserAssignedIdentity":
            return {
                id: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${i.resourceName}`,
                state: { ...i, name: i.resourceName, clientId: fakeUuid(`client:${args.name}`), principalId: fakeUuid(`principal:${args.name}`) },
            };
        case "azure-native:authorization:RoleDefinition":
            return { id: `${i.scope}/providers/Microsoft.Authorization/roleDefinitions/${i.roleDefinitionId}`, state: { ...i } };
        case CANARY_CREDENTIALS_TYPE:
            // what the dynamic provider's create makes: a real password, key and certificate
            return { id: `${args.name}-id`, state: { ...i, ...makeCanaryCredentials(i as any) } };
        default:
            return { id: `${args.name}-id`, state: { ...i, name: i.name ?? i.metadata?.name ?? args.name } };
    }
}

function toRuntimeConfig(file: StackFile): { config: Record<string, string>; secretKeys: string[] } {
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(file.other)) config[k] = typeof v === "string" ? v : JSON.stringify(v);
    for (const [k, v] of Object.entries(file.values)) {
        if (v === undefined) continue;
        config[`${CONFIG_NAMESPACE}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return { config, secretKeys: [...file.secretKeys].map((k) => `${CONFIG_NAMESPACE}:${k}`) };
}

/** Load a stack file the way the preview does: secrets as placeholders, overrides applied. */
export function loadStackFileForMocks(stack: string, overrides: MockRunOverrides = {}): StackFile {
    const dir = overrides.projectDir ?? REPO_ROOT;
    const file = readStackFile(stackFilePath(dir, stack), { placeholderSecrets: true });
    for (const [k, v] of Object.entries(overrides.values ?? {})) {
        if (v === undefined) delete file.values[k];
        else file.values[k] = structuredClone(v);
    }
    overrides.mutate?.(file);
    return file;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Run the real program for `stack` under mocks. Resolves with every declared resource (the stack
 * itself included) and the stack outputs; rejects with the contracts' ConfigError (its `issues` list
 * every problem) when the config is invalid — before any resource is declared.
 */
export function runProgramUnderMocks(stack: string, overrides: MockRunOverrides = {}): Promise<MockRunResult> {
    const run = queue.then(() => runOnce(stack, overrides));
    queue = run.catch(() => undefined);
    return run;
}

/** The public key the mocked aws:kms/getPublicKey returns (an Ed25519 SPKI PEM; nobody holds its private key). */
export const MOCK_SIGNING_PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA/gV+wA2VzyG3+Ub3kPHhreQkTUA9wUGslHUBlA/mUYw=\n-----END PUBLIC KEY-----\n";

async function runOnce(stack: string, overrides: MockRunOverrides): Promise<MockRunResult> {
    const file = loadStackFileForMocks(stack, overrides);
    const aws = (file.values.aws ?? {}) as { accountId?: string; region?: string };
    const accountId = aws.accountId ?? "000000000000";
    const region = aws.region ?? "us-east-1";

    const { config, secretKeys } = toRuntimeConfig(file);
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => mockState(args, accountId, region),
            call: (args) => {
                if (args.token === "aws:index/getCallerIdentity:getCallerIdentity") return { accountId, arn: `arn:aws:iam::${accountId}:root`, userId: "mock" };
                // the record-signing key's public key (components/record-signing.ts): a fixed Ed25519 key
                if (args.token === "aws:kms/getPublicKey:getPublicKey") return { keyId: args.inputs.keyId, publicKeyPem: MOCK_SIGNING_PUBLIC_KEY, keyUsage: "SIGN_VERIFY", customerMasterKeySpec: "ECC_NIST_EDWARDS25519" };
                return {};
            },
        },
        "supabase-backups",
        file.stack,
        false,
    );

    // Record what the engine is asked to register, with the parent the mock API does not pass on.
    const resources: DeclaredResource[] = [];
    const monitor = settings.getMonitor() as any;
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: (err: any, resp: any) => void) => {
        const secretPaths: string[] = [];
        const inputs = unwrapSecrets(rpc.deserializeProperties(req.getObject()), "", secretPaths);
        const entry: DeclaredResource = {
            type: req.getType(),
            name: req.getName(),
            urn: "",
            parent: req.getParent() || undefined,
            custom: req.getCustom(),
            provider: req.getProvider() || undefined,
            inputs,
            secretPaths,
            state: {},
            protect: !!req.getProtect?.(),
            dependencies: req.getDependenciesList?.() ?? [],
        };
        resources.push(entry);
        return original(req, (err: any, resp: any) => {
            if (resp) {
                entry.urn = resp.getUrn();
                entry.state = unwrapSecrets(rpc.deserializeProperties(resp.getObject()), "", []);
            }
            callback(err, resp);
        });
    };

    // Import late: the program's modules are loaded once, after the first mocks are in place.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { program } = require(join(REPO_ROOT, "components", "program")) as typeof import("../../components/program");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadStackConfig } = require(join(REPO_ROOT, "components", "config")) as typeof import("../../components/config");

    // Bad config must fail before anything is declared: check with the program's own loader first, so
    // the ConfigError reaches the caller instead of a half-registered stack.
    loadStackConfig();
    const raw = await pulumi.runtime.runInPulumiStack(async () => program());
    await settings.waitForRPCs();
    const outputs = unwrapSecrets(raw ?? {}, "", []);
    return { stack: file.stack, source: file.source, resources, outputs, placeholders: file.placeholders };
}

/** Children of a resource (by parent URN), for printing trees. */
export function childrenOf(resources: DeclaredResource[], parentUrn: string | undefined): DeclaredResource[] {
    return resources.filter((r) => r.parent === parentUrn);
}
