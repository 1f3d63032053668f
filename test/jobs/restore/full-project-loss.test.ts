// The full-project-loss runbook — `restore db --clean --yes` into a new Supabase project — must not call a
// partly restored project done (issue 17 item 6). A Supabase-shaped PostgreSQL 15 source is dumped by the
// real `dump` into s3rver; the target is a new project's database (the platform's managed schemas present),
// in which one table's data cannot load: auth.identities already holds a row with the same (provider_id,
// provider) as one of the source's. auth.identities is not among the tables whose counts the manifest
// records, so only pg_restore's own error tells; a clean new project restores without one.
import assert from "node:assert/strict";
import { EXIT } from "@supabase-backups/contracts";
import { Client } from "pg";
import { qualifyDataErrors } from "../../../jobs/src/commands/restore/db-supabase";
import { RestoreErrorScanner } from "../../../jobs/src/postgres/restore-errors";
import { isExpectedDataError } from "../../../jobs/src/supabase/managed";
import { runCli, writeJobConfig } from "../../support/cli";
import type { PgServer } from "../../support/postgres";
import { startS3rver, type S3Server } from "../../support/s3rver";
import { startSupabasePostgres } from "../../support/supabase-shape";

const VAULT = "vault";

describe("restore db: full project loss into a new Supabase project", function () {
    this.timeout(240_000);
    let s3: S3Server;
    let source: PgServer;
    let config: string;
    let runId: string;
    const env = () => ({ ...s3.env, USER: "oncall-ana", SUPABASE_ACCESS_TOKEN: undefined, AGE_IDENTITY: undefined, AZURE_STORAGE_CONNECTION_STRING: undefined });

    before(async () => {
        [s3, source] = await Promise.all([startS3rver(), startSupabasePostgres({ major: 15, users: 5 })]);
        await s3.createBucket(VAULT);
        config = writeJobConfig({ vault: { bucket: VAULT, region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            c.verify.tables = ["auth.users", "public.profiles"]; // the manifest counts these two only
            delete c.alerts.pushgatewayUrl;
            delete c.archive;
            delete c.encryption;
        }).path;
        const r = await runCli(["dump", "--config", config, "--json", "--no-archive"], { ...env(), DATABASE_URL: source.url });
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
        const out = JSON.parse(r.stdout);
        runId = out.runId ?? out.manifest.runId;
    });
    after(async () => Promise.allSettled([s3?.stop(), source?.stop()]));

    /** the password travels in the environment, never in --target-url (argv) */
    const restoreInto = (target: PgServer) => {
        const u = new URL(target.url);
        const password = decodeURIComponent(u.password);
        u.password = "";
        return runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", u.toString(), "--clean", "--yes", "--json"], {
            ...env(),
            SUPABASE_BACKUPS_TARGET_PASSWORD: password || undefined,
        });
    };

    it("a data section that fails for auth.identities fails the restore, names the table, and still checks every counted table", async () => {
        const target = await startSupabasePostgres({ major: 15, seed: "image" });
        try {
            const [first] = await source.query("select provider_id, provider from auth.identities order by provider_id limit 1");
            const c = new Client({ connectionString: target.url });
            await c.connect();
            // (replica: the user it references is not there yet; the FK is a trigger)
            await c.query("set session_replication_role = replica");
            await c.query(`insert into auth.identities (provider_id, user_id, identity_data, provider) values ($1, gen_random_uuid(), '{}', $2)`, [first.provider_id, first.provider]);
            await c.end();

            const r = await restoreInto(target);
            assert.equal(r.code, EXIT.failed, r.stdout + r.stderr.slice(-3000));
            const line = r.stderr.trim().split("\n").filter((l) => l.startsWith("supabase-backups")).pop() ?? "";
            assert.match(line, /pg_restore could not load all the data, the restore is incomplete: auth\.identities \(.*duplicate key value violates unique constraint/);
            const out = JSON.parse(r.stdout);
            assert.deepEqual(out.tablesWithErrors.map((t: any) => [t.table, t.expected]), [["auth.identities", false]]);
            assert.match(out.mode, /into a Supabase project/);
            // every table whose count the manifest records was checked (and they did restore)
            assert.deepEqual(out.rowCounts.map((x: any) => [x.table, x.ok]).sort(), [["auth.users", true], ["public.profiles", true]]);
        } finally {
            await target.stop();
        }
    });

    it("into a clean new project: no error, every counted table matches, exit 0", async () => {
        const target = await startSupabasePostgres({ major: 15, seed: "image" });
        try {
            const r = await restoreInto(target);
            assert.equal(r.code, EXIT.ok, r.stderr.slice(-3000));
            const out = JSON.parse(r.stdout);
            assert.deepEqual(out.tablesWithErrors, []);
            assert.equal(out.pgRestoreErrorCount, 0, JSON.stringify(out.pgRestoreErrors));
            const [n] = await target.query("select count(*)::int as n from auth.identities");
            const [m] = await source.query("select count(*)::int as n from auth.identities");
            assert.equal(n.n, m.n);
        } finally {
            await target.stop();
        }
    });

    it("pg_restore's stderr: every failed COPY names its table, qualified from the data list; only platform tables are expected", () => {
        const s = new RestoreErrorScanner();
        s.feed(
            [
                'pg_restore: error: COPY failed for table "identities": ERROR:  duplicate key value violates unique constraint "identities_provider_id_provider_key"',
                "DETAIL:  Key (provider_id, provider)=(x, email) already exists.",
                'pg_restore: error: could not execute query: ERROR:  relation "public.todos" does not exist',
                "Command was: COPY public.todos (id, user_id, task) FROM stdin;",
                'pg_restore: error: COPY failed for table "users": ERROR:  boom',
                "pg_restore: warning: errors ignored on restore: 3",
                "",
            ].join("\n"),
        );
        const r = s.finish();
        assert.equal(r.errorCount, 3);
        assert.deepEqual(r.dataErrors.map((d) => d.table), ["identities", "public.todos", "users"]);
        const q = qualifyDataErrors(r.dataErrors, [
            { schema: "auth", name: "identities" },
            { schema: "public", name: "todos" },
            { schema: "auth", name: "users" },
            { schema: "public", name: "users" },
        ]);
        assert.deepEqual(q.map((d) => d.table), ["auth.identities", "public.todos", "auth.users", "public.users"], "an ambiguous name fails every candidate");
        assert.equal(isExpectedDataError("auth.schema_migrations"), true);
        for (const t of ["auth.users", "auth.identities", "storage.objects", "public.todos"]) assert.equal(isExpectedDataError(t), false, t);
    });
});
