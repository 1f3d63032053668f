// The layering rule of jobs/src, checked on every CI run (`npm run lint:deps`): the folder tree is the
// architecture (docs/architecture.md "Code layout").
//   contracts  <  runtime  <  vault, codec, postgres, supabase (domain)  <  cli  <  commands/<name>  <  cli.ts, main.ts
// A folder may import only folders to its left; domain folders do not import each other; one command
// never imports another.
const DOMAIN = "(vault|codec|postgres|supabase)";
module.exports = {
    forbidden: [
        {
            name: "nothing-below-imports-commands",
            comment: "commands/ sits on top: runtime, domain folders and cli/ never import it",
            severity: "error",
            from: { path: "^jobs/src/(runtime|cli|vault|codec|postgres|supabase)/" },
            to: { path: "^jobs/src/(commands/|cli\\.ts|main\\.ts)" },
        },
        {
            name: "commands-are-independent",
            comment: "one command folder never imports another; shared code moves down a layer",
            severity: "error",
            from: { path: "^jobs/src/commands/([^/]+)/" },
            to: { path: "^jobs/src/commands/", pathNot: "^jobs/src/commands/$1/" },
        },
        {
            name: "domain-imports-only-runtime",
            comment: "vault, codec, postgres and supabase import only runtime/, contracts and their own folder",
            severity: "error",
            from: { path: `^jobs/src/${DOMAIN}/` },
            to: { path: "^jobs/src/", pathNot: ["^jobs/src/runtime/", "^jobs/src/$1/"] },
        },
        {
            name: "runtime-imports-only-contracts",
            comment: "runtime/ is the bottom of jobs/src: it imports only itself and contracts",
            severity: "error",
            from: { path: "^jobs/src/runtime/" },
            to: { path: "^jobs/src/", pathNot: "^jobs/src/runtime/" },
        },
        {
            name: "cli-shell-not-commands",
            comment: "cli/ (the shared command shell) serves the commands and never imports one",
            severity: "error",
            from: { path: "^jobs/src/cli/" },
            to: { path: "^jobs/src/commands/" },
        },
        {
            name: "contracts-stand-alone",
            comment: "contracts are the bottom of the whole project",
            severity: "error",
            from: { path: "^contracts/src/" },
            to: { path: "^(jobs|components|policy|scripts|test|bench)/" },
        },
        {
            name: "jobs-independent-of-program-and-pack",
            comment: "the job image ships jobs/ and contracts only",
            severity: "error",
            from: { path: "^jobs/src/" },
            to: { path: "^(components|policy|scripts|test|bench|index\\.ts)" },
        },
        {
            name: "no-circular",
            severity: "error",
            from: { path: "^(jobs/src|contracts/src|components|policy)/" },
            to: { circular: true },
        },
        {
            name: "not-to-unresolvable",
            severity: "error",
            from: {},
            to: { couldNotResolve: true },
        },
    ],
    options: {
        doNotFollow: { path: "node_modules" },
        exclude: { path: "(^|/)node_modules/" },
        tsPreCompilationDeps: true,
        tsConfig: { fileName: "tsconfig.json" },
        combinedDependencies: true,
        enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
    },
};
