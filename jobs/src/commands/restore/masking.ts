// Masking for restores into non-production targets (docs/security.md "Masking before exposure"): the
// config's rules plus DEFAULT_RULES for Supabase's auth secrets and PII, applied in one transaction to
// a copy nobody can reach yet (mask-stage.ts), then PROVEN: a query per rule counts the values that do
// not have the masked form, and every count must be 0 before the copy becomes the target.
import { randomBytes } from "node:crypto";
import type { Client } from "pg";
import type { StackConfig } from "@supabase-backups/contracts";
import { quoteIdent, quoteTable } from "../../postgres/ident";

export type MaskingRule = NonNullable<StackConfig["masking"]>["rules"][number];

/**
 * A rule's kind: the config's (email, null, redact, hash, name, phone) and the defaults' own:
 * `empty` (''), `json-empty` ('{}'), `app-meta` (raw_app_meta_data down to provider/providers),
 * `ip-zero` (0.0.0.0 for NOT NULL inet columns).
 */
export type MaskKind = MaskingRule["rule"] | "empty" | "json-empty" | "app-meta" | "ip-zero";

export interface MaskSpec {
    table: string;
    column: string;
    rule: MaskKind;
}

/**
 * Applied with --mask whenever the table and column exist (a config rule for the same column wins).
 * From GoTrue's schema (supabase/auth migrations): credentials and tokens, contact data, what users
 * typed into their metadata, what providers sent in identities, MFA secrets, session fingerprints.
 * raw_app_meta_data is set by the server and apps use it for authorization (roles, tenant), but it
 * also carries whatever an app put there: only `provider`/`providers` are kept. Tokens GoTrue reads as
 * strings become '' (GoTrue fails on NULL there); unique ones (refresh tokens) become salted hashes.
 */
export const DEFAULT_RULES: readonly MaskSpec[] = [
    ...(["email"] as const).map((column) => ({ table: "auth.users", column, rule: "email" as const })),
    ...(["encrypted_password", "phone"] as const).map((column) => ({ table: "auth.users", column, rule: "null" as const })),
    ...(["confirmation_token", "recovery_token", "email_change_token_new", "email_change_token_current", "email_change", "phone_change", "phone_change_token", "reauthentication_token"] as const).map(
        (column) => ({ table: "auth.users", column, rule: "empty" as const }),
    ),
    { table: "auth.users", column: "raw_user_meta_data", rule: "json-empty" },
    { table: "auth.users", column: "raw_app_meta_data", rule: "app-meta" },
    { table: "auth.identities", column: "identity_data", rule: "json-empty" },
    { table: "auth.identities", column: "provider_id", rule: "hash" },
    { table: "auth.mfa_factors", column: "secret", rule: "null" },
    { table: "auth.mfa_factors", column: "phone", rule: "null" },
    { table: "auth.mfa_factors", column: "web_authn_credential", rule: "null" },
    { table: "auth.mfa_challenges", column: "otp_code", rule: "null" },
    { table: "auth.mfa_challenges", column: "ip_address", rule: "ip-zero" },
    { table: "auth.mfa_challenges", column: "web_authn_session_data", rule: "null" },
    { table: "auth.refresh_tokens", column: "token", rule: "hash" },
    { table: "auth.sessions", column: "user_agent", rule: "null" },
    { table: "auth.sessions", column: "ip", rule: "null" },
    { table: "auth.one_time_tokens", column: "token_hash", rule: "hash" },
    { table: "auth.one_time_tokens", column: "relates_to", rule: "redact" },
    { table: "auth.flow_state", column: "auth_code", rule: "hash" },
    { table: "auth.flow_state", column: "code_challenge", rule: "hash" },
    { table: "auth.flow_state", column: "provider_access_token", rule: "null" },
    { table: "auth.flow_state", column: "provider_refresh_token", rule: "null" },
    { table: "auth.audit_log_entries", column: "payload", rule: "null" },
    { table: "auth.audit_log_entries", column: "ip_address", rule: "empty" },
    { table: "auth.saml_relay_states", column: "for_email", rule: "null" },
    { table: "public.profiles", column: "email", rule: "email" },
];

export const REDACTED = "[redacted]";
const APP_META_KEYS = ["provider", "providers"];

/**
 * The SET expression for a rule. Within one restore the same input masks to the same output (joins on
 * masked values still match); the per-restore salt keeps the hashes from being looked up in a
 * dictionary of known emails or names.
 */
