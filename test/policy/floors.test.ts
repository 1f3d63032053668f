// Floors the pull request cannot lower: a real temporary git repository with a base commit (the real
// Pulumi.prod.yaml and its pack config) and a PR commit that lowers the floors in the stack file AND
// regenerates policy/config.prod.json (the scenario of issue 14, which used to exit 0). The gate runs the
// real program on the PR's stack file and must exit 1; an exception added in the same PR lets exactly
// the lowering it names through; a stale, expired or pre-existing exception does not.
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump, load } from "js-yaml";
import { policyGate, writePackConfig } from "../../scripts/policy";
import { judgeLowerings, lowerings, parseExceptions, floorsOf, ExceptionFileError } from "../../policy/floors";
import { ROOT, stackConfig } from "../support/policy-fixtures";

const git = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" } });

/** A repo whose first commit is the real prod stack file, pack config and exception file. */
function baseRepo(): string {
    const dir = mkdtempSync(join(tmpdir(), "sb-floors-repo-"));
    mkdirSync(join(dir, "policy"));
    copyFileSync(join(ROOT, "Pulumi.prod.yaml"), join(dir, "Pulumi.prod.yaml"));
    copyFileSync(join(ROOT, "policy", "config.prod.json"), join(dir, "policy", "config.prod.json"));
    copyFileSync(join(ROOT, "policy", "exceptions.yaml"), join(dir, "policy", "exceptions.yaml"));
    git(dir, "init", "-q", "-b", "main");
    git(dir, "add", ".");
    git(dir, "commit", "-qm", "base");
    return dir;
}

/** Edit the stack file's config (as parsed YAML), regenerate the pack config, commit: the PR. */
function prCommit(dir: string, edit: (config: Record<string, any>) => void, exceptions?: object[]): void {
    const path = join(dir, "Pulumi.prod.yaml");
    const doc = load(readFileSync(path, "utf8")) as { config: Record<string, any> };
    edit(doc.config);
    writeFileSync(path, dump(doc));
    writePackConfig("prod", join(dir, "policy", "config.prod.json"), dir);
    if (exceptions) writeFileSync(join(dir, "policy", "exceptions.yaml"), dump({ exceptions }));
    git(dir, "add", ".");
    git(dir, "commit", "-qm", "pr");
}

const lowerAll = (c: Record<string, any>) => {
    c["supabase-backups:retention"].daily = 1;
    c["supabase-backups:retention"].objectLockMinDays = 1;
    c["supabase-backups:aws"].kms.deletionWindowDays = 7;
    c["supabase-backups:aws"].deployerArns = ["arn:aws:iam::444455556666:role/platform-deployer", "arn:aws:iam::444455556666:role/intern"];
};

