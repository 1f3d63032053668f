// The incident freeze: the login roles Supabase's services connect as lose LOGIN and their open sessions
// are ended, so nothing writes through the Data API, Auth or Storage until `incident end` gives LOGIN
// back. Why not `default_transaction_read_only`: PostgREST opens its write transactions with an
// explicit `BEGIN … READ WRITE`, which overrides that default, so it would freeze nothing that matters.
import { Client } from "pg";
import { quoteIdent } from "./ident";
import { pgClientConfig } from "./connection";

/** PostgREST (Data API, GraphQL), GoTrue (Auth) and Storage log in as these. */
export const DEFAULT_FREEZE_ROLES = ["authenticator", "supabase_auth_admin", "supabase_storage_admin"] as const;

export interface FrozenRole {
    role: string;
    /** whether it could log in before: only those get LOGIN back */
    couldLogin: boolean;
}

export interface FreezeResult {
    roles: FrozenRole[];
    /** asked for, but not in this database */
    missing: string[];
    /** sessions of those roles ended */
    terminated: number;
    /** sessions still open after the attempt (the connecting role may not signal them) */
    survivors: number;
}

async function open(url: string): Promise<Client> {
    const c = new Client(pgClientConfig(url, { connectionTimeoutMillis: 10_000, application_name: "supabase-backups-incident" }));
    c.on("error", () => undefined);
    await c.connect();
    return c;
}

/** NOLOGIN for every existing role of `roles`, in one transaction (all or none), then end their sessions. */
export async function freezeRoles(url: string, roles: readonly string[]): Promise<FreezeResult> {
    const c = await open(url);
    try {
        const found = (await c.query<{ rolname: string; rolcanlogin: boolean }>("select rolname, rolcanlogin from pg_roles where rolname = any($1::text[])", [roles])).rows;
        const frozen = roles.flatMap((role) => found.filter((r) => r.rolname === role).map((r) => ({ role, couldLogin: r.rolcanlogin })));
        await c.query("begin");
        try {
            for (const f of frozen) if (f.couldLogin) await c.query(`alter role ${quoteIdent(f.role)} nologin`);
            await c.query("commit");
        } catch (e) {
            await c.query("rollback").catch(() => undefined);
            throw e;
        }
        const names = frozen.map((f) => f.role);
        const terminated = await endSessions(c, names);
        return { roles: frozen, missing: roles.filter((r) => !names.includes(r)), terminated, survivors: await sessionsOf(c, names) };
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** LOGIN back for the roles the freeze took it from; returns their names. */
export async function thawRoles(url: string, frozen: readonly FrozenRole[]): Promise<string[]> {
    const c = await open(url);
    try {
        const back = frozen.filter((f) => f.couldLogin).map((f) => f.role);
        await c.query("begin");
        for (const role of back) await c.query(`alter role ${quoteIdent(role)} login`);
        await c.query("commit");
        return back;
    } finally {
        await c.end().catch(() => undefined);
    }
}

async function endSessions(c: Client, roles: string[]): Promise<number> {
    const pids = (await c.query<{ pid: number }>("select pid from pg_stat_activity where usename = any($1::text[]) and pid <> pg_backend_pid()", [roles])).rows;
    let ended = 0;
    for (const { pid } of pids) {
        // Waits up to 5 s for the session to be gone (PostgreSQL 14+). A session the connecting role may not
        // signal is counted as a survivor, not a failure: the freeze itself (NOLOGIN) is already committed.
        const r = await c.query<{ ok: boolean }>("select pg_terminate_backend($1, 5000) as ok", [pid]).catch(() => undefined);
        if (r?.rows[0]?.ok) ended++;
    }
    return ended;
}

async function sessionsOf(c: Client, roles: string[]): Promise<number> {
    const r = await c.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where usename = any($1::text[]) and pid <> pg_backend_pid()", [roles]);
    return r.rows[0].n;
}
