// Runs the whole pack over a list of declared resources the way the CrossGuard engine would: every
// resource policy's validateResource per resource (with ResourceValidationArgs), then every stack
// policy's validateStack once (with StackValidationArgs). Used by the offline gate and the tests;
// it never constructs a PolicyPack.
import type { PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import type { BackupPolicy } from "./lib/common";
import { policies as allPolicies } from "./policies";
import type { PackConfig } from "./config";

/** A resource as the program declared it (the mock harness's record of it). */
export interface DeclaredResource {
    type: string;
    name: string;
    /** inputs as passed to the resource constructor, resolved */
    props: Record<string, any>;
    urn?: string;
    /** outputs (mocked state); stack policies see these, merged over the inputs */
    outputs?: Record<string, any>;
    parentUrn?: string;
    protect?: boolean;
    /** URNs this resource depends on */
    dependencies?: string[];
}

export interface Violation {
    policy: string;
    enforcementLevel: string;
    severity?: string;
    description: string;
    remediation: string;
    message: string;
    resourceType?: string;
    resourceName?: string;
    urn?: string;
}

class NotApplicable extends Error {
    constructor(readonly reason?: string) {
        super(reason ?? "not applicable");
    }
}

function pulumiTypeOf(cls: any): string | undefined {
    return cls?.__pulumiType;
}

function opts(r: DeclaredResource): PolicyResourceOptions {
    return {
        protect: !!r.protect,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        parent: r.parentUrn,
    };
}

export function urnOf(r: DeclaredResource, stack = "stack", project = "supabase-backups"): string {
    return r.urn ?? `urn:pulumi:${stack}::${project}::${r.type}::${r.name}`;
}

function configGetter(config: PackConfig, name: string): <T extends object>() => T {
    return <T extends object>() => {
        const c = config[name];
        if (!c || typeof c !== "object") return {} as T;
        const { enforcementLevel: _drop, ...rest } = c as Record<string, unknown>;
        return structuredClone(rest) as T;
    };
}

function levelOf(config: PackConfig, p: BackupPolicy): string {
    const c = config[p.name];
    if (typeof c === "string") return c;
    return (c?.enforcementLevel as string | undefined) ?? (typeof config.all === "string" ? config.all : undefined) ?? p.enforcementLevel;
}

export interface EvaluateOptions {
    stack?: string;
    policies?: BackupPolicy[];
    stackTags?: Map<string, string>;
}

export async function evaluatePack(resources: DeclaredResource[], config: PackConfig, o: EvaluateOptions = {}): Promise<Violation[]> {
    const policies = o.policies ?? allPolicies;
    const stackTags = o.stackTags ?? new Map<string, string>();
    const out: Violation[] = [];
    const base = (p: BackupPolicy) => ({
        policy: p.name,
        enforcementLevel: levelOf(config, p),
        severity: p.severity,
        description: p.description,
        remediation: p.remediationSteps,
    });
    for (const p of policies) {
        if (levelOf(config, p) === "disabled" || !("validateResource" in p) || !p.validateResource) continue;
        const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
        for (const r of resources) {
            const urn = urnOf(r, o.stack);
            const props = structuredClone(r.props);
            const args: ResourceValidationArgs = {
                type: r.type,
                props,
                urn,
                name: r.name,
                opts: opts(r),
                stackTags,
                isType: (cls: any) => pulumiTypeOf(cls) === r.type,
                asType: ((cls: any) => (pulumiTypeOf(cls) === r.type ? props : undefined)) as ResourceValidationArgs["asType"],
                getConfig: configGetter(config, p.name),
                notApplicable: (reason?: string): never => {
                    throw new NotApplicable(reason);
                },
            };
            for (const v of validations) {
                try {
                    await v(args, (message) => out.push({ ...base(p), message, resourceType: r.type, resourceName: r.name, urn }));
                } catch (e) {
                    if (e instanceof NotApplicable) continue;
                    throw e;
                }
            }
        }
    }
    const byUrn = new Map<string, PolicyResource>();
    const policyResources: PolicyResource[] = resources.map((r) => {
        const props = structuredClone({ ...r.props, ...(r.outputs ?? {}) });
        const pr: PolicyResource = {
            type: r.type,
            props,
            urn: urnOf(r, o.stack),
            name: r.name,
            opts: opts(r),
            dependencies: [],
            propertyDependencies: {},
            isType: (cls: any) => pulumiTypeOf(cls) === r.type,
            asType: ((cls: any) => (pulumiTypeOf(cls) === r.type ? props : undefined)) as PolicyResource["asType"],
        };
        byUrn.set(pr.urn, pr);
        return pr;
    });
    resources.forEach((r, i) => {
        if (r.parentUrn) policyResources[i].parent = byUrn.get(r.parentUrn);
        policyResources[i].dependencies = (r.dependencies ?? []).map((u) => byUrn.get(u)).filter((d): d is PolicyResource => !!d);
    });
    const named = new Map(policyResources.map((r) => [r.urn, r]));
    for (const p of policies) {
        if (levelOf(config, p) === "disabled" || !("validateStack" in p) || !p.validateStack) continue;
        const args: StackValidationArgs = {
            resources: policyResources,
            stackTags,
            getConfig: configGetter(config, p.name),
            notApplicable: (reason?: string): never => {
                throw new NotApplicable(reason);
            },
        };
        try {
            await p.validateStack(args, (message, urn) => {
                const r = urn ? named.get(urn) : undefined;
                out.push({ ...base(p), message, urn, resourceType: r?.type, resourceName: r?.name });
            });
        } catch (e) {
            if (e instanceof NotApplicable) continue;
            throw e;
        }
    }
    return out;
}

/** Group violations by policy, in pack order, for printing. */
export function groupByPolicy(vs: Violation[], policies: BackupPolicy[] = allPolicies): Map<string, Violation[]> {
    const m = new Map<string, Violation[]>();
    for (const p of policies) {
        const list = vs.filter((v) => v.policy === p.name);
        if (list.length) m.set(p.name, list);
    }
    return m;
}