describe("floors the pull request cannot lower (real git repository)", function () {
    this.timeout(180_000);
    const dirs: string[] = [];
    after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
    const repo = () => {
        const d = baseRepo();
        dirs.push(d);
        return d;
    };

    it("the unchanged stack passes against its own base", async () => {
        const dir = repo();
        const r = await policyGate("prod", { prDir: dir, baseRef: "HEAD", today: "2026-06-01" });
        assert.equal(r.exitCode, 0, r.report);
        assert.match(r.report, /floors: no floor of prod is lower than on HEAD/);
    });

    it("1-day retention and lock, 7-day KMS window and an extra deployer, pack config regenerated: exit 1, each floor named", async () => {
        const dir = repo();
        prCommit(dir, lowerAll);
        // Without the base comparison the regenerated config hides it: that is the hole being closed.
        const alone = await policyGate("prod", { prDir: dir, today: "2026-06-01" });
        assert.ok(!alone.violations.some((v) => v.policy === "vault-object-lock-compliance"), "the regenerated pack config accepts the 1-day lock");
        const r = await policyGate("prod", { prDir: dir, baseRef: "HEAD~1", today: "2026-06-01" });
        assert.equal(r.exitCode, 1, r.report);
        for (const floor of ["retention.daily", "retention.objectLockMinDays", "aws.kms.deletionWindowDays", "aws.deployerArns"]) {
            assert.match(r.report, new RegExp(`✖ floors: ${floor.replace(/\./g, "\\.")}: .* compared with HEAD~1; no exception in policy/exceptions.yaml covers it`));
        }
        assert.match(r.report, /aws\.deployerArns gains arn:aws:iam::444455556666:role\/intern/);
    });

    it("a wildcard deployerArns in the PR is refused by the stack config itself (and would be a lowering)", async () => {
        const dir = repo();
        const path = join(dir, "Pulumi.prod.yaml");
        const doc = load(readFileSync(path, "utf8")) as { config: Record<string, any> };
        doc.config["supabase-backups:aws"].deployerArns = ["arn:aws:iam::444455556666:*"];
        writeFileSync(path, dump(doc));
        git(dir, "commit", "-qam", "pr");
        const r = await policyGate("prod", { prDir: dir, baseRef: "HEAD~1", today: "2026-06-01" });
        assert.equal(r.exitCode, 1, r.report);
        assert.match(r.report, /deployerArns/);
        const f = floorsOf(stackConfig("prod"));
        assert.match(lowerings(f, { ...f, "aws.deployerArns": ["arn:aws:iam::444455556666:*"] })[0].why, /wildcard/);
    });

    it("an exception added in the same PR lets exactly its floor through; others still fail", async () => {
        const dir = repo();
        prCommit(dir, (c) => (c["supabase-backups:retention"].yearly = 5), [
            { stack: "prod", floor: "retention.yearly", value: 5, owner: "jane.doe@example.com", reason: "storage budget cut approved in RFC-42 for one quarter", expires: "2026-09-30" },
        ]);
        const ok = await policyGate("prod", { prDir: dir, baseRef: "HEAD~1", today: "2026-06-01" });
        assert.equal(ok.exitCode, 0, ok.report);
        assert.match(ok.report, /floors: retention\.yearly: .* allowed by the exception of jane\.doe@example\.com until 2026-09-30/);
        // The same exception after its expiry date.
        const late = await policyGate("prod", { prDir: dir, baseRef: "HEAD~1", today: "2026-10-01" });
        assert.equal(late.exitCode, 1, late.report);
        assert.match(late.report, /the exception expired on 2026-09-30/);
        // A later PR lowering again cannot reuse it: it is on the base branch now.
        prCommit(dir, (c) => (c["supabase-backups:retention"].yearly = 3));
        const reuse = await policyGate("prod", { prDir: dir, baseRef: "HEAD~1", today: "2026-06-01" });
        assert.equal(reuse.exitCode, 1, reuse.report);
        assert.match(reuse.report, /already in the base branch/);
    });

    it("a hand-edited pack config (a floor lowered without the stack file) fails: it must be what the stack file implies", async () => {
        const dir = repo();
        const path = join(dir, "policy", "config.prod.json");
        const c = JSON.parse(readFileSync(path, "utf8"));
        c["vault-object-lock-compliance"].minRetentionDays = 1;
        writeFileSync(path, JSON.stringify(c));
        git(dir, "commit", "-qam", "pr");
        const r = await policyGate("prod", { prDir: dir, baseRef: "HEAD~1", today: "2026-06-01" });
        assert.equal(r.exitCode, 1, r.report);
        assert.match(r.report, /policy\/config\.prod\.json is not what Pulumi\.prod\.yaml implies/);
    });

    it("the CLI exits non-zero on the lowered PR (what CI runs)", () => {
        const dir = repo();
        prCommit(dir, lowerAll);
        const out = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "policy.ts"), "--stack", "prod", "--pr-dir", dir, "--base-ref", "HEAD~1"], { encoding: "utf8", cwd: ROOT });
        assert.equal(out.status, 1, out.stdout + out.stderr);
        assert.match(out.stderr, /✖ floors: retention\.objectLockMinDays/);
    });

    it("the exception file: named owner, reason, date, known floor; every problem listed", () => {
        assert.deepEqual(parseExceptions(readFileSync(join(ROOT, "policy", "exceptions.yaml"), "utf8")), []);
        assert.throws(
            () => parseExceptions(dump({ exceptions: [{ stack: "prod", floor: "retention.hourly", owner: "me", reason: "x", expires: "soon", extra: 1 }] })),
            (e: unknown) =>
                e instanceof ExceptionFileError &&
                /floor: must be one of/.test(e.message) &&
                /owner: a named owner/.test(e.message) &&
                /reason: say why/.test(e.message) &&
                /expires: a date/.test(e.message) &&
                /unknown key "extra"/.test(e.message),
        );
        const f = floorsOf(stackConfig("prod"));
        const l = lowerings(f, { ...f, "retention.yearly": 1 });
        const j = judgeLowerings("prod", l, [{ stack: "staging", floor: "retention.yearly", owner: "a@b.c", reason: "wrong stack entirely", expires: "2099-01-01" }], [], "2026-01-01");
        assert.equal(j.refused.length, 1, "an exception for another stack covers nothing");
    });
});
