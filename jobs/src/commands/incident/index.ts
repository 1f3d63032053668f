// `incident start | end | show`: flags → the command context → engine.ts.
import type { Command } from "commander";
import { action, commandContext, withCommonOptions } from "../../cli/command";
import { timeFlag, withOperatorOptions, type OperatorOptions } from "../../cli/operator";
import { UsageError } from "../../runtime/errors";
import { DEFAULT_FREEZE_ROLES } from "../../postgres/freeze";
import { endIncident, showIncident, startIncident, type StartOptions, type StartPlan } from "./engine";

export function register(program: Command): void {
    const incident = program
        .command("incident")
        .summary("record an incident's time, freeze writes, take a forensic dump; end it")
        .description("The runbooks' first step: record the time (restore pitr --before-incident uses it), optionally freeze writes and start a forensic dump. Every step is an audit record.");
    withOperatorOptions(incident.command("start").description("Record the incident; with --freeze --yes the roles Supabase's services log in as lose LOGIN (Data API, Auth, Storage stop) until `incident end`."))
        .option("--at <time>", "when it happened (ISO 8601 or unix seconds; default now)")
        .option("--freeze", "freeze writes: NOLOGIN for --roles and end their sessions (needs --yes)")
        .option("--yes", "confirm --freeze")
        .option("--roles <list>", `login roles to freeze, comma-separated (default ${DEFAULT_FREEZE_ROLES.join(",")})`)
        .option("--dump", "start a forensic dump now: kubectl create job --from=cronjob/dump in the config's namespace")
        .action(action("incident start", (opts: StartOptions) => startIncident(commandContext(opts, "incident start"), opts, checkStartFlags(opts))));
    withOperatorOptions(incident.command("end").description("End the open incident: LOGIN back for the roles its start froze (only those that had it)."))
        .action(action("incident end", (opts: OperatorOptions) => endIncident(commandContext(opts, "incident end"), opts)));
    withCommonOptions(incident.command("show").description("The open incident, if any: its time, who opened it, what is frozen."))
        .option("--env <env>", "environment; must match the config's env")
        .action(action("incident show", (opts: OperatorOptions) => showIncident(commandContext(opts, "incident show"), opts)));
}

/** The flags, checked before anything runs (usage errors, exit 2). */
export function checkStartFlags(opts: StartOptions, now = new Date()): StartPlan {
    const incidentTime = opts.at ? timeFlag("--at", opts.at) : now;
    if (incidentTime.getTime() > now.getTime() + 60_000) throw new UsageError(`--at ${opts.at} is in the future`);
    if (opts.freeze && !opts.yes) throw new UsageError("--freeze stops the Data API, Auth and Storage for everyone until `incident end`: add --yes to confirm");
    if (opts.roles && !opts.freeze) throw new UsageError("--roles only goes with --freeze");
    const roles = opts.roles ? opts.roles.split(",").map((r) => r.trim()).filter(Boolean) : [...DEFAULT_FREEZE_ROLES];
    if (opts.freeze && roles.length === 0) throw new UsageError("--roles names no role");
    return { incidentTime, freezeRoles: opts.freeze ? roles : null, dump: !!opts.dump };
}
