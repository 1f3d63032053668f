// A small client for the Supabase Management API (https://api.supabase.com/v1, bearer token): only the
// endpoints this project needs — the project's own backups and PITR window, the PITR restore, the
// billing add-ons (PITR is the `pitr` add-on, variants pitr_7|pitr_14|pitr_28) and branches.
//
// Failure messages say what to do (401: the token; 403: its scope; 404: the project ref; 429: rate
// limited, after honouring Retry-After a bounded number of times; 5xx: retried where safe). The token is
// only ever put in the Authorization header: never in a message, a log line or a record.
import { registerSecret } from "../runtime/log";

export const DEFAULT_API_URL = "https://api.supabase.com";

/** `GET /v1/projects/{ref}` (V1ProjectWithDatabaseResponse, the fields read here) */
export interface ProjectResponse {
    ref?: string;
    region?: string;
    status?: string;
    database?: { host?: string; version?: string; postgres_engine?: string; release_channel?: string };
}

/** `GET /v1/projects/{ref}/database/backups` */
export interface BackupsResponse {
    region: string;
    walg_enabled: boolean;
    pitr_enabled: boolean;
    backups: Array<{ is_physical_backup: boolean; status: string; inserted_at: string }>;
    physical_backup_data: { earliest_physical_backup_date_unix?: number; latest_physical_backup_date_unix?: number } | null;
}

export interface AddonVariant {
    id: string;
    name: string;
    price?: { description?: string; type?: string; interval?: string; amount?: number };
    meta?: unknown;
}

/** `GET /v1/projects/{ref}/billing/addons` */
export interface AddonsResponse {
    selected_addons: Array<{ type: string; variant: AddonVariant }>;
    available_addons: Array<{ type: string; name: string; variants: AddonVariant[] }>;
}

export type PitrVariant = "pitr_7" | "pitr_14" | "pitr_28";
export const PITR_VARIANTS: readonly PitrVariant[] = ["pitr_7", "pitr_14", "pitr_28"];

export function pitrVariant(days: 7 | 14 | 28): PitrVariant {
    return `pitr_${days}` as PitrVariant;
}

/**
 * Compute sizes Supabase does not run PITR on ("PITR requires a Small compute add-on or larger"); no
 * compute_instance add-on at all means the plan's default (Nano/Micro). components/supabase/pitr.ts
 * keeps its own copy (its provider is serialized into the Pulumi state); a test keeps the two equal.
 */
export const COMPUTE_TOO_SMALL_FOR_PITR: readonly string[] = ["ci_nano", "ci_micro"];

/** The compute add-on selected, or null when none is (the plan's default size). */
export function selectedCompute(addons: AddonsResponse): string | null {
    return (addons.selected_addons ?? []).find((x) => x.type === "compute_instance")?.variant?.id ?? null;
}

/** Why PITR cannot be turned on with this compute size, or undefined when it can. */
export function pitrComputeProblem(ref: string, compute: string | null): string | undefined {
    if (compute !== null && !COMPUTE_TOO_SMALL_FOR_PITR.includes(compute)) return undefined;
    return (
        `PITR needs a compute add-on of Small or larger; project ${ref} runs ${compute ?? "no compute add-on (the plan's default size)"}: ` +
        `upgrade it first (Dashboard → Project Settings → Compute and Disk, or PATCH /v1/projects/${ref}/billing/addons {"addon_type":"compute_instance","addon_variant":"ci_small"})`
    );
}

/** `POST /v1/projects/{ref}/branches` body (the fields this project sets). */
export interface CreateBranchBody {
    branch_name: string;
    git_branch?: string;
    persistent?: boolean;
    region?: string;
    with_data?: boolean;
}

export interface BranchResponse {
    id: string;
    name: string;
    project_ref: string;
    parent_project_ref: string;
    is_default: boolean;
    persistent: boolean;
    status: string;
    created_at: string;
    updated_at: string;
    [k: string]: unknown;
}

export class SupabaseApiError extends Error {
    constructor(
        message: string,
        readonly status: number | undefined,
        readonly method: string,
        readonly path: string,
        readonly body?: unknown,
    ) {
        super(message);
        this.name = "SupabaseApiError";
    }
}

export interface SupabaseApiOptions {
    /** base URL without /v1, default https://api.supabase.com */
    baseUrl?: string;
    token: string;
    /** attempts per request for 429 and (idempotent requests only) 5xx / network errors; default 4 */
    maxAttempts?: number;
    /** the longest single wait honoured from Retry-After, default 60 s; longer: fail with the advice */
    maxRetryWaitMs?: number;
    /** first backoff for 5xx / network errors, doubled per attempt; default 500 ms */
    backoffMs?: number;
    /** per-request timeout, default 30 s */
    timeoutMs?: number;
    fetch?: typeof fetch;
    sleep?: (ms: number) => Promise<void>;
}

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retry-After: delta-seconds or an HTTP date; X-RateLimit-Reset (unix seconds) as a fallback. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
    const ra = headers.get("retry-after");
    if (ra) {
        if (/^\d+(\.\d+)?$/.test(ra.trim())) return Math.round(parseFloat(ra) * 1000);
        const t = Date.parse(ra);
        if (!Number.isNaN(t)) return Math.max(0, t - now);
    }
    const reset = headers.get("x-ratelimit-reset");
    if (reset && /^\d+$/.test(reset)) {
        const v = parseInt(reset, 10);
        // Either seconds until reset or a unix time: a value above 10^9 is a timestamp.
        return v > 1e9 ? Math.max(0, v * 1000 - now) : v * 1000;
    }
    return undefined;
}

