// Offline policy gate: `npm run policy -- --stack <name>`. Runs the real program under Pulumi mocks with
// Pulumi.<name>.yaml (no cloud credentials, no Pulumi CLI), evaluates the whole CrossGuard pack in
// policy/ on what it declares — every resource policy per resource, every stack policy once — with the
// pack config policy/config.<name>.json, prints violations grouped by policy with the resource and the
// remediation, and exits 1 on any mandatory violation (2 on bad usage or an invalid pack config).
//   --config FILE   another pack config (default policy/config.<stack>.json)
//   --json          print the violations as JSON
//   --write-config  (re)write policy/config.<stack>.json from what Pulumi.<stack>.yaml implies, then judge
//   --base-ref REF  also compare the floors with the base branch's stack file (git show REF:…) and fail on
//                   any lowering policy/exceptions.yaml does not cover with an entry this change adds
//   --pr-dir DIR    the pull request's checkout (stack file, pack config, exception file, git history);
//                   default: this repository. CI runs the BASE branch's gate with --pr-dir <the PR>.
//   --resources F   judge the declared resources in F (written by --dump-resources) instead of running
//                   the program: the PR's program is run by its own harness, the base's pack judges it
//   --dump-resources F  write what the program declared to F (JSON) and judge as usual
//   --today YYYY-MM-DD  the date exceptions are checked against (default: today, UTC)
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError, formatIssue, readStackFile, validateStackConfig } from "@supabase-backups/contracts";
import { derivePackConfig, PackConfigError, readPackConfigFile, type PackConfig } from "../policy/config";
import { ExceptionFileError, floorsOf, judgeLowerings, lowerings, parseExceptions } from "../policy/floors";
import { evaluatePack, groupByPolicy, type DeclaredResource, type Violation } from "../policy/evaluate";
import { PolicyConfigError } from "../policy/lib/common";
import { policies } from "../policy/policies";
import { loadStackFileForMocks, REPO_ROOT, runProgramUnderMocks, type DeclaredResource as MockResource, type MockRunOverrides } from "./lib/mockrun";

