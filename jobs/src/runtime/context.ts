// What every command starts from: the validated job config (file from --config or the env var the
// CronJob sets), the secrets from the environment (registered for scrubbing), and a logger.
import { readFileSync } from "node:fs";
import { JOB_ENV, parseJobConfig, SECRETS, type JobConfig, type SecretName, ConfigError, formatIssue } from "@supabase-backups/contracts";
import { UsageError } from "./errors";
import { createLogger, registerSecret, type Logger } from "./log";

export interface JobContext {
    config: JobConfig;
    configSource: string;
    secrets: Partial<Record<SecretName, string>>;
    env: NodeJS.ProcessEnv;
    log: Logger;
}

export function loadConfigFile(path: string | undefined, env: NodeJS.ProcessEnv = process.env): { config: JobConfig; source: string } {
    const file = path ?? env[JOB_ENV.config];
    if (!file) throw new UsageError(`no job config: pass --config FILE or set ${JOB_ENV.config}`);
    let raw: unknown;
    try {
        raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (e: any) {
        throw new UsageError(`${file}: cannot read job config: ${e.code === "ENOENT" ? "no such file" : e.message}`);
    }
    try {
        return { config: parseJobConfig(raw, file), source: file };
    } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(`invalid job config:\n${e.issues.map((i) => "  - " + formatIssue(i)).join("\n")}`);
        throw e;
    }
}

/** Secrets come only from the environment (Kubernetes Secrets), never from flags or files. */
export function readSecrets(env: NodeJS.ProcessEnv = process.env): Partial<Record<SecretName, string>> {
    const out: Partial<Record<SecretName, string>> = {};
    for (const [name, spec] of Object.entries(SECRETS) as [SecretName, (typeof SECRETS)[SecretName]][]) {
        const v = env[spec.env];
        if (v) {
            registerSecret(v);
            out[name] = v;
        }
    }
    for (const k of [JOB_ENV.canaryDatabaseUrl, JOB_ENV.canaryDatabasePassword, JOB_ENV.azureConnectionString, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) registerSecret(env[k]);
    return out;
}

export function requireSecret(ctx: Pick<JobContext, "secrets">, name: SecretName): string {
    const v = ctx.secrets[name];
    if (!v) throw new UsageError(`missing secret: set ${SECRETS[name].env} (${SECRETS[name].description})`);
    return v;
}

export function createContext(opts: { config?: string; command: string }, env: NodeJS.ProcessEnv = process.env): JobContext {
    const secrets = readSecrets(env);
    const { config, source } = loadConfigFile(opts.config, env);
    const log = createLogger({ cmd: opts.command, env: config.env });
    return { config, configSource: source, secrets, env, log };
}
