// The writer's database credentials are the source's (docs/security.md "The writer's database role"):
// with `postgres` in DATABASE_URL, a stolen writer Secret can change or drop the production database.
// On Supabase-shaped PostgreSQL 15 and 17 (auth, storage, RLS-protected tables, sequences, a large
// object, FORCE ROW LEVEL SECURITY on one table), with the SQL `dump --print-role-sql` prints:
//   - the real `dump` as that role succeeds, and its archive restores to exactly the SQL of the same
//     dump taken as postgres (pg_restore -f - of both, compared whole);
//   - `dump` as postgres warns in one line and pushes supabase_backups_dump_role_can_write 1 (a real
//     Pushgateway); as the read-only role no warning and 0;
//   - the attack: with the role's own credentials, INSERT/UPDATE/DELETE/TRUNCATE, DDL, large-object
//     writes, granting itself rights and switching read-only off all fail;
//   - the rights check is not vacuous: a reader that also holds INSERT on one table is reported.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zstdDecompressSync } from "node:zlib";
import { CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { Client } from "pg";
import { EXIT, METRICS, type DbManifest } from "@supabase-backups/contracts";
import { readDumpRoleRights } from "../../jobs/src/postgres/dump-role";
import { runCli, writeJobConfig } from "../support/cli";
import { clientBin, ensurePg17, MAJORS } from "../support/pg-versions";
import type { PgServer } from "../support/postgres";
import { startPushgateway, type Pushgateway } from "../support/pushgateway";
import { rgwJobEnv, startRgw, type RgwServer } from "../support/rgw";
import { startSupabasePostgres } from "../support/supabase-shape";

const VAULT = "vault";
const READER = "backup_reader";
const READER_PW = "reader-" + Math.random().toString(36).slice(2);
const LO_OID = 424242;

async function asRole(url: string, fn: (c: Client) => Promise<void>): Promise<void> {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
        await fn(c);
    } finally {
        await c.end();
    }
}

