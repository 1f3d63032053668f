// The Supabase-shaped source database (test/support/supabase-shape.ts) on each major, and what the backup
// cycle meets with it: pg_dump -Fc with that major's client tools, then pg_restore WITH owners (as the
// verify canary does: jobs/src/postgres/canary.ts) into
//   (a) a plain server of the same major, roles pre-created from pg_dumpall --roles-only as the canary
//       does (rolesFromScript + ensureRoles): every stand-in extension is reported not available, and
//       every other error follows from that (or from the canary's roles not being superusers);
//   (b) a fresh database on a shaped server (stand-ins available, reserved roles as Supabase's image
//       has them, cron.database_name naming that database): all but ONE entry restores: the ACL of
//       graphql_public.graphql, a function Supabase's event trigger creates inside CREATE EXTENSION
//       pg_graphql (so it is an extension member pg_dump does not dump, but whose grants it does dump);
//       in a fresh database the event trigger is restored last, after CREATE EXTENSION, so the function
//       is never created and its GRANT fails. The data, extensions and config tables all arrive.
//       In a database cron.database_name does not name (a canary's own sbv_… name), pg_cron refuses to
//       be created and everything in cron fails with it;
//   (c) the `postgres` database of a Supabase image (managed schemas and extensions already there):
//       every managed object the dump creates already exists.
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCanary, ensureRoles, rolesFromScript } from "../../jobs/src/postgres/canary";
import { RestoreErrorScanner, restoreSucceeded } from "../../jobs/src/postgres/restore-errors";
import { StorageCatalog } from "../../jobs/src/supabase/storage-source";
import { extensionDir, serverWithExtensions, type PgServer } from "../support/postgres";
import { MAJORS, ensurePg17, okRun as ok, runClientTool as tool, type Major } from "../support/pg-versions";
import { pgClientConfig } from "../../jobs/src/postgres/connection";
import {
    PGSODIUM_ROLES,
    REAL_EXTENSIONS,
    STAND_IN_EXTENSIONS,
    SUPABASE_EXTENSIONS,
    extensionSchemas,
    managedSchemas,
    reservedRoles,
    startPlainCanary,
    startSupabaseCanary,
    startSupabasePostgres,
    supabaseExtensionDirs,
} from "../support/supabase-shape";

interface RestoreError {
    message: string;
    /** first line of the statement */
    command: string;
}
interface Restored {
    exitCode: number | null;
    errors: RestoreError[];
    /** the canary's verdict on the same stderr (restore-errors.ts) */
    canaryOk: boolean;
    canaryErrorCount: number;
}

/**
 * pg_restore with owners and grants, as runPgRestore runs it (--no-password --dbname …), one job so the
 * error lines come out whole and in order; every error with the statement it reports.
 */
function restore(major: Major, server: PgServer, database: string, archive: string): Restored {
    const r = tool(major, "pg_restore", ["--no-password", "--dbname", database, "--jobs", "1", archive], server);
    const errors: RestoreError[] = [];
    for (const line of r.stderr.split("\n")) {
        const e = /^pg_restore: error: could not execute query: ERROR:\s+(.*)$/.exec(line);
        if (e) errors.push({ message: e[1], command: "" });
        else if (/^pg_restore: error:/.test(line)) errors.push({ message: line, command: "" });
        else if (line.startsWith("Command was: ") && errors.length && !errors[errors.length - 1].command) errors[errors.length - 1].command = line.slice(13);
    }
    const scanner = new RestoreErrorScanner();
    scanner.feed(r.stderr);
    const scanned = scanner.finish();
    return { exitCode: r.status, errors, canaryOk: restoreSucceeded(r.status, scanned), canaryErrorCount: scanned.errorCount };
}

const show = (errors: RestoreError[]) => errors.map((e) => `${e.message}  ⟵  ${e.command}`).join("\n");

/** Exact row counts of every table outside the system schemas: "schema.table" → rows. */
async function rowCounts(server: PgServer, database: string): Promise<Map<string, number>> {
    const rows = await server.query(
        `select table_schema || '.' || table_name as t,
                (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]::text::int as n
         from information_schema.tables
         where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`,
        database,
    );
    return new Map(rows.map((r) => [r.t as string, r.n as number]));
}

