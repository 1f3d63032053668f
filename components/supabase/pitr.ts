// The Supabase PITR add-on as a Pulumi dynamic resource, over the Management API (no Supabase provider
// is published on the Pulumi registry). One resource per project:
//   required: true  → the `pitr` add-on must be selected with variant pitr_<days> (7, 14 or 28; default 7):
//                     create/update PATCH /v1/projects/{ref}/billing/addons {addon_type:"pitr", addon_variant},
//                     read GET …/billing/addons (drift shows as a diff), delete DELETE …/billing/addons/{variant}.
//   required: false → observed only: nothing is changed on create, update or delete (PITR bought by hand
//                     is never switched off by this stack).
//
// Credentials never travel as resource inputs (inputs are stored in the state): the provider reads the
// token from provider configuration (`pulumi config set --secret pulumi-nodejs:supabaseAccessToken …`,
// or the stack's `supabase-backups:managementApiToken` when the engine passes it) or from the
// SUPABASE_ACCESS_TOKEN environment variable of the `pulumi` process.
//
// Everything the provider runs is in this file and uses only globals (fetch, AbortSignal, setTimeout):
// Pulumi serializes the provider's closure into the state and runs it in a separate process.
import * as pulumi from "@pulumi/pulumi";

export type PitrDays = 7 | 14 | 28;

/** What the resource stores (no secrets). */
export interface PitrState {
    projectRef: string;
    apiUrl: string;
    required: boolean;
    days: PitrDays | null;
    /** the variant this resource wants selected (null when not required) */
    desiredVariant: string | null;
    /** the variant Supabase reported selected when last read or written */
    variant: string | null;
    /** true when this resource applied the add-on (and so removes it on delete) */
    managed: boolean;
}

export interface PitrInputs {
    projectRef: string;
    apiUrl: string;
    required: boolean;
    days: PitrDays | null;
}

const TOKEN_KEYS = ["pulumi-nodejs:supabaseAccessToken", "supabase-backups:managementApiToken", "supabase:accessToken"];

/**
 * Compute sizes Supabase does not run PITR on (Small or larger is needed; no compute add-on = the plan's
 * default size). The jobs' copy is jobs/src/supabase/api.ts COMPUTE_TOO_SMALL_FOR_PITR: this file must
 * stay self-contained (the provider is serialized into the state); a test keeps the two equal.
 */
export const PITR_COMPUTE_TOO_SMALL: readonly string[] = ["ci_nano", "ci_micro"];

/**
 * Why the project cannot have PITR yet (its compute add-on is below Small), or undefined. Read from
 * GET …/billing/addons; when the add-ons cannot be read (no token, no billing right, API down) nothing
 * is claimed here and create/update report what the API says.
 */
export async function pitrComputeRefusal(apiUrl: string, token: string | undefined, ref: string, opts: { sleep?: (ms: number) => Promise<void> } = {}): Promise<string | undefined> {
    if (!token) return undefined;
    let addons: any;
    try {
        addons = await managementApi(apiUrl, token, "GET", `/v1/projects/${ref}/billing/addons`, undefined, { ...opts, maxAttempts: 2 });
    } catch {
        return undefined;
    }
    const compute: string | null = (addons?.selected_addons ?? []).find((a: any) => a?.type === "compute_instance")?.variant?.id ?? null;
    if (compute !== null && !PITR_COMPUTE_TOO_SMALL.includes(compute)) return undefined;
    return (
        `PITR needs a compute add-on of Small or larger; project ${ref} runs ${compute ?? "no compute add-on (the plan's default size)"}: ` +
        `upgrade it first (Dashboard → Project Settings → Compute and Disk, or PATCH /v1/projects/${ref}/billing/addons {"addon_type":"compute_instance","addon_variant":"ci_small"}), then run pulumi up again`
    );
}

