// Shared by the component tests: each stack runs once under mocks per mocha process.
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { runProgramUnderMocks, type DeclaredResource, type MockRunResult } from "../../scripts/lib/mockrun";

const cache = new Map<string, Promise<MockRunResult>>();

/** The real program for a real stack file, run once and shared between test files. */
export function stackRun(stack: "staging" | "prod"): Promise<MockRunResult> {
    let p = cache.get(stack);
    if (!p) {
        p = runProgramUnderMocks(stack);
        cache.set(stack, p);
    }
    return p;
}

export function ofType(r: MockRunResult, type: string): DeclaredResource[] {
    return r.resources.filter((x) => x.type === type);
}

export function one(r: MockRunResult, type: string, nameEndsWith = ""): DeclaredResource {
    const found = ofType(r, type).filter((x) => x.name.endsWith(nameEndsWith));
    if (found.length !== 1) throw new Error(`expected one ${type} named *${nameEndsWith}, found ${found.map((f) => f.name).join(", ") || "none"}`);
    return found[0];
}

export type Decision = "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied";

export interface SimRequest {
    action: string;
    resource: string;
    principal: string;
    accountId: string;
    context?: Record<string, string | string[]>;
    identityPolicy?: unknown;
    resourcePolicy?: unknown;
}

/** Evaluate one request with the IAM simulator; throws on a simulator validation error. */
export async function decide(req: SimRequest): Promise<Decision> {
    const res: any = await runSimulation(
        {
            identityPolicies: req.identityPolicy ? [{ name: "identity", policy: req.identityPolicy as any }] : [],
            serviceControlPolicies: [],
            resourceControlPolicies: [],
            resourcePolicy: req.resourcePolicy as any,
            request: {
                action: req.action,
                principal: req.principal,
                resource: { accountId: req.accountId, resource: req.resource },
                contextVariables: { "aws:PrincipalArn": req.principal, "aws:SecureTransport": "true", ...(req.context ?? {}) },
            },
        } as any,
        {},
    );
    if (res.resultType === "error") throw new Error(`simulator rejected ${req.action} on ${req.resource}: ${JSON.stringify(res.errors)}`);
    return res.overallResult as Decision;
}
