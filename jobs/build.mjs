// Compiles the job CLI to one JavaScript file (jobs/dist/main.js) that `bin/supabase-backups` and the
// image run: no TypeScript compiler at run time. The project's own contracts are bundled in; npm
// packages stay external and load from node_modules as usual.
//
// Start-up: every command is imported statically (cli.ts), so a plain bundle would load every SDK
// (S3, STS, pg, prom-client, pino: ~0.45 s of --help's ~0.75 s) before commander even parses the
// arguments. The external packages other than commander are therefore loaded lazily: esbuild turns
// `import { S3Client } from "@aws-sdk/client-s3"` into `var import_client_s3 = require(...)` and reads
// `import_client_s3.S3Client` where it is used, so that require is replaced by a proxy that requires
// the package on first property access. `--help` then loads only commander and the bundle itself;
// a command loads what it uses when it first uses it. test/cli/startup.test.ts checks this.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));
const external = Object.keys(pkg.dependencies).filter((d) => !d.startsWith("@supabase-backups/"));
// Needed to parse the command line (and cheap): loaded eagerly.
const EAGER = new Set(["commander"]);

// One line (the source map stays valid): a module whose exports are read through a proxy that
// requires it at first use. `esm`: an import of the default export (esbuild's __toESM in node mode:
// `default` is module.exports unless the package says __esModule).
const LAZY_REQUIRE =
    "function __lazyRequire(id, esm) { let m; const load = () => (m ??= require(id)); " +
    'const get = (k) => { const x = load(); return esm && k === "default" ? (x && x.__esModule ? x.default : x) : x[k]; }; ' +
    "return new Proxy({}, { get: (_, k) => get(k), has: (_, k) => (esm && k === \"default\") || k in load(), " +
    "ownKeys: () => Reflect.ownKeys(load()), getOwnPropertyDescriptor: (_, k) => { const d = Object.getOwnPropertyDescriptor(load(), k); return d && { ...d, configurable: true }; } }); }";

const result = await build({
    entryPoints: [join(here, "src", "main.ts")],
    outfile: join(here, "dist", "main.js"),
    bundle: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    external: external.flatMap((d) => [d, `${d}/*`]),
    sourcemap: "linked",
    banner: { js: LAZY_REQUIRE },
    write: false,
    logLevel: "warning",
});

const lazy = external.filter((d) => !EAGER.has(d));
const quoted = lazy.map((d) => d.replace(/[/.-]/g, "\\$&")).join("|");
// `var import_x = require("pkg")` and `var import_x = __toESM(require("pkg"))` at a module's top level
const named = new RegExp(`^(var import_\\w+ = )require\\(("(?:${quoted})(?:/[^"]*)?")\\);$`, "gm");
const esm = new RegExp(`^(var import_\\w+ = )__toESM\\(require\\(("(?:${quoted})(?:/[^"]*)?")\\)\\);$`, "gm");
mkdirSync(join(here, "dist"), { recursive: true });
for (const f of result.outputFiles) {
    if (!f.path.endsWith(".js")) {
        writeFileSync(f.path, f.contents);
        continue;
    }
    let n = 0;
    const js = f.text.replace(named, (_, decl, id) => (n++, `${decl}__lazyRequire(${id});`)).replace(esm, (_, decl, id) => (n++, `${decl}__lazyRequire(${id}, true);`));
    // Fail the build, not the start-up budget, when esbuild's output changes shape.
    const left = new RegExp(`^var import_\\w+ = .*require\\("(?:${quoted})["/]`, "m").exec(js);
    if (!n || left) throw new Error(`jobs/build.mjs: lazy requires not applied (${n} replaced${left ? `; left: ${left[0]}` : ""})`);
    writeFileSync(f.path, js);
}
