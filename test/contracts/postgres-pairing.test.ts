// The client tools and the canary are chosen together (contracts/src/postgres.ts): pinned here so the
// image's client major, the supported majors, the tested majors and the default canary cannot drift
// apart. pg_dump must be ≥ the server's major; the canary must be the source's major and extensions.
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { canaryImageFor, canarySuperuser, CLIENT_TOOLS_MAJOR, pgMajorOf, readStackFile, SUPABASE_POSTGRES_IMAGE, SUPPORTED_PG_MAJORS, validateStackConfig } from "@supabase-backups/contracts";
import { MAJORS } from "../support/pg-versions";

const root = join(__dirname, "..", "..");

describe("contracts: Postgres client tools and canary pairing", () => {
    it("the job image ships the client major the contracts name, and it is ≥ every supported major", () => {
        const m = /^ARG PG_MAJOR=(\d+)$/m.exec(readFileSync(join(root, "jobs", "Dockerfile"), "utf8"));
        assert.equal(Number(m?.[1]), CLIENT_TOOLS_MAJOR);
        for (const major of SUPPORTED_PG_MAJORS) assert.ok(CLIENT_TOOLS_MAJOR >= major, `pg_dump ${CLIENT_TOOLS_MAJOR} can dump ${major}`);
    });

    it("the tests run every supported major", () => {
        assert.deepEqual([...MAJORS], [...SUPPORTED_PG_MAJORS]);
    });

    for (const stack of ["staging", "prod"]) {
        it(`${stack}: the default canary is Supabase's image at the project's exact version`, () => {
            const r = validateStackConfig(readStackFile(join(root, `Pulumi.${stack}.yaml`), { placeholderSecrets: true }));
            assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
            const cfg = r.config.config;
            const image = canaryImageFor(cfg);
            // prod pins it by digest (verify.canaryImage = the same image @sha256:…)
            assert.equal(image.replace(/@sha256:[0-9a-f]{64}$/, ""), `${SUPABASE_POSTGRES_IMAGE}:${cfg.supabase.postgresVersion}`);
            assert.ok((SUPPORTED_PG_MAJORS as readonly number[]).includes(pgMajorOf(cfg.supabase.postgresVersion)));
            assert.equal(canarySuperuser(image), "supabase_admin");
        });
    }

    it("an operator's own canary image wins, and a plain image's superuser is postgres", () => {
        const image = canaryImageFor({ supabase: { postgresVersion: "17.4.1.054" }, verify: { canaryImage: "postgres:17" } });
        assert.equal(image, "postgres:17");
        assert.equal(canarySuperuser(image), "postgres");
    });

    it("refuses a Postgres version no test covers", () => {
        const f = readStackFile(join(root, "Pulumi.staging.yaml"), { placeholderSecrets: true });
        for (const bad of ["16.4.1.010", "14.1.0.89", "17", "latest"]) {
            const copy = { ...f, values: JSON.parse(JSON.stringify(f.values)) };
            copy.values.supabase.postgresVersion = bad;
            const r = validateStackConfig(copy);
            assert.equal(r.ok, false, bad);
            assert.match(JSON.stringify(!r.ok && r.issues), /postgresVersion/);
        }
    });
});
