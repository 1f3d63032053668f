// A real S3 with Object Lock for tests: a throwaway one-node Ceph cluster (Debian's Ceph 16.2 "Pacific") on
// loopback, in a fresh temp dir: one ceph-mon, one ceph-osd on memstore (objects live in RAM), no mgr, pools of
// size 1, and radosgw (beast) on a free loopback port. Unlike s3rver it enforces COMPLIANCE Object Lock,
// versioning, tagging, bucket policies, IAM user policies, roles/STS, SSE-KMS and lifecycle expiration.
//
// Install the daemons with `bash scripts/ensure-tools.sh` (root, apt-get). Every daemon runs in the foreground as a
// child of this process, under `setpriv --pdeathsig KILL` so it dies with us even if we are SIGKILLed; run dir,
// admin sockets, logs and data are all under the temp dir (nothing lands in /etc/ceph, /var/run/ceph,
// /var/log/ceph or /var/lib/ceph). stop() SIGKILLs the daemons (memstore would otherwise dump itself to disk)
// and removes the temp dir; the same happens on process exit.
//
// Notes that cost time to find out (Pacific):
//   - cephx is required: with `auth ... = none` radosgw loops on "get_initial_auth_request returned -13".
//   - no `rgw zone`/`rgw zonegroup` on a fresh cluster: radosgw creates the default realm/zonegroup/zone itself.
//   - users made with `radosgw-admin user create --admin` bypass bucket policies; the harness's admin user has
//     caps instead (users, buckets, roles, user-policy, oidc-provider...) and is subject to policies like anyone.
//   - SSE-S3 (`AES256`) is accepted and stored in plaintext by Pacific; SSE-KMS with the `testing` backend
//     really encrypts: use ServerSideEncryption "aws:kms" with SSEKMSKeyId = rgw.kmsKeyId.
//   - no `x-amz-checksum-*` support (the SDK must use requestChecksumCalculation "WHEN_REQUIRED"; Content-MD5 is
//     verified); CompleteMultipartUpload returns an empty ETag; path-style addressing only.
//   - `rgw lc debug interval = N` makes a lifecycle "day" N seconds (a 1-day expiration fires after ~15-25 s at 10).
//   - policy conditions differ from AWS: a StringNotEquals on an absent key never matches, `Null` ignores its
//     value (true if the key is absent either way), and aws:SecureTransport is absent over http; object ACLs
//     still apply (an object's writer may read it back, the bucket owner may not) — test/fidelity/rgw.test.ts.
//   - objecter tick interval: see the [client] section below (start-up otherwise sometimes took 5 s longer).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, createHmac, randomBytes, randomUUID } from "node:crypto";
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { freePort, waitFor } from "./ports";

export interface RgwCredentials {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
}

export interface RgwUser extends RgwCredentials {
    uid: string;
}

export interface CreateUserOptions {
    displayName?: string;
    /** radosgw-admin caps string, e.g. "users=*;buckets=*" (needed to call the IAM API for other users) */
    caps?: string;
    /** `--admin`: the user bypasses bucket and user policies. Never use it for anything policy-enforced. */
    admin?: boolean;
    accessKeyId?: string;
    secretAccessKey?: string;
}

export interface StartRgwOptions {
    /** seconds a lifecycle "day" lasts (`rgw lc debug interval`); default 10; 0 or less: real days */
    lcDebugInterval?: number;
    /** RAM the memstore OSD may hold (`memstore device bytes`); default 1 GiB (it is only used as written) */
    memstoreBytes?: number;
    /** the SSE-KMS key id the `testing` KMS backend knows; default "testkey-1" */
    kmsKeyId?: string;
    /** extra ceph.conf lines per section, e.g. { "client.rgw.gw": { "debug rgw": "20" } } */
    config?: Record<string, Record<string, string | number | boolean>>;
    /** keep the temp dir (logs) after stop(), for debugging */
    keepDir?: boolean;
    /** start-up timeout in ms; default 60 s */
    timeoutMs?: number;
}

