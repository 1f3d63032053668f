// The drills section of the stack file (contracts/src/drills.ts): what the schema refuses and what the
// cross-key rules refuse, each with the key and one clear message; the paths of drill records.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { drillRecordKey, formatIssue, parseVaultKey, readStackFile, validateStackConfig, type StackValidationInput } from "@supabase-backups/contracts";

const root = join(__dirname, "..", "..");

/** The prod stack file with its placeholder secrets, drills changed by `mutate`. */
function prodWith(mutate: (drills: any, values: Record<string, any>) => void, databaseUrl?: string): StackValidationInput {
    const f = readStackFile(join(root, "Pulumi.prod.yaml"), { placeholderSecrets: true });
    const values = structuredClone(f.values) as Record<string, any>;
    mutate(values.drills, values);
    if (databaseUrl) values.databaseUrl = databaseUrl;
    return { ...f, values };
}

function issues(input: StackValidationInput): string[] {
    const r = validateStackConfig(input);
    return r.ok ? [] : r.issues.map(formatIssue);
}

describe("contracts: drills config", () => {
    it("both stack files: monthly storage and table drills, a quarterly full one, RTO 60/240/120 min", () => {
        for (const stack of ["staging", "prod"]) {
            const r = validateStackConfig(readStackFile(join(root, `Pulumi.${stack}.yaml`), { placeholderSecrets: true }));
            assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
            const d = r.config.config.drills!;
            assert.deepEqual(d.rtoMinutes, { corruption: 60, fullLoss: 240, storage: 120 });
            assert.ok(d.storage && d.table && d.full);
        }
    });

    it("RTO targets must be positive numbers", () => {
        const out = issues(prodWith((d) => void (d.rtoMinutes.fullLoss = 0)));
        assert.equal(out.length, 1, out.join("\n"));
        assert.match(out[0], /supabase-backups:drills\.rtoMinutes\.fullLoss: expected a number > 0 .*; found 0$/);
        assert.match(issues(prodWith((d) => void delete d.rtoMinutes.storage))[0], /drills\.rtoMinutes\.storage: expected .*; found nothing \(the key is required\)/);
    });

    it("one full-restore target: alerts.rtoMinutes is refused beside drills (drills.rtoMinutes.fullLoss is it), accepted without them", () => {
        const out = issues(prodWith((_d, v) => void (v.alerts.rtoMinutes = 30)));
        assert.equal(out.length, 1, out.join("\n"));
        assert.match(out[0], /supabase-backups:alerts\.rtoMinutes: expected unset with drills: drills\.rtoMinutes\.fullLoss is the one full-restore target .*; found 30$/);
        assert.deepEqual(
            issues(prodWith((_d, v) => {
                v.alerts.rtoMinutes = 30;
                delete v.drills;
            })),
            [],
        );
    });

    it("schedules must be valid 5-field cron expressions", () => {
        const out = issues(prodWith((d) => void (d.full.schedule = "0 4 31 2 * *")));
        assert.equal(out.length, 1, out.join("\n"));
        assert.match(out[0], /drills\.full\.schedule: expected a cron/);
        assert.match(issues(prodWith((d) => void (d.table.schedule = "monthly please")))[0], /drills\.table\.schedule: expected a cron/);
    });

    it("the scratch server is never the source: the project's hosts, or the databaseUrl secret's host and port", () => {
        const ref = (readStackFile(join(root, "Pulumi.prod.yaml")).values.supabase as any).projectRef;
        let out = issues(prodWith((d) => void (d.scratchDatabaseUrl = `postgresql://postgres@db.${ref}.supabase.co:5432/postgres`)));
        assert.equal(out.length, 1, out.join("\n"));
        assert.match(out[0], new RegExp(`drills\\.scratchDatabaseUrl: expected a Postgres server other than the source project .*; found a URL of project ${ref}$`));
        out = issues(prodWith((d) => void (d.scratchDatabaseUrl = `postgresql://postgres.${ref}@aws-0-eu-west-1.pooler.supabase.com:5432/postgres`)));
        assert.match(out[0], /drills\.scratchDatabaseUrl: .*found a URL of project/);
        const secret = "postgresql://app:s3cret-value@db.internal.example:5432/postgres";
        out = issues(prodWith((d) => void (d.scratchDatabaseUrl = "postgresql://drill@db.internal.example:5432/scratch"), secret));
        assert.equal(out.length, 1, out.join("\n"));
        assert.match(out[0], /found the same host and port as the databaseUrl secret$/);
        assert.doesNotMatch(out.join("\n"), /s3cret-value/, "the secret is never echoed");
        // another port of the same host is another server
        assert.deepEqual(issues(prodWith((d) => void (d.scratchDatabaseUrl = "postgresql://drill@db.internal.example:5433/scratch"), secret)), []);
    });

    it("the scratch URL carries no password (it is the drillScratchPassword secret)", () => {
        const out = issues(prodWith((d) => void (d.scratchDatabaseUrl = "postgresql://drill:hunter2@scratch.internal:5432/postgres")));
        assert.equal(out.length, 1);
        assert.match(out[0], /drills\.scratchDatabaseUrl: expected a string matching/);
    });

    it("the table drill restores only tables whose row counts the dump records; the storage drill only synced buckets", () => {
        let out = issues(prodWith((d) => void (d.table.tables = ["public.profiles", "public.invoices"])));
        assert.equal(out.length, 1, out.join("\n"));
        assert.match(out[0], /drills\.table\.tables\[1\]: expected a table listed in verify\.tables .*; found "public\.invoices"$/);
        out = issues(prodWith((d) => void (d.storage.buckets = ["user-media", "secrets"])));
        assert.equal(out.length, 1, out.join("\n"));
        assert.match(out[0], /drills\.storage\.buckets\[1\]: expected a bucket storage\.buckets syncs \(user-media, public-assets\); found "secrets"$/);
    });

    it("drills need the drillScratchPassword secret; unknown keys are refused", () => {
        const f = prodWith(() => undefined);
        delete f.values.drillScratchPassword;
        assert.match(issues(f).join("\n"), /supabase-backups:drillScratchPassword: expected a secret: password of drills\.scratchDatabaseUrl's user/);
        assert.match(issues(prodWith((d) => void (d.weekly = { schedule: "0 1 * * 0" }))).join("\n"), /drills\.weekly: expected no such key/);
    });

    it("drill records: drill/<env>/<kind>/<yyyy>/<mm>/<dd>/<drillId>.json, parsed back", () => {
        const key = drillRecordKey("prod", "full", "20261201T070000Z-abc123");
        assert.equal(key, "drill/prod/full/2026/12/01/20261201T070000Z-abc123.json");
        assert.deepEqual(parseVaultKey(key), { kind: "drill", env: "prod", drill: "full", drillId: "20261201T070000Z-abc123" });
        assert.throws(() => drillRecordKey("prod", "../x", "20261201T070000Z-abc123"), /not a drill kind/);
    });
});