function describe(body: unknown): string {
    if (body && typeof body === "object") {
        const b = body as Record<string, unknown>;
        const m = b.message ?? b.error ?? b.msg;
        if (typeof m === "string") return m;
        try {
            return JSON.stringify(body).slice(0, 300);
        } catch {
            /* fall through */
        }
    }
    return typeof body === "string" ? body.slice(0, 300) : "";
}

/** A request as the retry loop sees it. */
interface Call {
    method: string;
    path: string;
    /** `METHOD /path`, for messages */
    what: string;
    body: unknown;
    idempotent: boolean;
}

interface Failed {
    ok: false;
    error: SupabaseApiError;
    /** try again after this long; undefined: give up with `error` */
    retryInMs?: number;
}

type Attempt<T> = { ok: true; value: T } | Failed;

/** JSON when it parses, else the text; undefined for an empty body. */
function parseBody(text: string): unknown {
    if (!text) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** The message for a refusal that is not retried: what to check for 401, 403 and 404. */
function refusal(status: number, what: string, suffix: string): string {
    switch (status) {
        case 401:
            return `Supabase Management API rejected the access token (401 Unauthorized) for ${what}${suffix}. Check SUPABASE_ACCESS_TOKEN: it must be a valid, unexpired personal access token (sbp_…) or OAuth token`;
        case 403:
            return `Supabase Management API refused ${what} (403 Forbidden)${suffix}. The token is valid but lacks permission for this project or action (scoped token, or a role below Owner/Admin for billing and restores)`;
        case 404:
            return `Supabase Management API: not found (404) for ${what}${suffix}. Check supabase.projectRef in the config and that the token's account can see that project`;
        default:
            return `Supabase Management API refused ${what} (${status})${suffix}`;
    }
}

export class SupabaseApi {
    readonly baseUrl: string;
    private readonly token: string;
    private readonly opts: Required<Omit<SupabaseApiOptions, "baseUrl" | "token">>;

    constructor(o: SupabaseApiOptions) {
        if (!o.token) throw new Error("no Management API token: set SUPABASE_ACCESS_TOKEN");
        registerSecret(o.token);
        this.token = o.token;
        this.baseUrl = (o.baseUrl ?? DEFAULT_API_URL).replace(/\/+$/, "").replace(/\/v1$/, "");
        this.opts = {
            maxAttempts: o.maxAttempts ?? 4,
            maxRetryWaitMs: o.maxRetryWaitMs ?? 60_000,
            backoffMs: o.backoffMs ?? 500,
            timeoutMs: o.timeoutMs ?? 30_000,
            fetch: o.fetch ?? fetch,
            sleep: o.sleep ?? sleepMs,
        };
    }

    /**
     * One API call. `idempotent` requests are retried on 5xx and network errors; every request is retried
     * on 429 (the server refused it before doing anything), honouring Retry-After.
     */
    async request<T>(method: string, path: string, body?: unknown, idempotent = method === "GET" || method === "DELETE" || method === "PATCH" || method === "PUT"): Promise<T> {
        const call: Call = { method, path, what: `${method} ${path}`, body, idempotent };
        let lastError: SupabaseApiError | undefined;
        for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
            const outcome = await this.attempt<T>(call, attempt);
            if (outcome.ok) return outcome.value;
            lastError = outcome.error;
            if (outcome.retryInMs === undefined) throw outcome.error;
            await this.opts.sleep(outcome.retryInMs);
        }
        throw lastError ?? new Error(`${call.what}: no attempt made`);
    }

    /** One HTTP exchange: the parsed body, or the error and whether (after how long) to try again. */
    private async attempt<T>(call: Call, attempt: number): Promise<Attempt<T>> {
        let res: Response;
        try {
            res = await this.opts.fetch(`${this.baseUrl}${call.path}`, {
                method: call.method,
                headers: {
                    authorization: `Bearer ${this.token}`,
                    accept: "application/json",
                    ...(call.body !== undefined ? { "content-type": "application/json" } : {}),
                    "user-agent": "supabase-backups/0.1.0",
                },
                body: call.body !== undefined ? JSON.stringify(call.body) : undefined,
                signal: AbortSignal.timeout(this.opts.timeoutMs),
            });
        } catch (e) {
            const cause = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
            const error = new SupabaseApiError(`Supabase Management API unreachable (${call.what} at ${this.baseUrl}): ${cause}`, undefined, call.method, call.path);
            return { ok: false, error, retryInMs: call.idempotent ? this.backoff(attempt) : undefined };
        }
        const parsed = parseBody(await res.text());
        if (res.ok) return { ok: true, value: parsed as T };
        return this.failure(call, res, parsed, attempt);
    }

    /** A refused request: the message says what to do; 429 and (idempotent) 5xx may be retried. */
    private failure(call: Call, res: Response, parsed: unknown, attempt: number): Failed {
        const { what } = call;
        const error = (message: string) => new SupabaseApiError(message, res.status, call.method, call.path, parsed);
        const detail = describe(parsed);
        const suffix = detail ? `: ${detail}` : "";
        if (res.status === 429) {
            const wait = retryAfterMs(res.headers);
            const waitText = wait !== undefined ? `; the server asks to retry after ${Math.ceil(wait / 1000)} s` : "";
            const ms = wait ?? this.opts.backoffMs * 2 ** (attempt - 1);
            return {
                ok: false,
                error: error(`Supabase Management API rate limit hit (429 Too Many Requests) for ${what}, ${attempt} attempt(s)${waitText}. Wait and rerun; other tools sharing the token count against the same limit`),
                retryInMs: this.lastAttempt(attempt) || ms > this.opts.maxRetryWaitMs ? undefined : ms,
            };
        }
        if (res.status >= 500) {
            const retried = call.idempotent ? ` (after ${attempt} attempt(s))` : " (not retried: the request may have been applied; check the dashboard before retrying)";
            return { ok: false, error: error(`Supabase Management API server error ${res.status} for ${what}${suffix}${retried}`), retryInMs: call.idempotent ? this.backoff(attempt) : undefined };
        }
        return { ok: false, error: error(refusal(res.status, what, suffix)) };
    }

    private lastAttempt(attempt: number): boolean {
        return attempt >= this.opts.maxAttempts;
    }

    /** The wait before the next attempt after a network error or 5xx; undefined on the last attempt. */
    private backoff(attempt: number): number | undefined {
        return this.lastAttempt(attempt) ? undefined : this.opts.backoffMs * 2 ** (attempt - 1);
    }

    private p(ref: string, rest: string): string {
        if (!/^[a-z]{20}$/.test(ref)) throw new Error(`not a Supabase project ref: "${ref}" (20 lowercase letters)`);
        return `/v1/projects/${ref}${rest}`;
    }

    /** `GET /v1/projects/{ref}`: the project, with its database's host and version. */
    getProject(ref: string): Promise<ProjectResponse> {
        return this.request<ProjectResponse>("GET", this.p(ref, ""));
    }

    listBackups(ref: string): Promise<BackupsResponse> {
        return this.request<BackupsResponse>("GET", this.p(ref, "/database/backups"));
    }

    /** Starts a PITR restore of the project's database to `targetUnix` (seconds). The project goes down. */
    restorePitr(ref: string, targetUnix: number): Promise<unknown> {
        return this.request("POST", this.p(ref, "/database/backups/restore-pitr"), { recovery_time_target_unix: Math.floor(targetUnix) }, false);
    }

    listAddons(ref: string): Promise<AddonsResponse> {
        return this.request<AddonsResponse>("GET", this.p(ref, "/billing/addons"));
    }

    applyAddon(ref: string, addonType: string, addonVariant: string): Promise<unknown> {
        return this.request("PATCH", this.p(ref, "/billing/addons"), { addon_variant: addonVariant, addon_type: addonType });
    }

    removeAddon(ref: string, addonVariant: string): Promise<unknown> {
        return this.request("DELETE", this.p(ref, `/billing/addons/${encodeURIComponent(addonVariant)}`));
    }

    createBranch(ref: string, body: CreateBranchBody): Promise<BranchResponse> {
        return this.request<BranchResponse>("POST", this.p(ref, "/branches"), body, false);
    }
}