/** A Management API call with the same error contract as the jobs' client, self-contained. */
export async function managementApi(
    apiUrl: string,
    token: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    opts: { maxAttempts?: number; sleep?: (ms: number) => Promise<void>; maxRetryWaitMs?: number } = {},
): Promise<any> {
    if (!token) {
        throw new Error(
            "no Supabase Management API token for the PITR add-on: set SUPABASE_ACCESS_TOKEN in the environment of `pulumi`, " +
                "or `pulumi config set --secret pulumi-nodejs:supabaseAccessToken <token>`",
        );
    }
    const base = apiUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const maxAttempts = opts.maxAttempts ?? 4;
    const what = `${method} ${path}`;
    for (let attempt = 1; ; attempt++) {
        let res: Response;
        try {
            res = await fetch(base + path, {
                method,
                headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
                body: body === undefined ? undefined : JSON.stringify(body),
                signal: AbortSignal.timeout(30_000),
            });
        } catch (e: any) {
            if (attempt >= maxAttempts) throw new Error(`Supabase Management API unreachable (${what} at ${base}): ${e?.cause?.message ?? e?.message ?? e}`);
            await sleep(500 * 2 ** (attempt - 1));
            continue;
        }
        const text = await res.text();
        let parsed: any = undefined;
        try {
            parsed = text ? JSON.parse(text) : undefined;
        } catch {
            parsed = text;
        }
        if (res.ok) return parsed;
        const detail = parsed && typeof parsed === "object" && typeof parsed.message === "string" ? `: ${parsed.message}` : typeof parsed === "string" && parsed ? `: ${parsed.slice(0, 200)}` : "";
        if (res.status === 401) throw new Error(`Supabase Management API rejected the access token (401 Unauthorized) for ${what}${detail}. Check SUPABASE_ACCESS_TOKEN / pulumi-nodejs:supabaseAccessToken`);
        if (res.status === 403) throw new Error(`Supabase Management API refused ${what} (403 Forbidden)${detail}. The token lacks permission for this project's billing (Owner/Admin needed)`);
        if (res.status === 404) throw Object.assign(new Error(`Supabase Management API: not found (404) for ${what}${detail}. Check supabase.projectRef`), { status: 404 });
        if (res.status === 429 || res.status >= 500) {
            const ra = res.headers.get("retry-after");
            const wait = ra && /^\d+$/.test(ra) ? parseInt(ra, 10) * 1000 : 500 * 2 ** (attempt - 1);
            if (attempt >= maxAttempts || wait > (opts.maxRetryWaitMs ?? 60_000)) {
                throw new Error(
                    res.status === 429
                        ? `Supabase Management API rate limit hit (429 Too Many Requests) for ${what} after ${attempt} attempt(s)${ra ? `; retry after ${ra} s` : ""}`
                        : `Supabase Management API server error ${res.status} for ${what}${detail} (after ${attempt} attempt(s))`,
                );
            }
            await sleep(wait);
            continue;
        }
        throw new Error(`Supabase Management API refused ${what} (${res.status})${detail}`);
    }
}

interface ProviderSelf {
    token?: string;
}

/**
 * The dynamic provider. `env` is read at call time in the provider's own process; `configure` picks the
 * token from provider configuration when the engine passes one.
 */
export function createPitrProvider(options: { sleep?: (ms: number) => Promise<void> } = {}): pulumi.dynamic.ResourceProvider<PitrInputs, PitrState> & ProviderSelf {
    const provider: pulumi.dynamic.ResourceProvider<PitrInputs, PitrState> & ProviderSelf = {
        async configure(req: pulumi.dynamic.ConfigureRequest) {
            for (const k of TOKEN_KEYS) {
                const v = req.config.get(k);
                if (v) {
                    provider.token = v;
                    return;
                }
            }
        },

        async check(_olds: PitrInputs, news: PitrInputs) {
            const failures: pulumi.dynamic.CheckFailure[] = [];
            if (typeof news.projectRef !== "string" || !/^[a-z]{20}$/.test(news.projectRef)) failures.push({ property: "projectRef", reason: "must be a Supabase project ref: 20 lowercase letters" });
            if (news.required && news.days !== null && news.days !== undefined && ![7, 14, 28].includes(news.days)) failures.push({ property: "days", reason: "PITR window must be 7, 14 or 28 days" });
            try {
                new URL(news.apiUrl);
            } catch {
                failures.push({ property: "apiUrl", reason: "must be an absolute URL" });
            }
            const inputs: PitrInputs = { projectRef: news.projectRef, apiUrl: news.apiUrl, required: !!news.required, days: news.required ? ((news.days ?? 7) as PitrDays) : null };
            // Checked here so `pulumi preview` says it (check runs in preview; create does not).
            if (inputs.required && failures.length === 0) {
                const refusal = await pitrComputeRefusal(inputs.apiUrl, provider.token ?? process.env.SUPABASE_ACCESS_TOKEN, inputs.projectRef, options);
                if (refusal) failures.push({ property: "required", reason: refusal });
            }
            return { inputs, failures };
        },

        async diff(_id: string, olds: PitrState, news: PitrInputs) {
            const replaces: string[] = [];
            if (olds.projectRef !== news.projectRef) replaces.push("projectRef");
            const want = news.required ? `pitr_${news.days ?? 7}` : null;
            const changes =
                replaces.length > 0 ||
                olds.required !== !!news.required ||
                olds.apiUrl !== news.apiUrl ||
                olds.desiredVariant !== want ||
                // drift: the add-on was changed or removed outside Pulumi
                (want !== null && olds.variant !== want);
            return { changes, replaces, deleteBeforeReplace: true };
        },

        async create(inputs: PitrInputs) {
            const token = provider.token ?? process.env.SUPABASE_ACCESS_TOKEN;
            const want = inputs.required ? `pitr_${inputs.days ?? 7}` : null;
            const path = `/v1/projects/${inputs.projectRef}/billing/addons`;
            if (want) await managementApi(inputs.apiUrl, token, "PATCH", path, { addon_variant: want, addon_type: "pitr" }, options);
            const addons = await managementApi(inputs.apiUrl, token, "GET", path, undefined, options);
            const sel = (addons?.selected_addons ?? []).find((a: any) => a?.type === "pitr");
            const variant: string | null = sel?.variant?.id ?? null;
            if (want && variant !== want) throw new Error(`Supabase accepted the PITR add-on ${want} but reports ${variant ?? "no PITR add-on"} selected for ${inputs.projectRef}`);
            const outs: PitrState = { projectRef: inputs.projectRef, apiUrl: inputs.apiUrl, required: !!inputs.required, days: want ? ((inputs.days ?? 7) as PitrDays) : null, desiredVariant: want, variant, managed: !!want };
            return { id: `${inputs.projectRef}/pitr`, outs };
        },

        async read(id: string, props?: PitrState) {
            if (!props) {
                // import: `pulumi import … <ref>/pitr`
                const ref = id.split("/")[0];
                props = { projectRef: ref, apiUrl: "https://api.supabase.com", required: false, days: null, desiredVariant: null, variant: null, managed: false };
            }
            const token = provider.token ?? process.env.SUPABASE_ACCESS_TOKEN;
            const addons = await managementApi(props.apiUrl, token, "GET", `/v1/projects/${props.projectRef}/billing/addons`, undefined, options);
            const sel = (addons?.selected_addons ?? []).find((a: any) => a?.type === "pitr");
            return { id, props: { ...props, variant: sel?.variant?.id ?? null } };
        },

        async update(_id: string, _olds: PitrState, news: PitrInputs) {
            const token = provider.token ?? process.env.SUPABASE_ACCESS_TOKEN;
            const want = news.required ? `pitr_${news.days ?? 7}` : null;
            const path = `/v1/projects/${news.projectRef}/billing/addons`;
            if (want) await managementApi(news.apiUrl, token, "PATCH", path, { addon_variant: want, addon_type: "pitr" }, options);
            const addons = await managementApi(news.apiUrl, token, "GET", path, undefined, options);
            const sel = (addons?.selected_addons ?? []).find((a: any) => a?.type === "pitr");
            const variant: string | null = sel?.variant?.id ?? null;
            if (want && variant !== want) throw new Error(`Supabase accepted the PITR add-on ${want} but reports ${variant ?? "no PITR add-on"} selected for ${news.projectRef}`);
            return {
                outs: { projectRef: news.projectRef, apiUrl: news.apiUrl, required: !!news.required, days: want ? ((news.days ?? 7) as PitrDays) : null, desiredVariant: want, variant, managed: !!want },
            };
        },

        async delete(_id: string, props: PitrState) {
            if (!props.managed) return; // observed only: never switch off PITR this resource did not turn on
            const token = provider.token ?? process.env.SUPABASE_ACCESS_TOKEN;
            let addons: any;
            try {
                addons = await managementApi(props.apiUrl, token, "GET", `/v1/projects/${props.projectRef}/billing/addons`, undefined, options);
            } catch (e: any) {
                if (e?.status === 404) return; // the project itself is gone, and its add-on with it
                throw e;
            }
            const sel = (addons?.selected_addons ?? []).find((a: any) => a?.type === "pitr");
            const variant: string | undefined = sel?.variant?.id;
            if (!variant) return; // already gone
            await managementApi(props.apiUrl, token, "DELETE", `/v1/projects/${props.projectRef}/billing/addons/${encodeURIComponent(variant)}`, undefined, options);
        },
    };
    return provider;
}

