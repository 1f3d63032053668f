// Masking for restores into non-production targets (the seeds' staging-refresh rules): emails become
// user+<hash>@example.com, names "User <hash>", phones a fake number or null, message bodies redacted.
// After masking, a proof query per rule counts values that do not have the masked form: all must be 0.
import { randomBytes } from "node:crypto";
import type { Client } from "pg";
import type { StackConfig } from "@supabase-backups/contracts";
import { quoteIdent, quoteTable } from "../../postgres/ident";

export type MaskingRule = NonNullable<StackConfig["masking"]>["rules"][number];

export const REDACTED = "[redacted]";

/**
 * The SET expression for a rule. Within one restore the same input masks to the same output (joins on
 * masked values still match); the per-restore salt keeps the hashes from being looked up in a
 * dictionary of known emails or names.
 */
export function maskExpression(rule: MaskingRule["rule"], col: string, salt: string): string {
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
    }
}

/** A condition true for values that are NOT masked (the proof counts them). */
export function unmaskedCondition(rule: MaskingRule["rule"], col: string): string {
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
    }
}

export interface MaskTarget {
    rule: MaskingRule;
    /** where the table is in the target (its own schema, or --into-schema) */
    schema: string;
    table: string;
}

export interface MaskResult {
    rule: string;
    table: string;
    column: string;
    updated: number;
    /** values left that do not have the masked form (must be 0) */
    unmasked: number;
}

/** Apply every rule in one transaction, then prove. Triggers are not disabled: masking is an ordinary UPDATE. */
export async function applyMasking(c: Client, targets: MaskTarget[], salt: string = randomBytes(8).toString("hex")): Promise<MaskResult[]> {
    const results: MaskResult[] = [];
    await c.query("begin");
    try {
        for (const t of targets) {
            const tbl = quoteTable(t.schema, t.table);
            const r = await c.query(`update ${tbl} set ${quoteIdent(t.rule.column)} = ${maskExpression(t.rule.rule, t.rule.column, salt)} where ${quoteIdent(t.rule.column)} is not null`);
            results.push({ rule: t.rule.rule, table: `${t.schema}.${t.table}`, column: t.rule.column, updated: r.rowCount ?? 0, unmasked: -1 });
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