describe("attack: the dump's source credentials change the source (read-only dump role)", function () {
    this.timeout(300_000);
    let rgw: RgwServer;
    let gateway: Pushgateway;
    let dir: string;
    before(async () => {
        ensurePg17();
        [rgw, gateway] = await Promise.all([startRgw(), startPushgateway()]);
        await rgw.client().send(new CreateBucketCommand({ Bucket: VAULT, ObjectLockEnabledForBucket: true }));
        dir = mkdtempSync(join(tmpdir(), "sb-dump-role-"));
    });
    after(async () => {
        await Promise.allSettled([rgw?.stop(), gateway?.stop()]);
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const major of MAJORS) {
        describe(`PostgreSQL ${major}`, () => {
            let source: PgServer;
            let readerUrl: string;
            let config: string;
            let env: Record<string, string | undefined>;
            const bin = clientBin(17);
            before(async () => {
                source = await startSupabasePostgres({ major, users: 5 });
                await source.query(`select lo_from_bytea(${LO_OID}, 'large object bytes'); alter table public.profiles force row level security;`);
                const sql = await runCli(["dump", "--print-role-sql"], {});
                assert.equal(sql.code, EXIT.ok, sql.stderr);
                await source.query(sql.stdout);
                await source.query(sql.stdout); // idempotent: the operator may run it again (new large objects)
                await source.query(`alter role ${READER} password '${READER_PW}'`);
                readerUrl = source.url.replace(/\/\/postgres:[^@]*@/, `//${READER}:${READER_PW}@`);
                config = writeJobConfig({ vault: { bucket: VAULT, region: rgw.region, endpoint: rgw.endpoint, forcePathStyle: true, kmsKeyArn: rgw.kmsKeyId } }, (c) => {
                    c.env = `role${major}`;
                    c.verify.tables = ["auth.users", "public.profiles"];
                    c.alerts.pushgatewayUrl = gateway.url;
                    delete c.archive;
                }).path;
                env = {
                    ...rgwJobEnv(rgw, bin),
                    AZURE_STORAGE_CONNECTION_STRING: undefined,
                };
            });
            after(async () => {
                await source?.stop();
            });

            async function dumpAs(url: string): Promise<{ stderr: string; out: any; sql: string }> {
                const d = await runCli(["dump", "--config", config, "--json", "--no-archive"], { ...env, DATABASE_URL: url });
                assert.equal(d.code, EXIT.ok, d.stderr.slice(-3000));
                const out = JSON.parse(d.stdout);
                const m: DbManifest = out.manifest;
                const body = Buffer.from(await (await rgw.client().send(new GetObjectCommand({ Bucket: VAULT, Key: m.objects[0].key }))).Body!.transformToByteArray());
                const file = join(dir, `${m.runId}.dump`);
                writeFileSync(file, m.compression.by === "job" ? zstdDecompressSync(body) : body);
                const sql = execFileSync(join(bin, "pg_restore"), ["-f", "-", file], { maxBuffer: 1 << 28 }).toString();
                // pg_dump 17.6+ fences the script with \restrict <random key>: the only line that differs by run
                return { stderr: d.stderr, out, sql: sql.replace(/^\\(un)?restrict \S+$/gm, "") };
            }
            const gauge = async () => new RegExp(`^${METRICS.dumpRoleCanWrite}\\{[^}]*env="role${major}"[^}]*\\} (\\d+)$`, "m").exec(await gateway.scrape())?.[1];

            it("a dump as the read-only role restores to exactly the dump as postgres; only postgres is warned about", async () => {
                const asPostgres = await dumpAs(source.url);
                assert.match(asPostgres.stderr, /the dump connects as postgres, which can change the source \(superuser/);
                assert.equal(asPostgres.out.roleCanWrite, true);
                assert.equal(await gauge(), "1");

                const asReader = await dumpAs(readerUrl);
                assert.doesNotMatch(asReader.stderr, /can change the source/);
                assert.equal(asReader.out.roleCanWrite, false);
                assert.equal(await gauge(), "0");
                assert.doesNotMatch(asReader.stderr, /permission denied/);
                const names = (o: any) => o.manifest.objects.map((x: any) => x.key.split("/").pop());
                assert.deepEqual(names(asReader.out), names(asPostgres.out), "roles.sql too (pg_dumpall --roles-only --no-role-passwords)");

                for (const needle of ["COPY auth.users ", "COPY auth.identities ", "COPY storage.objects ", "COPY public.profiles ", "COPY public.todos ", "SELECT pg_catalog.setval(", `SELECT pg_catalog.lo_open('${LO_OID}'`, 'CREATE POLICY "own profile"']) {
                    assert.ok(asReader.sql.includes(needle), `the reader's dump has ${needle}`);
                }
                assert.match(asReader.sql, /ALTER TABLE (ONLY )?public\.profiles FORCE ROW LEVEL SECURITY/);
                assert.equal(asReader.sql.length, asPostgres.sql.length);
                assert.ok(asReader.sql === asPostgres.sql, "the two archives restore to the same SQL");
                assert.deepEqual(asReader.out.manifest.source.rowCounts ?? asReader.out.manifest.facts?.rowCounts, asPostgres.out.manifest.source.rowCounts ?? asPostgres.out.manifest.facts?.rowCounts);
            });

            it("with the role's own credentials every write fails: rows, DDL, large objects, its own rights, read-only off", async () => {
                const attempts: Record<string, string> = {
                    insert: "insert into public.profiles (id, full_name) select id, 'evil' from auth.users limit 1 on conflict do nothing",
                    update: "update auth.users set encrypted_password = 'x'",
                    delete: "delete from storage.objects",
                    truncate: "truncate public.todos",
                    "create table": "create table public.evil (v int)",
                    "create schema": "create schema evil",
                    "create function": "create function public.evil() returns int language sql as 'select 1'",
                    "alter table": "alter table public.profiles add column evil int",
                    "drop table": "drop table public.todos",
                    "lo write": `select lo_put(${LO_OID}, 0, '\\x00')`,
                    "lo unlink": `select lo_unlink(${LO_OID})`,
                    "grant itself writes": `grant pg_write_all_data to ${READER}`,
                    "become postgres": "set role postgres",
                    "read-only off, then insert": "set default_transaction_read_only = off; insert into public.todos (user_id, task) select id, 'evil' from auth.users limit 1",
                    "nextval": "select nextval(pg_get_serial_sequence('public.todos', 'id'))",
                };
                const succeeded: string[] = [];
                await asRole(readerUrl, async (c) => {
                    for (const [what, sql] of Object.entries(attempts)) {
                        try {
                            await c.query(sql);
                            succeeded.push(what);
                        } catch {
                            /* refused, as it must be */
                        }
                        await c.query("reset all").catch(() => undefined);
                    }
                    assert.deepEqual((await readDumpRoleRights(c)).writes, []);
                });
                assert.deepEqual(succeeded, []);
                // nothing changed: the rows and the large object are as they were
                const [row] = await source.query(`select (select count(*) from public.profiles where full_name = 'evil')::int as evil, (select count(*) from pg_largeobject_metadata where oid = ${LO_OID})::int as lo, to_regclass('public.todos') is not null as todos`);
                assert.deepEqual(row, { evil: 0, lo: 1, todos: true });
            });

            it("the rights check reports a reader that can also write one table", async () => {
                await source.query(`create role leaky_reader login password 'leaky' bypassrls; grant pg_read_all_data to leaky_reader; grant insert on public.todos to leaky_reader`);
                try {
                    await asRole(source.url.replace(/\/\/postgres:[^@]*@/, "//leaky_reader:leaky@"), async (c) => {
                        const r = await readDumpRoleRights(c);
                        assert.deepEqual(r.writes, ["INSERT/UPDATE/DELETE/TRUNCATE on 1 table(s) (public.todos)"]);
                    });
                } finally {
                    await source.query("drop owned by leaky_reader; drop role leaky_reader");
                }
            });
        });
    }
});
