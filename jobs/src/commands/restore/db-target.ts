// `restore db`'s target connection: the password never on the command line (argv is readable by every
// user of the machine through ps and /proc, and lands in shell history), TLS by the same policy as the
// jobs' own connections (postgres/tls.ts). docs/security.md "Secrets in argv and child environments".
import { readFileSync } from "node:fs";
import { JOB_ENV, redactUrl } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { urlPassword, urlWithPassword } from "../../postgres/connection";
import { pgTlsPolicy, securePgUrl } from "../../postgres/tls";
import { UsageError } from "../../runtime/errors";
import { registerSecret } from "../../runtime/log";

/**
 * --target-url without a password, plus the password from --target-password-file or
 * SUPABASE_BACKUPS_TARGET_PASSWORD (else libpq's PGPASSFILE/~/.pgpass, or none): the URL the restore
 * connects with. A URL that carries a password (user:pw@ or ?password=) is refused.
 */
export function targetUrlWithPassword(targetUrl: string, passwordFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
    let u: URL;
    try {
        u = new URL(targetUrl);
    } catch {
        throw new UsageError(`--target-url is not a URL: ${redactUrl(targetUrl)}`);
    }
    const inUrl = urlPassword(u);
    if (inUrl) {
        registerSecret(inUrl);
        registerSecret(targetUrl);
        throw new UsageError(
            `--target-url contains a password, which every user of this machine can read in the process list: pass the URL without it and the password in ${JOB_ENV.targetPassword}, --target-password-file <file> or PGPASSFILE`,
        );
    }
    let password: string | undefined;
    if (passwordFile !== undefined) {
        try {
            password = readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "");
        } catch (e) {
            throw new UsageError(`--target-password-file ${passwordFile}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
        }
        if (!password) throw new UsageError(`--target-password-file ${passwordFile} is empty`);
    } else password = env[JOB_ENV.targetPassword] || undefined;
    if (!password) return targetUrl;
    registerSecret(password);
    const withPw = urlWithPassword(targetUrl, password);
    registerSecret(withPw);
    return withPw;
}

/** The target URL with TLS per the policy (verify-full to a non-loopback host). */
export function securedTargetUrl(ctx: Pick<CommandContext, "config" | "env" | "log">, targetUrl: string): string {
    const secured = securePgUrl(targetUrl, pgTlsPolicy(ctx.config, ctx.env), ctx.log, "--target-url");
    registerSecret(secured);
    return secured;
}
