// One URL → libpq environment conversion for every Postgres child (pg_dump, pg_dumpall, pg_restore,
// psql): every parameter in env (the password only in PGPASSWORD), nothing of the job's env but the
// allow-listed variables; the node-pg config from the same URL; the TLS policy (tls.ts) on URLs.
import { strict as assert } from "node:assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JOB_ENV, SECRETS } from "@supabase-backups/contracts";
import { libpqEnv, pgChildEnv, pgClientConfig, pgTarget } from "../../../jobs/src/postgres/connection";
import { isLoopbackHost, pgTlsPolicy, securePgUrl } from "../../../jobs/src/postgres/tls";
import { targetUrlWithPassword } from "../../../jobs/src/commands/restore/db-target";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("postgres: child process environment", () => {
    const url = "postgresql://restorer:s%3Acr%40t@db.example.com:6543/app?sslmode=verify-full&sslrootcert=/etc/ca.pem";
    const parent: NodeJS.ProcessEnv = {
        PATH: "/bin",
        HOME: "/home/job",
        LC_ALL: "C.UTF-8",
        CANARY_DATABASE_URL: "postgresql://c:pw@h/x",
        AZURE_STORAGE_CONNECTION_STRING: "k",
        AZURE_CLIENT_SECRET: "azs",
        AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/azure/token",
        AWS_ACCESS_KEY_ID: "AKIA",
        AWS_SECRET_ACCESS_KEY: "a",
        AWS_SESSION_TOKEN: "t",
        AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks/token",
        AWS_CONTAINER_AUTHORIZATION_TOKEN: "c",
        SUPABASE_S3_REGION: "eu",
        PGPASSWORD: "an-operator-shell-password",
        PGSERVICE: "svc",
        [JOB_ENV.targetPassword]: "target-secret",
    };
    for (const s of Object.values(SECRETS)) parent[s.env] = `secret-${s.env}`;

    for (const [name, target] of [["a URL (verify, restore)", url], ["a parsed target (dump)", pgTarget(url)]] as const) {
        it(`from ${name}: connection as libpq variables, nothing of the job's env but the allow-list`, () => {
            const env = pgChildEnv(target, parent, "supabase-backups-restore");
            assert.equal(env.PGHOST, "db.example.com");
            assert.equal(env.PGPORT, "6543");
            assert.equal(env.PGUSER, "restorer");
            assert.equal(env.PGPASSWORD, "s:cr@t");
            assert.equal(env.PGDATABASE, "app");
            assert.equal(env.PGSSLMODE, "verify-full");
            assert.equal(env.PGSSLROOTCERT, "/etc/ca.pem");
            assert.equal(env.PGAPPNAME, "supabase-backups-restore");
            assert.deepEqual([env.PATH, env.HOME, env.LC_ALL], ["/bin", "/home/job", "C.UTF-8"]);
            for (const k of Object.keys(parent).filter((k) => !["PATH", "HOME", "LC_ALL", "PGPASSWORD"].includes(k))) assert.equal(env[k], undefined, `${k} is not passed on`);
            assert.ok(!Object.values(env).some((v) => v?.startsWith("secret-") || v === "target-secret" || v === "an-operator-shell-password"), "no secret value under another name");
        });
    }

    it("a ?password= parameter goes to PGPASSWORD, and pg_dump's --dbname carries only the database name", () => {
        const t = pgTarget("postgresql://u@db.example.com/app%20db?password=qp-secret&sslmode=verify-full&sslrootcert=/ca.pem&options=-c%20statement_timeout%3D0");
        assert.equal(t.password, "qp-secret");
        assert.equal(t.dbnameArg, "dbname='app db'");
        const env = pgChildEnv(t, {});
        assert.equal(env.PGPASSWORD, "qp-secret");
        assert.equal(env.PGOPTIONS, "-c statement_timeout=0");
        assert.equal(pgTarget("postgresql://u@localhost/it's").dbnameArg, "dbname='it\\'s'");
    });

    it("a parameter without a libpq environment variable is refused with one line, not passed on a command line", () => {
        assert.throws(() => pgTarget("postgresql://u@localhost/db?sslpassword=x"), /unsupported parameter "sslpassword"/);
        assert.throws(() => pgTarget("postgresql://u@localhost/db?keepalives=1"), /unsupported parameter "keepalives"/);
        assert.throws(() => pgTarget("mysql://x@y/z"), /postgresql/);
    });

    it("the builders refuse a non-loopback URL that was not secured (no sslmode, or a weak one)", () => {
        for (const u of ["postgresql://u:p@db.example.com/x", "postgresql://u:p@db.example.com/x?sslmode=require", "postgresql://u:p@localhost/x?hostaddr=10.0.0.5"]) {
            assert.throws(() => libpqEnv(u), /must be verify-full/, u);
            assert.throws(() => pgClientConfig(u), /must be verify-full/, u);
        }
        assert.doesNotThrow(() => libpqEnv("postgresql://u:p@127.0.0.1:5432/x"));
        assert.equal(pgClientConfig("postgresql://u:p@127.0.0.1:5432/x").ssl, false);
    });
});

