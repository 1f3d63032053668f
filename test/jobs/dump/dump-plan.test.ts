// The dump run's pure parts (commands/dump/plan.ts): tool arguments, part size, the lock's end, the
// manifest (valid against the contract's schema) and the summary line.
import assert from "node:assert/strict";
import { assertSchema, DbManifestSchema, newRunId, type JobConfig } from "@supabase-backups/contracts";
import { pgTarget } from "../../../jobs/src/postgres/connection";
import { buildManifest, isRolesRefusal, lockUntil, partSizeBytes, pgDumpArgs, rolesArgs, summaryLine, type ManifestFacts } from "../../../jobs/src/commands/dump/plan";

const MiB = 1024 * 1024;
const target = pgTarget("postgresql://postgres:s3cret@db.example.test:6543/postgres?sslmode=require");
const sha = (c: string) => c.repeat(64);

function facts(over: Partial<ManifestFacts> = {}): ManifestFacts {
    const started = new Date("2026-11-22T03:30:00.250Z");
    return {
        env: "staging",
        runId: newRunId(started, "k3x9qa"),
        started,
        finished: new Date("2026-11-22T03:41:10Z"),
        target,
        snap: { serverVersion: "15.8", facts: { rowCounts: { "public.profiles": 150 }, migrationVersion: "20261101000000", rlsTables: ["public.profiles"], extensions: ["pgcrypto"] } },
        pgDumpVersion: "17.2",
        plan: { algorithm: "zstd", level: 3, by: "pg_dump" },
        recipient: undefined,
        tier: "daily",
        retainUntil: new Date("2026-12-06T03:30:01Z"),
        objects: [{ name: "dump", key: "db/staging/20261122T033000Z-k3x9qa/dump", bytes: 1234, sha256: sha("a"), contentType: "application/vnd.postgresql.custom-archive" }],
        secondary: { status: "disabled", objects: [] },
        container: undefined,
        previous: null,
        config: { job: { env: "staging" }, secrets: [{ name: "databaseUrl", env: "DATABASE_URL" }] },
        ...over,
    };
}

describe("dump: the run's pure parts", () => {
    it("pg_dump and pg_dumpall arguments: no password on argv, the lock wait, excluded schemas last", () => {
        const config = { dump: { excludeSchemas: ["graphql", "realtime"] } } as unknown as JobConfig;
        const args = pgDumpArgs(target, ["--schema-only", "--snapshot=00000003-0000001B-1"], config, 300);
        assert.deepEqual(args, ["--dbname", target.dbnameArg, "--no-password", "--lock-wait-timeout=300s", "--schema-only", "--snapshot=00000003-0000001B-1", "--exclude-schema=graphql", "--exclude-schema=realtime"]);
        assert.ok(!args.join(" ").includes("s3cret"));
        assert.deepEqual(pgDumpArgs(target, [], {} as JobConfig, 5).slice(3), ["--lock-wait-timeout=5s"]);
        assert.deepEqual(rolesArgs(target), ["--dbname", target.dbnameArg, "--no-password", "--roles-only", "--no-role-passwords"]);
        assert.ok(isRolesRefusal("pg_dumpall --roles-only exited with code 1: permission denied for table pg_authid"));
        assert.ok(!isRolesRefusal("pg_dumpall --roles-only: cannot start pg_dumpall: not found"));
    });

    it("part size: as asked, else ≥ 5 MiB and ≤ 9 000 parts for 2.5 × the database", () => {
        assert.equal(partSizeBytes(16, 1e12), 16 * MiB);
        assert.equal(partSizeBytes(undefined, 0), 5 * MiB);
        assert.equal(partSizeBytes(undefined, 1024 * MiB), 5 * MiB);
        const big = 200 * 1024 * MiB;
        const size = partSizeBytes(undefined, big);
        assert.ok(size > 5 * MiB && (big * 2.5) / size <= 9000, String(size));
        assert.equal(size % MiB, 0);
    });

    it("the lock ends on a whole second, never earlier than asked", () => {
        assert.equal(lockUntil(new Date("2026-12-06T03:30:00.001Z")).toISOString(), "2026-12-06T03:30:01.000Z");
        assert.equal(lockUntil(new Date("2026-12-06T03:30:00.000Z")).toISOString(), "2026-12-06T03:30:00.000Z");
    });

    it("the manifest fits the contract; host and database only, no credentials; secondary as recorded", () => {
        const m = buildManifest(facts());
        assertSchema(DbManifestSchema, m, "db manifest");
        assert.deepEqual(m.source, { serverVersion: "15.8", host: "db.example.test", database: "postgres" });
        assert.ok(!JSON.stringify(m).includes("s3cret"));
        assert.equal(m.encryption, null);
        assert.deepEqual(m.secondary, { provider: "azure", status: "disabled", objects: [] });
        assert.equal(m.startedAt, "2026-11-22T03:30:00.250Z");

        const failed = buildManifest(facts({ recipient: "age1example", container: "backups", secondary: { status: "failed", error: "dump: stalled", objects: [] } }));
        assertSchema(DbManifestSchema, failed, "db manifest");
        assert.deepEqual(failed.encryption, { tool: "age", recipient: "age1example" });
        assert.deepEqual(failed.secondary, { provider: "azure", status: "failed", container: "backups", objects: [], error: "dump: stalled" });
    });

    it("the summary names the manifest and says when only the Azure manifest copy failed", () => {
        const m = buildManifest(facts());
        const line = summaryLine(m, "ok", "success", "vault", "db/staging/x/manifest.json", false);
        assert.match(line, /^dump \S+ success: 1\.2 KiB sha256 aaaaaaaaaaaaaaaa… tier daily → s3:\/\/vault\/db\/staging\/x\/manifest\.json \(azure: ok\)\n$/);
        assert.match(summaryLine(m, "ok", "degraded", "vault", "k", true), /\(azure: ok, manifest copy failed\)\n$/);
        assert.match(summaryLine(m, "failed", "degraded", "vault", "k", true), /\(azure: failed\)\n$/);
    });
});
