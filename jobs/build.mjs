// Compiles the job CLI to one JavaScript file (jobs/dist/main.js) that `bin/supabase-backups` and the
// image run: no TypeScript compiler at run time. The project's own contracts are bundled in; npm
// packages stay external and load from node_modules as usual.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));
const external = Object.keys(pkg.dependencies).filter((d) => !d.startsWith("@supabase-backups/"));

await build({
    entryPoints: [join(here, "src", "main.ts")],
    outfile: join(here, "dist", "main.js"),
    bundle: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    external: external.flatMap((d) => [d, `${d}/*`]),
    sourcemap: "linked",
    logLevel: "warning",
});
