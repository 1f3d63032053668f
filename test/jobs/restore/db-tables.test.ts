// In-process pieces of `restore db --tables [--into-schema]`: the flag parsers, the TOC selection and
// the script rewrite that moves tables into another schema without touching their data.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { EXIT } from "@supabase-backups/contracts";
import { UsageError } from "../../../jobs/src/runtime/errors";
import { checkIntoSchema, parseTables, restoredTables, schemaMapFor, SchemaRewrite, selectToc } from "../../../jobs/src/commands/restore/db-tables";
import { isSourceDatabase } from "../../../jobs/src/commands/restore/db-steps";

const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && e.exitCode === EXIT.usage && re.test(e.message);

async function rewrite(map: Map<string, string>, chunks: string[]): Promise<{ text: string; rewritten: Set<string> }> {
    const t = new SchemaRewrite(map);
    let text = "";
    for await (const c of Readable.from(chunks.map((x) => Buffer.from(x))).pipe(t)) text += c.toString("utf8");
    return { text, rewritten: t.rewritten };
}

describe("restore db: --tables and --into-schema (pure)", () => {
    it("parseTables: schema.table, deduplicated, in order; anything else is a usage error", () => {
        assert.equal(parseTables(undefined), undefined);
        assert.deepEqual(parseTables(" public.profiles, auth.users,public.profiles "), [
            { schema: "public", table: "profiles" },
            { schema: "auth", table: "users" },
        ]);
        assert.throws(() => parseTables("profiles"), usage(/--tables: "profiles" is not schema\.table/));
        assert.throws(() => parseTables("public.Profiles"), usage(/not schema\.table/));
        assert.throws(() => parseTables(" , "), usage(/--tables: no table given/));
    });

    it("--into-schema needs --tables and a plain lowercase name", () => {
        const tables = parseTables("public.profiles");
        assert.doesNotThrow(() => checkIntoSchema(undefined, undefined));
        assert.doesNotThrow(() => checkIntoSchema("restored_20261122", tables));
        assert.throws(() => checkIntoSchema("restored", undefined), usage(/--into-schema needs --tables/));
        assert.throws(() => checkIntoSchema("Restored-1", tables), usage(/lowercase letters, digits, _ only/));
    });

    it("schemaMapFor / restoredTables: each table's destination, its own schema without --into-schema", () => {
        const tables = parseTables("public.profiles,auth.users");
        assert.deepEqual([...schemaMapFor(tables, undefined)], [["public.profiles", "public"], ["auth.users", "auth"]]);
        const into = schemaMapFor(tables, "restored");
        assert.deepEqual(restoredTables(into), [
            { from: "public.profiles", to: "restored.profiles" },
            { from: "auth.users", to: "restored.users" },
        ]);
        assert.equal(schemaMapFor(undefined, undefined).size, 0);
    });

    it("selectToc: only the tables' definitions and data; found lists the definitions", () => {
        const toc = [
            ";",
            "; Archive created at 2026-11-22 03:30:00 UTC",
            "215; 1259 16390 TABLE public profiles postgres",
            "216; 1259 16400 TABLE public sessions postgres",
            "3350; 0 16390 TABLE DATA public profiles postgres",
            "3351; 0 16400 TABLE DATA public sessions postgres",
            "3100; 2606 16500 CONSTRAINT public profiles profiles_pkey postgres",
            "3360; 0 16410 TABLE DATA auth users supabase_auth_admin",
        ].join("\n");
        const sel = selectToc(toc, parseTables("public.profiles,auth.users")!);
        assert.deepEqual(sel.lines, ["215; 1259 16390 TABLE public profiles postgres", "3350; 0 16390 TABLE DATA public profiles postgres", "3360; 0 16410 TABLE DATA auth users supabase_auth_admin"]);
        // auth.users has data but no definition in this TOC: not found (restore refuses it)
        assert.deepEqual([...sel.found], ["public.profiles"]);
    });

    it("SchemaRewrite: CREATE TABLE and COPY headers move; COPY data passes untouched, across chunk boundaries", async () => {
        const script = [
            "CREATE TABLE public.profiles (",
            "    id uuid NOT NULL",
            ");",
            'CREATE TABLE "public"."Odd ""name""" (x int);',
            "CREATE TABLE public.sessions (id int);",
            "COPY public.profiles (id) FROM stdin;",
            "COPY public.profiles (id) FROM stdin;",
            "CREATE TABLE public.profiles (x int);",
            "\\.",
            "COPY public.sessions (id) FROM stdin;",
            "1",
            "\\.",
        ].join("\n");
        const map = new Map([
            ["public.profiles", "restored"],
            ["public.Odd \"name\"", "restored"],
        ]);
        const whole = await rewrite(map, [script]);
        const split = await rewrite(map, [script.slice(0, 37), script.slice(37, 120), script.slice(120)]);
        assert.equal(split.text, whole.text);
        assert.equal(
            whole.text,
            [
                'CREATE TABLE "restored".profiles (',
                "    id uuid NOT NULL",
                ");",
                'CREATE TABLE "restored"."Odd ""name""" (x int);',
                "CREATE TABLE public.sessions (id int);",
                'COPY "restored".profiles (id) FROM stdin;',
                // data lines of the COPY, even when they look like SQL, stay as they are
                "COPY public.profiles (id) FROM stdin;",
                "CREATE TABLE public.profiles (x int);",
                "\\.",
                "COPY public.sessions (id) FROM stdin;",
                "1",
                "\\.",
            ].join("\n"),
        );
        assert.deepEqual([...whole.rewritten].sort(), ["public.Odd \"name\"", "public.profiles"]);
    });

    it("isSourceDatabase: same host and database name as the dump's source", () => {
        const source = { serverVersion: "15.8", host: "db.abcdefghijklmnopqrst.supabase.co", database: "postgres" };
        assert.equal(isSourceDatabase("postgresql://postgres:pw@db.abcdefghijklmnopqrst.supabase.co:5432/postgres", source), true);
        assert.equal(isSourceDatabase("postgresql://postgres:pw@db.abcdefghijklmnopqrst.supabase.co:5432", source), true);
        assert.equal(isSourceDatabase("postgresql://postgres:pw@localhost/postgres", source), false);
        assert.equal(isSourceDatabase("not a url", source), false);
    });
});
