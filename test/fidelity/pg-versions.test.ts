// PostgreSQL 15 and 17 side by side (test/support/pg-versions.ts): for each major, a server of that major
// and the client tools of the same major do a custom-format dump/restore round trip and pg_dumpall.
// Then the known trap of mixing them: pg_restore 17 into a 15 server sets transaction_timeout, which 15
// does not know, and pg_restore 15 cannot read pg_dump 17's archives at all.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres, type PgServer } from "../support/postgres";
import { MAJORS, ensurePg17, okRun as ok, runClientTool as tool, type Major } from "../support/pg-versions";

const TABLE = `
    create table public.items (id int primary key, name text not null, tags jsonb, at timestamptz, raw bytea);
    insert into public.items
        select g, 'item ' || g, jsonb_build_object('n', g, 'even', g % 2 = 0), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', sha256(g::text::bytea)
        from generate_series(1, 50) g;`;
const ROWS = "select coalesce(json_agg(i order by id), '[]')::text as rows from public.items i";

describe("PostgreSQL majors side by side (pg-versions)", function () {
    const servers = new Map<Major, PgServer>();
    let dir: string;

    before(async function () {
        this.timeout(300_000); // the first ensure-pg17.sh downloads the 17 client tools
        ensurePg17();
        dir = mkdtempSync(join(tmpdir(), "sb-pgv-"));
        const started = await Promise.all(MAJORS.map((major) => startPostgres({ major })));
        MAJORS.forEach((m, i) => servers.set(m, started[i]));
    });

    after(async function () {
        this.timeout(60_000);
        await Promise.all([...servers.values()].map((s) => s.stop()));
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const major of MAJORS) {
        describe(`PostgreSQL ${major}`, () => {
            const pg = () => servers.get(major)!;

            before(async () => {
                await pg().createDatabase("src");
                await pg().query(TABLE, "src");
                await pg().query(`create role reader_${major} login password 'not-a-secret'; grant select on public.items to reader_${major}`, "src");
            });

            it(`the server is ${major}`, async () => {
                const [row] = await pg().query("select version() as v, current_setting('server_version_num')::int as num");
                assert.match(row.v, new RegExp(`^PostgreSQL ${major}\\.\\d+ `));
                assert.equal(Math.floor(row.num / 10000), major);
            });

            it(`pg_dump, pg_restore, pg_dumpall and psql are ${major}`, () => {
                for (const t of ["pg_dump", "pg_restore", "pg_dumpall", "psql"]) {
                    assert.match(ok(tool(major, t, ["--version"]), t), new RegExp(`^${t} \\(PostgreSQL\\) ${major}\\.\\d+`));
                }
                assert.equal(ok(tool(major, "psql", ["-X", "-At", "-d", "src", "-c", "select current_setting('server_version_num')::int / 10000"], pg()), "psql").trim(), String(major));
            });

            it(`pg_dump -Fc and pg_restore ${major} round-trip a table into a second database`, async () => {
                const archive = join(dir, `items-${major}.dump`);
                ok(tool(major, "pg_dump", ["-Fc", "-d", "src", "-f", archive], pg()), "pg_dump");
                const toc = ok(tool(major, "pg_restore", ["--list", archive]), "pg_restore --list");
                assert.match(toc, new RegExp(`Dumped from database version: ${major}\\.`));
                assert.match(toc, new RegExp(`Dumped by pg_dump version: ${major}\\.`));
                await pg().createDatabase("copy");
                ok(tool(major, "pg_restore", ["--no-owner", "--exit-on-error", "-d", "copy", archive], pg()), "pg_restore");
                const [want] = await pg().query(ROWS, "src");
                const [got] = await pg().query(ROWS, "copy");
                assert.equal(JSON.parse(got.rows).length, 50);
                assert.equal(got.rows, want.rows);
            });

            it(`pg_dumpall ${major} --roles-only, and a full pg_dumpall (it runs its sibling pg_dump per database)`, () => {
                const roles = ok(tool(major, "pg_dumpall", ["--roles-only"], pg()), "pg_dumpall --roles-only");
                assert.match(roles, new RegExp(`^CREATE ROLE reader_${major};$`, "m"));
                assert.match(roles, new RegExp(`^ALTER ROLE reader_${major} WITH .*LOGIN.* PASSWORD 'SCRAM-SHA-256\\$`, "m"));
                assert.doesNotMatch(roles, /CREATE TABLE/);
                const all = ok(tool(major, "pg_dumpall", [], pg()), "pg_dumpall");
                assert.match(all, /^\\connect src$/m);
                assert.match(all, /^CREATE TABLE public\.items \(/m);
                assert.match(all, new RegExp(`^-- Dumped by pg_dump version ${major}\\.`, "m"));
            });
        });
    }

    // The trap: the client tools must match the target server. pg_dump 17 reads a 15 server fine, but
    // pg_restore 17 starts every restore with `SET transaction_timeout = 0;` (new in 17), which a 15
    // server rejects; and pg_restore 15 cannot read pg_dump 17's archive format (1.16).
    describe("pg_restore 17 into a PostgreSQL 15 server", () => {
        const pg15 = () => servers.get(15)!;
        let archive17: string;
        let archive15: string;

        before(async () => {
            await pg15().createDatabase("trap_src");
            await pg15().query(TABLE, "trap_src");
            archive17 = join(dir, "trap-17.dump");
            archive15 = join(dir, "trap-15.dump");
            ok(tool(17, "pg_dump", ["-Fc", "-d", "trap_src", "-f", archive17], pg15()), "pg_dump 17 from a 15 server");
            ok(tool(15, "pg_dump", ["-Fc", "-d", "trap_src", "-f", archive15], pg15()), "pg_dump 15");
        });

        it("pg_restore 17's script sets transaction_timeout; pg_restore 15's does not", () => {
            const setLines = (s: string) => s.split("\n").filter((l) => /^SET \w+_timeout = /.test(l));
            assert.deepEqual(setLines(ok(tool(17, "pg_restore", ["-f", "-", archive17]), "pg_restore 17 -f -")), [
                "SET statement_timeout = 0;",
                "SET lock_timeout = 0;",
                "SET idle_in_transaction_session_timeout = 0;",
                "SET transaction_timeout = 0;",
            ]);
            assert.deepEqual(setLines(ok(tool(15, "pg_restore", ["-f", "-", archive15]), "pg_restore 15 -f -")), [
                "SET statement_timeout = 0;",
                "SET lock_timeout = 0;",
                "SET idle_in_transaction_session_timeout = 0;",
            ]);
        });

        it('with --exit-on-error: fails on `SET transaction_timeout = 0` (unrecognized configuration parameter "transaction_timeout") before restoring anything', async () => {
            await pg15().createDatabase("trap_strict");
            const r = tool(17, "pg_restore", ["--no-owner", "--exit-on-error", "-d", "trap_strict", archive17], pg15());
            assert.equal(r.status, 1);
            assert.equal(
                r.stderr,
                'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"\n' +
                    "Command was: SET transaction_timeout = 0;\n",
            );
            const [row] = await pg15().query("select to_regclass('public.items') as t", "trap_strict");
            assert.equal(row.t, null);
        });

        it("without --exit-on-error: that SET is the only error, the data is restored, and the exit status is still 1", async () => {
            await pg15().createDatabase("trap_lenient");
            const r = tool(17, "pg_restore", ["--no-owner", "-d", "trap_lenient", archive17], pg15());
            assert.equal(r.status, 1);
            assert.equal(
                r.stderr,
                'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"\n' +
                    "Command was: SET transaction_timeout = 0;\n" +
                    "pg_restore: warning: errors ignored on restore: 1\n",
            );
            const [want] = await pg15().query(ROWS, "trap_src");
            const [got] = await pg15().query(ROWS, "trap_lenient");
            assert.equal(got.rows, want.rows);
        });

        it("pg_restore 15 cannot read pg_dump 17's archive", () => {
            const r = tool(15, "pg_restore", ["--list", archive17]);
            assert.equal(r.status, 1);
            assert.equal(r.stderr, "pg_restore: error: unsupported version (1.16) in file header\n");
        });
    });
});
