// The table and full drills: the newest complete database run (verified preferred) restored by the real
// `restore db` into a throw-away database on the scratch server — the table drill one or more tables into
// a side schema, the full drill the whole dump — then every restored table's exact row count compared
// with the count the dump recorded, and the database dropped, also when a step failed.
import { JOB_ENV, type DbManifest, type DrillsConfig } from "@supabase-backups/contracts";
import { runSubcommand, subcommandEnv } from "../../cli/subcommand";
import { withDatabase } from "../../postgres/canary";
import { urlWithPassword } from "../../postgres/connection";
import { createScratchDatabase, dropScratchDatabase, scratchDatabaseName } from "../../postgres/scratch";
import { recordTrust } from "../../vault/record-signing";
import { chooseRun } from "../../vault/run-choice";
import type { DrillContext } from "./context";
import { checkItems, step, type DrillItem } from "./outcome";

/** The schema the table drill restores into, inside the throw-away database. */
export const DRILL_SCHEMA = "drill_restored";

/** The tables the table drill restores: the configured ones, else the largest the run counted. */
export function drillTables(m: DbManifest, configured: string[] | undefined): string[] {
    if (configured?.length) return configured;
    const counted = Object.entries(m.snapshot.rowCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (!counted.length) throw new Error(`run ${m.runId} records no row counts (verify.tables is empty): nothing a table drill could check`);
    return [counted[0][0]];
}

/** The rows `restore db --json` reports, as drill items (restored table → its manifest count). */
export function rowItems(out: { rowCounts?: Array<{ table: string; expected: number; restored: number | null; ok: boolean }> }): DrillItem[] {
    return (out.rowCounts ?? []).map((c) => ({ name: c.table, expected: c.expected, restored: c.restored, ok: c.ok }));
}

export async function runDbDrill(x: DrillContext): Promise<void> {
    const { ctx, d } = x;
    const chosen = await step(d, "choose", async () => {
        const c = await chooseRun<DbManifest>(ctx.s3, ctx.bucket, ctx.config.env, "db", { run: x.run, at: x.run ? undefined : "now", trust: recordTrust(ctx.config.vault) });
        d.runId = c.loaded.manifest.runId;
        return { value: c.loaded.manifest, detail: c.note };
    });
    if (!chosen) return;
    const tables = d.kind === "table" ? await step(d, "tables", async () => pickTables(chosen, x.drills)) : undefined;
    if (d.kind === "table" && !tables) return;
    const password = ctx.secrets.drillScratchPassword;
    const admin = password ? urlWithPassword(x.drills.scratchDatabaseUrl, password) : x.drills.scratchDatabaseUrl;
    const name = scratchDatabaseName(d.kind);
    try {
        const url = await step(d, "create-database", async () => {
            const { leftover } = await createScratchDatabase(admin, name);
            d.targets.push(`database ${name}`);
            // the restore's --target-url carries no password (it goes in the child's env)
            return { value: withDatabase(x.drills.scratchDatabaseUrl, name), detail: `${name} on the scratch server${leftover ? " (a leftover of an interrupted drill was dropped first)" : ""}` };
        });
        if (!url) return;
        const out = await step(d, "restore", () => restoreInto(x, chosen.runId, url, password, tables));
        if (!out) return;
        await step(d, "check", async () => {
            d.items = rowItems(out);
            const detail = checkItems(d.items, "row counts");
            d.rtoSeconds = (Date.now() - d.startedAt.getTime()) / 1000;
            return { value: true, detail: `${detail}; dump sha256 checked against the manifest` };
        });
    } finally {
        await step(d, "cleanup", async () => {
            const problem = await dropScratchDatabase(admin, name);
            if (problem) {
                d.cleanupProblems.push(`database ${name}: ${problem}`);
                throw new Error(`could not drop ${name}: ${problem} (drop it by hand: it holds a copy of the data)`);
            }
            return { value: true, detail: `dropped ${name}` };
        });
    }
}

function pickTables(m: DbManifest, drills: DrillsConfig): { value: string[]; detail: string } {
    const tables = drillTables(m, drills.table?.tables);
    const missing = tables.filter((t) => m.snapshot.rowCounts[t] === undefined);
    if (missing.length) throw new Error(`run ${m.runId} records no row count for ${missing.join(", ")} (add them to verify.tables)`);
    return { value: tables, detail: tables.map((t) => `${t} (${m.snapshot.rowCounts[t]} rows in the manifest)`).join(", ") };
}

/** `restore db --run … --target-url <scratch db>` as a child: the operator's own restore, audited. */
async function restoreInto(x: DrillContext, runId: string, url: string, password: string | undefined, tables: string[] | undefined): Promise<{ value: any; detail: string }> {
    const { ctx, d } = x;
    const args = ["restore", "db", "--config", ctx.configSource, "--env", ctx.config.env, "--run", runId, "--target-url", url, "--target-env", ctx.config.env];
    if (tables) args.push("--tables", tables.join(","), "--into-schema", DRILL_SCHEMA);
    args.push("--reason", x.reason, "--actor", `drill/${d.drillId}`, "--json");
    const env = subcommandEnv(ctx.env, ["ageIdentity"], password ? { [JOB_ENV.targetPassword]: password } : {});
    const r = await runSubcommand(args, env, x.signal);
    if (r.code !== 0) throw new Error(r.error ?? `restore db ended with ${r.signal ?? `exit ${r.code}`}`);
    const out = JSON.parse(r.stdout);
    return { value: out, detail: `restore db of run ${runId} (${out.mode}, ${out.dumpBytes} dump bytes, sha256 ok, audit ${out.auditEventId})` };
}
