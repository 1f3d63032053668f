// Run the real CLI as a child process (as the CronJob would), with a job config file and env.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readStackFile, validateStackConfig, type JobConfig } from "@supabase-backups/contracts";

const root = join(__dirname, "..", "..");
export const CLI_BIN = join(root, "jobs", "bin", "supabase-backups");

export interface CliResult {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
}

export interface CliRun {
    child: ReturnType<typeof spawn>;
    done: Promise<CliResult>;
}

/** Start the CLI; `done` resolves when it exits. Use `child.kill()` for kill tests. */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): CliRun {
    const child = spawn(CLI_BIN, args, {
        env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "info", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const done = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
    return { child, done };
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
    return startCli(args, env).done;
}

/**
 * A valid job config: the staging stack file's settings (validated by the real schema) plus the given
 * vault/archive targets and overrides. Returns the config and the path of the file written.
 */
export function writeJobConfig(targets: { vault: JobConfig["vault"]; archive?: JobConfig["archive"] }, mutate: (c: any) => void = () => undefined): { path: string; config: JobConfig } {
    const f = readStackFile(join(root, "Pulumi.staging.yaml"), { placeholderSecrets: true });
    const r = validateStackConfig(f);
    if (!r.ok) throw new Error("staging stack file invalid: " + JSON.stringify(r.issues));
    const config: any = { ...r.config.config, env: "test", vault: { ...targets.vault, forcePathStyle: targets.vault.forcePathStyle ?? true } };
    if (targets.archive) config.archive = targets.archive;
    mutate(config);
    const dir = mkdtempSync(join(tmpdir(), "sb-cfg-"));
    const path = join(dir, "job-config.json");
    writeFileSync(path, JSON.stringify(config, null, 2));
    return { path, config };
}
