// Masking before exposure (docs/security.md "Masking before exposure"): a masked restore lands under a
// name nobody uses, is masked and proven there, and only then becomes the target.
//  - whole dump: a new database `<target>_sbmask_<rand>` on the target's server (CONNECT revoked from
//    PUBLIC while it holds raw data), renamed to the target's name once proven — the target database
//    (empty, or --clean --yes) is dropped just before;
//  - --tables: a new schema `sbmask_<rand>` in the target database (no one else has USAGE on it), the
//    tables moved into their destination schema in one transaction once proven.
// On any failure the stage is dropped: nothing unmasked is ever reachable under the target's name.
import { randomBytes } from "node:crypto";
import type { Client } from "pg";
import { connect, withDatabase } from "../../postgres/canary";
import { quoteIdent, quoteTable } from "../../postgres/ident";
import { errorMessage } from "../../runtime/errors";

export interface StageDatabase {
    name: string;
    url: string;
}

/** The target database's name in its URL (libpq's default: the user's name). */
export function databaseOf(url: string): string {
    const u = new URL(url);
    return decodeURIComponent(u.pathname.replace(/^\//, "")) || decodeURIComponent(u.username) || "postgres";
}

export function stageDatabaseName(target: string, rand = randomBytes(4).toString("hex")): string {
    return `${target.slice(0, 40)}_sbmask_${rand}`;
}

/** Create the stage database; only its creator (and superusers) may connect while it holds raw data. */
export async function createStageDatabase(c: Client, targetUrl: string): Promise<StageDatabase> {
    const name = stageDatabaseName(databaseOf(targetUrl));
    await c.query(`create database ${quoteIdent(name)} template template0 encoding 'UTF8'`);
    await c.query(`revoke connect, temporary on database ${quoteIdent(name)} from public`);
    return { name, url: withDatabase(targetUrl, name) };
}

/** A connection on the target's server that is neither the target nor the stage (to drop and rename them). */
async function maintenance(targetUrl: string, avoid: string[]): Promise<Client> {
    const db = ["postgres", "template1"].find((d) => !avoid.includes(d))!;
    return connect(withDatabase(targetUrl, db));
}

/** Drop the stage database (best effort, never throws): returns the error to report, if any. */
export async function dropStageDatabase(targetUrl: string, stage: StageDatabase): Promise<string | undefined> {
    let c: Client | undefined;
    try {
        c = await maintenance(targetUrl, [stage.name, databaseOf(targetUrl)]);
        await c.query(`drop database if exists ${quoteIdent(stage.name)} with (force)`);
        return undefined;
    } catch (e) {
        return errorMessage(e);
    } finally {
        await c?.end().catch(() => undefined);
    }
}

/** Masked and proven: drop the (empty or --clean) target database and give the stage its name. */
export async function promoteStageDatabase(targetUrl: string, stage: StageDatabase): Promise<void> {
    const target = databaseOf(targetUrl);
    const c = await maintenance(targetUrl, [stage.name, target]);
    try {
        await c.query(`drop database if exists ${quoteIdent(target)} with (force)`);
        await c.query(`alter database ${quoteIdent(stage.name)} rename to ${quoteIdent(target)}`);
        // what a new database gives PUBLIC by default, now that it holds masked data only
        await c.query(`grant connect, temporary on database ${quoteIdent(target)} to public`);
    } finally {
        await c.end().catch(() => undefined);
    }
}

export function stageSchemaName(rand = randomBytes(4).toString("hex")): string {
    return `sbmask_${rand}`;
}

/** The stage schema for --tables: a new schema, no privileges for anyone but its creator. */
export async function createStageSchema(c: Client): Promise<string> {
    const name = stageSchemaName();
    await c.query(`create schema ${quoteIdent(name)}`);
    await c.query(`revoke all on schema ${quoteIdent(name)} from public`);
    return name;
}

export async function dropStageSchema(c: Client, stage: string): Promise<string | undefined> {
    try {
        await c.query("rollback").catch(() => undefined);
        await c.query(`drop schema if exists ${quoteIdent(stage)} cascade`);
        return undefined;
    } catch (e) {
        return errorMessage(e);
    }
}

/** Masked and proven: each table moves from the stage into its destination schema, all in one transaction. */
export async function promoteStageTables(c: Client, stage: string, moves: Array<{ table: string; to: string }>, clean: boolean): Promise<void> {
    await c.query("begin");
    try {
        for (const m of moves) {
            await c.query(`create schema if not exists ${quoteIdent(m.to)}`);
            if (clean) await c.query(`drop table if exists ${quoteTable(m.to, m.table)}`);
            await c.query(`alter table ${quoteTable(stage, m.table)} set schema ${quoteIdent(m.to)}`);
        }
        await c.query(`drop schema ${quoteIdent(stage)}`);
        await c.query("commit");
    } catch (e) {
        await c.query("rollback").catch(() => undefined);
        throw e;
    }
}
