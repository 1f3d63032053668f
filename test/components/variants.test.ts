// Config variants beyond the two stack files: the program follows the config, not the examples.
import { strict as assert } from "node:assert";
import { runProgramUnderMocks, type MockRunResult } from "../../scripts/lib/mockrun";
import { ofType, one } from "../support/components";

const cron = (r: MockRunResult) => ofType(r, "kubernetes:batch/v1:CronJob").map((c) => c.inputs);

describe("program variants (staging stack file, mutated)", () => {
    it("no bucket list: one sync-storage CronJob for all buckets", async () => {
        const r = await runProgramUnderMocks("staging", { mutate: (f) => void delete (f.values.storage as any).buckets });
        const sync = cron(r).filter((c) => c.metadata.name.startsWith("sync-storage"));
        assert.equal(sync.length, 1);
        assert.deepEqual(sync[0].spec.jobTemplate.spec.template.spec.containers[0].args, ["sync-storage"]);
        assert.equal(sync[0].spec.schedule, "0 4 * * *");
    });

    it("every bucket on its own schedule: no default sync-storage CronJob; shared schedules share one", async () => {
        const r = await runProgramUnderMocks("staging", {
            mutate: (f) => {
                (f.values.storage as any).buckets = [
                    { name: "avatars", schedule: "0 2 * * *" },
                    { name: "docs", schedule: "0 2 * * *" },
                    { name: "archive", schedule: "0 3 1 * *" },
                ];
            },
        });
        const sync = cron(r).filter((c) => c.metadata.name.startsWith("sync-storage"));
        assert.deepEqual(sync.map((c) => c.metadata.name).sort(), ["sync-storage-archive", "sync-storage-avatars-docs"]);
        const ad = sync.find((c) => c.metadata.name === "sync-storage-avatars-docs")!;
        assert.deepEqual(ad.spec.jobTemplate.spec.template.spec.containers[0].args, ["sync-storage", "--bucket", "avatars", "--bucket", "docs"]);
        // the monthly one gets a dead man's switch of its longest month + grace
        const rules = one(r, "kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs.spec.groups[0].rules;
        const monthly = rules.find((x: any) => x.alert === "SupabaseBackupNoCompleteRun" && x.labels.cronjob === "sync-storage-archive");
        assert.match(monthly.expr, new RegExp(`> ${31 * 86400 + 3600}$`));
    });

    it("shards > 1 in staging makes every sync-storage CronJob an Indexed Job", async () => {
        const r = await runProgramUnderMocks("staging", { mutate: (f) => void ((f.values.storage as any).shards = 3) });
        for (const c of cron(r).filter((x) => x.metadata.name.startsWith("sync-storage"))) {
            const job = c.spec.jobTemplate.spec;
            assert.equal(job.completionMode, "Indexed");
            assert.equal(job.completions, 3);
            assert.equal(job.parallelism, 3);
        }
        assert.equal(cron(r).find((c) => c.metadata.name === "dump")!.spec.jobTemplate.spec.completionMode, undefined);
    });

    it("storage.mode s3: the Storage S3 keys are required secrets and reach the writer's jobs by reference", async () => {
        const s3mode = (f: any) => {
            f.values.storage.mode = "s3";
            f.values.storage.s3Endpoint = "https://stgabcdefghijklmnopq.supabase.co/storage/v1/s3";
        };
        await assert.rejects(
            runProgramUnderMocks("staging", { mutate: (f) => s3mode(f) }),
            (e: any) => {
                const text = e.issues.map((i: any) => `${i.key}: ${i.found}`).join("\n");
                assert.match(text, /supabase-backups:storageS3AccessKeyId: nothing/);
                assert.match(text, /supabase-backups:storageS3SecretAccessKey: nothing/);
                return true;
            },
        );
        const r = await runProgramUnderMocks("staging", {
            mutate: (f) => {
                s3mode(f);
                for (const k of ["storageS3AccessKeyId", "storageS3SecretAccessKey"]) {
                    f.values[k] = `placeholder-${k}`;
                    f.secretKeys.add(k);
                }
            },
        });
        for (const c of cron(r).filter((x) => x.metadata.name.startsWith("sync-storage"))) {
            const env = c.spec.jobTemplate.spec.template.spec.containers[0].env;
            for (const name of ["SUPABASE_S3_ACCESS_KEY_ID", "SUPABASE_S3_SECRET_ACCESS_KEY"]) {
                const e = env.find((x: any) => x.name === name);
                assert.ok(e?.valueFrom?.secretKeyRef, `${c.metadata.name}: ${name} from a Secret`);
                assert.equal(e.value, undefined);
            }
        }
    });

    it("no restore operators: no restore-operator role", async () => {
        const r = await runProgramUnderMocks("staging", { mutate: (f) => void ((f.values.aws as any).restoreOperatorArns = []) });
        assert.equal(ofType(r, "aws:iam/role:Role").filter((x) => !x.name.includes("break-glass")).length, 4, "writer, verifier, gc, drill");
        assert.equal(r.outputs.restoreOperatorRoleArn, undefined);
    });

    it("retention feeds lock and lifecycle: a daily-only stack has one tier rule; a bucket's longer weekly adds its own", async () => {
        const dailyOnly = (f: any) => {
            f.values.retention = { daily: 14, objectLockMinDays: 14 };
            for (const b of f.values.storage.buckets ?? []) delete b.retention;
        };
        const r = await runProgramUnderMocks("staging", { mutate: dailyOnly });
        const rules = one(r, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "-vault-lifecycle").inputs.rules;
        assert.deepEqual(rules.map((x: any) => x.id), ["tier-daily", "versions-and-uploads"]);
        // the staging file keeps public-assets 8 weekly: its storage runs get their own rule even so
        const withOverride = await runProgramUnderMocks("staging", { mutate: (f) => void (f.values.retention = { daily: 14, objectLockMinDays: 14 }) });
        const ids = one(withOverride, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "-vault-lifecycle").inputs.rules.map((x: any) => x.id);
        assert.deepEqual(ids, ["tier-daily", "tier-storage-weekly", "versions-and-uploads"]);
        assert.equal(one(r, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs.rule.defaultRetention.days, 14);
    });

    it("Azure on in staging: archive, identities and workload identity labels appear", async () => {
        const r = await runProgramUnderMocks("staging", {
            mutate: (f) =>
                void (f.values.azure = {
                    enabled: true,
                    resourceGroupName: "rg-sb-staging",
                    accountName: "acmesbstaging",
                    oidcIssuerUrl: "https://oidc.eks.ap-southeast-1.amazonaws.com/id/5C4E8A1F2B3D4E5F6A7B8C9D0E1F2A3B",
                }),
        });
        assert.equal(one(r, "azure-native:storage:StorageAccount").inputs.accountName, "acmesbstaging");
        assert.equal(r.outputs.archiveContainerUrl, "https://acmesbstaging.blob.core.windows.net/backups");
        const dump = cron(r).find((c) => c.metadata.name === "dump")!;
        assert.equal(dump.spec.jobTemplate.spec.template.metadata.labels["azure.workload.identity/use"], "true");
        // sync-storage copies blobs to the archive as the same writer identity (create-only rights, no read or delete)
        const sync = cron(r).find((c) => c.metadata.name === "sync-storage")!;
        assert.equal(sync.spec.jobTemplate.spec.template.metadata.labels["azure.workload.identity/use"], "true");
        assert.equal(sync.spec.jobTemplate.spec.template.spec.serviceAccountName, dump.spec.jobTemplate.spec.template.spec.serviceAccountName);
        const check = cron(r).find((c) => c.metadata.name === "check-supabase")!;
        assert.equal(check.spec.jobTemplate.spec.template.metadata.labels["azure.workload.identity/use"], undefined);
    });

    it("a Pushgateway URL opens its port, and only that one more", async () => {
        const r = await runProgramUnderMocks("staging", {
            mutate: (f) => void ((f.values.alerts as any).pushgatewayUrl = "http://pushgateway.monitoring.svc:9091"),
        });
        const egress = one(r, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "-netpol").inputs.spec.egress;
        const ports = egress.flatMap((e: any) => e.ports.map((p: any) => p.port)).sort((a: number, b: number) => a - b);
        assert.deepEqual(ports, [53, 53, 443, 9091]);
    });
});
