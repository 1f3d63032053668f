// Wiring for SupabaseBackupStack's issue-6 hook (components/stack.ts loads `./supabase-pitr`).
export { SupabasePitr, createPitrProvider, type SupabasePitrArgs } from "./supabase/pitr";
