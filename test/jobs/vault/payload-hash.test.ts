// The vault client hashes each uploaded body once for SHA-256, not twice: the SigV4 payload hash
// (x-amz-content-sha256) reuses the digest the checksum middleware computed for x-amz-checksum-sha256
// (jobs/src/vault/s3.ts reuseChecksumAsPayloadHash). What reaches the signer is checked here with a
// stub transport; that S3 accepts the pair is shown by every upload to Ceph RGW (test/jobs/cycle,
// test/jobs/vault), which recomputes x-amz-content-sha256 over the body and refuses a mismatch.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { PutObjectCommand, UploadPartCommand } from "@aws-sdk/client-s3";
import { createVaultClient } from "../../../jobs/src/vault/s3";

const vault = { bucket: "vault", region: "us-east-1", endpoint: "http://127.0.0.1:9", forcePathStyle: true } as Parameters<typeof createVaultClient>[0];

/** Headers as the signer sees them (before signing), and whether the signer had to hash the body itself. */
async function headersAtSigning(send: (c: ReturnType<typeof createVaultClient>) => Promise<unknown>): Promise<Record<string, string>> {
    const client = createVaultClient(vault);
    let seen: Record<string, string> = {};
    client.middlewareStack.addRelativeTo(
        (next: (a: any) => Promise<any>) => async (args: any) => {
            seen = { ...args.request.headers };
            return next(args);
        },
        { relation: "before", toMiddleware: "httpSigningMiddleware", name: "capture" },
    );
    (client.config as { requestHandler: unknown }).requestHandler = {
        handle: async () => ({ response: { statusCode: 200, headers: { etag: '"e"' }, body: Readable.from([]) } }),
    };
    process.env.AWS_ACCESS_KEY_ID ??= "test";
    process.env.AWS_SECRET_ACCESS_KEY ??= "test";
    await send(client);
    return seen;
}

describe("vault client: one SHA-256 pass per uploaded body", () => {
    const body = Buffer.from("a part of a dump ".repeat(1000));
    const hex = createHash("sha256").update(body).digest("hex");

    it("an UploadPart reaches the signer with x-amz-content-sha256 = the checksum's digest", async () => {
        const h = await headersAtSigning((c) => c.send(new UploadPartCommand({ Bucket: "vault", Key: "k", UploadId: "u", PartNumber: 1, Body: body, ChecksumAlgorithm: "SHA256" })));
        assert.equal(h["x-amz-checksum-sha256"], Buffer.from(hex, "hex").toString("base64"));
        assert.equal(h["x-amz-content-sha256"], hex, "the signer gets the digest instead of hashing the body again");
    });

    it("a PutObject with a caller-supplied ChecksumSHA256 signs that digest", async () => {
        const h = await headersAtSigning((c) => c.send(new PutObjectCommand({ Bucket: "vault", Key: "k", Body: body, ChecksumAlgorithm: "SHA256", ChecksumSHA256: Buffer.from(hex, "hex").toString("base64") })));
        assert.equal(h["x-amz-content-sha256"], hex);
    });

    it("a request without a SHA-256 checksum is left to the signer", async () => {
        const h = await headersAtSigning((c) => c.send(new PutObjectCommand({ Bucket: "vault", Key: "k", Body: body })));
        assert.equal(h["x-amz-checksum-sha256"], undefined);
        assert.equal(h["x-amz-content-sha256"], undefined);
    });
});