const pitrProvider = createPitrProvider();

export interface SupabasePitrArgs {
    projectRef: pulumi.Input<string>;
    apiUrl?: pulumi.Input<string>;
    /** manage the add-on (true) or only observe it (false) */
    required: pulumi.Input<boolean>;
    /** 7, 14 or 28; default 7 when required */
    days?: pulumi.Input<number | undefined>;
    /**
     * Accepted for the stack's hook signature and deliberately NOT sent as an input (inputs land in the
     * state, and the provider's closure is serialized into the state too): the provider process reads
     * the token from provider config or from SUPABASE_ACCESS_TOKEN in the environment of `pulumi`.
     */
    managementApiToken?: pulumi.Input<string>;
}

/** The PITR add-on of one Supabase project (`supabase-backups:supabase:PitrAddon`). */
export class SupabasePitr extends pulumi.dynamic.Resource {
    declare readonly projectRef: pulumi.Output<string>;
    declare readonly variant: pulumi.Output<string | null>;
    declare readonly desiredVariant: pulumi.Output<string | null>;
    declare readonly managed: pulumi.Output<boolean>;
    readonly outputs: pulumi.Output<{ projectRef: string; variant: string | null; desiredVariant: string | null; managed: boolean }>;

    constructor(name: string, args: SupabasePitrArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            pitrProvider,
            name,
            {
                projectRef: args.projectRef,
                apiUrl: args.apiUrl ?? "https://api.supabase.com",
                required: args.required,
                days: pulumi.output(args.days).apply((d) => (d === undefined ? null : d)),
                desiredVariant: undefined,
                variant: undefined,
                managed: undefined,
            },
            { ...opts, additionalSecretOutputs: [] },
            "supabase",
            "PitrAddon",
        );
        this.outputs = pulumi
            .all([this.projectRef, this.variant, this.desiredVariant, this.managed])
            .apply(([projectRef, variant, desiredVariant, managed]) => ({ projectRef, variant, desiredVariant, managed }));
    }
}
