// verify's pure parts: native age STREAM decryption (against age-encryption and the `age` CLI), the
// hash-then-decode pass, check comparisons, roles parsing, sampling, naming, env handling.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { zstdCompressSync } from "node:zlib";
import { AgeDecryptStream, AgeError, loadAge, recipientOf } from "../../../jobs/src/codec/age-decrypt";
import { canaryDatabaseName, rolesFromScript, withDatabase, majorOf } from "../../../jobs/src/postgres/canary";
import { libpqEnv } from "../../../jobs/src/postgres/connection";
import { quoteQualified } from "../../../jobs/src/postgres/ident";
import { compareExpected, compareRowCounts, compareSets, extName } from "../../../jobs/src/commands/verify/checks";
import { decodeSpecFor, describeDecodeError, hashAndDecode, isDataDecodeError } from "../../../jobs/src/codec/verified-read";
import { sample, sampleSize } from "../../../jobs/src/commands/verify/storage-sample";
import { withoutSourceSecrets } from "../../../jobs/src/commands/verify";
import { buildRecord, reasonOf } from "../../../jobs/src/commands/verify/record";

function sha(b: Buffer): string {
    return createHash("sha256").update(b).digest("hex");
}

function chunked(b: Buffer, size: number): Readable {
    return Readable.from(
        (function* () {
            for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
        })(),
    );
}

async function decrypt(ct: Buffer, identity: string, chunk = 16384): Promise<Buffer> {
    const out: Buffer[] = [];
    const s = chunked(ct, chunk).pipe(new AgeDecryptStream(identity));
    for await (const c of s) out.push(c as Buffer);
    return Buffer.concat(out);
}

describe("verify: age STREAM decryption (native ChaCha20-Poly1305)", () => {
    let identity: string;
    let recipient: string;
    let encrypt: (b: Buffer) => Promise<Buffer>;
    before(async () => {
        const age = await loadAge();
        identity = await age.generateIdentity();
        recipient = await age.identityToRecipient(identity);
        encrypt = async (b) => {
            const e = new age.Encrypter();
            e.addRecipient(recipient);
            return Buffer.from(await e.encrypt(b));
        };
    });

    it("round-trips every chunk-boundary size from age-encryption's output", async () => {
        for (const n of [0, 1, 65535, 65536, 65537, 131072, 131073, 1_000_003]) {
            const data = randomBytes(n);
            const ct = await encrypt(data);
            for (const chunk of [1, 7, 65552, 1 << 20]) {
                if (n > 200_000 && chunk < 1000) continue;
                assert.ok((await decrypt(ct, identity, chunk)).equals(data), `size ${n}, input chunks of ${chunk}`);
            }
        }
    });

    it("decrypts what the standard age CLI encrypts", async function () {
        try {
            execFileSync("age", ["--version"]);
        } catch {
            this.skip();
        }
        const dir = mkdtempSync(join(tmpdir(), "sb-age-"));
        const data = randomBytes(300_000);
        writeFileSync(join(dir, "p"), data);
        execFileSync("age", ["-r", recipient, "-o", join(dir, "c"), join(dir, "p")]);
        assert.ok((await decrypt(readFileSync(join(dir, "c")), identity)).equals(data));
    });

    it("rejects a flipped byte, a truncation on a chunk boundary, a missing final chunk, and a wrong identity", async () => {
        const data = randomBytes(200_000);
        const ct = await encrypt(data);
        const flipped = Buffer.from(ct);
        flipped[flipped.length - 5000] ^= 1;
        await assert.rejects(decrypt(flipped, identity), (e: any) => e instanceof AgeError && e.kind === "payload" && /chunk 2 failed authentication/.test(e.message));
        const headerLen = ct.indexOf("\n---") + 1;
        const nl = ct.indexOf(0x0a, headerLen);
        const payloadStart = nl + 1 + 16;
        // cut right after the second full chunk: that chunk was sealed as non-final
        await assert.rejects(decrypt(ct.subarray(0, payloadStart + 2 * (65536 + 16)), identity), (e: any) => e instanceof AgeError && /chunk 1 failed authentication .*truncated on a chunk boundary/.test(e.message));
        await assert.rejects(decrypt(ct.subarray(0, payloadStart), identity), (e: any) => e instanceof AgeError && e.kind === "truncated");
        await assert.rejects(decrypt(ct.subarray(0, headerLen), identity), (e: any) => e instanceof AgeError && e.kind === "truncated");
        const other = await (await loadAge()).generateIdentity();
        await assert.rejects(decrypt(ct, other), (e: any) => e instanceof AgeError && e.kind === "identity");
        await assert.rejects(decrypt(ct, "not-an-identity"), (e: any) => e instanceof AgeError && e.kind === "identity" && !e.message.includes("not-an-identity"));
        await assert.rejects(decrypt(randomBytes(1000), identity), (e: any) => e instanceof AgeError && /not an age file/.test(e.message));
        assert.equal(await recipientOf(identity), recipient);
    });
});

