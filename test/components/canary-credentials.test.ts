// The canary's password and certificate (components/canary-credentials.ts), a Pulumi dynamic provider:
// serialized as Pulumi stores it in the state, it still makes them; the certificate is a valid X.509
// certificate for the Service's names (openssl verifies it against itself, for TLS server use, and
// checks each host name), its key matches; the same names on the next `pulumi up` change nothing
// (verify and the canary keep their shared values), other names replace it; bad names are refused.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { canaryCredentialsProvider, type CanaryCredentials } from "../../components/canary-credentials";
import { canaryDnsNames } from "../../components/canary";

describe("canary credentials (dynamic provider)", () => {
    const names = canaryDnsNames("supabase-backups-staging");
    let dir: string;
    let outs: CanaryCredentials & { dnsNames: string[] };
    before(async () => {
        dir = mkdtempSync(join(tmpdir(), "sb-canary-creds-"));
        const sf = await pulumi.runtime.serializeFunction(() => canaryCredentialsProvider, { allowSecrets: false });
        writeFileSync(join(dir, "provider.js"), sf.text);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const restored = require(join(dir, "provider.js"))[sf.exportName]() as typeof canaryCredentialsProvider;
        outs = (await restored.create({ dnsNames: names })).outs as any;
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("the serialized provider makes a 32-byte password and a certificate openssl accepts for every Service name", () => {
        assert.match(outs.password, /^[0-9a-f]{64}$/);
        writeFileSync(join(dir, "tls.crt"), outs.certPem);
        const verified = execFileSync("openssl", ["verify", "-CAfile", join(dir, "tls.crt"), "-purpose", "sslserver", join(dir, "tls.crt")], { encoding: "utf8" });
        assert.match(verified, /: OK/);
        const cert = new X509Certificate(outs.certPem);
        for (const n of names) assert.equal(cert.checkHost(n), n, n);
        assert.equal(cert.checkHost("db.example.com"), undefined);
        assert.ok(cert.checkPrivateKey(createPrivateKey(outs.keyPem)), "the key is the certificate's");
        assert.equal(createPublicKey(outs.keyPem).asymmetricKeyDetails?.namedCurve, "prime256v1");
        assert.ok(new Date(cert.validTo).getTime() > Date.now() + 10 * 365 * 86400_000);
    });

    it("the next up with the same names changes nothing; other names replace it; bad names are refused", async () => {
        const p = canaryCredentialsProvider;
        const same = await p.diff!("id", outs, { dnsNames: [...names] });
        assert.equal(same.changes, false);
        const other = await p.diff!("id", outs, { dnsNames: canaryDnsNames("elsewhere") });
        assert.deepEqual([other.changes, other.replaces], [true, ["dnsNames"]]);
        assert.equal((await p.check!({} as any, { dnsNames: names })).failures!.length, 0);
        assert.equal((await p.check!({} as any, { dnsNames: [] })).failures!.length, 1);
        assert.equal((await p.check!({} as any, { dnsNames: ["Evil Name/"] })).failures!.length, 1);
        // two creates never share a password or a key
        const again = (await p.create({ dnsNames: names })).outs as CanaryCredentials;
        assert.notEqual(again.password, outs.password);
        assert.notEqual(again.keyPem, outs.keyPem);
    });
});
