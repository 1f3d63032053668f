// Docker cannot run here, so the image is tested for what can be: the Dockerfile's promises (base,
// non-root user, PostgreSQL client major, entrypoint) and the CLI running from the image's layout.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(__dirname, "..", "..");
const dockerfile = readFileSync(join(root, "jobs", "Dockerfile"), "utf8");

interface Stage {
    from: string;
    name?: string;
    lines: string[];
}

function stages(text: string): Stage[] {
    const joined = text.replace(/\\\n/g, " ");
    const out: Stage[] = [];
    for (const raw of joined.split("\n")) {
        const line = raw.trim();
        if (!line || line.startsWith("#")) continue;
        const m = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
        if (m) out.push({ from: m[1], name: m[2], lines: [] });
        else if (out.length) out[out.length - 1].lines.push(line);
    }
    return out;
}

describe("job image (jobs/Dockerfile)", () => {
    const all = stages(dockerfile);
    const final = all[all.length - 1];
    const arg = (name: string) => new RegExp(`ARG ${name}=(\\S+)`).exec(dockerfile)?.[1];

    it("is multi-stage on Node 22 slim", () => {
        assert.ok(all.length >= 2, "at least two stages");
        assert.equal(final.from, "${NODE_IMAGE}");
        assert.match(arg("NODE_IMAGE") ?? "", /^node:22(\.\d+)*-[a-z]+-slim$/);
    });

    it("installs postgresql-client 17 from the PostgreSQL apt repository and puts it first on PATH", () => {
        assert.equal(arg("PG_MAJOR"), "17");
        const body = final.lines.join("\n");
        assert.match(body, /apt\.postgresql\.org\/pub\/repos\/apt bookworm-pgdg main/);
        assert.match(body, /postgresql-client-\$\{PG_MAJOR\}/);
        assert.match(body, /ENV PATH=\/usr\/lib\/postgresql\/\$\{PG_MAJOR\}\/bin:\$PATH/);
    });

    it("runs as a numeric non-root user with writes confined to /tmp", () => {
        const user = final.lines.filter((l) => /^USER /.test(l)).pop();
        assert.ok(user, "USER set in the final stage");
        const uid = Number(/^USER (\d+)/.exec(user!)?.[1]);
        assert.ok(uid >= 1000, `numeric non-root uid, got ${user}`);
        assert.match(final.lines.join("\n"), /TMPDIR=\/tmp/);
    });

    it("runs compiled JavaScript: the final stage has jobs/dist from the build stage, no TypeScript, no tsx", () => {
        const copies = final.lines.filter((l) => /^COPY /.test(l));
        assert.ok(copies.some((l) => /^COPY --from=build \/app\/jobs\/dist \.\/jobs\/dist$/.test(l)), "jobs/dist copied from the build stage");
        assert.ok(!copies.some((l) => /jobs\/src|contracts/.test(l)), "no sources in the final stage");
        const bin = readFileSync(join(root, "jobs/bin/supabase-backups"), "utf8");
        assert.match(bin, /dist\/main\.js/);
        assert.doesNotMatch(bin, /tsx/);
        const build = all.find((s) => s.name === "build");
        assert.ok(build?.lines.some((l) => l === "RUN node jobs/build.mjs"), "the build stage compiles with jobs/build.mjs");
    });

    it("copies only paths that exist and an executable entrypoint", () => {
        for (const line of final.lines.filter((l) => /^COPY /.test(l) && !/--from=/.test(l))) {
            const src = line.split(/\s+/)[1];
            assert.ok(existsSync(join(root, src)), `${src} exists`);
        }
        const ep = /ENTRYPOINT \["([^"]+)"\]/.exec(dockerfile)?.[1];
        assert.equal(ep, "/app/jobs/bin/supabase-backups");
        assert.ok(statSync(join(root, "jobs/bin/supabase-backups")).mode & 0o111, "entrypoint is executable");
    });

    it("the CLI runs from the image's layout (/app with contracts, jobs and node_modules)", function () {
        this.timeout(60_000);
        const app = join(mkdtempSync(join(tmpdir(), "sb-image-")), "app");
        try {
            for (const line of final.lines.filter((l) => /^COPY /.test(l) && !/--from=deps/.test(l))) {
                // `COPY --from=build /app/X` takes what the build stage made; here `npm run build` made it.
                const [src, dest] = line.split(/\s+/).filter((w) => !w.startsWith("--")).slice(1);
                cpSync(join(root, src.replace(/^\/app\//, "")), join(app, dest.replace(/^\.\//, "")), { recursive: true });
            }
            // The image's node_modules is `npm ci -w jobs`; here the workspace's own install stands in.
            symlinkSync(join(root, "node_modules"), join(app, "node_modules"));
            for (const ws of ["jobs", "contracts"]) {
                if (existsSync(join(root, ws, "node_modules"))) symlinkSync(join(root, ws, "node_modules"), join(app, ws, "node_modules"));
            }
            const out = execFileSync(join(app, "jobs", "bin", "supabase-backups"), ["--help"], {
                encoding: "utf8",
                env: { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` },
            });
            assert.match(out, /Usage: supabase-backups/);
        } finally {
            rmSync(join(app, ".."), { recursive: true, force: true });
        }
    });
});
