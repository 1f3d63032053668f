// Reads a Pulumi.<stack>.yaml the way the engine would hand it to the program, without the CLI: the
// offline preview, the policy gate and the tests use it. Secure values cannot be decrypted here, so they
// (and secrets the deployer sets later with `pulumi config set --secret`) become placeholders.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { load } from "js-yaml";
import { CONFIG_NAMESPACE, SECRET_NAMES } from "./config";

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
        for (const name of SECRET_NAMES) {
            if (name in values) continue;
            // Optional secrets only where the config needs them.
            if (name === "ageIdentity" && !(values.encryption as any)?.ageRecipient) continue;
            if (name.startsWith("storageS3") && (values.storage as any)?.mode !== "s3") continue;
            values[name] = placeholderSecret(name);
            secretKeys.add(name);
            placeholders.push(name);
        }
    }
    return { source, stack, values, secretKeys, other, placeholders };
}