describe("postgres: TLS policy on URLs", () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-tls-unit-"));
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, PEM);
    const warnings: string[] = [];
    const log = { warn: (_o: unknown, m: string) => warnings.push(m), info: () => undefined } as any;

    it("loopback names and addresses are exempt; any other host is not", () => {
        for (const h of ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "/var/run/postgresql"]) assert.ok(isLoopbackHost(h), h);
        for (const h of ["db.test", "10.0.0.1", "128.0.0.1", "localhost.evil.com", "::ffff:10.0.0.1", "db.abcdefghijklmnopqrst.supabase.co"]) assert.ok(!isLoopbackHost(h), h);
        const u = "postgresql://u:p@127.0.0.1:5432/x";
        assert.equal(securePgUrl(u, {}, log, "DATABASE_URL"), u);
    });

    it("a non-loopback URL becomes verify-full with the CA; a weaker sslmode is raised; none without a CA", () => {
        const s = new URL(securePgUrl("postgresql://u:p@db.example.com/x?sslmode=require", { caFile: ca }, log, "DATABASE_URL"));
        assert.equal(s.searchParams.get("sslmode"), "verify-full");
        assert.equal(s.searchParams.get("sslrootcert"), ca);
        // loopback name, but connecting elsewhere: not exempt
        assert.equal(new URL(securePgUrl("postgresql://u:p@localhost/x?hostaddr=10.1.2.3", { caFile: ca }, log, "X")).searchParams.get("sslmode"), "verify-full");
        assert.throws(() => securePgUrl("postgresql://u:p@db.example.com/x", {}, log, "DATABASE_URL"), /TLS to db\.example\.com \(DATABASE_URL\) needs the CA .* postgres\.caBundle/);
        const cfg = pgClientConfig(s.toString());
        assert.deepEqual([cfg.host, (cfg.ssl as any).servername, (cfg.ssl as any).ca, (cfg.ssl as any).rejectUnauthorized], ["db.example.com", "db.example.com", PEM, true]);
    });

    it("hostaddr: node-pg connects to the address and checks the certificate against the host name", () => {
        const s = securePgUrl("postgresql://u:p@db.test:5999/x?hostaddr=127.0.0.1", { caFile: ca }, log, "X");
        const cfg = pgClientConfig(s);
        assert.deepEqual([cfg.host, cfg.port, (cfg.ssl as any).servername], ["127.0.0.1", 5999, "db.test"]);
        assert.deepEqual([libpqEnv(s).PGHOST, libpqEnv(s).PGHOSTADDR], ["db.test", "127.0.0.1"]);
    });

    it("sslmode=disable is refused without the switch; with it (config or env) the URL is plain text and a warning is logged", () => {
        assert.throws(() => securePgUrl("postgresql://u:p@db.example.com/x?sslmode=disable", { caFile: ca }, log, "--target-url"), /sslmode=disable .* needs postgres\.allowPlaintext/);
        assert.equal(pgTlsPolicy({ postgres: { allowPlaintext: true } }, {}).plaintext, "config");
        assert.equal(pgTlsPolicy(undefined, { [JOB_ENV.pgAllowPlaintext]: "true" }).plaintext, "env");
        assert.equal(pgTlsPolicy(undefined, { [JOB_ENV.pgAllowPlaintext]: "false" }).plaintext, undefined);
        assert.throws(() => pgTlsPolicy(undefined, { [JOB_ENV.pgAllowPlaintext]: "yes" }), /must be true or false/);
        warnings.length = 0;
        const s = new URL(securePgUrl("postgresql://u:p@db.example.com/x?sslrootcert=/x.pem", { plaintext: "config" }, log, "DATABASE_URL"));
        assert.equal(s.searchParams.get("sslmode"), "disable");
        assert.equal(pgClientConfig(s.toString()).ssl, false);
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /^PLAIN TEXT to Postgres at db\.example\.com \(DATABASE_URL\): TLS is switched off by postgres\.allowPlaintext/);
    });

    it("the CA: PGSSLROOTCERT first, else the config's bundle written to a private file", () => {
        assert.equal(pgTlsPolicy({ postgres: { allowPlaintext: false, caBundle: PEM } }, { PGSSLROOTCERT: "/etc/supabase-backups/postgres-ca.pem" }).caFile, "/etc/supabase-backups/postgres-ca.pem");
        const f = pgTlsPolicy({ postgres: { allowPlaintext: false, caBundle: PEM } }, {}).caFile!;
        assert.equal(pgClientConfig(securePgUrl("postgresql://u@db.example.com/x", { caFile: f }, log, "X")).ssl && (pgClientConfig(securePgUrl("postgresql://u@db.example.com/x", { caFile: f }, log, "X")).ssl as any).ca, PEM);
    });
});

describe("restore db: the target's password never on the command line", () => {
    it("refuses --target-url with a password (user:pw@ or ?password=), takes it from the env var or a file instead", () => {
        assert.throws(() => targetUrlWithPassword("postgresql://u:hunter22@db/x", undefined, {}), /--target-url contains a password, which every user of this machine can read/);
        assert.throws(() => targetUrlWithPassword("postgresql://u@db/x?password=hunter22", undefined, {}), /contains a password/);
        assert.equal(new URL(targetUrlWithPassword("postgresql://u@db/x", undefined, { [JOB_ENV.targetPassword]: "p@ss w" })).password, encodeURIComponent("p@ss w"));
        const dir = mkdtempSync(join(tmpdir(), "sb-tpw-"));
        writeFileSync(join(dir, "pw"), "from-file\n");
        assert.equal(new URL(targetUrlWithPassword("postgresql://u@db/x", join(dir, "pw"), { [JOB_ENV.targetPassword]: "env" })).password, "from-file");
        assert.throws(() => targetUrlWithPassword("postgresql://u@db/x", join(dir, "nope"), {}), /--target-password-file .*: no such file/);
        assert.equal(targetUrlWithPassword("postgresql://u@db/x", undefined, {}), "postgresql://u@db/x", "no password: PGPASSFILE or trust");
    });
});
