// The pack's per-stack config (policy/config.<stack>.json, the file given to
// `pulumi preview --policy-pack-config`): its schema is assembled from the policies' own configSchemas,
// validated with ajv (unknown policy names and keys, missing floors and attempts to relax a policy are
// errors), and derived from a validated stack config so the floors are the stack's own numbers.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import Ajv from "ajv";
import type { StackConfig } from "@supabase-backups/contracts";
import { type BackupPolicy, describeAjvErrors, policyConfigJsonSchema } from "./lib/common";
import { policies as allPolicies } from "./policies";

export type PackConfig = Record<string, Record<string, unknown> | string>;

export class PackConfigError extends Error {
    constructor(
        readonly source: string,
        readonly problems: string[],
    ) {
        super(`${source}: invalid policy pack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "PackConfigError";
    }
}

/** These policies protect retention; a stack's config may tune their floors but never relax them. */
const LEVELS = ["mandatory"];

export function packConfigSchema(policies: BackupPolicy[] = allPolicies): object {
    const properties: Record<string, unknown> = { all: { enum: LEVELS } };
    const required: string[] = [];
    for (const p of policies) {
        const s = policyConfigJsonSchema(p.configSchema) as any;
        s.properties.enforcementLevel = { enum: LEVELS, description: "policies of this pack cannot be made advisory or disabled per stack" };
        properties[p.name] = s;
        if (p.configSchema?.required?.length) required.push(p.name);
    }
    return { type: "object", properties, required, additionalProperties: false };
}

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false, verbose: true });

/** Validate a pack config object; returns it (unchanged) or throws PackConfigError listing every problem. */
export function validatePackConfig(raw: unknown, source: string, policies: BackupPolicy[] = allPolicies): PackConfig {
    const problems: string[] = [];
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new PackConfigError(source, [`expected a JSON object keyed by policy name; found ${Array.isArray(raw) ? "an array" : typeof raw}`]);
    // A bare enforcement level ("advisory") is how Pulumi lets a config relax a policy: refuse it too.
    const data: Record<string, unknown> = {};
    const bare = new Set<string>();
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v === "string" && k !== "all") {
            bare.add(k);
            if (!LEVELS.includes(v)) problems.push(`${k}: enforcement level ${JSON.stringify(v)} is not allowed (only "mandatory": this pack's policies cannot be relaxed per stack)`);
            else if (policies.find((p) => p.name === k)?.configSchema?.required?.length) {
                problems.push(`${k}: a bare enforcement level leaves out this policy's required settings (${policies.find((p) => p.name === k)!.configSchema!.required!.join(", ")})`);
            } else if (!policies.some((p) => p.name === k)) problems.push(`unknown policy "${k}" (known: ${policies.map((p) => p.name).join(", ")})`);
        } else data[k] = v;
    }
    const schema = packConfigSchema(policies) as { required: string[] };
    schema.required = schema.required.filter((k) => !bare.has(k));
    const validate = ajv.compile(schema);
    if (!validate(data)) {
        for (const m of describeAjvErrors(validate.errors, "")) {
            problems.push(
                m
                    .replace(/^: missing required key "([^"]+)"/, (_all, name) => `missing the config of policy "${name}" (it has floors without defaults)`)
                    .replace(/^: unknown key "([^"]+)" \(known: [^)]*\)/, (_all, name) => `unknown policy "${name}" (known: ${policies.map((p) => p.name).join(", ")})`)
                    .replace(/^\./, ""),
            );
        }
    }
    if (problems.length) throw new PackConfigError(source, [...new Set(problems)]);
    return raw as PackConfig;
}

export function readPackConfigFile(path: string, policies: BackupPolicy[] = allPolicies): PackConfig {
    const source = basename(path);
    let raw: unknown;
    try {
        raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (e: any) {
        throw new PackConfigError(source, [e.code === "ENOENT" ? `no such file: ${path}` : `not valid JSON: ${e.message}`]);
    }
    return validatePackConfig(raw, source, policies);
}

/**
 * The pack config a stack's own config implies: each policy's configFromStack, in pack order (the
 * Object Lock and immutability minimum, the tier periods, the RPO and per-bucket schedules, the vault
 * bucket and environment; prod, or any stack with the Azure archive on, must keep the archive).
 * policy/config.<stack>.json is this, committed, so a pull request that weakens the stack file is
 * judged against the floors from before it.
 */
export function derivePackConfig(cfg: StackConfig, policies: BackupPolicy[] = allPolicies): PackConfig {
    const out: PackConfig = {};
    for (const p of policies) if (p.configFromStack) out[p.name] = p.configFromStack(cfg);
    return out;
}
