// status's picture from fixed inputs: which mark each run gets, where a scheduled run is missing, what
// is not due yet, and the text fitting 80 columns (timeline.ts, render-timeline.ts).
import { strict as assert } from "node:assert";
import { buildTimeline, MARKS, type TimelineInput } from "../../../jobs/src/commands/status/timeline";
import { renderPicture, rtoOf, rtoTargetOf, type Picture } from "../../../jobs/src/commands/status/render-timeline";

const NOW = new Date("2026-12-02T10:00:00Z");
// Asia/Manila is UTC+8: dump 19:30, sync-storage 20:00, verify 22:00 UTC the day before
const INPUT: TimelineInput = {
    now: NOW,
    days: 7,
    timeZone: "Asia/Manila",
    graceMinutes: 60,
    schedules: { dump: "30 3 * * *", "sync-storage": "0 4 * * *", verify: "0 6 * * *" },
    dbRuns: [
        { runId: "20261120T193000Z-aaaaaa", verification: "passed", secondary: "ok" }, // before the window
        { runId: "20261126T193000Z-aaaaaa", verification: "passed", secondary: "ok" },
        { runId: "20261127T193000Z-aaaaaa", verification: "unverified", secondary: "failed" },
        { runId: "20261129T193000Z-aaaaaa", verification: "failed", secondary: "ok" },
        { runId: "20261130T080000Z-manual", verification: "passed", secondary: "ok" },
        { runId: "20261130T193000Z-aaaaaa", verification: "unverified", secondary: "ok" },
        { runId: "20261201T193000Z-aaaaaa", verification: "unverified", secondary: "disabled" },
    ],
    storageRuns: [
        { runId: "20261126T200000Z-bbbbbb", failed: 0 },
        { runId: "20261127T200000Z-bbbbbb", failed: 3 },
        { runId: "20261128T200000Z-bbbbbb", failed: 0 },
        { runId: "20261129T200000Z-bbbbbb", failed: 0 },
        { runId: "20261130T200000Z-bbbbbb", failed: 0 },
        { runId: "20261201T200000Z-bbbbbb", failed: 0 },
    ],
    verifications: [
        { runId: "20261126T193000Z-aaaaaa", verifiedAt: "2026-11-26T22:10:00.000Z", result: "passed" },
        { runId: "20261129T193000Z-aaaaaa", verifiedAt: "2026-11-29T22:05:00.000Z", result: "failed" },
        { runId: "20261130T080000Z-manual", verifiedAt: "2026-11-30T09:00:00.000Z", result: "passed" },
    ],
};
const marks = (t: ReturnType<typeof buildTimeline>, kind: string) => t.rows.find((r) => r.kind === kind)!.cells.map((c) => c.map((r) => r.mark).join("+") || "-");

