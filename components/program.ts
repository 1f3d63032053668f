// The Pulumi program as a function: index.ts calls it for `pulumi up`; the offline preview and the
// tests call the same function under mocks.
import { loadStackConfig } from "./config";
import { SupabaseBackupStack, type StackOutputs } from "./stack";

export function program(): Partial<StackOutputs> {
    // Validation first: on bad config this throws before any resource exists.
    const { config, secrets } = loadStackConfig();
    const stack = new SupabaseBackupStack("supabase-backups", { config, secrets });
    // Optional outputs (archive, restore operator, Supabase hook) are left out rather than undefined.
    return Object.fromEntries(Object.entries(stack.outputs).filter(([, v]) => v !== undefined)) as Partial<StackOutputs>;
}
