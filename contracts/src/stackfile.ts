// Reads a Pulumi.<stack>.yaml the way the engine would hand it to the program, without the CLI: the
// offline preview, the policy gate and the tests use it. Secure values cannot be decrypted here, so they
// (and secrets the deployer sets later with `pulumi config set --secret`) become placeholders.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { dump, load } from "js-yaml";
import { CONFIG_NAMESPACE, StackConfigSchema, secretsFor } from "./config";
import type { ConfigSnapshot } from "./manifest";

export interface StackFile {
    /** `Pulumi.prod.yaml` */
    source: string;
    stack: string;
    /** values under our namespace, keyed without it */
    values: Record<string, unknown>;
    /** keys (without namespace) that are secrets */
    secretKeys: Set<string>;
    /** `aws:region` and other namespaces, as written */
    other: Record<string, unknown>;
    /** secrets that were absent or encrypted and were replaced by placeholders */
    placeholders: string[];
}

export function placeholderSecret(name: string): string {
    // Shaped like the real thing so downstream parsing (URLs) works, and obviously fake.
    return name === "databaseUrl" ? "postgresql://postgres:placeholder@db.example.invalid:5432/postgres" : `placeholder-${name}`;
}

export function stackFilePath(projectDir: string, stack: string): string {
    return `${projectDir}/Pulumi.${stack}.yaml`;
}

export function readStackFile(path: string, opts: { placeholderSecrets?: boolean } = {}): StackFile {
    const source = basename(path);
    const m = /^Pulumi\.(.+)\.yaml$/.exec(source);
    const stack = m ? m[1] : source;
    let doc: any;
    try {
        doc = load(readFileSync(path, "utf8"));
    } catch (e: any) {
        throw new Error(`${source}: cannot read stack file: ${e.code === "ENOENT" ? "no such file" : e.message}`);
    }
    const config = (doc && typeof doc === "object" ? doc.config : undefined) ?? {};
    const values: Record<string, unknown> = {};
    const other: Record<string, unknown> = {};
    const secretKeys = new Set<string>();
    const placeholders: string[] = [];
    for (const [fullKey, raw] of Object.entries(config)) {
        const [ns, ...rest] = fullKey.split(":");
        const key = rest.join(":");
        if (ns !== CONFIG_NAMESPACE || !key) {
            other[fullKey] = raw;
            continue;
        }
        const isSecure = raw !== null && typeof raw === "object" && !Array.isArray(raw) && "secure" in (raw as object);
        if (isSecure) {
            secretKeys.add(key);
            values[key] = placeholderSecret(key);
            placeholders.push(key);
        } else {
            values[key] = raw;
        }
    }
    if (opts.placeholderSecrets) {
        // Optional secrets only where the config needs them.
        for (const name of secretsFor(values as Parameters<typeof secretsFor>[0])) {
            if (name in values) continue;
            values[name] = placeholderSecret(name);
            secretKeys.add(name);
            placeholders.push(name);
        }
    }
    return { source, stack, values, secretKeys, other, placeholders };
}

/**
 * A Pulumi.<stack>.yaml rebuilt from a run's config snapshot: every stack key the job config carried,
 * `aws:region` from the vault, and each secret as the `pulumi config set --secret` line to run (values
 * are never in the vault).
 */
export function stackFileFromSnapshot(snapshot: ConfigSnapshot, stack: string): string {
    const config: Record<string, unknown> = {};
    const vault = snapshot.job.vault as { region?: string } | undefined;
    if (vault?.region) config["aws:region"] = vault.region;
    for (const key of Object.keys(StackConfigSchema.properties)) {
        if (snapshot.job[key] !== undefined) config[`${CONFIG_NAMESPACE}:${key}`] = snapshot.job[key];
    }
    const secrets = snapshot.secrets.map((s) => `#   pulumi config set --secret ${CONFIG_NAMESPACE}:${s.name} … --stack ${stack}   (reaches the jobs as ${s.env})`);
    return [`# Pulumi.${stack}.yaml rebuilt from a backup run's config snapshot. Secrets to set again:`, ...secrets, dump({ config }, { lineWidth: 120, noRefs: true })].join("\n");
}
