// Signed vault records (docs/security.md "Tampering with the vault"): the signature object verification
// and drill records carry, and the bytes it covers. Each kind of record has its own domain string, so a
// signature made for one kind of record never verifies as another.
import { Type, type Static } from "@sinclair/typebox";
import { strict } from "./schema-kit";

/** An Ed25519 signature over the record's signing payload, by its signer's key (KMS or a secret). */
export const RecordSignatureSchema = Type.Object(
    { alg: Type.Literal("ed25519"), keyId: Type.String(), value: Type.String({ pattern: "^[A-Za-z0-9+/]+={0,2}$" }) },
    strict,
);
export type RecordSignature = Static<typeof RecordSignatureSchema>;

/** The kinds of signed records and their payloads' domain strings. */
export const SIGNING_DOMAINS = {
    verify: "supabase-backups/verify-record/v1",
    drill: "supabase-backups/drill-record/v1",
} as const;
export type SignedRecordKind = keyof typeof SIGNING_DOMAINS;

/** The bytes a signature covers: the record kind's domain, then the fields it proves, as a JSON array. */
export function signingPayload(kind: SignedRecordKind, fields: unknown[]): Buffer {
    return Buffer.from(JSON.stringify([SIGNING_DOMAINS[kind], ...fields]), "utf8");
}

/** JSON with object keys sorted at every level: the same value gives the same bytes, however it was parsed. */
export function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`;
    if (value && typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
        return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
}
