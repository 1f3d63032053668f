// Writes docs/grafana/supabase-backups.json, the Grafana dashboard for import by hand, from the same
// generator the stack's ConfigMap uses (components/dashboard.ts). `--check` fails when the committed
// file is stale (test/docs/grafana-dashboard.test.ts runs the same comparison in CI).
//   npm run docs:dashboard [-- --check]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { dashboardJson, DOCS_DASHBOARD } from "../components/dashboard";

export const DASHBOARD_JSON_PATH = join(__dirname, "..", "docs", "grafana", "supabase-backups.json");

export function renderDocsDashboard(): string {
    return dashboardJson(DOCS_DASHBOARD);
}

if (require.main === module) {
    const text = renderDocsDashboard();
    if (process.argv.includes("--check")) {
        let current = "";
        try {
            current = readFileSync(DASHBOARD_JSON_PATH, "utf8");
        } catch {
            current = "";
        }
        if (current !== text) {
            console.error("docs/grafana/supabase-backups.json is stale: run `npm run docs:dashboard`");
            process.exit(1);
        }
        console.log("docs/grafana/supabase-backups.json is current");
    } else {
        mkdirSync(dirname(DASHBOARD_JSON_PATH), { recursive: true });
        writeFileSync(DASHBOARD_JSON_PATH, text);
        console.log(`wrote ${DASHBOARD_JSON_PATH}`);
    }
}
