// Running another command of this CLI as a child process, the way an operator would type it. A command
// that rehearses another (drill → restore db / restore storage) goes through here instead of importing
// it: the commands stay independent, and the rehearsal exercises exactly the code, flags, checks and
// audit records an operator gets.
import { spawn } from "node:child_process";
import { JOB_ENV, SECRETS, type SecretName } from "@supabase-backups/contracts";

export interface SubcommandResult {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    /** the child's own one-line error (`supabase-backups <cmd>: …`), when it printed one */
    error?: string;
}

/**
 * The child's environment: this process's, minus every secret the child does not need (`keep` are the
 * ones it does), plus `extra` (e.g. the target password under the name the child reads).
 */
export function subcommandEnv(base: NodeJS.ProcessEnv, keep: SecretName[], extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const drop = new Set<string>([
        ...(Object.keys(SECRETS) as SecretName[]).filter((n) => !keep.includes(n)).map((n) => SECRETS[n].env),
        JOB_ENV.recordSigningKey,
        JOB_ENV.drillSigningKey,
        JOB_ENV.canaryDatabaseUrl,
        JOB_ENV.targetPassword,
        JOB_ENV.azureConnectionString,
    ]);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(base)) if (v !== undefined && !drop.has(k)) env[k] = v;
    return { ...env, ...extra };
}

/**
 * Run `supabase-backups <args>` (this very program: the same node and main.js) and wait for it. Its
 * stderr (logs, progress) passes through to ours line by line; its stdout is returned. `signal` stops it
 * (SIGTERM) — the child cleans up its own temporary files as on any interruption.
 */
export function runSubcommand(args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<SubcommandResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [process.argv[1], ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let error: string | undefined;
        let pending = "";
        child.stdout!.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
        child.stderr!.on("data", (d: Buffer) => {
            process.stderr.write(d);
            const lines = (pending + d.toString("utf8")).split("\n");
            pending = lines.pop() ?? "";
            for (const l of lines) if (l.startsWith("supabase-backups ")) error = l;
        });
        const stop = () => child.kill("SIGTERM");
        signal?.addEventListener("abort", stop, { once: true });
        child.on("error", reject);
        child.on("close", (code, sig) => {
            signal?.removeEventListener("abort", stop);
            if (pending.startsWith("supabase-backups ")) error = pending;
            resolve({ code, signal: sig, stdout, error });
        });
    });
}
