// A local stand-in for the Supabase Management API (https://api.supabase.com/v1) that follows the
// published shapes for the endpoints this project uses: paths, request bodies, status codes and the
// `{ "message": … }` error body. It records every request (the bearer token is recorded only as
// whether it matched) so tests can assert on exactly what the code sent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { readStackFile } from "@supabase-backups/contracts";

export interface FakeBackup {
    is_physical_backup: boolean;
    status: "COMPLETED" | "FAILED" | "IN_PROGRESS";
    inserted_at: string;
}

export interface FakeProject {
    ref: string;
    region: string;
    backups: FakeBackup[];
    /** selected add-ons: type → variant id */
    addons: Record<string, string>;
    /** PITR window (unix seconds); filled when PITR is on */
    window?: { earliest: number; latest: number };
    /** restores requested (recovery_time_target_unix) */
    restores: number[];
    branches: Array<Record<string, unknown>>;
    status: string;
    /** database.version as GET /v1/projects/{ref} reports it (Supabase's image version) */
    postgresVersion: string;
}

export interface RecordedRequest {
    method: string;
    path: string;
    body: unknown;
    authorized: boolean;
    status: number;
}

export interface Injected {
    /** match on "METHOD /path" prefix (e.g. "GET /v1/projects/abc/database/backups") */
    match: string;
    status: number;
    times: number;
    headers?: Record<string, string>;
    body?: unknown;
}

export interface FakeSupabaseApi {
    url: string;
    token: string;
    projects: Map<string, FakeProject>;
    requests: RecordedRequest[];
    addProject(ref: string, init?: Partial<FakeProject>): FakeProject;
    /** answer the next `times` requests matching `match` with `status` (e.g. 429 with Retry-After) */
    inject(i: Injected): void;
    /** forget projects, recorded requests and injected answers */
    reset(): void;
    stop(): Promise<void>;
}

const PITR_VARIANTS = ["pitr_7", "pitr_14", "pitr_28"];
const COMPUTE_VARIANTS = ["ci_nano", "ci_micro", "ci_small", "ci_medium", "ci_large", "ci_xlarge", "ci_2xlarge", "ci_4xlarge", "ci_8xlarge", "ci_12xlarge", "ci_16xlarge"];
const ADDON_TYPES = ["custom_domain", "compute_instance", "pitr", "ipv4", "auth_mfa_phone", "auth_mfa_web_authn", "log_drain"];

function variantInfo(id: string) {
    if (id.startsWith("pitr_")) {
        const days = id.slice(5);
        const amount = { "7": 100, "14": 200, "28": 400 }[days] ?? 0;
        return { id, name: `${days} days`, price: { description: `$${amount}/month`, type: "fixed", interval: "monthly", amount } };
    }
    return { id, name: id, price: { description: "", type: "fixed", interval: "monthly", amount: 0 } };
}

function availableAddons() {
    return [
        { type: "pitr", name: "Point in time recovery", variants: PITR_VARIANTS.map(variantInfo) },
        { type: "compute_instance", name: "Compute size", variants: COMPUTE_VARIANTS.map(variantInfo) },
        { type: "ipv4", name: "Dedicated IPv4 address", variants: [variantInfo("ipv4_default")] },
        { type: "custom_domain", name: "Custom domain", variants: [variantInfo("cd_default")] },
    ];
}

function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        let s = "";
        req.setEncoding("utf8");
        req.on("data", (d) => (s += d));
        req.on("end", () => resolve(s));
        req.on("error", reject);
    });
}

