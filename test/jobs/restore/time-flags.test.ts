// A time flag that does not parse (--at, --incident-time, --before, --since) is a usage error: exit 2
// with one line naming the flag, before any network access (the vault and the Management API here are
// closed ports: touching either would fail differently, with exit 1) and without an audit record.
import assert from "node:assert/strict";
import { runCli, writeJobConfig } from "../../support/cli";

describe("operator: unparsable time flags are usage errors (exit 2)", function () {
    this.timeout(60_000);
    let cfg: string;
    const env = { SUPABASE_ACCESS_TOKEN: "sbp_0000000000000000000000000000000000000000", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y", USER: "oncall-ana" };

    before(() => {
        cfg = writeJobConfig({ vault: { bucket: "vault-nowhere", region: "us-east-1", endpoint: "http://127.0.0.1:9", forcePathStyle: true } }, (c) => {
            c.supabase.apiUrl = "http://127.0.0.1:9";
        }).path;
    });

    const cases: Array<[string, string[], RegExp]> = [
        ["restore db --at", ["restore", "db", "--at", "yesterday-ish", "--target-url", "postgresql://u:pw@127.0.0.1:9/x"], /^supabase-backups restore db: --at: not a time: "yesterday-ish"/],
        ["restore storage --at", ["restore", "storage", "--at", "last tuesday", "--bucket", "user-media"], /^supabase-backups restore storage: --at: not a time: "last tuesday"/],
        ["restore pitr --incident-time", ["restore", "pitr", "--incident-time", "2026-13-45T99:00Z", "--yes"], /^supabase-backups restore pitr: --incident-time: not a time: "2026-13-45T99:00Z"/],
        ["restore pitr --before", ["restore", "pitr", "--incident-time", "2026-11-22T10:30:00Z", "--before", "five minutes", "--yes"], /^supabase-backups restore pitr: --before: not a duration: "five minutes"/],
        ["restore branch --incident-time", ["restore", "branch", "--name", "inc-1", "--incident-time", "soon"], /^supabase-backups restore branch: --incident-time: not a time: "soon"/],
        ["audit --since", ["audit", "--since", "a while ago"], /^supabase-backups audit: --since: not a time: "a while ago"/],
    ];
    for (const [name, args, message] of cases) {
        it(`${name}: exit 2, one line`, async () => {
            const r = await runCli([...args, "--config", cfg], env);
            assert.equal(r.code, 2, r.stderr);
            assert.match(r.stderr, message);
            assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
            assert.equal(r.stdout, "");
        });
    }
});
