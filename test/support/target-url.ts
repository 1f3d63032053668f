// `restore db --target-url` refuses a URL with a password (argv is public on the machine): tests pass
// the target's password the way an operator does, in SUPABASE_BACKUPS_TARGET_PASSWORD.
import { JOB_ENV } from "@supabase-backups/contracts";

/** The args with --target-url's password removed, and the env with it in SUPABASE_BACKUPS_TARGET_PASSWORD. */
export function passwordOutOfArgv(args: string[], env: Record<string, string | undefined> = {}): [string[], Record<string, string | undefined>] {
    const i = args.indexOf("--target-url");
    if (i < 0 || i + 1 >= args.length) return [args, env];
    let u: URL;
    try {
        u = new URL(args[i + 1]);
    } catch {
        return [args, env];
    }
    if (!u.password) return [args, env];
    const password = decodeURIComponent(u.password);
    u.password = "";
    const out = [...args];
    out[i + 1] = u.toString();
    return [out, { ...env, [JOB_ENV.targetPassword]: password }];
}
