// pg_restore's errors: every one fails a restore except pg_restore 17's `SET transaction_timeout = 0;`
// on a server older than 17, recognised exactly. Unit cases on captured stderr, then the real thing:
// pg_dump 17 → pg_restore 17 into a PostgreSQL 15 canary, through the job's own runPgRestore.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../jobs/src/runtime/log";
import { createCanary, dropCanary, runPgRestore } from "../../../jobs/src/postgres/canary";
import { pgChildEnv } from "../../../jobs/src/postgres/connection";
import { RestoreErrorScanner, restoreSucceeded } from "../../../jobs/src/postgres/restore-errors";
import { clientBin, ensurePg17 } from "../../support/pg-versions";
import { startPostgres, type PgServer } from "../../support/postgres";

const TX = [
    'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
    "Command was: SET transaction_timeout = 0;",
];
const scan = (...lines: string[]) => {
    const s = new RestoreErrorScanner();
    // fed in odd pieces, as a pipe delivers them
    const text = lines.join("\n") + "\n";
    for (let i = 0; i < text.length; i += 7) s.feed(text.slice(i, i + 7));
    return s.finish();
};

describe("postgres: pg_restore errors", () => {
    it("sets apart exactly the transaction_timeout SET and succeeds when it is all pg_restore ignored", () => {
        const r = scan(...TX, "pg_restore: warning: errors ignored on restore: 1");
        assert.equal(r.errorCount, 0);
        assert.equal(r.tolerated.length, 1);
        assert.ok(restoreSucceeded(1, r));
    });
    it("counts any other error, including the same parameter under another statement or another parameter", () => {
        const other = scan(TX[0], "Command was: SET transaction_timeout = 5;", "pg_restore: warning: errors ignored on restore: 1");
        assert.equal(other.errorCount, 1);
        assert.ok(!restoreSucceeded(1, other));
        const param = scan('pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "idle_session_timeout"', "Command was: SET idle_session_timeout = 0;");
        assert.equal(param.errorCount, 1);
        const ext = scan(...TX, 'pg_restore: error: could not execute query: ERROR:  extension "pg_graphql" is not available', "pg_restore: warning: errors ignored on restore: 2");
        assert.equal(ext.errorCount, 1);
        assert.equal(ext.tolerated.length, 1);
        assert.ok(!restoreSucceeded(1, ext));
        assert.match(ext.errors[0], /pg_graphql/);
    });
    it("a failing exit with only tolerated errors but more ignored than tolerated, or no count, is a failure", () => {
        assert.ok(!restoreSucceeded(1, scan(...TX, "pg_restore: warning: errors ignored on restore: 2")));
        assert.ok(restoreSucceeded(1, scan(...TX, ...TX, "pg_restore: warning: errors ignored on restore: 1")), "-j: workers' errors printed, not all counted");
        assert.ok(!restoreSucceeded(1, scan(...TX)), "no count printed: pg_restore stopped for another reason");
        assert.ok(!restoreSucceeded(2, scan(...TX, "pg_restore: warning: errors ignored on restore: 1")));
        assert.ok(restoreSucceeded(0, scan("pg_restore: warning: something harmless")));
    });

    describe("pg_restore 17 into a PostgreSQL 15 canary (real servers and tools)", function () {
        this.timeout(120_000);
        let src: PgServer;
        let canary: PgServer;
        let dir: string;
        const log = createLogger({}, "silent");
        before(async () => {
            ensurePg17();
            [src, canary] = await Promise.all([startPostgres({ major: 17 }), startPostgres({ major: 15 })]);
            dir = mkdtempSync(join(tmpdir(), "sb-rerr-"));
            await src.query("create table public.t (id int primary key, v text); insert into public.t select g, md5(g::text) from generate_series(1, 500) g;");
        });
        after(async () => {
            await Promise.all([src?.stop(), canary?.stop()]);
            if (dir) rmSync(dir, { recursive: true, force: true });
        });
        const dump = (name: string) => {
            const file = join(dir, name);
            execFileSync(join(clientBin(17), "pg_dump"), ["-Fc", "-f", file], { env: pgChildEnv(src.url, { PATH: process.env.PATH }) });
            return file;
        };

        it("restores a 17 dump completely and reports the tolerated error", async () => {
            const file = dump("ok.dump");
            const db = await createCanary(canary.url, "test");
            try {
                const r = await runPgRestore({ file, db, jobs: 2, bin: join(clientBin(17), "pg_restore") });
                assert.equal(r.ok, true, JSON.stringify(r));
                assert.equal(r.exitCode, 1, "pg_restore itself exits 1: it ignored an error");
                assert.ok(r.tolerated.length >= 1, "one per connection (-j 2: main and workers)");
                for (const t of r.tolerated) assert.match(t, /"transaction_timeout" \(Command was: SET transaction_timeout = 0;\)$/);
                const rows = await canary.query("select count(*)::int as n from public.t", db.name);
                assert.equal(rows[0].n, 500);
            } finally {
                await dropCanary(canary.url, db, log);
            }
        });

        it("still fails on a real error in the same restore", async () => {
            // a grant to a role the canary lacks: a real restore error, whatever the major (ownership is
            // not restored: the canary restores as its database's owner with --no-owner)
            await src.query("create role ghost_owner nologin; create table public.owned (id int); grant select on public.owned to ghost_owner;");
            try {
                const file = dump("ext.dump");
                const db = await createCanary(canary.url, "test");
                try {
                    const r = await runPgRestore({ file, db, jobs: 1, bin: join(clientBin(17), "pg_restore") });
                    assert.equal(r.ok, false);
                    assert.ok(r.tolerated.length >= 1);
                    assert.ok(r.errorCount >= 1);
                    assert.match(r.errors.join("\n"), /role "ghost_owner" does not exist/);
                } finally {
                    await dropCanary(canary.url, db, log);
                }
            } finally {
                await src.query("drop table public.owned; drop role ghost_owner;");
            }
        });
    });
});
