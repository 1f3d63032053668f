// The small schema helpers every config schema file uses (config.ts and the files split out of it).
import { Type } from "@sinclair/typebox";

/** Objects reject keys they do not know: a typo in a stack file is an error, not a silent default. */
export const strict = { additionalProperties: false } as const;

/** A literal union as a plain JSON Schema enum: ajv reports one clear error instead of an anyOf tree. */
export function Enum<T extends string | number>(values: readonly T[], opts: Record<string, unknown> = {}) {
    return Type.Unsafe<T>({ type: typeof values[0] === "number" ? "integer" : "string", enum: [...values], ...opts });
}
