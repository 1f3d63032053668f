// Flag parsers shared by every command. A bad value is a usage error reported by commander itself
// (`error: option '--jobs <n>' argument 'x' is invalid. …`, exit 2) before anything runs.
import { InvalidArgumentError } from "commander";

/** An integer flag within [min, max]; the message names the range and the value given. */
export function intFlag(min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    return (v: string) => {
        const n = Number(v.trim());
        if (v.trim() === "" || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${range}, got "${v}"`);
        return n;
    };
}

/** A repeatable flag: every occurrence, in order. */
export function collect(v: string, acc: string[] = []): string[] {
    return [...acc, v];
}

/** One of a fixed set of values, matched without regard to case; the message lists them. */
export function choiceFlag<T extends string>(values: readonly T[]): (v: string) => T {
    return (v: string) => {
        const hit = values.find((x) => x.toLowerCase() === v.trim().toLowerCase());
        if (!hit) throw new InvalidArgumentError(`expected one of ${values.join(", ")}, got "${v}"`);
        return hit;
    };
}
