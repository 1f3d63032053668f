// Attack: secrets read off a child process's command line or environment (issue 13, "Smaller").
// Any user of the machine (or a compromised sidecar sharing the PID namespace) reads every process's
// argv in `ps` / /proc/<pid>/cmdline, and a client tool's environment is inherited by whatever it runs
// and dumped in its crash reports. The attack here: DATABASE_URL with the password as a `?password=`
// parameter (which reached pg_dump's argv), the job's env full of other secrets (Storage S3 key, AWS and
// Azure credentials, AGE_IDENTITY), and `restore db --target-url` with a password. The real CLI runs
// with wrappers named pg_dump, pg_dumpall, pg_restore and psql first on PATH: each records its exact argv
// and environment (/proc/self/cmdline and /proc/self/environ of the process the job started) and execs
// the real tool, so the dump and the restores really run.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT, JOB_ENV } from "@supabase-backups/contracts";
import { runCli, writeJobConfig } from "../support/cli";
import { startPostgres, type PgServer } from "../support/postgres";
import { startS3rver, type S3Server } from "../support/s3rver";
import { seedSupabase } from "../support/seed";

const SECRET = {
    s3: "storage-s3-secret-0123456789",
    srk: "service-role-key-0123456789",
    token: "sbp_managementtoken0123456789",
    age: "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
    azure: "azure-client-secret-0123456789",
    awsSession: "aws-session-token-0123456789",
    target: "target-password-0123456789",
};

interface Invocation {
    tool: string;
    argv: string[];
    env: Record<string, string>;
}

