// One URL → libpq environment conversion for every Postgres child (pg_dump, pg_dumpall, pg_restore,
// psql): the password only in PGPASSWORD, and none of the job's own secrets in the child's env.
import { strict as assert } from "node:assert";
import { SECRETS } from "@supabase-backups/contracts";
import { pgChildEnv, pgTarget } from "../../../jobs/src/postgres/connection";

describe("postgres: child process environment", () => {
    const url = "postgresql://restorer:s%3Acr%40t@db.example.com:6543/app?sslmode=verify-full&sslrootcert=/etc/ca.pem";
    const parent: NodeJS.ProcessEnv = { PATH: "/bin", CANARY_DATABASE_URL: "postgresql://c:pw@h/x", AZURE_STORAGE_CONNECTION_STRING: "k", AWS_SECRET_ACCESS_KEY: "a", AWS_SESSION_TOKEN: "t" };
    for (const s of Object.values(SECRETS)) parent[s.env] = `secret-${s.env}`;

    for (const [name, target] of [["a URL (verify, restore)", url], ["a parsed target (dump)", pgTarget(url)]] as const) {
        it(`from ${name}: connection as libpq variables, the job's secrets dropped`, () => {
            const env = pgChildEnv(target, parent, "supabase-backups-restore");
            assert.equal(env.PGHOST, "db.example.com");
            assert.equal(env.PGPORT, "6543");
            assert.equal(env.PGUSER, "restorer");
            assert.equal(env.PGPASSWORD, "s:cr@t");
            assert.equal(env.PGDATABASE, "app");
            assert.equal(env.PGSSLMODE, "verify-full");
            assert.equal(env.PGSSLROOTCERT, "/etc/ca.pem");
            assert.equal(env.PGAPPNAME, "supabase-backups-restore");
            assert.equal(env.PATH, "/bin");
            for (const k of Object.keys(parent).filter((k) => k !== "PATH")) assert.equal(env[k], undefined, `${k} is not passed on`);
            assert.ok(!Object.values(env).some((v) => v?.startsWith("secret-")), "no secret value under another name");
        });
    }
});
