// Reading an archive's table of contents while it streams: the first bytes go to `pg_restore -l` (it
// reads the header and the TOC, a few hundred KB at most, and exits) and are held; once the TOC is
// known, `open` gets it and returns where the whole stream goes (a pg_restore that now knows its -L
// use-list, and the head bytes to read definitions from); the held bytes are written there first,
// then the rest flows through with backpressure.
// This keeps verify's restore overlapped with the download instead of waiting for the whole spool.
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { parseToc, type TocEntry } from "./toc";

export class TocGate extends Writable {
    private held: Buffer[] = [];
    private dest: Writable | undefined;
    private ready: Promise<Writable>;

    constructor(pgRestoreBin: string, env: NodeJS.ProcessEnv, open: (toc: TocEntry[], head: Buffer) => Promise<Writable>) {
        super({ highWaterMark: 256 * 1024 });
        this.ready = this.listThenOpen(pgRestoreBin, env, open);
        this.ready.catch((e) => this.destroy(e));
    }

    private lister?: ReturnType<typeof spawn>;
    private ending = false;
    private listerClosed!: Promise<void>;

    private async listThenOpen(bin: string, env: NodeJS.ProcessEnv, open: (toc: TocEntry[], head: Buffer) => Promise<Writable>): Promise<Writable> {
        const child = spawn(bin, ["-l"], { env, stdio: ["pipe", "pipe", "pipe"] });
        this.lister = child;
        this.listerClosed = new Promise((resolve) => child.once("close", () => resolve()));
        child.stdin!.on("error", () => undefined); // it exits once it has the TOC: EPIPE is expected
        let out = "";
        let err = "";
        child.stdout!.on("data", (d) => (out += d));
        child.stderr!.on("data", (d) => (err += d));
        const code = await new Promise<number | null>((resolve, reject) => {
            child.on("error", (e) => reject(new Error(`cannot run ${bin}: ${e.message}`)));
            child.on("close", resolve);
        });
        this.lister = undefined;
        if (code !== 0) throw new Error(`pg_restore -l could not read the archive's table of contents: ${err.trim().split("\n").pop() ?? `exit ${code}`}`);
        // `head`: the bytes held so far (they hold the whole TOC, with each entry's definition)
        const dest = await open(parseToc(out), Buffer.concat(this.held));
        // The restore going away (it failed) ends the gate too, so the writer stops waiting on it.
        dest.once("error", (e) => this.destroy(e));
        dest.once("close", () => {
            if (!this.ending) this.destroy(new Error("pg_restore stopped reading the dump"));
        });
        for (const chunk of this.held) if (!dest.write(chunk)) await waitDrain(dest);
        this.held = [];
        this.dest = dest;
        return dest;
    }

    override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
        if (this.dest) {
            if (this.dest.write(chunk)) cb();
            else waitDrain(this.dest).then(() => cb(), (e) => cb(e));
            return;
        }
        this.held.push(chunk);
        const stdin = this.lister?.stdin;
        // Feed the lister at its own pace (it may exit before it drains); once it is done, hold the
        // input until the destination is open.
        if (stdin?.writable && !stdin.destroyed) {
            if (stdin.write(chunk)) return cb();
            void Promise.race([new Promise((r) => stdin.once("drain", r)), this.listerClosed]).then(() => cb());
            return;
        }
        this.ready.then(
            () => cb(),
            (e) => cb(e),
        );
    }

    override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
        // the writer gave up (the bytes were wrong): stop the lister and the restore reading from us
        this.lister?.kill("SIGTERM");
        this.dest?.destroy();
        cb(err);
    }

    override _final(cb: (e?: Error | null) => void): void {
        this.ending = true;
        this.lister?.stdin?.end();
        this.ready.then(
            (dest) => dest.end(() => cb()),
            (e) => cb(e),
        );
    }
}

function waitDrain(w: Writable): Promise<void> {
    return new Promise((resolve, reject) => {
        const onErr = (e: Error) => done(e);
        const onClose = () => done(new Error("closed before it drained"));
        const onDrain = () => done();
        const done = (e?: Error) => {
            w.off("error", onErr).off("close", onClose).off("drain", onDrain);
            if (e) reject(e);
            else resolve();
        };
        w.once("error", onErr).once("close", onClose).once("drain", onDrain);
    });
}