/** Functions outside the system schemas, as schema.name(args). */
async function functions(server: PgServer, database: string): Promise<Set<string>> {
    const rows = await server.query(
        `select p.oid::regprocedure::text as f from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`,
        database,
    );
    return new Set(rows.map((r) => r.f as string));
}

const extensionsOf = async (server: PgServer, database: string) =>
    (await server.query(`select extname from pg_extension where extname <> 'plpgsql' order by extname`, database)).map((r) => r.extname as string);

describe("Supabase-shaped source database (supabase-shape) through pg_dump and pg_restore", function () {
    let dir: string;

    before(function () {
        this.timeout(300_000); // the first ensure-pg17.sh downloads the 17 client tools
        ensurePg17();
        dir = mkdtempSync(join(tmpdir(), "sb-shape-"));
    });

    after(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const major of MAJORS) {
        describe(`PostgreSQL ${major}`, () => {
            let source: PgServer;
            let plain: PgServer;
            let shaped: PgServer;
            let image: PgServer;
            let archive: string;
            let dumpStderr: string;
            let script: string;
            let roles: string[];
            const standIns = STAND_IN_EXTENSIONS(major);

            before(async function () {
                this.timeout(120_000);
                const started = Date.now();
                [source, plain, shaped, image] = await Promise.all([
                    startSupabasePostgres({ major }),
                    startPlainCanary({ major }),
                    // a canary server built from a Supabase image: the reserved roles, nothing in `postgres`;
                    // pg_cron's scheduler database is the one the test restores into
                    startSupabaseCanary({ major, cronDatabase: "canary" }),
                    startSupabasePostgres({ major, seed: "image" }),
                ]);
                const servers = Date.now();
                archive = join(dir, `supabase-${major}.dump`);
                const dumped = tool(major, "pg_dump", ["-Fc", "-d", "postgres", "-f", archive], source);
                ok(dumped, "pg_dump");
                dumpStderr = dumped.stderr;
                script = ok(tool(major, "pg_restore", ["-f", "-", archive]), "pg_restore -f -");
                roles = rolesFromScript(ok(tool(major, "pg_dumpall", ["--roles-only"], source), "pg_dumpall --roles-only"));
                console.log(`      [${major}] 4 servers started and seeded in ${servers - started} ms, pg_dump + pg_dumpall in ${Date.now() - servers} ms`);
            });

            after(async function () {
                this.timeout(60_000);
                await Promise.all([source, plain, shaped, image].filter(Boolean).map((s) => s.stop()));
            });

            it("the stand-ins are only in the relocated copy's extension directory: a plain server of the same major lacks them", async () => {
                const bin = serverWithExtensions(major, supabaseExtensionDirs(major));
                for (const e of standIns) {
                    assert.ok(existsSync(join(extensionDir(major, bin), `${e}.control`)), `${e}.control in the copy`);
                    assert.ok(!existsSync(join(extensionDir(major), `${e}.control`)), `${e}.control not in the original`);
                }
                const available = async (s: PgServer) =>
                    new Set((await s.query(`select name from pg_available_extensions`)).map((r) => r.name as string));
                const [shapedAvail, plainAvail] = await Promise.all([available(source), available(plain)]);
                for (const e of standIns) assert.ok(shapedAvail.has(e) && !plainAvail.has(e), `${e}: shaped has it, plain does not`);
                for (const e of REAL_EXTENSIONS) assert.ok(shapedAvail.has(e) && plainAvail.has(e), `${e}: real, on both`);
                // pgsodium: only Supabase's 15 images ship it
                assert.equal(shapedAvail.has("pgsodium"), major === 15);
                // everything else the plain server has, the shaped one has too (same installation)
                for (const e of plainAvail) assert.ok(shapedAvail.has(e), `${e} also in the shaped install`);
            });

            it("the source has Supabase's extensions, where Supabase creates them, owned by supabase_admin", async () => {
                const rows = await source.query(
                    `select extname, extnamespace::regnamespace::text as schema, extowner::regrole::text as owner, extversion
                     from pg_extension where extname <> 'plpgsql' order by extname`,
                );
                assert.deepEqual(rows.map((r) => r.extname), SUPABASE_EXTENSIONS(major));
                const schemas = extensionSchemas(major);
                for (const r of rows) {
                    assert.equal(r.schema, schemas[r.extname], `${r.extname} in ${schemas[r.extname]}`);
                    assert.equal(r.owner, "supabase_admin", `${r.extname} owned by supabase_admin`);
                }
                const version = Object.fromEntries(rows.map((r) => [r.extname, r.extversion]));
                assert.equal(version.supabase_vault, major === 15 ? "0.2.8" : "0.3.1");
                assert.equal(version.pg_graphql, "1.5.11");
            });

            it("the source has the reserved roles with Supabase's attributes (pgsodium's on 15 only)", async () => {
                const rows = await source.query(`select rolname, rolsuper, rolcanlogin, rolbypassrls, rolinherit from pg_roles`);
                const byName = new Map(rows.map((r) => [r.rolname as string, r]));
                for (const r of reservedRoles(major)) assert.ok(byName.has(r), `role ${r}`);
                for (const r of PGSODIUM_ROLES) assert.equal(byName.has(r), major === 15, `${r} on ${major}`);
                assert.equal(byName.get("supabase_admin").rolsuper, true);
                assert.equal(byName.get("anon").rolcanlogin, false);
                assert.equal(byName.get("anon").rolinherit, false);
                assert.equal(byName.get("service_role").rolbypassrls, true);
                assert.equal(byName.get("authenticator").rolcanlogin, true);
                const members = await source.query(
                    `select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid where m.member = 'authenticator'::regrole order by 1`,
                );
                assert.deepEqual(members.map((m) => m.rolname), ["anon", "authenticated", "service_role"]);
            });

            it("the managed schemas exist with Supabase's owners, and a project's data is in them", async () => {
                const owners = managedSchemas(major);
                const rows = await source.query(`select nspname, nspowner::regrole::text as owner from pg_namespace`);
                const actual = new Map(rows.map((r) => [r.nspname as string, r.owner as string]));
                for (const [schema, owner] of Object.entries(owners)) assert.equal(actual.get(schema), owner, `schema ${schema} owned by ${owner}`);
                const [c] = await source.query(
                    `select (select count(*) from auth.users)::int as users, (select count(*) from storage.buckets)::int as buckets,
                            (select count(*) from storage.objects)::int as objects, (select count(*) from cron.job)::int as jobs,
                            (select count(*) from vault.secrets)::int as secrets, (select count(*) from supabase_migrations.schema_migrations)::int as migrations,
                            (select count(*) from public.profiles)::int as profiles,
                            (select relowner::regrole::text from pg_class where oid = 'storage.objects'::regclass) as objects_owner,
                            (select relowner::regrole::text from pg_class where oid = 'auth.users'::regclass) as users_owner,
                            (select count(*) from pg_policies where 'authenticated' = any(roles))::int as policies,
                            (select count(*) from pg_event_trigger)::int as event_triggers`,
                );
                assert.deepEqual(
                    { ...c, policies: c.policies >= 8, event_triggers: c.event_triggers },
                    { users: 20, buckets: 2, objects: 22, jobs: 1, secrets: 1, migrations: 4, profiles: 20, objects_owner: "supabase_storage_admin", users_owner: "supabase_auth_admin", policies: true, event_triggers: 8 },
                );
                // storage.objects as sync-storage lists it
                const catalog = await StorageCatalog.connect(pgClientConfig(source.url));
                try {
                    assert.deepEqual(await catalog.bucketNames(), ["avatars", "public-assets"]);
                    const pages = [];
                    for await (const page of catalog.listBucket({ name: "avatars", include: [], exclude: [] }, { byteWise: true, pageSize: 7 })) pages.push(page);
                    const objects = pages.flat();
                    assert.equal(objects.length, 20);
                    assert.match(objects[0].eTag!, /^"[0-9a-f]{32}"$/);
                    assert.equal(objects[0].contentType, "image/png");
                } finally {
                    await catalog.close();
                }
            });

            it(`pg_dump ${major} writes the extensions as Supabase's dumps have them`, () => {
                const schemas = extensionSchemas(major);
                for (const e of SUPABASE_EXTENSIONS(major)) {
                    const name = e === "uuid-ossp" ? `"uuid-ossp"` : e;
                    assert.match(script, new RegExp(`^CREATE EXTENSION IF NOT EXISTS ${name} WITH SCHEMA ${schemas[e]};$`, "m"));
                }
                // schemas from control files are dumped, schemas created by extension scripts are not
                for (const s of ["graphql", "graphql_public", "vault", "auth", "storage", "extensions"]) assert.match(script, new RegExp(`^CREATE SCHEMA ${s};$`, "m"));
                for (const s of ["net", "cron"]) assert.doesNotMatch(script, new RegExp(`^CREATE SCHEMA ${s};$`, "m"));
                // config tables' rows are dumped, other extension tables' are not
                assert.match(script, /^COPY cron\.job \(/m);
                assert.match(script, /^COPY vault\.secrets \(/m);
                assert.doesNotMatch(script, /^COPY net\./m);
                // graphql_public.graphql: created by Supabase's event trigger inside CREATE EXTENSION pg_graphql, a member:
                // no CREATE FUNCTION, but its grants
                assert.doesNotMatch(script, /^CREATE FUNCTION graphql_public\.graphql/m);
                assert.match(script, /^GRANT ALL ON FUNCTION graphql_public\.graphql\("operationName" text, query text, variables jsonb, extensions jsonb\) TO anon;$/m);
                assert.match(script, /^CREATE EVENT TRIGGER issue_pg_graphql_access ON ddl_command_end$/m);
                if (major === 15) {
                    assert.match(script, /^COPY pgsodium\.key \(/m);
                    // pgsodium.key references itself (parent_key), as the real one does
                    assert.match(dumpStderr, /pg_dump: warning: there are circular foreign-key constraints on this table:\npg_dump: detail: key\n/);
                } else assert.equal(dumpStderr, "");
            });

            it("(a) into a plain server: the stand-ins are not available, every other error follows from that", async () => {
                const created = await ensureRoles(plain.url, roles);
                assert.deepEqual([...created].sort(), reservedRoles(major).sort(), "the canary creates the reserved roles (NOLOGIN, no attributes)");
                await plain.query(`create database canary template template0 encoding 'UTF8'`);
                const r = restore(major, plain, "canary", archive);
                assert.equal(r.exitCode, 1);
                assert.equal(r.canaryOk, false);
                const missing = r.errors.map((e) => /^extension "([^"]+)" is not available$/.exec(e.message)?.[1]).filter(Boolean);
                assert.deepEqual([...missing].sort(), standIns, show(r.errors));
                for (const e of r.errors.filter((x) => /is not available$/.test(x.message))) {
                    assert.match(e.command, /^CREATE EXTENSION IF NOT EXISTS \S+ WITH SCHEMA \S+;$/);
                }
                // the rest: the missing extensions' own objects (COMMENT ON EXTENSION, config tables' rows and sequences,
                // grants and default privileges on their objects), and the event triggers' owner: on the plain server
                // supabase_admin is the canary's NOLOGIN role, not a superuser
                const memberSchemas = major === 15 ? "cron|net|vault|pgsodium|graphql_public" : "cron|net|vault|graphql_public";
                const follows = (e: RestoreError) =>
                    /is not available$/.test(e.message) ||
                    new RegExp(`^extension "(${standIns.join("|")})" does not exist$`).test(e.message) ||
                    /^schema "(cron|net)" does not exist$/.test(e.message) ||
                    new RegExp(`^relation "(${memberSchemas})\\.\\w+" does not exist$`).test(e.message) ||
                    new RegExp(`^function (${memberSchemas})\\.\\w+\\([^)]*\\) does not exist$`).test(e.message) ||
                    /^permission denied to change owner of event trigger "\w+"$/.test(e.message);
                assert.deepEqual(r.errors.filter((e) => !follows(e)), [], show(r.errors));
                const owners = r.errors.filter((e) => /change owner of event trigger/.test(e.message)).map((e) => /"(\w+)"/.exec(e.message)![1]);
                assert.deepEqual(owners.sort(), ["issue_graphql_placeholder", "issue_pg_cron_access", "issue_pg_graphql_access", "issue_pg_net_access", "pgrst_ddl_watch", "pgrst_drop_watch"]);
                console.log(`      [${major}] plain canary: ${r.errors.length} errors, not available: ${missing.join(", ")}`);
                // the app data is there all the same
                const counts = await rowCounts(plain, "canary");
                assert.equal(counts.get("public.profiles"), 20);
                assert.equal(counts.get("storage.objects"), 22);
            });

            it("(b) into a fresh database on a shaped server: everything but graphql_public.graphql's grants restores", async () => {
                const created = await ensureRoles(shaped.url, roles);
                assert.deepEqual(created, [], "the shaped server has every role already");
                await shaped.query(`create database canary template template0 encoding 'UTF8'`);
                const t = Date.now();
                const r = restore(major, shaped, "canary", archive);
                const seconds = (Date.now() - t) / 1000;
                assert.deepEqual(
                    r.errors,
                    [
                        {
                            message: "function graphql_public.graphql(text, text, jsonb, jsonb) does not exist",
                            command: `GRANT ALL ON FUNCTION graphql_public.graphql("operationName" text, query text, variables jsonb, extensions jsonb) TO postgres;`,
                        },
                    ],
                    show(r.errors),
                );
                assert.equal(r.exitCode, 1);
                assert.equal(r.canaryOk, false, "the canary counts it: the restore fails verification");
                assert.equal(r.canaryErrorCount, 1);
                console.log(`      [${major}] shaped canary: restore ${seconds.toFixed(2)} s, 1 error (graphql_public.graphql's ACL)`);

                assert.deepEqual(await extensionsOf(shaped, "canary"), await extensionsOf(source, "postgres"));
                // every table's rows, config tables (cron.job, vault.secrets, pgsodium.key) included; pg_net's queue is an
                // extension table that is not a config table: pg_dump leaves its rows out
                const [want, got] = await Promise.all([rowCounts(source, "postgres"), rowCounts(shaped, "canary")]);
                const differ = [...want].filter(([t, n]) => got.get(t) !== n).map(([t, n]) => `${t}: ${n} → ${got.get(t)}`);
                assert.deepEqual(differ, ["net.http_request_queue: 21 → 0"]);
                assert.equal(got.size, want.size);
                // and every function, but the one the event trigger would have made
                const [fw, fg] = await Promise.all([functions(source, "postgres"), functions(shaped, "canary")]);
                assert.deepEqual([...fw].filter((f) => !fg.has(f)), ['graphql_public.graphql(text,text,jsonb,jsonb)']);
                assert.deepEqual([...fg].filter((f) => !fw.has(f)), []);
            });

            it("(b') into a canary-named database (not cron.database_name): pg_cron refuses, and everything in cron with it", async () => {
                const db = await createCanary(shaped.url, "shape");
                const r = restore(major, shaped, db.name, archive);
                assert.equal(r.errors[0].message, "can only create extension in database canary", show(r.errors));
                assert.equal(r.errors[0].command, "CREATE EXTENSION IF NOT EXISTS pg_cron WITH SCHEMA pg_catalog;");
                const rest = r.errors.slice(1).filter((e) => !/graphql_public\.graphql/.test(e.message));
                assert.ok(rest.length >= 8);
                for (const e of rest) {
                    assert.ok(
                        /^extension "pg_cron" does not exist$/.test(e.message) || /^(schema "cron"|relation "cron\.\w+") does not exist$/.test(e.message),
                        `${e.message} ⟵ ${e.command}`,
                    );
                }
                console.log(`      [${major}] canary-named database: ${r.errors.length} errors (pg_cron + ${rest.length} in cron + graphql_public.graphql)`);
            });

            it("(c) into a Supabase image's own `postgres` database: every managed object the dump creates already exists", async () => {
                const r = restore(major, image, "postgres", archive);
                assert.equal(r.canaryOk, false);
                const kinds = new Map<string, number>();
                for (const e of r.errors) {
                    const k = e.message.replace(/"[^"]*"/g, '"…"').replace(/\(.*\)/, "(…)");
                    kinds.set(k, (kinds.get(k) ?? 0) + 1);
                }
                const exists = r.errors.filter((e) => /already exists/.test(e.message));
                for (const s of Object.keys(managedSchemas(major)).filter((s) => !["net", "cron"].includes(s))) {
                    assert.ok(exists.some((e) => e.message === `schema "${s}" already exists`), `schema ${s} already exists\n${show(r.errors)}`);
                }
                assert.ok(exists.some((e) => e.message === `relation "users" already exists`));
                console.log(`      [${major}] image's postgres database: ${r.errors.length} errors: ${[...kinds].map(([k, n]) => `${n}× ${k}`).join("; ")}`);
            });
        });
    }
});
