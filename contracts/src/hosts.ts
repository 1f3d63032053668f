// Where the jobs may send Supabase secrets. The Management API token goes to `supabase.apiUrl`, the
// service-role key to `supabase.url`, the Storage S3 keys to `storage.s3Endpoint`: a config-only change
// pointing one of them elsewhere would hand the secret to that host. So each must be one of Supabase's
// own hosts, a host the stack lists in `supabase.allowedHosts` (self-hosted Supabase), or loopback (the
// tests' local servers; inside a pod, loopback is the pod itself). Checked when a stack file is
// validated and when a job reads its config, before any request.

/** Supabase's Management API host. */
export const SUPABASE_API_HOST = "api.supabase.com";

/** Hosts that are always allowed: loopback, exactly as written (not the whole 127.0.0.0/8). */
export const LOOPBACK_HOSTS = ["127.0.0.1", "[::1]", "localhost"] as const;

export type SupabaseEndpoint = "apiUrl" | "url" | "s3Endpoint";

/** Supabase's own hosts for one endpoint of one project. */
export function supabaseHostsFor(endpoint: SupabaseEndpoint, projectRef: string): string[] {
    if (endpoint === "apiUrl") return [SUPABASE_API_HOST];
    // The project URL; the Storage S3 endpoint is `<project URL>/storage/v1/s3` or the storage subdomain.
    return endpoint === "url" ? [`${projectRef}.supabase.co`] : [`${projectRef}.supabase.co`, `${projectRef}.storage.supabase.co`];
}

/**
 * Why `url` may not receive this endpoint's secret, or undefined when it may. Plain http only to
 * loopback: a secret in clear text on the network is leaked too.
 */
export function endpointProblem(endpoint: SupabaseEndpoint, url: string, projectRef: string, allowedHosts: readonly string[]): string | undefined {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        return "not an absolute URL";
    }
    const host = u.hostname.toLowerCase();
    const loopback = (LOOPBACK_HOSTS as readonly string[]).includes(host);
    const own = supabaseHostsFor(endpoint, projectRef);
    const listed = allowedHosts.map((h) => h.toLowerCase()).includes(host);
    if (!loopback && !own.includes(host) && !listed) {
        return `host ${JSON.stringify(host)} is not Supabase's (${own.join(", ")}) nor in supabase.allowedHosts`;
    }
    if (u.username || u.password) return "credentials in the URL";
    // Clear text never leaves the machine on a loopback address (any of 127.0.0.0/8, listed or not).
    const onLoopback = loopback || /^127\.\d+\.\d+\.\d+$/.test(host);
    if (!onLoopback && u.protocol !== "https:") return `${u.protocol.replace(/:$/, "")} to a non-loopback host (https only)`;
    return undefined;
}
