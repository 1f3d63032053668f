// Start-up (issue 16 item 3): the compiled CLI loads its SDKs lazily (jobs/build.mjs), so `--help` and a
// command's argument parsing load only commander; a command loads what it uses when it uses it.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const MAIN = join(__dirname, "..", "..", "..", "jobs", "dist", "main.js");
const HEAVY = /node_modules\/(@aws-sdk|@smithy|@azure|pg|pg-[a-z]+|prom-client|pino|age-encryption)\//;

/** The npm packages' files a run of the CLI loaded (from require.cache at exit). */
function loadedPackages(args: string[]): { out: string; files: string[] } {
    const dir = mkdtempSync(join(tmpdir(), "sb-startup-"));
    try {
        const hook = join(dir, "hook.js");
        const list = join(dir, "loaded.json");
        writeFileSync(hook, `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));\n`);
        const out = execFileSync(process.execPath, ["-r", hook, MAIN, ...args], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
        return { out, files: (JSON.parse(readFileSync(list, "utf8")) as string[]).filter((f) => f.includes("/node_modules/")) };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

describe("CLI start-up", function () {
    this.timeout(30_000);

    it("--help and a command's --help load no SDK, database driver, metrics or logging package", () => {
        for (const args of [["--help"], ["dump", "--help"], ["verify", "--help"]]) {
            const { out, files } = loadedPackages(args);
            assert.match(out, /Usage: supabase-backups/);
            assert.deepEqual(
                files.filter((f) => HEAVY.test(f)),
                [],
                `${args.join(" ")} loaded heavy packages`,
            );
            assert.ok(files.some((f) => f.includes("/commander/")), "commander is loaded eagerly");
        }
    });

    it("every lazily required package resolves from the bundle, and loads on first use", () => {
        const js = readFileSync(MAIN, "utf8");
        const ids = [...new Set([...js.matchAll(/__lazyRequire\("([^"]+)"/g)].map((m) => m[1]))];
        for (const want of ["@aws-sdk/client-s3", "@aws-sdk/lib-storage", "pg", "pino", "prom-client"]) assert.ok(ids.includes(want), `${want} is required lazily`);
        for (const id of ids) assert.ok(require.resolve(id, { paths: [dirname(MAIN)] }), `${id} resolves`);
        // The proxy itself, as the bundle defines it: loads at first property access, default export in node mode.
        const lazyRequire = new Function("require", `${js.split("\n")[1]}; return __lazyRequire;`)(require) as (id: string, esm?: boolean) => any;
        const before = Object.keys(require.cache).some((f) => f.includes("/prom-client/"));
        const prom = lazyRequire("prom-client");
        assert.equal(Object.keys(require.cache).some((f) => f.includes("/prom-client/")), before, "nothing loaded before first use");
        assert.equal(typeof new prom.Registry().metrics, "function");
        const pino = lazyRequire("pino", true);
        assert.equal(typeof pino.default, "function");
        assert.ok("default" in pino && "Registry" in prom);
    });
});
