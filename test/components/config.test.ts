// Bad stack config: each problem fails the program before any resource is declared, with one message
// naming the stack file, the key path, what was expected and what was found. Runs the real program
// (and, at the end, the offline preview CLI).
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, formatIssue, type ConfigIssue } from "@supabase-backups/contracts";
import type { StackFile } from "@supabase-backups/contracts";
import { REPO_ROOT, loadStackFileForMocks, runProgramUnderMocks } from "../../scripts/lib/mockrun";

interface BadCase {
    name: string;
    stack?: "staging" | "prod";
    mutate: (f: StackFile) => void;
    /** the message(s) expected, matched against `formatIssue` output */
    expect: RegExp[];
    /** text that must not appear in any message */
    never?: RegExp;
}

const v = (f: StackFile, key: string) => f.values[key] as any;

const CASES: BadCase[] = [
    {
        name: "unknown top-level key (a typo)",
        mutate: (f) => {
            f.values.retension = f.values.retention;
        },
        expect: [/^Pulumi\.staging\.yaml: supabase-backups:retension: expected no such key \(known keys: env, .*retention.*\); found unknown key "retension"$/],
    },
    {
        name: "unknown nested key",
        mutate: (f) => {
            v(f, "schedules").dumpp = "0 1 * * *";
        },
        expect: [/supabase-backups:schedules\.dumpp: expected no such key \(known keys here: timeZone, dump, .*\); found unknown key "dumpp"/],
    },
    {
        name: "a secret in plain text (value never echoed)",
        mutate: (f) => {
            f.secretKeys.delete("databaseUrl");
            f.values.databaseUrl = "postgresql://postgres:hunter2secret@db.x.supabase.co:5432/postgres";
        },
        expect: [/supabase-backups:databaseUrl: expected a secret \(pulumi config set --secret supabase-backups:databaseUrl …\); found plain text \(value not shown\)/],
        never: /hunter2/,
    },
    {
        name: "a required secret missing",
        mutate: (f) => {
            delete f.values.managementApiToken;
            f.secretKeys.delete("managementApiToken");
        },
        expect: [/supabase-backups:managementApiToken: expected a secret: Management API token .*; found nothing/],
    },
    {
        name: "prod: an RPO of 24 h with a daily dump (missed every night before the dump lands)",
        stack: "prod",
        mutate: (f) => {
            v(f, "alerts").rpoHours = 24;
        },
        expect: [/supabase-backups:alerts\.rpoHours: expected more than 24 h, the longest gap of schedules\.dump "30 3 \* \* \*": .*missed every night.*; found 24/],
    },
    {
        name: "Object Lock longer than the shortest tier",
        mutate: (f) => {
            v(f, "retention").objectLockMinDays = 10;
        },
        expect: [/supabase-backups:retention\.objectLockMinDays: expected at most 7 days: the shortest tier \(daily\) expires then.*; found 10/],
    },
    {
        name: "prod: lock of 31 days with 30 daily",
        stack: "prod",
        mutate: (f) => {
            v(f, "retention").objectLockMinDays = 31;
        },
        expect: [/^Pulumi\.prod\.yaml: supabase-backups:retention\.objectLockMinDays: expected at most 30 days/],
    },
    {
        name: "retention not a number",
        mutate: (f) => {
            v(f, "retention").daily = "seven";
        },
        expect: [/supabase-backups:retention\.daily: expected an integer ≥ 1 ≤ 3660 .*; found string "seven"/],
    },
    {
        name: "invalid cron expression",
        mutate: (f) => {
            v(f, "schedules").dump = "30 25 * * *";
        },
        expect: [/supabase-backups:schedules\.dump: expected a cron .*; found "30 25 \* \* \*"/],
    },
    {
        name: "unknown time zone",
        mutate: (f) => {
            v(f, "schedules").timeZone = "Mars/Olympus";
        },
        expect: [/supabase-backups:schedules\.timeZone: expected an IANA time zone such as Asia\/Manila; found "Mars\/Olympus"/],
    },
    {
        name: "bucket name with capitals",
        mutate: (f) => {
            v(f, "aws").bucketName = "Acme_Backups";
        },
        expect: [/supabase-backups:aws\.bucketName: expected a string matching .* \(vault bucket name \(globally unique\)\); found "Acme_Backups"/],
    },
    {
        name: "PITR required without a window",
        mutate: (f) => {
            v(f, "supabase").pitr = { required: true };
        },
        expect: [/supabase-backups:supabase\.pitr\.days: expected 7, 14 or 28 when pitr\.required is true; found nothing/],
    },
    {
        name: "PITR window not offered by Supabase",
        mutate: (f) => {
            v(f, "supabase").pitr = { required: true, days: 10 };
        },
        expect: [/supabase-backups:supabase\.pitr\.days: expected one of 7, 14, 28; found 10/],
    },
    {
        name: "age recipient without the identity verify needs",
        mutate: (f) => {
            f.values.encryption = { ageRecipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" };
        },
        expect: [/supabase-backups:ageIdentity: expected a secret age identity matching encryption\.ageRecipient.*; found nothing/],
    },
    {
        name: "a bucket listed twice",
        mutate: (f) => {
            v(f, "storage").buckets.push({ name: "user-media" });
        },
        expect: [/supabase-backups:storage\.buckets\[2\]\.name: expected a bucket listed once; found "user-media" again/],
    },
    {
        name: "no deployer may change the bucket",
        mutate: (f) => {
            v(f, "aws").deployerArns = [];
        },
        expect: [/supabase-backups:aws\.deployerArns: expected at least 1 item\(s\); found \[\]/],
    },
    {
        name: "missing section",
        mutate: (f) => {
            delete f.values.kubernetes;
        },
        expect: [/supabase-backups:kubernetes: expected an object; found nothing \(the key is required\)/],
    },
    {
        name: "an image with a malformed digest",
        mutate: (f) => {
            v(f, "kubernetes").image = "ghcr.io/acme/supabase-backups-jobs:0.1.0@sha256:abc";
        },
        expect: [/kubernetes\.image: expected a string matching .*pinned by digest.*; found "ghcr\.io\/acme\/supabase-backups-jobs:0\.1\.0@sha256:abc"/],
    },
    {
        name: "an untagged image (implicitly :latest)",
        mutate: (f) => {
            v(f, "kubernetes").image = "registry.example:5000/supabase-backups-jobs";
        },
        expect: [/kubernetes\.image: expected a string matching/],
    },
    {
        name: "supabase.apiUrl at another host (the Management API token would go there)",
        mutate: (f) => {
            v(f, "supabase").apiUrl = "https://evil.example";
        },
        expect: [/supabase-backups:supabase\.apiUrl: expected a URL on Supabase's own host or one listed in supabase\.allowedHosts/],
    },
    {
        name: "break-glass without principals, or with a wildcard",
        mutate: (f) => {
            v(f, "aws").breakGlass = { principalArns: ["arn:aws:iam::111122223333:*"] };
        },
        expect: [/aws\.breakGlass\.principalArns\[0\]: expected a string matching/],
    },
    {
        name: "several problems: all reported at once",
        mutate: (f) => {
            v(f, "retention").weekly = -1;
            v(f, "kubernetes").namespace = "Backups_NS";
            v(f, "storage").shards = 0;
        },
        expect: [/retention\.weekly: expected an integer ≥ 0/, /kubernetes\.namespace: expected a string matching/, /storage\.shards: expected an integer ≥ 1/],
    },
];

describe("config: bad stack config fails before anything is declared", () => {
    for (const c of CASES) {
        it(c.name, async () => {
            let issues: ConfigIssue[] | undefined;
            try {
                await runProgramUnderMocks(c.stack ?? "staging", { mutate: c.mutate });
            } catch (e) {
                assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
                issues = e.issues;
            }
            assert.ok(issues, "the program accepted the bad config");
            const lines = issues.map(formatIssue);
            for (const re of c.expect) assert.ok(lines.some((l) => re.test(l)), `no message matches ${re}:\n${lines.join("\n")}`);
            assert.equal(lines.length, c.expect.length, `one message per problem:\n${lines.join("\n")}`);
            for (const i of issues) {
                assert.match(i.source, /^Pulumi\.(staging|prod)\.yaml$/);
                assert.match(i.key, /^supabase-backups:/);
                assert.ok(i.expected && i.found, "expected and found are both stated");
            }
            if (c.never) assert.doesNotMatch(lines.join("\n"), c.never);
        });
    }

    it("the program itself throws before registering a single resource", async () => {
        // The same config loader and program as `pulumi up`, with a counting mock monitor.
        const file = loadStackFileForMocks("staging", { mutate: (f) => ((f.values.retention as any).objectLockMinDays = 99) });
        const config: Record<string, string> = {};
        for (const [k, val] of Object.entries(file.values)) config[`supabase-backups:${k}`] = typeof val === "string" ? val : JSON.stringify(val);
        pulumi.runtime.setAllConfig(config, [...file.secretKeys].map((k) => `supabase-backups:${k}`));
        let registered = 0;
        await pulumi.runtime.setMocks(
            {
                newResource: (a) => {
                    registered++;
                    return { id: a.name, state: a.inputs };
                },
                call: () => ({}),
            },
            "supabase-backups",
            "staging",
            false,
        );
        const { program } = await import("../../components/program");
        assert.throws(() => program(), (e: unknown) => e instanceof ConfigError && /objectLockMinDays/.test(e.message));
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(registered, 0);
    });

    it("a secret in the stack file's `secure:` form is accepted and stays a secret", async () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-secure-"));
        const text = readFileSync(join(REPO_ROOT, "Pulumi.staging.yaml"), "utf8") +
            "  supabase-backups:databaseUrl:\n    secure: AAABAKx0c2VjcmV0LWNpcGhlcnRleHQtZnJvbS1wdWx1bWk=\n";
        writeFileSync(join(dir, "Pulumi.sec.yaml"), text.replace("supabase-backups:env: staging", "supabase-backups:env: sec"));
        const r = await runProgramUnderMocks("sec", { projectDir: dir });
        assert.ok(r.placeholders.includes("databaseUrl"));
        const writer = r.resources.find((x) => x.type === "kubernetes:core/v1:Secret" && x.name.endsWith("secret-writer"))!;
        assert.ok(writer.inputs.stringData.DATABASE_URL.startsWith("postgresql://"));
        assert.ok(writer.secretPaths.some((p) => p.startsWith("stringData")));
    });
});

describe("offline preview CLI (npm run preview -- --stack <name>)", () => {
    const run = (...args: string[]) =>
        spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts", "preview.ts"), ...args], { encoding: "utf8", cwd: REPO_ROOT, timeout: 120_000 });

    it("prints the resource tree with the settings a reviewer checks", () => {
        const p = run("--stack", "prod");
        assert.equal(p.status, 0, p.stderr);
        for (const want of [
            /default retention COMPLIANCE 30 d/,
            /SSE aws:kms key arn:aws:kms:/,
            /rule tier-yearly \(tier=yearly\): expire after \d+ d\n/,
            /rule tier-yearly-colder \(archive=eligible and tier=yearly\): STANDARD_IA after 30 d, GLACIER after 90 d/,
            /abort uploads after 1 d/,
            /dump: "30 3 \* \* \*" Asia\/Manila/,
            /Indexed ×4/,
            /role supabase-backups-prod-writer/,
            /trust sts:AssumeRole from .* if MultiFactorAuthPresent=true/,
            /sharedKey=false/,
            /Outputs:/,
        ])
            assert.match(p.stdout, want);
        assert.doesNotMatch(p.stdout, /placeholder-|placeholder@/, "secret values are not printed");
    });

    it("bad config: every message and exit code 1", () => {
        const dir = mkdtempSync(join(tmpdir(), "sb-preview-"));
        const text = readFileSync(join(REPO_ROOT, "Pulumi.staging.yaml"), "utf8")
            .replace("objectLockMinDays: 7", "objectLockMinDays: 9")
            .replace("dump: \"30 3 * * *\"", "dump: \"30 3 * *\"");
        writeFileSync(join(dir, "Pulumi.broken.yaml"), text);
        const p = run("--stack", "broken", "--dir", dir);
        assert.equal(p.status, 1);
        assert.match(p.stderr, /broken: invalid configuration, nothing declared/);
        assert.match(p.stderr, /Pulumi\.broken\.yaml: supabase-backups:schedules\.dump: expected a cron/);
        assert.equal(p.stdout, "");
    });

    it("--json: the whole declaration as JSON through a pipe, secret inputs redacted", () => {
        const p = run("--stack", "prod", "--json");
        assert.equal(p.status, 0, p.stderr);
        const doc = JSON.parse(p.stdout);
        assert.ok(doc.resources.length > 50);
        assert.ok(doc.resources.some((x: any) => x.type === "aws:s3/bucket:Bucket"));
        for (const x of doc.resources.filter((y: any) => y.type === "kubernetes:core/v1:Secret")) assert.equal(x.inputs.stringData, "[secret]");
        assert.doesNotMatch(p.stdout, /placeholder-serviceRoleKey|placeholder@db/);
    });

    it("no stack: usage and exit code 2", () => {
        const p = run();
        assert.equal(p.status, 2);
        assert.match(p.stderr, /usage: npm run preview -- --stack <name>/);
    });
});
