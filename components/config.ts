// Reads this stack's config from the Pulumi runtime and validates it with the contracts module, before
// any resource is declared. `pulumi up`, the offline preview and the tests all come through here.
import * as pulumi from "@pulumi/pulumi";
import {
    CONFIG_NAMESPACE,
    ConfigError,
    SECRET_NAMES,
    validateStackConfig,
    type ValidatedStack,
} from "@supabase-backups/contracts";

/** Is a config key a secret? The language host passes the secret keys beside the config. */
function isSecretKey(fullKey: string): boolean {
    // `isConfigSecret` is internal to @pulumi/pulumi but is what `Config.getSecret` relies on; read the
    // same list directly if a future SDK moves it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rt = require("@pulumi/pulumi/runtime/config");
    if (typeof rt.isConfigSecret === "function") return rt.isConfigSecret(fullKey);
    try {
        return (JSON.parse(process.env.PULUMI_CONFIG_SECRET_KEYS ?? "[]") as string[]).includes(fullKey);
    } catch {
        return false;
    }
}

export interface RuntimeConfig {
    /** `Pulumi.<stack>.yaml`, for messages */
    source: string;
    values: Record<string, unknown>;
    secretKeys: Set<string>;
}

/** Our namespace's values as the engine hands them over: structured values arrive as JSON strings. */
export function readRuntimeConfig(): RuntimeConfig {
    const all = pulumi.runtime.allConfig();
    const values: Record<string, unknown> = {};
    const secretKeys = new Set<string>();
    const prefix = `${CONFIG_NAMESPACE}:`;
    for (const [fullKey, raw] of Object.entries(all)) {
        if (!fullKey.startsWith(prefix)) continue;
        const key = fullKey.slice(prefix.length);
        const secret = isSecretKey(fullKey);
        if (secret) secretKeys.add(key);
        // Secrets are opaque strings; everything else may be a JSON object/array/number/boolean.
        if (secret || (SECRET_NAMES as string[]).includes(key)) {
            values[key] = raw;
            continue;
        }
        try {
            values[key] = JSON.parse(raw);
        } catch {
            values[key] = raw;
        }
    }
    return { source: `Pulumi.${pulumi.getStack()}.yaml`, values, secretKeys };
}

/** Read and validate, or throw a ConfigError listing every problem (file, key, expected, found). */
export function loadStackConfig(): ValidatedStack {
    const r = validateStackConfig(readRuntimeConfig());
    if (!r.ok) throw new ConfigError(r.issues);
    return r.config;
}