describe("status: the run timeline (fixed inputs)", () => {
    it("one mark per run, by UTC day; a missing mark per due firing without a run; nothing for a firing not due yet", () => {
        const t = buildTimeline(INPUT);
        assert.deepEqual(t.days, ["2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]);
        assert.deepEqual(marks(t, "dump"), ["verified", "degraded", "missing", "failed", "verified+complete", "complete", "-"]);
        assert.deepEqual(marks(t, "sync-storage"), ["complete", "degraded", "complete", "complete", "complete", "complete", "-"]);
        assert.deepEqual(marks(t, "verify"), ["verified", "missing", "missing", "failed", "verified", "missing", "-"]);
        const missing = t.rows.find((r) => r.kind === "dump")!.cells[2][0];
        assert.deepEqual(missing, { mark: "missing", at: "2026-11-28T19:30:00.000Z" });
        assert.equal(t.rows[0].cells[4][0].runId, "20261130T080000Z-manual");
    });

    it("a firing within the grace is not missing yet; after it, it is", () => {
        const soon = buildTimeline({ ...INPUT, now: new Date("2026-12-02T20:00:00Z") }); // dump fired 30 min ago
        assert.equal(marks(soon, "dump").at(-1), "-");
        const late = buildTimeline({ ...INPUT, now: new Date("2026-12-02T20:31:00Z") });
        assert.equal(marks(late, "dump").at(-1), "missing");
    });

    it("nothing is missing before a kind's first run (a new stack), and nothing at all without runs", () => {
        const fresh = buildTimeline({
            ...INPUT,
            dbRuns: [{ runId: "20261130T193000Z-aaaaaa", verification: "passed", secondary: "ok" }],
            storageRuns: [],
            verifications: [{ runId: "20261130T193000Z-aaaaaa", verifiedAt: "2026-11-30T22:10:00.000Z", result: "passed" }],
        });
        assert.deepEqual(marks(fresh, "dump"), ["-", "-", "-", "-", "verified", "missing", "-"]);
        assert.deepEqual(marks(fresh, "sync-storage"), ["-", "-", "-", "-", "-", "-", "-"]);
        assert.deepEqual(marks(fresh, "verify"), ["-", "-", "-", "-", "verified", "missing", "-"]);
    });

    it("renders within 80 columns: legend, month and day lines, one line per kind, tiers, RPO and RTO", () => {
        const p: Picture = {
            timeline: buildTimeline(INPUT),
            rpo: { targetHours: 26, newestCompleteRunId: "20261201T193000Z-aaaaaa", ageHours: 14.5, met: true },
            rto: rtoOf({ runId: "20261130T080000Z-manual", restoreSeconds: 42.5 }, () => 2_500_000_000, 30),
            dbTiers: [
                { tier: "daily", runs: 5, retainUntil: "2027-01-01T19:30:00.000Z" },
                { tier: "weekly", runs: 1, retainUntil: "2027-02-26T19:30:00.000Z" },
                { tier: "monthly", runs: 1, retainUntil: "2027-11-30T08:00:00.000Z" },
            ],
            storageTiers: [{ tier: "daily", runs: 6 }],
        };
        const text = renderPicture(p);
        assert.equal(
            text,
            [
                "Runs per day (UTC), 2026-11-26 .. 2026-12-02",
                "              ✔ verified  ● complete  ◐ degraded  ✘ failed  ○ missing · none due",
                "              Nov            Dec",
                "              26 27 28 29 30 01 02",
                "dump          ✔  ◐  ○  ✘  ✔● ●  ·",
                "sync-storage  ●  ◐  ●  ●  ●  ●  ·",
                "verify        ✔  ○  ○  ✘  ✔  ○  ·",
                "              gc and check-supabase leave no run record in the vault: the",
                "              Grafana dashboard shows them.",
                "",
                "tiers held    daily 5 until 2027-01-01, weekly 1 until 2027-02-26,",
                "              monthly 1 until 2027-11-30",
                "              storage: daily 6",
                "RPO           newest complete dump 14.5 h ago; target 26 h: met",
                "RTO           canary restore of 2.3 GiB: 42.5 s (17.0 s/GB); target 30 min: met",
                "",
            ].join("\n"),
        );
        for (const line of text.split("\n")) assert.ok([...line].length <= 80, `${[...line].length} columns: ${line}`);
    });

    it("many days wrap into blocks that each fit the width; --json keeps every day", () => {
        const t = buildTimeline({ ...INPUT, days: 60 });
        assert.equal(t.days.length, 60);
        const text = renderPicture({ timeline: t, rpo: { targetHours: 26, newestCompleteRunId: null, ageHours: null, met: false }, rto: rtoOf(null, () => undefined, undefined), dbTiers: [], storageTiers: [] });
        for (const line of text.split("\n")) assert.ok([...line].length <= 80, line);
        assert.equal(text.split("\n").filter((l) => l.startsWith("dump")).length, 3, "60 days in three blocks");
        assert.match(text, /RPO {11}no complete dump; target 26 h: MISSED/);
        assert.match(text, /RTO {11}no measured restore yet \(no verified run\)/);
        assert.equal(Object.keys(MARKS).length, 5);
        // a month shown for one day only gives way to the next month's name instead of running into it
        const short = renderPicture({ timeline: buildTimeline({ ...INPUT, days: 3 }), rpo: { targetHours: 26, newestCompleteRunId: null, ageHours: null, met: false }, rto: rtoOf(null, () => undefined, undefined), dbTiers: [], storageTiers: [] });
        assert.equal(short.split("\n")[2], "                 Dec");
        assert.equal(short.split("\n")[3], "              30 01 02");
    });

    it("the full-restore target: drills.rtoMinutes.fullLoss with drills, else alerts.rtoMinutes, else none", () => {
        assert.equal(rtoTargetOf({ alerts: {}, drills: { rtoMinutes: { fullLoss: 240 } } }), 240);
        assert.equal(rtoTargetOf({ alerts: { rtoMinutes: 45 } }), 45);
        assert.equal(rtoTargetOf({ alerts: {} }), undefined);
    });

    it("RTO against its target: met, missed, unknown, or no target", () => {
        assert.equal(rtoOf({ runId: "r", restoreSeconds: 100 }, () => 1e9, 2).met, true);
        assert.equal(rtoOf({ runId: "r", restoreSeconds: 121 }, () => 1e9, 2).met, false);
        assert.equal(rtoOf(null, () => undefined, 2).met, false);
        assert.equal(rtoOf({ runId: "r", restoreSeconds: 5 }, () => 1e9, undefined).met, null);
    });
});