describe("attack: secrets in argv and child environments (pg_dump, pg_dumpall, pg_restore, psql)", function () {
    this.timeout(180_000);
    let pg: PgServer;
    let s3: S3Server;
    let wrappers: string;
    let records: string;
    let config: string;
    let sourceUrl: string;
    let runId: string;

    /** The wrappers: record /proc/self/cmdline and environ, then exec the real tool with the same argv. */
    function makeWrappers(): void {
        wrappers = mkdtempSync(join(tmpdir(), "sb-wrap-"));
        records = mkdtempSync(join(tmpdir(), "sb-wrap-rec-"));
        chmodSync(records, 0o777);
        for (const tool of ["pg_dump", "pg_dumpall", "pg_restore", "psql"]) {
            const real = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
            const f = join(wrappers, tool);
            writeFileSync(f, `#!/bin/sh\nr=${records}/${tool}.$$\ncat /proc/$$/cmdline > "$r.argv"\ncat /proc/$$/environ > "$r.env"\nexec ${real} "$@"\n`);
            chmodSync(f, 0o755);
        }
    }

    function invocations(): Invocation[] {
        return readdirSync(records)
            .filter((f) => f.endsWith(".argv"))
            .map((f) => {
                const base = f.slice(0, -".argv".length);
                const split = (p: string) => readFileSync(join(records, p), "utf8").split("\0").filter(Boolean);
                const env = Object.fromEntries(split(`${base}.env`).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
                return { tool: base.replace(/\.\d+$/, ""), argv: split(f), env };
            });
    }

    /** The job's environment: every secret it may hold, the way the CronJobs and an operator's shell give them. */
    function jobEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
        return {
            ...s3.env,
            PATH: `${wrappers}:${process.env.PATH}`,
            PG_DUMP: undefined,
            PG_DUMPALL: undefined,
            DATABASE_URL: sourceUrl,
            SUPABASE_SERVICE_ROLE_KEY: SECRET.srk,
            SUPABASE_ACCESS_TOKEN: SECRET.token,
            SUPABASE_S3_ACCESS_KEY_ID: "storage-s3-key-id",
            SUPABASE_S3_SECRET_ACCESS_KEY: SECRET.s3,
            AGE_IDENTITY: SECRET.age,
            AZURE_CLIENT_SECRET: SECRET.azure,
            AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/azure/tokens/azure-identity-token",
            AWS_SESSION_TOKEN: SECRET.awsSession,
            AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
            LOG_LEVEL: "warn",
            ...extra,
        };
    }

    /** No secret value anywhere in a child's argv; in its env only the password, only as PGPASSWORD. */
    function assertClean(list: Invocation[], password: string | undefined): void {
        const secrets = [...Object.values(SECRET), s3.env.AWS_SECRET_ACCESS_KEY!, pg.password];
        for (const inv of list) {
            const argv = inv.argv.join(" ");
            for (const s of secrets) assert.ok(!argv.includes(s), `${inv.tool}'s argv holds a secret: ${argv}`);
            assert.ok(!/password=/i.test(argv), `${inv.tool}'s argv names a password: ${argv}`);
            for (const [k, v] of Object.entries(inv.env)) {
                if (k === "PGPASSWORD") continue;
                for (const s of secrets) assert.ok(!v.includes(s), `${inv.tool} inherited a secret in ${k}`);
                assert.ok(!/^(AWS_|AZURE_|SUPABASE_|AGE_|DATABASE_URL$|CANARY_DATABASE_URL$)/.test(k), `${inv.tool} inherited ${k}`);
            }
            assert.equal(inv.env.PGPASSWORD, password, `${inv.tool} gets the password in PGPASSWORD`);
        }
    }

    before(async () => {
        [pg, s3] = await Promise.all([startPostgres(), startS3rver()]);
        await s3.createBucket("vault");
        const appUrl = new URL(await pg.createDatabase("app"));
        await seedSupabase(appUrl.toString(), { users: 30, sessionsPerUser: 1, payloadBytes: 0, messagesPerUser: 1 });
        // the password as a query parameter: it used to reach pg_dump's --dbname
        appUrl.password = "";
        appUrl.searchParams.set("password", pg.password);
        sourceUrl = appUrl.toString();
        makeWrappers();
        config = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            c.verify.tables = ["public.profiles"];
            delete c.alerts.pushgatewayUrl;
        }).path;
    });
    after(async () => {
        await Promise.allSettled([pg?.stop(), s3?.stop()]);
        for (const d of [wrappers, records]) if (d) rmSync(d, { recursive: true, force: true });
    });
    beforeEach(() => {
        for (const f of readdirSync(records)) rmSync(join(records, f));
    });

    it("dump: pg_dump and pg_dumpall get the password only in PGPASSWORD and none of the job's other secrets", async () => {
        const r = await runCli(["dump", "--config", config, "--no-archive", "--json"], jobEnv());
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        runId = JSON.parse(r.stdout).manifest.runId;
        const list = invocations();
        assert.deepEqual([...new Set(list.map((i) => i.tool))].sort(), ["pg_dump", "pg_dumpall"]);
        // `--version` probes connect nowhere: no password either
        for (const i of list.filter((x) => x.argv.includes("--version"))) assert.equal(i.env.PGPASSWORD, undefined);
        assertClean(list.filter((x) => !x.argv.includes("--version")), pg.password);
        assertClean(list.filter((x) => x.argv.includes("--version")), undefined);
        const dump = list.find((i) => i.tool === "pg_dump" && !i.argv.includes("--version"))!;
        assert.ok(dump.argv.includes("dbname='app'"), dump.argv.join(" "));
    });

    it("restore db: --target-url with a password is refused before anything runs, and the password is not echoed", async () => {
        const target = new URL(pg.urlFor("app"));
        const r = await runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", target.toString(), "--reason", "argv test"], jobEnv());
        assert.equal(r.code, EXIT.usage);
        assert.match(r.stderr, /--target-url contains a password, which every user of this machine can read in the process list/);
        assert.ok(!r.stderr.includes(pg.password));
        target.password = "";
        target.searchParams.set("password", pg.password);
        const q = await runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", target.toString()], jobEnv());
        assert.equal(q.code, EXIT.usage);
        assert.ok(!q.stderr.includes(pg.password));
        assert.deepEqual(invocations(), [], "no client tool ran");
    });

    it("restore db (whole dump, then --tables): pg_restore and psql get the target password only in PGPASSWORD, never AGE_IDENTITY or cloud credentials", async () => {
        const url = new URL(await pg.createDatabase("restored"));
        url.password = "";
        const env = jobEnv({ [JOB_ENV.targetPassword]: pg.password });
        let r = await runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", url.toString(), "--json", "--reason", "argv test"], env);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        const tables = new URL(await pg.createDatabase("tables"));
        tables.password = "";
        r = await runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", tables.toString(), "--tables", "public.profiles", "--json", "--reason", "argv test"], env);
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        const list = invocations().filter((i) => !i.argv.includes("--version"));
        assert.ok(list.some((i) => i.tool === "pg_restore") && list.some((i) => i.tool === "psql"), list.map((i) => i.tool).join(", "));
        assertClean(list, pg.password);
        assertClean(invocations().filter((i) => i.argv.includes("--version")), undefined);
        for (const i of list) assert.equal(i.env[JOB_ENV.targetPassword], undefined);
    });
});
