// The canary server's credentials as a Pulumi dynamic resource (docs/security.md "The canary runs
// hostile code"): a random superuser password and a self-signed TLS certificate (ECDSA P-256) for the
// canary Service's DNS names. Made once on create and kept in the state (as secrets), so every
// `pulumi up` hands the verify job and the canary the same values; replaced only when the names change.
// No @pulumi/random or @pulumi/tls: node's crypto makes the key and signs, and the few DER structures
// of an X.509 certificate are written here.
//
// Everything the provider runs is in this file and uses only `require` and globals: Pulumi serializes
// the provider's closure into the state and runs it in a separate process.
import * as pulumi from "@pulumi/pulumi";

export interface CanaryCredentialsInputs {
    /** DNS names the certificate is valid for (the Service's short and cluster-local names) */
    dnsNames: string[];
}

export interface CanaryCredentials {
    password: string;
    /** the certificate (PEM): the canary serves it, the verify job trusts exactly it */
    certPem: string;
    /** its private key (PKCS#8 PEM): the canary's alone */
    keyPem: string;
}

const VALID_YEARS = 20; // a self-signed pin, not a web PKI certificate: rotated by replacing the resource

/** DER: one tag-length-value. */
function der(tag: number, ...content: Buffer[]): Buffer {
    const body = Buffer.concat(content);
    const n = body.length;
    const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, body]);
}

function derOid(oid: string): Buffer {
    const parts = oid.split(".").map(Number);
    const bytes: number[] = [parts[0] * 40 + parts[1]];
    for (const p of parts.slice(2)) {
        const chunk: number[] = [p & 0x7f];
        for (let v = p >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
        bytes.push(...chunk);
    }
    return der(0x06, Buffer.from(bytes));
}

/** UTCTime for years before 2050, GeneralizedTime after (RFC 5280 4.1.2.5). */
function derTime(d: Date): Buffer {
    const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z"; // yyyymmddhhmmssZ
    return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2), "ascii")) : der(0x18, Buffer.from(iso, "ascii"));
}

/** A self-signed X.509 v3 certificate (ecdsa-with-SHA256) with the names as subjectAltName dNSNames. */
export function selfSignedCertificate(dnsNames: string[], now = new Date()): { certPem: string; keyPem: string } {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const crypto = require("node:crypto") as typeof import("node:crypto");
    if (!dnsNames.length) throw new Error("the canary certificate needs at least one DNS name");
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    const seq = (...c: Buffer[]) => der(0x30, ...c);
    const sigAlg = seq(derOid("1.2.840.10045.4.3.2")); // ecdsa-with-SHA256, no parameters
    const name = seq(der(0x31, seq(derOid("2.5.4.3"), der(0x0c, Buffer.from(dnsNames[0], "utf8"))))); // CN
    const serial = crypto.randomBytes(16);
    serial[0] &= 0x7f; // a positive INTEGER
    const notAfter = new Date(now);
    notAfter.setUTCFullYear(now.getUTCFullYear() + VALID_YEARS);
    const notBefore = new Date(now.getTime() - 3600_000); // an hour of clock skew
    const ext = (oid: string, critical: boolean, value: Buffer) => seq(derOid(oid), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
    const extensions = der(
        0xa3,
        seq(
            ext("2.5.29.19", true, seq(der(0x01, Buffer.from([0xff])))), // basicConstraints CA:TRUE (its own trust anchor)
            ext("2.5.29.15", true, der(0x03, Buffer.from([0x07, 0x80]))), // keyUsage digitalSignature (1 bit used)
            ext("2.5.29.37", false, seq(derOid("1.3.6.1.5.5.7.3.1"))), // extendedKeyUsage serverAuth
            ext("2.5.29.17", false, seq(...dnsNames.map((n) => der(0x82, Buffer.from(n, "ascii"))))), // subjectAltName
        ),
    );
    const tbs = seq(
        der(0xa0, der(0x02, Buffer.from([0x02]))), // version v3
        der(0x02, serial),
        sigAlg,
        name,
        seq(derTime(notBefore), derTime(notAfter)),
        name,
        publicKey.export({ type: "spki", format: "der" }),
        extensions,
    );
    const signature = crypto.sign("sha256", tbs, privateKey); // DER ECDSA-Sig-Value, as X.509 wants it
    const cert = seq(tbs, sigAlg, der(0x03, Buffer.from([0x00]), signature));
    const b64 = cert.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
    return { certPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
}

/** A new password and certificate (what `create` stores). 32 random bytes, hex: no URL or SQL quoting issues. */
export function makeCanaryCredentials(inputs: CanaryCredentialsInputs, now = new Date()): CanaryCredentials {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const crypto = require("node:crypto") as typeof import("node:crypto");
    return { password: crypto.randomBytes(32).toString("hex"), ...selfSignedCertificate(inputs.dnsNames, now) };
}

const sameNames = (a: string[] | undefined, b: string[] | undefined) => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

export const canaryCredentialsProvider: pulumi.dynamic.ResourceProvider<CanaryCredentialsInputs, CanaryCredentialsInputs & CanaryCredentials> = {
    async check(_olds, news) {
        const bad = !Array.isArray(news.dnsNames) || !news.dnsNames.length || news.dnsNames.some((n) => typeof n !== "string" || !/^[a-z0-9.-]{1,253}$/.test(n));
        return { inputs: news, failures: bad ? [{ property: "dnsNames", reason: "one or more lowercase DNS names" }] : [] };
    },
    async create(inputs) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const id = (require("node:crypto") as typeof import("node:crypto")).randomBytes(8).toString("hex");
        return { id, outs: { ...inputs, ...makeCanaryCredentials(inputs) } };
    },
    async diff(_id, olds, news) {
        const changed = !sameNames(olds.dnsNames, news.dnsNames);
        return { changes: changed, replaces: changed ? ["dnsNames"] : [], deleteBeforeReplace: false };
    },
};

/** The canary's password and certificate (`supabase-backups:canary:Credentials`). */
export class CanaryCredentialsResource extends pulumi.dynamic.Resource {
    declare readonly password: pulumi.Output<string>;
    declare readonly certPem: pulumi.Output<string>;
    declare readonly keyPem: pulumi.Output<string>;

    constructor(name: string, inputs: CanaryCredentialsInputs, opts?: pulumi.CustomResourceOptions) {
        super(
            canaryCredentialsProvider,
            name,
            { dnsNames: inputs.dnsNames, password: undefined, certPem: undefined, keyPem: undefined },
            { ...opts, additionalSecretOutputs: ["password", "keyPem"] },
            "canary",
            "Credentials",
        );
    }
}

/** The type token mocks see (scripts/lib/mockrun.ts makes real credentials for it). */
export const CANARY_CREDENTIALS_TYPE = "pulumi-nodejs:dynamic/canary:Credentials";