export async function startFakeSupabaseApi(opts: { token?: string; now?: () => number; /** default 127.0.0.1 */ host?: string } = {}): Promise<FakeSupabaseApi> {
    const token = opts.token ?? "sbp_" + "f".repeat(8) + Math.random().toString(36).slice(2, 14);
    const now = opts.now ?? (() => Date.now());
    const projects = new Map<string, FakeProject>();
    const requests: RecordedRequest[] = [];
    const injected: Injected[] = [];

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const method = req.method ?? "GET";
        const url = new URL(req.url ?? "/", "http://localhost");
        const path = url.pathname;
        const raw = await readBody(req);
        let body: unknown = undefined;
        let badJson = false;
        if (raw) {
            try {
                body = JSON.parse(raw);
            } catch {
                badJson = true;
            }
        }
        const authorized = req.headers.authorization === `Bearer ${token}`;
        const rec: RecordedRequest = { method, path, body, authorized, status: 0 };
        requests.push(rec);
        const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
            rec.status = status;
            const text = payload === undefined ? "" : JSON.stringify(payload);
            res.writeHead(status, { "content-type": "application/json", ...headers });
            res.end(text);
        };
        const error = (status: number, message: string, headers: Record<string, string> = {}) => send(status, { message }, headers);

        const inj = injected.find((i) => i.times > 0 && `${method} ${path}`.startsWith(i.match));
        if (inj) {
            inj.times--;
            return send(inj.status, inj.body ?? { message: inj.status === 429 ? "Too many requests" : `Injected ${inj.status}` }, inj.headers);
        }
        if (!req.headers.authorization) return error(401, "No API key found in request");
        if (!authorized) return error(401, "Unauthorized");
        if (badJson) return error(400, "Invalid JSON body");

        const m = /^\/v1\/projects\/([^/]+)(\/.*)?$/.exec(path);
        if (!m) return error(404, "Cannot " + method + " " + path);
        const ref = m[1];
        const rest = m[2] ?? "";
        if (!/^[a-z]{20}$/.test(ref)) return error(400, "ref must be 20 lowercase letters");
        const p = projects.get(ref);
        if (!p) return error(404, `Project ${ref} not found`);

        if (method === "GET" && rest === "") {
            // V1ProjectWithDatabaseResponse (the fields this project reads)
            const engine = p.postgresVersion.split(".")[0];
            return send(200, { ref: p.ref, region: p.region, status: p.status, database: { host: `db.${p.ref}.supabase.co`, version: p.postgresVersion, postgres_engine: engine, release_channel: "ga" } });
        }
        if (method === "GET" && rest === "/database/backups") {
            const pitr = p.addons.pitr !== undefined;
            return send(200, {
                region: p.region,
                walg_enabled: pitr || p.backups.some((b) => b.is_physical_backup),
                pitr_enabled: pitr,
                backups: p.backups,
                physical_backup_data: pitr && p.window ? { earliest_physical_backup_date_unix: p.window.earliest, latest_physical_backup_date_unix: p.window.latest } : {},
            });
        }
        if (method === "POST" && rest === "/database/backups/restore-pitr") {
            const b = body as Record<string, unknown> | undefined;
            const raw = b?.recovery_time_target_unix;
            const t = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw;
            if (typeof t !== "number" || !Number.isInteger(t) || t < 0) return error(400, "recovery_time_target_unix must be an integer (unix seconds)");
            if (p.addons.pitr === undefined || !p.window) return error(400, "Point in time recovery is not enabled for this project");
            if (t < p.window.earliest || t > p.window.latest) return error(400, `recovery_time_target_unix ${t} is outside the available range ${p.window.earliest}-${p.window.latest}`);
            p.restores.push(t);
            p.status = "RESTORING";
            return send(201, {});
        }
        if (method === "GET" && rest === "/billing/addons") {
            return send(200, {
                selected_addons: Object.entries(p.addons).map(([type, v]) => ({ type, variant: variantInfo(v) })),
                available_addons: availableAddons(),
            });
        }
        if (method === "PATCH" && rest === "/billing/addons") {
            const b = (body ?? {}) as Record<string, unknown>;
            if (typeof b.addon_type !== "string" || typeof b.addon_variant !== "string") return error(400, "addon_variant and addon_type are required");
            if (!ADDON_TYPES.includes(b.addon_type)) return error(400, `addon_type must be one of ${ADDON_TYPES.join(", ")}`);
            const ok = b.addon_type === "pitr" ? PITR_VARIANTS.includes(b.addon_variant) : b.addon_type === "compute_instance" ? COMPUTE_VARIANTS.includes(b.addon_variant) : true;
            if (!ok) return error(400, `addon_variant ${b.addon_variant} is not a variant of ${b.addon_type}`);
            // Supabase runs PITR only on a Small compute add-on or larger (no compute add-on: the plan's default size)
            const compute = p.addons.compute_instance;
            if (b.addon_type === "pitr" && (compute === undefined || compute === "ci_nano" || compute === "ci_micro")) {
                return error(400, "Point in time recovery requires a compute add-on of Small or larger. Upgrade the project's compute first.");
            }
            p.addons[b.addon_type] = b.addon_variant;
            if (b.addon_type === "pitr") {
                const t = Math.floor(now() / 1000);
                p.window = p.window ?? { earliest: t, latest: t };
            }
            return send(200);
        }
        const del = /^\/billing\/addons\/([^/]+)$/.exec(rest);
        if (method === "DELETE" && del) {
            const variant = decodeURIComponent(del[1]);
            const type = Object.keys(p.addons).find((k) => p.addons[k] === variant);
            if (!type) return error(400, `Addon variant ${variant} is not applied to this project`);
            delete p.addons[type];
            if (type === "pitr") p.window = undefined;
            return send(200);
        }
        if (method === "POST" && rest === "/branches") {
            const b = (body ?? {}) as Record<string, unknown>;
            if (typeof b.branch_name !== "string" || !b.branch_name) return error(400, "branch_name is required");
            if (p.branches.some((x) => x.name === b.branch_name)) return error(409, `Branch ${b.branch_name} already exists`);
            const letters = "abcdefghijklmnopqrstuvwxyz";
            const branchRef = Array.from({ length: 20 }, () => letters[Math.floor(Math.random() * 26)]).join("");
            const at = new Date(now()).toISOString();
            const branch = {
                id: cryptoRandomId(),
                name: b.branch_name,
                project_ref: branchRef,
                parent_project_ref: ref,
                is_default: false,
                git_branch: b.git_branch,
                persistent: !!b.persistent,
                status: "CREATING_PROJECT",
                created_at: at,
                updated_at: at,
                with_data: !!b.with_data,
            };
            p.branches.push(branch);
            return send(201, branch);
        }
        return error(404, `Cannot ${method} ${path}`);
    };

    const server: Server = createServer((req, res) => {
        handle(req, res).catch((e) => {
            res.writeHead(500, { "content-type": "application/json" });
            res.end(JSON.stringify({ message: String(e) }));
        });
    });
    const host = opts.host ?? "127.0.0.1";
    await new Promise<void>((r) => server.listen(0, host, r));
    const port = (server.address() as AddressInfo).port;
    return {
        url: `http://${host}:${port}`,
        token,
        projects,
        requests,
        addProject(ref, init = {}) {
            const p: FakeProject = { ref, region: "ap-southeast-1", backups: [], addons: {}, restores: [], branches: [], status: "ACTIVE_HEALTHY", postgresVersion: stackPostgresVersion(ref), ...init };
            projects.set(ref, p);
            return p;
        },
        inject(i) {
            injected.push({ ...i });
        },
        reset() {
            projects.clear();
            requests.length = 0;
            injected.length = 0;
        },
        async stop() {
            server.closeAllConnections?.();
            await new Promise<void>((r) => server.close(() => r()));
        },
    };
}

function cryptoRandomId(): string {
    return "br_" + Math.random().toString(36).slice(2, 12);
}

/** The project as its stack file describes it: the Postgres version of the stack whose projectRef it is. */
function stackPostgresVersion(ref: string): string {
    for (const stack of ["staging", "prod"]) {
        const f = readStackFile(join(__dirname, "..", "..", `Pulumi.${stack}.yaml`));
        const s = f.values.supabase as { projectRef?: string; postgresVersion?: string } | undefined;
        if (s?.projectRef === ref && s.postgresVersion) return s.postgresVersion;
    }
    return "17.6.1.011";
}
