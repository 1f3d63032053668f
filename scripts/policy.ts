// Offline policy gate: `npm run policy -- --stack <name>`. Runs the real program under Pulumi mocks with
// Pulumi.<name>.yaml (no cloud credentials, no Pulumi CLI), evaluates the whole CrossGuard pack in
// policy/ on what it declares — every resource policy per resource, every stack policy once — with the
// pack config policy/config.<name>.json, prints violations grouped by policy with the resource and the
// remediation, and exits 1 on any mandatory violation (2 on bad usage or an invalid pack config).
//   --config FILE   another pack config (default policy/config.<stack>.json)
//   --json          print the violations as JSON
//   --write-config  (re)write policy/config.<stack>.json from what Pulumi.<stack>.yaml implies, then judge
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, formatIssue, validateStackConfig } from "@supabase-backups/contracts";
import { derivePackConfig, PackConfigError, readPackConfigFile, type PackConfig } from "../policy/config";
import { evaluatePack, groupByPolicy, type DeclaredResource, type Violation } from "../policy/evaluate";
import { PolicyConfigError } from "../policy/lib/common";
import { policies } from "../policy/policies";
import { loadStackFileForMocks, REPO_ROOT, runProgramUnderMocks, type DeclaredResource as MockResource, type MockRunOverrides } from "./lib/mockrun";

export interface GateOptions {
    /** pack config file; default policy/config.<stack>.json */
    configPath?: string;
    /** pack config object (tests); wins over configPath */
    config?: PackConfig;
    /** change the stack's config before the program runs (tests: mutated variants) */
    overrides?: MockRunOverrides;
}

export interface GateResult {
    stack: string;
    exitCode: 0 | 1 | 2;
    violations: Violation[];
    /** what the gate printed */
    report: string;
    resources: number;
}

/** What the mock computed (ids, ARNs): the declared inputs stay the truth for every other key. */
function computedOnly(inputs: Record<string, any>, state: Record<string, any>): Record<string, any> {
    return Object.fromEntries(Object.entries(state ?? {}).filter(([k]) => !(k in (inputs ?? {}))));
}

/** The harness's record of a resource, as the pack's evaluator takes it (inputs judged, outputs for stack policies). */
export function toPolicyResources(rs: MockResource[]): DeclaredResource[] {
    return rs
        .filter((r) => r.type !== "pulumi:pulumi:Stack")
        .map((r) => ({
            type: r.type,
            name: r.name,
            urn: r.urn,
            props: r.inputs,
            outputs: computedOnly(r.inputs, r.state),
            parentUrn: r.parent,
            protect: r.protect,
            dependencies: r.dependencies,
        }));
}

function sameJson(a: unknown, b: unknown): boolean {
    const norm = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(norm) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, norm((v as any)[k])])) : v;
    return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

