// Azure Blob on loopback (azurite-blob, in memory) as a child process. No immutability support: tests
// assert on what the job sends for immutability policies. With `clock`, Azurite's clock can be moved
// (azurite-clock.cjs): blobs written then carry that time, as blobs written days ago would.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { BlobServiceClient } from "@azure/storage-blob";
import { freePort, waitFor } from "./ports";

// Azurite's well-known development account (public, documented by Microsoft).
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteServer {
    port: number;
    accountUrl: string;
    connectionString: string;
    service: BlobServiceClient;
    createContainer(name: string): Promise<void>;
    /** only with `clock`: Azurite's clock runs this many ms from the real one until set again (negative: the past) */
    setClock(offsetMs: number): Promise<void>;
    kill(): Promise<void>;
    stop(): Promise<void>;
}

const bin = join(__dirname, "..", "..", "node_modules", "azurite", "dist", "src", "blob", "main.js");

export async function startAzurite(opts: { clock?: boolean } = {}): Promise<AzuriteServer> {
    const port = await freePort();
    const child: ChildProcess = spawn(
        process.execPath,
        [...(opts.clock ? ["--require", join(__dirname, "azurite-clock.cjs")] : []), bin, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose"],
        { stdio: opts.clock ? ["ignore", "ignore", "pipe", "ipc"] : ["ignore", "ignore", "pipe"], cwd: tmpdir() },
    );
    const accountUrl = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${accountUrl};`;
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
    await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`azurite exited: ${stderr}`);
        return !!(await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined));
    }, "azurite to listen", 45_000); // loading Azurite's modules alone took over 20 s on a loaded 2-core machine
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const kill = async () => {
        if (child.exitCode !== null) return;
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await done;
    };
    return {
        port,
        accountUrl,
        connectionString,
        service,
        async createContainer(name: string) {
            await service.getContainerClient(name).createIfNotExists();
        },
        async setClock(offsetMs: number) {
            if (!opts.clock) throw new Error("startAzurite({ clock: true }) to move Azurite's clock");
            const acked = new Promise<void>((resolve) => {
                const onAck = (m: { clockOffsetMs?: number }) => {
                    if (m?.clockOffsetMs !== offsetMs) return;
                    child.off("message", onAck);
                    resolve();
                };
                child.on("message", onAck);
            });
            child.send({ clockOffsetMs: offsetMs });
            await acked;
        },
        kill,
        async stop() {
            await kill();
        },
    };
}