export interface RgwServer {
    /** http://127.0.0.1:<port> — S3, IAM and STS all answer here */
    endpoint: string;
    port: number;
    /** region the clients sign with ("us-east-1"; the zonegroup itself is named "default") */
    region: string;
    /** a user with caps users/buckets/roles/user-policy/oidc-provider/metadata/usage=*, NOT --admin:
     * bucket policies apply to it like to anyone else */
    admin: RgwCredentials;
    /** key id for ServerSideEncryption "aws:kms" (SSE-KMS, `testing` backend) */
    kmsKeyId: string;
    /** temp dir: ceph.conf, keyring, log/, run/, mon/, osd/ */
    dir: string;
    /** pids of ceph-mon, ceph-osd and radosgw */
    pids: number[];
    /** milliseconds from the call to radosgw answering with the admin user ready */
    startMs: number;
    /** creates an ordinary user (not --admin unless asked) with one S3 key pair */
    createUser(name: string, opts?: CreateUserOptions): Promise<RgwUser>;
    /** runs radosgw-admin (as client.admin) against this cluster; resolves to stdout, rejects with stderr */
    exec(args: string[]): Promise<string>;
    /** runs radosgw-admin and parses its JSON output */
    execJson<T = any>(args: string[]): Promise<T>;
    /** runs the `rados` tool (as client.admin), e.g. `["-p", "default.rgw.buckets.data", "ls"]`; radosRaw returns stdout as bytes */
    rados(args: string[]): Promise<string>;
    radosRaw(args: string[]): Promise<Buffer>;
    /** an S3 client for these credentials (default: admin), path style, checksums only when required */
    client(creds?: RgwCredentials): S3Client;
    /** a SigV4-signed IAM or STS query API call (POST form) on the same endpoint; resolves to the response */
    query(creds: RgwCredentials, params: Record<string, string>, service?: "iam" | "sts"): Promise<{ status: number; body: string }>;
    /** like query() but rejects unless 2xx */
    queryOk(creds: RgwCredentials, params: Record<string, string>, service?: "iam" | "sts"): Promise<string>;
    /** tail of a daemon's log (ceph-mon: "mon.a", ceph-osd: "osd.0", radosgw: "client.rgw.gw") */
    log(name: string, chars?: number): string;
    /** SIGKILLs the daemons, removes the temp dir (unless keepDir) */
    stop(): Promise<void>;
}

const BINARIES = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "rados", "ceph-authtool", "monmaptool", "setpriv"];

function which(cmd: string): string | undefined {
    for (const d of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter).concat(["/usr/bin", "/usr/sbin", "/sbin", "/bin"])) {
        const p = join(d, cmd);
        try {
            accessSync(p, constants.X_OK);
            return p;
        } catch {
            /* next */
        }
    }
    return undefined;
}

/** throws, naming what is missing and how to install it, unless the Ceph binaries are all there */
export function assertRgwInstalled(): void {
    const missing = BINARIES.filter((b) => !which(b));
    if (missing.length) {
        throw new Error(`Ceph RGW test harness: missing ${missing.join(", ")}; install with: sudo bash scripts/ensure-tools.sh (radosgw ceph-mon ceph-osd, Debian Ceph 16.2)`);
    }
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(cmd, args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
            else resolve(stdout);
        });
    });
}

// Live servers, killed on process exit even if a test forgets stop().
const live = new Set<() => void>();
let exitHookInstalled = false;
function onExit(fn: () => void): () => void {
    if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.on("exit", () => {
            for (const f of [...live]) f();
        });
    }
    live.add(fn);
    return () => live.delete(fn);
}

/** removes temp dirs left by harness processes that were killed (SIGKILL, SIGINT) before their exit hook ran;
 * their daemons are already gone (pdeathsig) */
function removeStaleDirs(): void {
    for (const name of readdirSync(tmpdir())) {
        if (!name.startsWith("sb-rgw-")) continue;
        const d = join(tmpdir(), name);
        try {
            const owner = Number(readFileSync(join(d, "owner.pid"), "utf8"));
            if (!owner || owner === process.pid) continue;
            try {
                process.kill(owner, 0);
                continue; // still running: not ours to remove
            } catch (e) {
                if ((e as NodeJS.ErrnoException).code !== "ESRCH") continue;
            }
            rmSync(d, { recursive: true, force: true });
        } catch {
            /* no owner file (being created, or not ours): leave it */
        }
    }
}

function ini(sections: Record<string, Record<string, string | number | boolean>>): string {
    return Object.entries(sections)
        .map(([s, kv]) => `[${s}]\n` + Object.entries(kv).map(([k, v]) => `${k} = ${v}\n`).join(""))
        .join("\n");
}