export async function policyGate(stack: string, opts: GateOptions = {}): Promise<GateResult> {
    const lines: string[] = [];
    const done = (exitCode: 0 | 1 | 2, violations: Violation[] = [], resources = 0): GateResult => ({ stack, exitCode, violations, report: lines.join("\n"), resources });
    const configPath = opts.configPath ?? join(REPO_ROOT, "policy", `config.${stack}.json`);
    let config: PackConfig;
    try {
        config = opts.config ?? readPackConfigFile(configPath);
    } catch (e) {
        if (e instanceof PackConfigError) {
            lines.push(e.message);
            if (!existsSync(configPath)) lines.push(`  (a new stack? write it from the stack file: npm run policy -- --stack ${stack} --write-config, and commit it)`);
            return done(2);
        }
        throw e;
    }
    let run;
    try {
        run = await runProgramUnderMocks(stack, opts.overrides);
    } catch (e) {
        if (e instanceof ConfigError) {
            lines.push(`policy gate: the program refused the stack config of ${stack}, nothing was declared:`);
            for (const i of e.issues) lines.push(`  - ${formatIssue(i)}`);
            return done(1);
        }
        throw e;
    }
    const resources = toPolicyResources(run.resources);
    let violations: Violation[];
    try {
        violations = await evaluatePack(resources, config, { stack });
    } catch (e) {
        if (e instanceof PolicyConfigError) {
            lines.push(e.message);
            return done(2, [], resources.length);
        }
        throw e;
    }

    // The committed pack config is the floor. Say so when the stack file no longer implies it: that is
    // either a weakening this gate is about to judge, or a tightening whose config was not regenerated.
    const file = loadStackFileForMocks(stack, opts.overrides);
    const v = validateStackConfig(file);
    if (v.ok && !opts.config) {
        const implied = derivePackConfig(v.config.config);
        if (!sameJson(implied, config)) {
            lines.push(`note: ${file.source} implies a different pack config than ${configPath.replace(REPO_ROOT + "/", "")}; judging against the committed pack config.`);
        }
    }

    const mandatory = violations.filter((x) => x.enforcementLevel === "mandatory");
    lines.push(`policy gate: stack ${stack}: ${resources.length} resources, ${policies.length} policies, ${violations.length} violation(s) (${mandatory.length} mandatory)`);
    for (const [name, list] of groupByPolicy(violations)) {
        const p = list[0];
        lines.push("");
        lines.push(`✖ ${name} (${p.enforcementLevel}${p.severity ? `, ${p.severity}` : ""}): ${p.description}`);
        for (const x of list) lines.push(`    ${x.resourceType ? `${x.resourceType} "${x.resourceName}"` : "stack"}: ${x.message}`);
        lines.push(`  remediation: ${p.remediation}`);
    }
    if (!violations.length) lines.push("✔ every policy passed");
    return done(mandatory.length ? 1 : 0, violations, resources.length);
}

/** Write the pack config the stack file implies (a new stack, or a reviewed change of its floors). */
export function writePackConfig(stack: string, path = join(REPO_ROOT, "policy", `config.${stack}.json`)): string {
    const file = loadStackFileForMocks(stack);
    const v = validateStackConfig(file);
    if (!v.ok) throw new ConfigError(v.issues);
    writeFileSync(path, JSON.stringify(derivePackConfig(v.config.config), null, 4) + "\n");
    return path;
}

function parseArgs(argv: string[]): { stack?: string; config?: string; json: boolean; write: boolean } {
    let stack: string | undefined;
    let config: string | undefined;
    let json = false;
    let write = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--stack" || a === "-s") stack = argv[++i];
        else if (a.startsWith("--stack=")) stack = a.slice("--stack=".length);
        else if (a === "--config") config = argv[++i];
        else if (a.startsWith("--config=")) config = a.slice("--config=".length);
        else if (a === "--json") json = true;
        else if (a === "--write-config") write = true;
        else if (!a.startsWith("-") && !stack) stack = a;
        else throw new Error(`unknown argument: ${a}`);
    }
    return { stack, config, json, write };
}

async function main(): Promise<number> {
    let args;
    try {
        args = parseArgs(process.argv.slice(2));
    } catch (e: any) {
        console.error(`${e.message}\nusage: npm run policy -- --stack <name> [--config policy/config.<name>.json] [--json] [--write-config]`);
        return 2;
    }
    if (!args.stack) {
        console.error("usage: npm run policy -- --stack <name> [--config policy/config.<name>.json] [--json] [--write-config]");
        return 2;
    }
    if (args.write) {
        try {
            console.log(`wrote ${writePackConfig(args.stack).replace(REPO_ROOT + "/", "")} from Pulumi.${args.stack}.yaml`);
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            console.error(e.message);
            return 1;
        }
    }
    const r = await policyGate(args.stack, { configPath: args.config ? join(process.cwd(), args.config) : undefined });
    if (args.json) console.log(JSON.stringify({ stack: r.stack, exitCode: r.exitCode, resources: r.resources, violations: r.violations }, null, 2));
    else (r.exitCode === 0 ? console.log : console.error)(r.report);
    return r.exitCode;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e) => {
            console.error(e?.stack ?? String(e));
            process.exit(2);
        },
    );
}
