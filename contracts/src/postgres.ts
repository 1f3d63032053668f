// Which PostgreSQL the backups meet, chosen together (docs/architecture.md "The canary"): the job
// image's client tools (pg_dump, pg_restore) and the canary the verify job restores into. Supabase runs
// Postgres 15 and 17; pg_dump must be at least the server's major, so the image ships the newest
// client; the canary is Supabase's own Postgres image at the project's exact version, so its major and
// its extensions (pg_graphql, supabase_vault, pg_net, …) are the source's.

/** The Postgres majors Supabase projects run and the tests cover (test/jobs/*: 15 and 17). */
export const SUPPORTED_PG_MAJORS = [15, 17] as const;

/** The major of the job image's client tools (jobs/Dockerfile `ARG PG_MAJOR`; a test pins the two). */
export const CLIENT_TOOLS_MAJOR = 17;

/** Supabase's Postgres image, tagged by the version the Management API reports (database.version). */
export const SUPABASE_POSTGRES_IMAGE = "public.ecr.aws/supabase/postgres";

/** `17.4.1.054` (Supabase's image version) or `15.8` (a server version) → 17 / 15. */
export function pgMajorOf(version: string): number {
    const m = /^(\d+)(?:\.|$)/.exec(version.trim());
    if (!m) throw new Error(`not a PostgreSQL version: "${version}"`);
    return Number(m[1]);
}

/** The canary image: `verify.canaryImage` when set, else Supabase's image at the project's version. */
export function canaryImageFor(cfg: { supabase: { postgresVersion: string }; verify: { canaryImage?: string } }): string {
    return cfg.verify.canaryImage ?? `${SUPABASE_POSTGRES_IMAGE}:${cfg.supabase.postgresVersion}`;
}

/** The canary's superuser: Supabase's images make `supabase_admin` the superuser, plain images `postgres`. */
export function canarySuperuser(image: string): string {
    return image.startsWith(`${SUPABASE_POSTGRES_IMAGE}:`) || /(^|\/)supabase\/postgres:/.test(image) ? "supabase_admin" : "postgres";
}