export async function startRgw(opts: StartRgwOptions = {}): Promise<RgwServer> {
    assertRgwInstalled();
    const t0 = Date.now();
    // RGW_TRACE=1: print how long each start-up step took
    const trace = (step: string) => process.env.RGW_TRACE && console.error(`rgw: ${step} at ${Date.now() - t0} ms`);
    removeStaleDirs();
    const dir = mkdtempSync(join(tmpdir(), "sb-rgw-"));
    writeFileSync(join(dir, "owner.pid"), String(process.pid));
    const children: ChildProcess[] = [];
    const logs: Record<string, string> = {};
    let stopped = false;
    const killAll = () => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    };
    const unhook = onExit(() => {
        killAll();
        if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
    });
    const conf = join(dir, "ceph.conf");
    const keyring = join(dir, "keyring");
    const region = "us-east-1";
    const kmsKeyId = opts.kmsKeyId ?? "testkey-1";
    const lc = opts.lcDebugInterval ?? 10;
    const adminKeys = { accessKeyId: "RGWADMIN" + randomBytes(6).toString("hex").toUpperCase(), secretAccessKey: randomBytes(30).toString("base64url") };

    const spawnDaemon = (name: string, args: string[]) => {
        // setpriv --pdeathsig: the daemon gets SIGKILL when this process dies, however it dies.
        const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", ...args], { stdio: ["ignore", "ignore", "pipe"] });
        logs[name] = "";
        child.stderr?.on("data", (d) => (logs[name] = (logs[name] + d).slice(-4000)));
        children.push(child);
        return child;
    };
    const fail = (what: string) => {
        const tails = ["mon.a", "osd.0", "client.rgw.gw"].map((n) => `--- ${n}: ${logs[n] ?? ""}\n${tailOf(n, 1500)}`).join("\n");
        return new Error(`Ceph RGW harness: ${what}\n${tails}`);
    };
    const tailOf = (name: string, chars = 4000) => {
        try {
            return readFileSync(join(dir, "log", `${name}.log`), "utf8").slice(-chars);
        } catch {
            return "";
        }
    };

    try {
        const [monPort, port] = [await freePort(), await freePort()];
        const fsid = randomUUID();
        const osdUuid = randomUUID();
        for (const d of ["run", "log", "mon", "osd/ceph-0"]) mkdirSync(join(dir, d), { recursive: true });
        const endpoint = `http://127.0.0.1:${port}`;
        const sections: Record<string, Record<string, string | number | boolean>> = {
            global: {
                fsid,
                "mon host": `v2:127.0.0.1:${monPort}`,
                "mon initial members": "a",
                // cephx is required (with none, radosgw loops on get_initial_auth_request returned -13)
                "auth cluster required": "cephx",
                "auth service required": "cephx",
                "auth client required": "cephx",
                keyring,
                "run dir": join(dir, "run"),
                "admin socket": "$run_dir/$cluster-$name.$pid.asok",
                "log file": join(dir, "log", "$name.log"),
                "mon cluster log file": join(dir, "log", "cluster.log"),
                "log to stderr": false,
                "err to stderr": true,
                "mon data": join(dir, "mon", "$cluster-$id"),
                "osd data": join(dir, "osd", "$cluster-$id"),
                "ms bind ipv6": false,
                "ms bind ipv4": true,
                // one OSD: pools of size 1, few PGs
                "osd pool default size": 1,
                "osd pool default min size": 1,
                "osd pool default pg num": 8,
                "osd pool default pgp num": 8,
                "osd crush chooseleaf type": 0,
                "mon allow pool size one": true,
                "mon warn on pool no redundancy": false,
                // a busy or small /tmp must not make the mon shut itself down
                "mon data avail warn": 1,
                "mon data avail crit": 0,
                // monitor start-up and each map change: ~16 s -> ~2 s to a ready radosgw
                "paxos propose interval": 0.05,
                "paxos min wait": 0.01,
                "mon osd crush smoke test": false,
            },
            osd: {
                "osd objectstore": "memstore",
                "memstore device bytes": opts.memstoreBytes ?? 1 << 30,
                "osd crush update on start": true,
            },
            client: {
                // An op on a PG that is not mapped yet (OSD still booting, pool just created) waits for the next
                // osdmap; when the one-shot subscription was used up by an earlier epoch it only re-subscribes on
                // the objecter tick (default 5 s), so start-up sometimes took 5 s longer.
                "objecter tick interval": 0.5,
            },
            "client.rgw.gw": {
                "rgw frontends": `beast endpoint=127.0.0.1:${port}`,
                "rgw thread pool size": 64,
                // SSE-KMS with keys held in this config (the `testing` backend); plain http on loopback
                "rgw crypt s3 kms backend": "testing",
                "rgw crypt s3 kms encryption keys": `${kmsKeyId}=${randomBytes(32).toString("base64")}`,
                "rgw crypt require ssl": false,
                // STS AssumeRole and its session credentials
                "rgw s3 auth use sts": true,
                "rgw sts key": randomBytes(8).toString("hex"), // 16 chars
                ...(lc > 0 ? { "rgw lc debug interval": lc } : {}),
            },
        };
        for (const [s, kv] of Object.entries(opts.config ?? {})) sections[s] = { ...(sections[s] ?? {}), ...kv };
        writeFileSync(conf, ini(sections));

        // One keyring for every entity; `ceph-mon --mkfs` imports them all with their caps into the auth db.
        await run("ceph-authtool", ["--create-keyring", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"]);
        await run("ceph-authtool", [keyring, "--gen-key", "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mds", "allow *", "--cap", "mgr", "allow *"]);
        await run("ceph-authtool", [keyring, "--gen-key", "-n", "osd.0", "--cap", "mon", "allow profile osd", "--cap", "osd", "allow *", "--cap", "mgr", "allow profile osd"]);
        await run("ceph-authtool", [keyring, "--gen-key", "-n", "client.rgw.gw", "--cap", "mon", "allow rw", "--cap", "osd", "allow rwx", "--cap", "mgr", "allow rw"]);
        const monmap = join(dir, "monmap");
        await run("monmaptool", ["--create", "--add", "a", `v2:127.0.0.1:${monPort}`, "--fsid", fsid, monmap]);
        await run("ceph-mon", ["-c", conf, "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring]);
        trace("mkfs done");
        const mon = spawnDaemon("mon.a", ["ceph-mon", "-c", conf, "-f", "-i", "a"]);
        // memstore mkfs needs no monitor: do it while the mon starts
        const osdMkfs = run("ceph-osd", ["-c", conf, "-i", "0", "--mkfs", "--osd-uuid", osdUuid]);
        await run("ceph", ["-c", conf, "-n", "client.admin", "--connect-timeout", "20", "osd", "new", osdUuid, "0"], 30_000);
        await osdMkfs;
        trace("osd new + osd mkfs done");
        const osd = spawnDaemon("osd.0", ["ceph-osd", "-c", conf, "-f", "-i", "0"]);
        // radosgw waits for the OSD by itself, then creates its pools and the default realm/zonegroup/zone
        const rgw = spawnDaemon("client.rgw.gw", ["radosgw", "-c", conf, "-f", "-n", "client.rgw.gw"]);
        const exited = () => [mon, osd, rgw].find((c) => c.exitCode !== null || c.signalCode !== null);
        await waitFor(
            async () => {
                const dead = exited();
                if (dead) throw fail(`${dead.spawnargs[4]} exited (${dead.exitCode ?? dead.signalCode})`);
                const r = await fetch(endpoint + "/", { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
                return !!r && r.status < 500;
            },
            "radosgw to answer",
            opts.timeoutMs ?? 60_000,
        ).catch((e) => {
            throw e instanceof Error && e.message.startsWith("Ceph RGW harness") ? e : fail((e as Error).message);
        });

        trace("radosgw answers");
        const exec = (args: string[]) => run("radosgw-admin", ["-c", conf, "-n", "client.admin", ...args]);
        const execJson = async (args: string[]) => JSON.parse(await exec(args));
        const rados = (args: string[]) => run("rados", ["-c", conf, "-n", "client.admin", ...args]);
        const radosRaw = (args: string[]) =>
            new Promise<Buffer>((resolve, reject) =>
                execFile("rados", ["-c", conf, "-n", "client.admin", ...args], { encoding: "buffer", maxBuffer: 256 << 20, timeout: 60_000 }, (err, stdout, stderr) =>
                    err ? reject(new Error(`rados ${args.join(" ")} failed: ${err.message}\n${stderr}`)) : resolve(stdout),
                ),
            );
        const createUser = async (name: string, o: CreateUserOptions = {}): Promise<RgwUser> => {
            const accessKeyId = o.accessKeyId ?? (name.replace(/[^A-Za-z0-9]/g, "").toUpperCase().slice(0, 12) + randomBytes(4).toString("hex").toUpperCase());
            const secretAccessKey = o.secretAccessKey ?? randomBytes(30).toString("base64url");
            const args = ["user", "create", "--uid", name, "--display-name", o.displayName ?? name, "--access-key", accessKeyId, "--secret", secretAccessKey];
            if (o.caps) args.push("--caps", o.caps);
            if (o.admin) args.push("--admin");
            await exec(args);
            return { uid: name, accessKeyId, secretAccessKey };
        };
        await createUser("rgw-admin", { ...adminKeys, caps: "users=*;buckets=*;roles=*;user-policy=*;oidc-provider=*;metadata=*;usage=*;zone=*" });
        trace("admin user created");

        const client = (creds: RgwCredentials = adminKeys) =>
            new S3Client({
                endpoint,
                region,
                forcePathStyle: true,
                credentials: creds,
                requestChecksumCalculation: "WHEN_REQUIRED",
                responseChecksumValidation: "WHEN_REQUIRED",
            });
        const query = async (creds: RgwCredentials, params: Record<string, string>, service: "iam" | "sts" = "iam") => {
            const body = new URLSearchParams({ Version: service === "iam" ? "2010-05-08" : "2011-06-15", ...params }).toString();
            const headers = signV4({ method: "POST", url: new URL(endpoint + "/"), body, region, service, creds, contentType: "application/x-www-form-urlencoded; charset=utf-8" });
            const r = await fetch(endpoint + "/", { method: "POST", headers, body });
            return { status: r.status, body: await r.text() };
        };

        const stop = async () => {
            if (stopped) return;
            stopped = true;
            const gone = children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once("exit", r))));
            killAll();
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([Promise.all(gone), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
            clearTimeout(timer);
            unhook();
            if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
        };

        return {
            endpoint,
            port,
            region,
            admin: { ...adminKeys },
            kmsKeyId,
            dir,
            pids: [mon.pid!, osd.pid!, rgw.pid!],
            startMs: Date.now() - t0,
            createUser,
            exec,
            execJson,
            rados,
            radosRaw,
            client,
            query,
            async queryOk(creds, params, service = "iam") {
                const r = await query(creds, params, service);
                if (r.status < 200 || r.status > 299) throw new Error(`${service} ${params.Action} -> HTTP ${r.status}: ${r.body}`);
                return r.body;
            },
            log: (name, chars) => tailOf(name, chars),
            stop,
        };
    } catch (e) {
        killAll();
        unhook();
        if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
        throw e;
    }
}

/** Minimal AWS Signature V4 for a query API POST (IAM, STS); returns the headers to send. */
export function signV4(req: { method: string; url: URL; body: string; region: string; service: string; creds: RgwCredentials; contentType: string; now?: Date }): Record<string, string> {
    const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
    const hmac = (k: Buffer | string, s: string) => createHmac("sha256", k).update(s, "utf8").digest();
    const amzDate = (req.now ?? new Date()).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const day = amzDate.slice(0, 8);
    const payloadHash = sha(req.body);
    const headers: Record<string, string> = {
        "content-type": req.contentType,
        host: req.url.host,
        "x-amz-content-sha256": payloadHash,
        "x-amz-date": amzDate,
    };
    if (req.creds.sessionToken) headers["x-amz-security-token"] = req.creds.sessionToken;
    const names = Object.keys(headers).sort();
    const canonical = [
        req.method,
        req.url.pathname || "/",
        [...req.url.searchParams].sort().map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"),
        names.map((n) => `${n}:${headers[n].trim()}\n`).join(""),
        names.join(";"),
        payloadHash,
    ].join("\n");
    const scope = `${day}/${req.region}/${req.service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha(canonical)].join("\n");
    const kDate = hmac("AWS4" + req.creds.secretAccessKey, day);
    const kSigning = hmac(hmac(hmac(kDate, req.region), req.service), "aws4_request");
    const signature = createHmac("sha256", kSigning).update(toSign, "utf8").digest("hex");
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${req.creds.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
    delete headers.host; // fetch sets it (same value)
    return headers;
}

/** A job's env against this RGW as its admin user, with the PostgreSQL client tools in `bin` first on PATH. */
export function rgwJobEnv(rgw: RgwServer, bin: string): Record<string, string> {
    return {
        AWS_ACCESS_KEY_ID: rgw.admin.accessKeyId,
        AWS_SECRET_ACCESS_KEY: rgw.admin.secretAccessKey,
        AWS_REGION: rgw.region,
        PATH: `${bin}:${process.env.PATH}`,
        PG_DUMP: `${bin}/pg_dump`,
        PG_DUMPALL: `${bin}/pg_dumpall`,
    };
}
