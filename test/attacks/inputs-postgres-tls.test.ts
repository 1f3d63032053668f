// Attack: a man in the middle between the jobs and Postgres (issue 13, "No TLS to Postgres"). Three real
// PostgreSQL servers: `good` with ssl=on and a certificate for db.test from the CA the stack config
// trusts (postgres.caBundle); `mitm` with ssl=on and a certificate for the same name from another CA (the
// attacker's), asking for the password in clear text; `plain` without TLS. The URLs name db.test and
// connect through hostaddr=127.0.0.1: the host name is not loopback, so the jobs' policy applies in full
// (no test-only switch), and libpq and node-pg check the certificate against db.test. Both servers with
// TLS log every connection (log_connections), so the test reads on the server side whether TLS was used
// and whether any password arrived.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT, JOB_ENV } from "@supabase-backups/contracts";
import { pgChildEnv } from "../../jobs/src/postgres/connection";
import { securePgUrl } from "../../jobs/src/postgres/tls";
import { runCli, writeJobConfig, type CliResult } from "../support/cli";
import { issueServerCert, loggingSettings, makeCa, removeTlsFiles, tlsSettings, type TestCa } from "../support/pg-tls";
import { startPostgres, type PgServer } from "../support/postgres";
import { startS3rver, type S3Server } from "../support/s3rver";
import { seedSupabase } from "../support/seed";

/** `postgresql://postgres:pw@<name>:<port>/<db>?hostaddr=127.0.0.1`, password optional. */
function viaName(s: PgServer, db: string, name = "db.test", withPassword = true): string {
    return `postgresql://postgres${withPassword ? `:${encodeURIComponent(s.password)}` : ""}@${name}:${s.port}/${db}?hostaddr=127.0.0.1`;
}

function oneFailureLine(r: CliResult, cmd: string): string {
    const lines = r.stderr.split("\n").filter((l) => l.startsWith(`supabase-backups ${cmd}:`));
    assert.equal(lines.length, 1, r.stderr.slice(-2000));
    return lines[0];
}