describe("verify: hash-then-decode pass", () => {
    it("hashes the stored bytes and decodes age + zstd into a file", async () => {
        const age = await loadAge();
        const id = await age.generateIdentity();
        const e = new age.Encrypter();
        e.addRecipient(await age.identityToRecipient(id));
        const plain = Buffer.from("PGDMP".repeat(50_000));
        const stored = Buffer.from(await e.encrypt(zstdCompressSync(plain)));
        const file = join(mkdtempSync(join(tmpdir(), "sb-v-")), "spool");
        const r = await hashAndDecode(chunked(stored, 10_000), { ageIdentity: id, decompress: "zstd" }, file);
        assert.equal(r.decodeError, undefined);
        assert.equal(r.sha256, sha(stored));
        assert.equal(r.bytes, stored.length);
        assert.equal(r.decodedBytes, plain.length);
        assert.ok(readFileSync(file).equals(plain));
    });

    it("keeps hashing every byte after decoding fails, so the reason can be the sha256", async () => {
        const plain = randomBytes(500_000);
        const stored = Buffer.from(zstdCompressSync(plain));
        stored[10] ^= 0xff; // corrupts the zstd frame header area: decoding fails early
        const r = await hashAndDecode(chunked(stored, 4096), { decompress: "zstd" }, "memory");
        assert.ok(r.decodeError, "decoding should have failed");
        assert.equal(r.bytes, stored.length);
        assert.equal(r.sha256, sha(stored));
        assert.match(describeDecodeError(r.decodeError!), /zstd decompression failed/);
        assert.equal(isDataDecodeError(r.decodeError!), true);
        // a full scratch disk is the verifier's problem, not the backup's
        const full = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        assert.equal(isDataDecodeError(full), false);
        assert.equal(isDataDecodeError(new AgeError("x", "payload")), true);
    });

    it("decodes only what the job compressed", () => {
        const base = { compression: { algorithm: "zstd" as const, level: 3, by: "job" as const }, encryption: null };
        assert.deepEqual(decodeSpecFor(base, "dump", undefined), { decompress: "zstd" });
        assert.deepEqual(decodeSpecFor(base, "roles.sql", undefined), {});
        assert.deepEqual(decodeSpecFor({ ...base, compression: { algorithm: "zstd", level: 3, by: "pg_dump" } }, "dump", undefined), {});
        assert.deepEqual(decodeSpecFor({ ...base, encryption: { tool: "age", recipient: "age1x" } }, "schema.sql", "KEY"), { ageIdentity: "KEY" });
        assert.throws(() => decodeSpecFor({ ...base, compression: { algorithm: "lz4", level: 1, by: "job" } }, "dump", undefined), /lz4/);
    });
});

describe("verify: comparisons", () => {
    it("compares check results by the expectation's type", () => {
        assert.equal(compareExpected(0, "0").ok, true);
        assert.equal(compareExpected(0, "1").ok, false);
        assert.equal(compareExpected(3, 3).ok, true);
        assert.equal(compareExpected(3, "abc").ok, false);
        assert.equal(compareExpected(true, true).ok, true);
        assert.equal(compareExpected(true, false).ok, false);
        assert.equal(compareExpected(true, "t").ok, true);
        assert.equal(compareExpected("2026.11.3", "2026.11.3").ok, true);
        assert.equal(compareExpected("1", 1).ok, true);
        assert.equal(compareExpected(null, null).ok, true);
        assert.equal(compareExpected(null, "x").ok, false);
        assert.equal(compareExpected(1, null).ok, false);
        assert.equal(compareExpected(1, "2").detail, "expected 1, got 2");
        assert.equal(compareExpected("a", "b").detail, 'expected "a", got "b"');
    });

    it("row counts are exact, and every difference is named", () => {
        assert.deepEqual(compareRowCounts({ "a.x": 2, "a.y": 0 }, { "a.x": 2, "a.y": 0 }), { ok: true, detail: "2 tables, 2 rows, exact" });
        const r = compareRowCounts({ "a.x": 2, "a.y": 5, "a.z": 1 }, { "a.x": 3, "a.y": 5, "a.z": new Error('relation "a.z" does not exist') });
        assert.equal(r.ok, false);
        assert.equal(r.detail, `row counts differ from the dump's snapshot: a.x 3 ≠ 2; a.z: relation "a.z" does not exist`);
    });

    it("sets: missing and unexpected entries; extension names with versions", () => {
        assert.equal(compareSets("extensions", ["a", "b"], ["b", "a"]).ok, true);
        assert.equal(compareSets("extensions", ["a", "b"], ["a", "c"]).detail, "extensions differ: missing b; unexpected c");
        assert.equal(extName("pgcrypto@1.3"), "pgcrypto");
        assert.equal(extName("uuid-ossp"), "uuid-ossp");
    });

    it("the reason is the first failed check, on one line", () => {
        assert.equal(reasonOf([{ name: "a", ok: true, detail: "" }]), null);
        assert.equal(reasonOf([{ name: "a", ok: true, detail: "" }, { name: "b", ok: false, detail: "x\n  y" }, { name: "c", ok: false, detail: "z" }]), "b: x y");
    });

    it("the record is built from the run's results alone: passed iff every check passed, URL passwords redacted", () => {
        const input = {
            env: "staging",
            runId: "20261122T193000Z-k3x9qa",
            verifiedAt: new Date("2026-11-22T20:00:00Z"),
            manifestSha256: "ab".repeat(32),
            dumpBytes: 1234,
            durations: { downloadSeconds: 1, restoreSeconds: 2, checksSeconds: 3, totalSeconds: 6.5 },
        };
        const passed = buildRecord({ ...input, checks: [{ name: "manifest", ok: true, detail: "ok", seconds: 0.1 }] });
        assert.equal(passed.result, "passed");
        assert.equal(passed.reason, null);
        assert.equal(passed.verifiedAt, "2026-11-22T20:00:00.000Z");
        assert.equal(passed.storage, undefined);
        const storage = { runId: "20261122T190000Z-aaaaaa", blobsReferenced: 5, blobsMissing: 1, sampled: 2, sampleMismatches: 0, ok: false, detail: "1 missing", seconds: 1 };
        const failed = buildRecord({
            ...input,
            checks: [
                { name: "manifest", ok: true, detail: "ok" },
                { name: "restore", ok: false, detail: "cannot connect to postgres://u:hunter22@canary/db" },
            ],
            storage,
        });
        assert.equal(failed.result, "failed");
        assert.equal(failed.reason, "restore: cannot connect to postgres://u:***@canary/db");
        assert.equal(failed.checks[1].detail, "cannot connect to postgres://u:***@canary/db");
        assert.deepEqual(failed.storage, { runId: storage.runId, blobsReferenced: 5, blobsMissing: 1, sampled: 2, sampleMismatches: 0 });
    });
});