export function maskExpression(rule: MaskKind, col: string, salt: string): string {
    if (!/^[0-9a-f]*$/.test(salt)) throw new Error("salt must be hex");
    const c = `'${salt}' || ${quoteIdent(col)}`;
    switch (rule) {
        case "email":
            return `'user+' || substr(md5(${c}::text), 1, 16) || '@example.com'`;
        case "null":
            return "NULL";
        case "redact":
            return `'${REDACTED}'`;
        case "hash":
            return `md5(${c}::text)`;
        case "name":
            return `'User ' || substr(md5(${c}::text), 1, 8)`;
        case "phone":
            return `'+1555' || lpad((abs(hashtext(${c}::text)) % 10000000)::text, 7, '0')`;
        case "empty":
            return "''";
        case "json-empty":
            return "'{}'::jsonb";
        case "app-meta":
            return `jsonb_strip_nulls(jsonb_build_object(${APP_META_KEYS.map((k) => `'${k}', ${quoteIdent(col)}::jsonb -> '${k}'`).join(", ")}))`;
        case "ip-zero":
            return "'0.0.0.0'::inet";
    }
}

/** A condition true for values that are NOT masked (the proof counts them). */
export function unmaskedCondition(rule: MaskKind, col: string): string {
    const c = `${quoteIdent(col)}::text`;
    switch (rule) {
        case "email":
            return `${c} !~ '^user\\+[0-9a-f]{16}@example\\.com$'`;
        case "null":
            return "true";
        case "redact":
            return `${c} <> '${REDACTED}'`;
        case "hash":
            return `${c} !~ '^[0-9a-f]{32}$'`;
        case "name":
            return `${c} !~ '^User [0-9a-f]{8}$'`;
        case "phone":
            return `${c} !~ '^\\+1555[0-9]{7}$'`;
        case "empty":
            return `${c} <> ''`;
        case "json-empty":
            return `${quoteIdent(col)}::jsonb <> '{}'::jsonb`;
        case "app-meta": {
            const j = `${quoteIdent(col)}::jsonb`;
            return `case when jsonb_typeof(${j}) <> 'object' then true else exists (select 1 from jsonb_object_keys(${j}) k where k not in (${APP_META_KEYS.map((k) => `'${k}'`).join(", ")})) end`;
        }
        case "ip-zero":
            return `${c} <> '0.0.0.0/32'`;
    }
}

export interface MaskTarget {
    rule: MaskSpec;
    /** where the table is in the copy being masked (its own schema, or the staging schema) */
    schema: string;
    table: string;
    /** what the report calls it (the table's name in the target) */
    label: string;
}

export interface MaskResult {
    rule: string;
    table: string;
    column: string;
    updated: number;
    /** values left that do not have the masked form (must be 0) */
    unmasked: number;
}

/** Which of the default rules' columns exist in the copy (information_schema), as schema.table.column. */
export async function existingColumns(c: Client, specs: readonly MaskSpec[], schemaOf: (table: string) => string | undefined): Promise<Set<string>> {
    const wanted = specs.flatMap((s) => {
        const schema = schemaOf(s.table);
        return schema === undefined ? [] : [[schema, s.table.split(".")[1], s.column]];
    });
    if (!wanted.length) return new Set();
    const r = await c.query(
        `select table_schema || '.' || table_name || '.' || column_name as k from information_schema.columns
         where (table_schema, table_name, column_name) in (select * from unnest($1::text[], $2::text[], $3::text[]))`,
        [wanted.map((w) => w[0]), wanted.map((w) => w[1]), wanted.map((w) => w[2])],
    );
    return new Set(r.rows.map((x) => x.k as string));
}

/**
 * Apply every rule in one transaction, then prove each. Triggers are not disabled: masking is an
 * ordinary UPDATE. Throws on any SQL error (the caller drops the copy).
 */
export async function applyMasking(c: Client, targets: MaskTarget[], salt: string = randomBytes(8).toString("hex")): Promise<MaskResult[]> {
    const results: MaskResult[] = [];
    await c.query("begin");
    try {
        for (const t of targets) {
            const tbl = quoteTable(t.schema, t.table);
            const r = await c.query(`update ${tbl} set ${quoteIdent(t.rule.column)} = ${maskExpression(t.rule.rule, t.rule.column, salt)} where ${quoteIdent(t.rule.column)} is not null`);
            results.push({ rule: t.rule.rule, table: t.label, column: t.rule.column, updated: r.rowCount ?? 0, unmasked: -1 });
        }
        await c.query("commit");
    } catch (e) {
        await c.query("rollback").catch(() => undefined);
        throw e;
    }
    for (let i = 0; i < targets.length; i++) results[i].unmasked = await countUnmasked(c, targets[i]);
    return results;
}

export async function countUnmasked(c: Client, t: MaskTarget): Promise<number> {
    const r = await c.query(
        `select count(*)::bigint as n from ${quoteTable(t.schema, t.table)} where ${quoteIdent(t.rule.column)} is not null and (${unmaskedCondition(t.rule.rule, t.rule.column)})`,
    );
    return Number(r.rows[0].n);
}
