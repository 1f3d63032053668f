// Throw-away databases for restore drills (docs/operations.md "Restore drills"): created on the scratch
// server the stack file names (drills.scratchDatabaseUrl), restored into by `restore db`, and dropped
// afterwards — on success and on failure. One fixed name per drill kind, `sbd_<kind>`: a leftover (a
// killed pod) is recognisable, is dropped by the next drill of that kind, and a Supabase-image scratch
// server can name it in `cron.database_name`, the one database where pg_cron may be created, so a
// project's pg_cron jobs restore in the drill as they would in a real recovery.
import { connect, withDatabase } from "./canary";
import { quoteIdent } from "./ident";

export const SCRATCH_PREFIX = "sbd_";

export function scratchDatabaseName(kind: string): string {
    return `${SCRATCH_PREFIX}${kind.replace(/[^a-z0-9]/g, "_")}`;
}

/**
 * CREATE DATABASE on the scratch server (as its admin user), after dropping a leftover of the same name
 * (an earlier drill of this kind that was killed); returns the new database's URL and whether a leftover
 * was dropped.
 */
export async function createScratchDatabase(adminUrl: string, name: string): Promise<{ url: string; leftover: boolean }> {
    if (!name.startsWith(SCRATCH_PREFIX)) throw new Error(`refusing to create ${name}: scratch databases are named ${SCRATCH_PREFIX}…`);
    const c = await connect(adminUrl);
    let leftover = false;
    try {
        leftover = (await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
        if (leftover) await c.query(`DROP DATABASE ${quoteIdent(name)} WITH (FORCE)`);
        await c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`);
    } finally {
        await c.end().catch(() => undefined);
    }
    return { url: withDatabase(adminUrl, name), leftover };
}

/**
 * DROP DATABASE … WITH (FORCE) (PostgreSQL 13+: ends the sessions a killed restore left). Only ever a
 * database named by scratchDatabaseName. Returns the error's first line, or undefined when dropped.
 */
export async function dropScratchDatabase(adminUrl: string, name: string): Promise<string | undefined> {
    if (!name.startsWith(SCRATCH_PREFIX)) return `refusing to drop ${name}: not a scratch database`;
    try {
        const c = await connect(adminUrl);
        try {
            await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
        } finally {
            await c.end().catch(() => undefined);
        }
        return undefined;
    } catch (e) {
        return (e instanceof Error ? e.message : String(e)).split("\n")[0];
    }
}

/** Does a database of this name exist on the server? (the tests' and the drill's check that cleanup happened) */
export async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
    const c = await connect(adminUrl);
    try {
        return (await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
    } finally {
        await c.end().catch(() => undefined);
    }
}
