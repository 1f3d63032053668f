// A real S3-protocol server on loopback (s3rver) as a child process, so tests can stop it mid-upload.
// s3rver ignores Object Lock, versioning and tagging headers: tests assert on what the job sends.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort, waitFor } from "./ports";

export const S3_TEST_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface S3Server {
    endpoint: string;
    port: number;
    dir: string;
    client: S3Client;
    createBucket(name: string): Promise<void>;
    /** env for a child process (the CLI) to reach this server */
    env: Record<string, string>;
    stop(): Promise<void>;
    /** stop without removing the data, to restart on the same port */
    kill(): Promise<void>;
    restart(): Promise<void>;
}

const bin = join(__dirname, "..", "..", "node_modules", "s3rver", "bin", "s3rver.js");

export function s3Client(endpoint: string): S3Client {
    return new S3Client({
        endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: S3_TEST_CREDENTIALS,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
    });
}

export async function startS3rver(): Promise<S3Server> {
    const dir = mkdtempSync(join(tmpdir(), "sb-s3-"));
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    let child: ChildProcess | undefined;
    const launch = async () => {
        child = spawn(process.execPath, [bin, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent", "--allow-mismatched-signatures", "--no-vhost-buckets"], {
            stdio: ["ignore", "ignore", "pipe"],
            env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider" },
        });
        await waitFor(async () => {
            const r = await fetch(endpoint + "/").catch(() => undefined);
            return !!r;
        }, "s3rver to listen");
    };
    await launch();
    const client = s3Client(endpoint);
    const kill = async () => {
        if (!child || child.exitCode !== null) return;
        const done = new Promise((r) => child!.once("exit", r));
        child.kill("SIGKILL");
        await done;
    };
    return {
        endpoint,
        port,
        dir,
        client,
        env: { AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey, AWS_REGION: "us-east-1" },
        async createBucket(name: string) {
            await client.send(new CreateBucketCommand({ Bucket: name }));
        },
        kill,
        restart: launch,
        async stop() {
            await kill();
            client.destroy();
            rmSync(dir, { recursive: true, force: true });
        },
    };
}
