import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { CONFIG_REFERENCE_PATH, renderConfigReference } from "../../scripts/config-reference";

describe("docs: configuration reference", () => {
    it("docs/configuration.md is generated from the current schema (npm run docs:config)", () => {
        assert.equal(readFileSync(CONFIG_REFERENCE_PATH, "utf8"), renderConfigReference(), "stale: run `npm run docs:config`");
    });
    it("lists every secret and every top-level section", () => {
        const text = renderConfigReference();
        for (const k of ["databaseUrl", "serviceRoleKey", "managementApiToken", "retention.objectLockMinDays", "schedules.timeZone", "storage.buckets[].schedule"]) {
            assert.ok(text.includes(`supabase-backups:${k}`), k);
        }
    });
});