export interface GateOptions {
    /** pack config file; default policy/config.<stack>.json (of prDir) */
    configPath?: string;
    /** pack config object (tests); wins over configPath and skips the stack-file consistency check */
    config?: PackConfig;
    /** change the stack's config before the program runs (tests: mutated variants) */
    overrides?: MockRunOverrides;
    /** the base branch (a git ref in prDir): compare floors with its stack file */
    baseRef?: string;
    /** the pull request's checkout; default the repository this gate lives in */
    prDir?: string;
    /** judge these declared resources instead of running the program */
    resources?: DeclaredResource[];
    /** YYYY-MM-DD for exception expiry; default today (UTC) */
    today?: string;
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

/** A file of `ref` in the git repository at `dir`, or undefined when the ref has no such file. */
export function gitShow(dir: string, ref: string, path: string): string | undefined {
    try {
        return execFileSync("git", ["-C", dir, "show", `${ref}:${path}`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e: any) {
        if (/does not exist|exists on disk, but not in|path '.*' does not exist/.test(String(e.stderr))) return undefined;
        throw new Error(`git show ${ref}:${path} in ${dir} failed: ${String(e.stderr || e.message).trim()}`);
    }
}

function validatedStack(text: string, name: string) {
    const dir = mkdtempSync(join(tmpdir(), "sb-floors-"));
    try {
        const path = join(dir, name);
        writeFileSync(path, text);
        return validateStackConfig(readStackFile(path, { placeholderSecrets: true }));
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * The floors check: the pull request's stack file against the base branch's. Returns the lines to print
 * and whether a lowering was refused. An exception file that does not parse refuses everything.
 */
export function floorGate(stack: string, baseRef: string, prDir: string, prConfig: import("@supabase-backups/contracts").StackConfig, today: string): { lines: string[]; refused: boolean } {
    const lines: string[] = [];
    const fileName = `Pulumi.${stack}.yaml`;
    const baseText = gitShow(prDir, baseRef, fileName);
    if (baseText === undefined) return { lines: [`floors: ${fileName} is new (not on ${baseRef}): nothing to compare`], refused: false };
    const base = validatedStack(baseText, fileName);
    if (!base.ok) return { lines: [`floors: ${fileName} on ${baseRef} does not validate; cannot tell what the floors were:`, ...base.issues.map((i) => `  - ${formatIssue(i)}`)], refused: true };
    const found = lowerings(floorsOf(base.config.config), floorsOf(prConfig));
    if (!found.length) return { lines: [`floors: no floor of ${stack} is lower than on ${baseRef}`], refused: false };
    let prEx, baseEx;
    try {
        const prPath = join(prDir, "policy", "exceptions.yaml");
        prEx = parseExceptions(existsSync(prPath) ? readFileSync(prPath, "utf8") : undefined);
        baseEx = parseExceptions(gitShow(prDir, baseRef, "policy/exceptions.yaml"), `policy/exceptions.yaml on ${baseRef}`);
    } catch (e) {
        if (!(e instanceof ExceptionFileError)) throw e;
        return { lines: [`floors: ${found.length} floor(s) lowered, and the exception file cannot be read:`, e.message], refused: true };
    }
    const j = judgeLowerings(stack, found, prEx, baseEx, today);
    for (const x of j.excepted) lines.push(`floors: ${x.floor}: ${x.why}; allowed by the exception of ${x.exception.owner} until ${x.exception.expires} (${x.exception.reason})`);
    for (const x of j.refused) lines.push(`✖ floors: ${x.floor}: ${x.why} compared with ${baseRef}; ${x.because}`);
    if (j.refused.length) {
        lines.push("  remediation: keep the floor, or add a reviewed entry to policy/exceptions.yaml in this same pull request (stack, floor, value, owner, reason, expires; see docs/policies.md)");
    }
    return { lines, refused: j.refused.length > 0 };
}

export async function policyGate(stack: string, opts: GateOptions = {}): Promise<GateResult> {
    const lines: string[] = [];
    const done = (exitCode: 0 | 1 | 2, violations: Violation[] = [], resources = 0): GateResult => ({ stack, exitCode, violations, report: lines.join("\n"), resources });
    const prDir = opts.prDir ?? opts.overrides?.projectDir ?? REPO_ROOT;
    const overrides: MockRunOverrides = { ...opts.overrides, projectDir: prDir };
    const configPath = opts.configPath ?? join(prDir, "policy", `config.${stack}.json`);
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
    let resources: DeclaredResource[];
    if (opts.resources) resources = opts.resources;
    else {
        try {
            resources = toPolicyResources((await runProgramUnderMocks(stack, overrides)).resources);
        } catch (e) {
            if (e instanceof ConfigError) {
                lines.push(`policy gate: the program refused the stack config of ${stack}, nothing was declared:`);
                for (const i of e.issues) lines.push(`  - ${formatIssue(i)}`);
                return done(1);
            }
            throw e;
        }
    }
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

    // The committed pack config must be exactly what the stack file implies: a hand-edited or stale
    // config would judge the stack against floors nobody reviewed. Lowering both together is what the
    // floors check (--base-ref) is for.
    let refused = false;
    const file = loadStackFileForMocks(stack, overrides);
    const v = validateStackConfig(file);
    if (!v.ok) {
        lines.push(`policy gate: ${file.source} does not validate:`);
        for (const i of v.issues) lines.push(`  - ${formatIssue(i)}`);
        refused = true;
    } else {
        if (!opts.config && !sameJson(derivePackConfig(v.config.config), config)) {
            lines.push(`✖ ${configPath.replace(prDir + "/", "")} is not what ${file.source} implies: regenerate it (npm run policy -- --stack ${stack} --write-config) and commit both`);
            refused = true;
        }
        if (opts.baseRef) {
            const f = floorGate(stack, opts.baseRef, prDir, v.config.config, opts.today ?? new Date().toISOString().slice(0, 10));
            lines.push(...f.lines);
            refused ||= f.refused;
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
    if (!violations.length && !refused) lines.push("✔ every policy passed");
    return done(mandatory.length || refused ? 1 : 0, violations, resources.length);
}

/** Write the pack config the stack file implies (a new stack, or a reviewed change of its floors). */
export function writePackConfig(stack: string, path = join(REPO_ROOT, "policy", `config.${stack}.json`), projectDir = REPO_ROOT): string {
    const file = loadStackFileForMocks(stack, { projectDir });
    const v = validateStackConfig(file);
    if (!v.ok) throw new ConfigError(v.issues);
    writeFileSync(path, JSON.stringify(derivePackConfig(v.config.config), null, 4) + "\n");
    return path;
}

interface CliArgs {
    stack?: string;
    config?: string;
    json: boolean;
    write: boolean;
    baseRef?: string;
    prDir?: string;
    resources?: string;
    dump?: string;
    today?: string;
}

function parseArgs(argv: string[]): CliArgs {
    const out: CliArgs = { json: false, write: false };
    const valued: Record<string, keyof CliArgs> = { "--stack": "stack", "-s": "stack", "--config": "config", "--base-ref": "baseRef", "--pr-dir": "prDir", "--resources": "resources", "--dump-resources": "dump", "--today": "today" };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const eq = a.indexOf("=");
        const flag = eq > 0 ? a.slice(0, eq) : a;
        if (flag in valued) {
            const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
            if (v === undefined || v === "") throw new Error(`${flag} needs a value`);
            (out as any)[valued[flag]] = v;
        } else if (a === "--json") out.json = true;
        else if (a === "--write-config") out.write = true;
        else if (!a.startsWith("-") && !out.stack) out.stack = a;
        else throw new Error(`unknown argument: ${a}`);
    }
    return out;
}

const USAGE = "usage: npm run policy -- --stack <name> [--config FILE] [--json] [--write-config] [--base-ref REF [--pr-dir DIR]] [--resources FILE | --dump-resources FILE] [--today YYYY-MM-DD]";

async function main(): Promise<number> {
    let args: CliArgs;
    try {
        args = parseArgs(process.argv.slice(2));
    } catch (e: any) {
        console.error(`${e.message}\n${USAGE}`);
        return 2;
    }
    if (!args.stack) {
        console.error(USAGE);
        return 2;
    }
    const prDir = args.prDir ? resolve(args.prDir) : REPO_ROOT;
    if (args.write) {
        try {
            console.log(`wrote ${writePackConfig(args.stack, join(prDir, "policy", `config.${args.stack}.json`), prDir).replace(prDir + "/", "")} from Pulumi.${args.stack}.yaml`);
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            console.error(e.message);
            return 1;
        }
    }
    let resources: DeclaredResource[] | undefined;
    if (args.resources) resources = JSON.parse(readFileSync(resolve(args.resources), "utf8")) as DeclaredResource[];
    else if (args.dump) {
        try {
            resources = toPolicyResources((await runProgramUnderMocks(args.stack, { projectDir: prDir })).resources);
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            console.error(e.message);
            return 1;
        }
        writeFileSync(resolve(args.dump), JSON.stringify(resources));
    }
    const r = await policyGate(args.stack, {
        configPath: args.config ? resolve(args.config) : undefined,
        baseRef: args.baseRef,
        prDir,
        resources,
        today: args.today,
    });
    if (args.json) console.log(JSON.stringify({ stack: r.stack, exitCode: r.exitCode, resources: r.resources, violations: r.violations, report: r.report }, null, 2));
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