/** The PITR add-on currently selected, if any. */
export function selectedPitr(addons: AddonsResponse): PitrVariant | undefined {
    const a = (addons.selected_addons ?? []).find((x) => x.type === "pitr");
    const id = a?.variant?.id;
    return id && (PITR_VARIANTS as readonly string[]).includes(id) ? (id as PitrVariant) : undefined;
}

/** The PITR window as dates, if Supabase reports one. */
export function pitrWindow(b: BackupsResponse): { earliest: Date; latest: Date } | undefined {
    const e = b.physical_backup_data?.earliest_physical_backup_date_unix;
    const l = b.physical_backup_data?.latest_physical_backup_date_unix;
    if (!e || !l) return undefined;
    return { earliest: new Date(e * 1000), latest: new Date(l * 1000) };
}

/** The newest COMPLETED backup's time. */
export function newestBackup(b: BackupsResponse): { at: Date; physical: boolean } | undefined {
    let best: { at: Date; physical: boolean } | undefined;
    for (const x of b.backups ?? []) {
        if (String(x.status).toUpperCase() !== "COMPLETED") continue;
        const at = new Date(x.inserted_at);
        if (Number.isNaN(at.getTime())) continue;
        if (!best || at > best.at) best = { at, physical: !!x.is_physical_backup };
    }
    return best;
}
