// postgres.caBundle reaches the jobs as a file: the config ConfigMap's postgres-ca.pem, mounted with the
// job config, and PGSSLROOTCERT pointing at it in every CronJob (docs/security.md "Network to Postgres").
import { strict as assert } from "node:assert";
import { runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { ofType, one } from "../support/components";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

describe("program: the Postgres CA bundle", () => {
    it("with postgres.caBundle: postgres-ca.pem in the ConfigMap and PGSSLROOTCERT in every CronJob's container", async () => {
        const r = await runProgramUnderMocks("staging", { mutate: (f) => void ((f.values as any).postgres = { caBundle: PEM }) });
        const cm = one(r, "kubernetes:core/v1:ConfigMap", "-schedule-config").inputs;
        assert.equal(cm.data["postgres-ca.pem"], PEM);
        const crons = ofType(r, "kubernetes:batch/v1:CronJob").map((c) => c.inputs);
        assert.ok(crons.length >= 4);
        for (const c of crons) {
            const pod = c.spec.jobTemplate.spec.template.spec;
            const main = pod.containers[0];
            assert.equal(main.env.find((e: any) => e.name === "PGSSLROOTCERT")?.value, "/etc/supabase-backups/postgres-ca.pem", c.metadata.name);
            assert.ok(main.volumeMounts.some((m: any) => m.mountPath === "/etc/supabase-backups"), `${c.metadata.name} mounts the config volume`);
        }
        // the job config carries the setting too (operator commands read it from there)
        assert.equal(JSON.parse(cm.data["job-config.json"]).postgres.caBundle, PEM);
    });

    it("without it: no CA file, no PGSSLROOTCERT; a bad bundle is a config error", async () => {
        const r = await runProgramUnderMocks("staging");
        assert.equal(one(r, "kubernetes:core/v1:ConfigMap", "-schedule-config").inputs.data["postgres-ca.pem"], undefined);
        for (const c of ofType(r, "kubernetes:batch/v1:CronJob")) assert.ok(!c.inputs.spec.jobTemplate.spec.template.spec.containers[0].env.some((e: any) => e.name === "PGSSLROOTCERT"));
        await assert.rejects(runProgramUnderMocks("staging", { mutate: (f) => void ((f.values as any).postgres = { caBundle: "not a certificate" }) }), /caBundle/);
    });
});