describe("verify: canary and storage helpers", () => {
    it("reads role names from pg_dumpall --roles-only, ignoring attributes and passwords", () => {
        const sql = `--\n-- Roles\n--\n\nCREATE ROLE anon;\nALTER ROLE anon WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;\nCREATE ROLE "Weird ""Name""";\nCREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER PASSWORD 'SCRAM-SHA-256$4096:x';\nCREATE ROLE service_role;\nGRANT anon TO authenticator GRANTED BY postgres;\n`;
        assert.deepEqual(rolesFromScript(sql), ["anon", 'Weird "Name"', "postgres", "service_role"]);
    });

    it("names canary databases per env and time, quotes identifiers, builds libpq env without argv secrets", () => {
        assert.equal(canaryDatabaseName("prod-eu", new Date("2026-11-22T06:00:01Z"), "abc123"), "sbv_prod_eu_20261122060001_abc123");
        assert.ok(canaryDatabaseName("a".repeat(20)).length <= 63);
        assert.equal(quoteQualified('public.we"ird'), '"public"."we""ird"');
        const env = libpqEnv("postgresql://post%40gres:p%40ss@10.0.0.1:5433/postgres?sslmode=verify-full");
        assert.deepEqual(env, { PGHOST: "10.0.0.1", PGPORT: "5433", PGUSER: "post@gres", PGPASSWORD: "p@ss", PGDATABASE: "postgres", PGSSLMODE: "verify-full" });
        assert.equal(withDatabase("postgresql://u:p@h:1/postgres?sslmode=disable", "sbv_x"), "postgresql://u:p@h:1/sbv_x?sslmode=disable");
        assert.equal(majorOf("pg_restore (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"), 15);
        assert.equal(majorOf("17.2"), 17);
    });

    it("samples ceil(ratio × n), at least the minimum, never more than n, without repeats", () => {
        assert.equal(sampleSize(10_000, 0.01, 20), 100);
        assert.equal(sampleSize(500, 0.01, 20), 20);
        assert.equal(sampleSize(7, 0.01, 20), 7);
        assert.equal(sampleSize(0, 0.01, 20), 0);
        assert.equal(sampleSize(101, 0.01, 0), 2);
        const items = Array.from({ length: 50 }, (_, i) => i);
        const s = sample(items, 20);
        assert.equal(new Set(s).size, 20);
        assert.ok(s.every((x) => items.includes(x)));
        assert.deepEqual(sample(items, 100).sort((a, b) => a - b), items);
    });

    it("never hands the source's secrets to verify", () => {
        const env = withoutSourceSecrets({ DATABASE_URL: "postgresql://x", SUPABASE_SERVICE_ROLE_KEY: "k", SUPABASE_ACCESS_TOKEN: "t", AGE_IDENTITY: "AGE-SECRET-KEY-1X", CANARY_DATABASE_URL: "c" });
        assert.deepEqual(env, { AGE_IDENTITY: "AGE-SECRET-KEY-1X", CANARY_DATABASE_URL: "c" });
    });
});
