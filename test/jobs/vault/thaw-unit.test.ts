// vault/thaw.ts, the pure parts: the expected times as AWS and Azure document them, the one pending line,
// the thaw's bookkeeping (request only what is archived and not already under way), and the refusal of an
// Expedited retrieval from DEEP_ARCHIVE before anything is sent. The S3 and Azure paths end to end:
// test/jobs/restore/archived.test.ts.
import assert from "node:assert/strict";
import { S3Client } from "@aws-sdk/client-s3";
import { EXIT } from "@supabase-backups/contracts";
import { describePending, expectedTime, RestorePending, requireThawed, s3ThawTarget, thaw, type ArchivedObject, type ThawTarget } from "../../../jobs/src/vault/thaw";

const quiet = { info: () => undefined };
function target(o: ArchivedObject, answer: "requested" | "in-progress" = "requested"): ThawTarget & { asked: number } {
    const t = {
        asked: 0,
        look: async () => o,
        request: async () => {
            t.asked++;
            return answer;
        },
    };
    return t;
}

describe("vault/thaw (pure parts)", () => {
    it("expected times: GLACIER 1–5 min / 3–5 h / 5–12 h, DEEP_ARCHIVE 12 h / 48 h, Azure Archive 15 h / under 1 h", () => {
        assert.match(expectedTime("GLACIER", "Expedited"), /1–5 minutes/);
        assert.match(expectedTime("GLACIER", "Standard"), /3–5 hours/);
        assert.match(expectedTime("GLACIER", "Bulk"), /5–12 hours/);
        assert.match(expectedTime("DEEP_ARCHIVE", "Standard"), /within 12 hours/);
        assert.match(expectedTime("DEEP_ARCHIVE", "Bulk"), /within 48 hours/);
        assert.match(expectedTime("INTELLIGENT_TIERING/DEEP_ARCHIVE_ACCESS", "Standard"), /within 12 hours/);
        assert.match(expectedTime("Archive", "Standard"), /up to 15 hours/);
        assert.match(expectedTime("Archive", "Expedited"), /High priority: under 1 hour/);
    });

    it("asks only for archived objects: online and restored ones are read, one under way is not asked again", async () => {
        const archived = target({ name: "s3://v/db/e/r/dump", storageClass: "GLACIER", state: "archived" });
        const restoring = target({ name: "s3://v/db/e/r/roles.sql", storageClass: "GLACIER", state: "restoring" });
        const restored = target({ name: "s3://v/db/e/r/schema.sql", storageClass: "GLACIER", state: "restored" });
        const online = target({ name: "s3://v/db/e/r/manifest.json", storageClass: "STANDARD", state: "online" });
        const r = await thaw([archived, restoring, restored, online], { tier: "Standard", days: 7 });
        assert.deepEqual([archived.asked, restoring.asked, restored.asked, online.asked], [1, 0, 0, 0]);
        assert.equal(r.ready, false);
        assert.deepEqual([r.requested.length, r.ongoing.length, r.restored.length], [1, 1, 1]);
        const ready = await thaw([restored, online], { tier: "Standard", days: 7 });
        assert.equal(ready.ready, true);
    });

    it("a 409 RestoreAlreadyInProgress counts as under way; the pending failure exits 8 with one line", async () => {
        const raced = target({ name: "s3://v/db/e/r/dump", storageClass: "DEEP_ARCHIVE", state: "archived" }, "in-progress");
        const err = await requireThawed("run r", [raced], { tier: "Bulk", days: 3 }, quiet).then(() => undefined, (e) => e);
        assert.ok(err instanceof RestorePending);
        assert.equal(err.exitCode, EXIT.pending);
        assert.equal(err.message.split("\n").length, 1);
        assert.match(err.message, /run r is archived: restore already under way for 1 \(dump; nothing requested again\); DEEP_ARCHIVE: Bulk: typically within 48 hours\. Run the same command again/);
        const line = describePending("run r", { ready: false, requested: [{ name: "azure:c/db/e/r/dump", storageClass: "Archive", state: "archived" }], ongoing: [], restored: [] }, { tier: "Standard", days: 7 });
        assert.doesNotMatch(line, /kept 7 days/, "Azure keeps no restored copy for N days: the blob itself moved");
    });

    it("Expedited from DEEP_ARCHIVE is refused before any request (AWS has no such tier)", async () => {
        let sent = 0;
        const s3 = new S3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
        s3.middlewareStack.add((next: any) => async (a: any) => {
            sent++;
            return next(a);
        }, { step: "initialize" });
        const t = s3ThawTarget(s3, "v", { key: "db/e/r/dump", versionId: "v1" });
        const e = await t.request({ name: "s3://v/db/e/r/dump (version v1)", storageClass: "DEEP_ARCHIVE", state: "archived" }, { tier: "Expedited", days: 7 }).then(() => undefined, (x) => x);
        assert.equal(e?.exitCode, EXIT.usage);
        assert.match(e.message, /no Expedited retrieval: use --restore-tier Standard \(within 12 hours\) or Bulk \(within 48 hours\)/);
        assert.equal(sent, 0);
        s3.destroy();
    });
});