describe("attack: a man in the middle between the jobs and Postgres (verify-full by default)", function () {
    this.timeout(240_000);
    let ca: TestCa;
    let good: PgServer;
    let mitm: PgServer;
    let plain: PgServer;
    let s3: S3Server;
    let goodLog: () => string;
    let mitmLog: () => string;
    let config: string;
    let runId: string;
    let dumpFile: string;

    const env = (extra: Record<string, string | undefined> = {}) => ({ ...s3.env, LOG_LEVEL: "warn", PGSSLROOTCERT: undefined, [JOB_ENV.pgAllowPlaintext]: undefined, ...extra });
    /** What reached the MITM while `fn` ran: its log lines from then on. */
    async function mitmSaw<T>(fn: () => Promise<T>): Promise<{ value: T; log: string }> {
        const before = mitmLog().length;
        const value = await fn();
        await new Promise((r) => setTimeout(r, 300)); // the log collector writes asynchronously
        return { value, log: mitmLog().slice(before) };
    }
    const noCredentialArrived = (log: string) => {
        assert.doesNotMatch(log, /connection authenticated|connection authorized|authentication failed/, log);
        assert.match(log, /could not accept SSL connection|SSL error|unknown ca|certificate unknown|bad certificate|alert/i, `the handshake failed at the server: ${log}`);
    };

    before(async () => {
        ca = makeCa("supabase-backups test root");
        const evil = makeCa("attacker root");
        const g = loggingSettings("scram-sha-256");
        const m = loggingSettings("password");
        goodLog = g.log;
        mitmLog = m.log;
        [good, mitm, plain, s3] = await Promise.all([
            startPostgres({ settings: { ...tlsSettings(issueServerCert(ca, "db.test")), ...g.settings } }),
            startPostgres({ settings: { ...tlsSettings(issueServerCert(evil, "db.test")), ...m.settings } }),
            startPostgres(),
            startS3rver(),
        ]);
        await s3.createBucket("vault");
        for (const s of [good, mitm, plain]) await seedSupabase(await s.createDatabase("app"), { users: 20, sessionsPerUser: 1, payloadBytes: 0, messagesPerUser: 1 });
        await mitm.query("alter user postgres password 'the-mitm-does-not-know-it'"); // what it learns is what the client sends
        config = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            c.verify.tables = ["public.profiles"];
            c.postgres = { caBundle: ca.pem, allowPlaintext: false };
            delete c.alerts.pushgatewayUrl;
        }).path;
        dumpFile = join(mkdtempSync(join(tmpdir(), "sb-tls-dump-")), "app.dump");
        execFileSync("pg_dump", ["-Fc", "-f", dumpFile], { env: pgChildEnv(good.urlFor("app"), { PATH: process.env.PATH }) });
    });
    after(async () => {
        await Promise.allSettled([good?.stop(), mitm?.stop(), plain?.stop(), s3?.stop()]);
        removeTlsFiles();
        if (dumpFile) rmSync(join(dumpFile, ".."), { recursive: true, force: true });
    });

    it("dump over verify-full: the snapshot connection (node-pg), pg_dump and pg_dumpall all connect with TLS to the server the CA vouches for", async () => {
        const before = goodLog().length;
        const r = await runCli(["dump", "--config", config, "--no-archive", "--json"], env({ DATABASE_URL: viaName(good, "app") }));
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        runId = JSON.parse(r.stdout).manifest.runId;
        await new Promise((res) => setTimeout(res, 300));
        const authorized = goodLog().slice(before).split("\n").filter((l) => /connection authorized: .*application_name=supabase-backups/.test(l));
        assert.ok(authorized.length >= 3, `snapshot, pg_dump, pg_dumpall: ${authorized.join("\n")}`);
        for (const l of authorized) assert.match(l, /SSL enabled \(protocol=TLSv1\.[23]/, l);
    });

    it("dump against the MITM: refused in one line before a password is sent (node-pg, then pg_dump itself)", async () => {
        const { value: r, log } = await mitmSaw(() => runCli(["dump", "--config", config, "--no-archive"], env({ DATABASE_URL: viaName(mitm, "app") })));
        assert.equal(r.code, EXIT.failed);
        assert.match(oneFailureLine(r, "dump"), /self-signed certificate|unable to verify|certificate/i);
        assert.ok(!r.stderr.includes(mitm.password));
        noCredentialArrived(log);
        // pg_dump (libpq) with the environment the job gives it
        const secured = securePgUrl(viaName(mitm, "app"), { caFile: ca.cert }, undefined, "test");
        const { value: p, log: log2 } = await mitmSaw(async () => spawnSync("pg_dump", ["--schema-only", "--no-password"], { env: pgChildEnv(secured, { PATH: process.env.PATH }), encoding: "utf8" }));
        assert.notEqual(p.status, 0);
        assert.match(p.stderr, /certificate verify failed/);
        noCredentialArrived(log2);
    });

    it("the MITM gets the password from a client that does not verify (the attack this prevents)", async () => {
        const { log } = await mitmSaw(async () =>
            spawnSync("psql", ["-X", "-c", "select 1"], { env: { PATH: process.env.PATH, PGHOST: "db.test", PGHOSTADDR: "127.0.0.1", PGPORT: String(mitm.port), PGUSER: "postgres", PGPASSWORD: mitm.password, PGDATABASE: "app", PGSSLMODE: "require" }, encoding: "utf8" }),
        );
        assert.match(log, /password authentication failed for user "postgres"|connection authenticated/, "the cleartext password reached the MITM");
    });

    it("a certificate from the right CA for another name is refused (host name checked)", async () => {
        const r = await runCli(["dump", "--config", config, "--no-archive"], env({ DATABASE_URL: viaName(good, "app", "wrong.test") }));
        assert.equal(r.code, EXIT.failed);
        assert.match(oneFailureLine(r, "dump"), /wrong\.test|altnames|does not match/i);
        const secured = securePgUrl(viaName(good, "app", "wrong.test"), { caFile: ca.cert }, undefined, "test");
        const p = spawnSync("psql", ["-X", "--no-password", "-c", "select 1"], { env: pgChildEnv(secured, { PATH: process.env.PATH }), encoding: "utf8" });
        assert.notEqual(p.status, 0);
        assert.match(p.stderr, /does not match host name "wrong\.test"/);
    });

    it("sync-storage's catalog connection (node-pg) refuses the MITM too", async () => {
        const { value: r, log } = await mitmSaw(() => runCli(["sync-storage", "--config", config], env({ DATABASE_URL: viaName(mitm, "app"), SUPABASE_SERVICE_ROLE_KEY: "service-role-xxxxxxxxxxxxxxxxxxxxxxxx" })));
        assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
        assert.match(oneFailureLine(r, "sync-storage"), /cannot connect to the Supabase database: .*certificate/i);
        noCredentialArrived(log);
    });

    it("restore db into a MITM target: refused before the target password is sent (node-pg, and pg_restore/psql by their env)", async () => {
        const { value: r, log } = await mitmSaw(() =>
            runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", viaName(mitm, "postgres", "db.test", false), "--reason", "tls test"], env({ [JOB_ENV.targetPassword]: mitm.password })),
        );
        assert.equal(r.code, EXIT.failed, r.stderr.slice(-2000));
        assert.match(oneFailureLine(r, "restore db"), /cannot connect to the target .*certificate/i);
        noCredentialArrived(log);
        const secured = securePgUrl(viaName(mitm, "postgres"), { caFile: ca.cert }, undefined, "test");
        for (const [tool, args] of [["pg_restore", ["--no-password", "--dbname", "postgres", dumpFile]], ["psql", ["-X", "--no-password", "-c", "select 1"]]] as const) {
            const { value: p, log: l } = await mitmSaw(async () => spawnSync(tool, [...args], { env: pgChildEnv(secured, { PATH: process.env.PATH }), encoding: "utf8" }));
            assert.notEqual(p.status, 0, tool);
            assert.match(p.stderr, /certificate verify failed/, tool);
            noCredentialArrived(l);
        }
    });

    it("restore db into a verified target works over TLS (pg_restore and the checks' connections)", async () => {
        const target = await good.createDatabase("restored");
        const before = goodLog().length;
        const r = await runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", viaName(good, "restored", "db.test", false), "--json", "--reason", "tls test"], env({ [JOB_ENV.targetPassword]: good.password }));
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        assert.ok(target);
        await new Promise((res) => setTimeout(res, 300));
        const authorized = goodLog().slice(before).split("\n").filter((l) => /connection authorized: .*database=restored/.test(l));
        assert.ok(authorized.length >= 2, authorized.join("\n"));
        for (const l of authorized) assert.match(l, /SSL enabled/, l);
    });

    it("a server without TLS is refused; with the plain-text switch (config, or the env for one command) it works and says so loudly", async () => {
        let r = await runCli(["dump", "--config", config, "--no-archive"], env({ DATABASE_URL: viaName(plain, "app") }));
        assert.equal(r.code, EXIT.failed);
        assert.match(oneFailureLine(r, "dump"), /does not support SSL/i);
        const plainCfg = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            c.verify.tables = ["public.profiles"];
            c.postgres = { allowPlaintext: true };
            delete c.alerts.pushgatewayUrl;
        }).path;
        r = await runCli(["dump", "--config", plainCfg, "--no-archive"], env({ DATABASE_URL: viaName(plain, "app") }));
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        assert.match(r.stderr, /PLAIN TEXT to Postgres at db\.test \(DATABASE_URL\): TLS is switched off by postgres\.allowPlaintext/);
        const target = viaName(plain, "postgres", "db.test", false).replace("/postgres?", "/plainrestore?");
        await plain.createDatabase("plainrestore");
        r = await runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", target, "--reason", "tls test"], env({ [JOB_ENV.targetPassword]: plain.password }));
        assert.equal(r.code, EXIT.failed);
        assert.match(oneFailureLine(r, "restore db"), /does not support SSL/i);
        r = await runCli(["restore", "db", "--config", config, "--run", runId, "--target-url", target, "--reason", "tls test"], env({ [JOB_ENV.targetPassword]: plain.password, [JOB_ENV.pgAllowPlaintext]: "true" }));
        assert.equal(r.code, EXIT.ok, r.stderr.slice(-2000));
        assert.match(r.stderr, new RegExp(`PLAIN TEXT to Postgres at db\\.test \\(--target-url\\): TLS is switched off by ${JOB_ENV.pgAllowPlaintext}=true`));
    });

    it("no CA configured for a non-loopback host: a usage error naming postgres.caBundle, nothing connects", async () => {
        const noCa = writeJobConfig({ vault: { bucket: "vault", region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true } }, (c) => {
            delete c.postgres;
            delete c.alerts.pushgatewayUrl;
        }).path;
        const { value: r, log } = await mitmSaw(() => runCli(["dump", "--config", noCa, "--no-archive"], env({ DATABASE_URL: viaName(mitm, "app") })));
        assert.equal(r.code, EXIT.usage);
        assert.match(oneFailureLine(r, "dump"), /TLS to db\.test \(DATABASE_URL\) needs the CA .*postgres\.caBundle/);
        assert.doesNotMatch(log, /connection received/);
    });
});
