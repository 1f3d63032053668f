// RecentBlobs (pure): the bounded memory of a run's blob outcomes, kept small at a million objects.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { storageBlobKey } from "@supabase-backups/contracts";
import { RecentBlobs } from "../../../jobs/src/commands/sync-storage/recent";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("sync-storage RecentBlobs", () => {
    it("keeps the newest `cap` keys: a set refreshes a key, the oldest is forgotten", () => {
        const r = new RecentBlobs<number>("prod", 2);
        const [a, b, c] = ["a", "b", "c"].map((x) => storageBlobKey("prod", sha(x)));
        r.set(a, 1);
        r.set(b, 2);
        r.set(a, 3); // a is now the newest
        r.set(c, 4);
        assert.equal(r.get(b), undefined, "b was the oldest");
        assert.equal(r.get(a), 3);
        assert.equal(r.get(c), 4);
        assert.equal(r.size, 2);
    });

    it("tells every distinct key apart: other envs, foreign keys, a foreign key spelled like a digest's bytes", () => {
        const r = new RecentBlobs<string>("prod", 100);
        const d = sha("x");
        const own = storageBlobKey("prod", d);
        const latin1 = Buffer.from(d, "hex").toString("latin1");
        const others = [storageBlobKey("staging", d), `${own}.tmp`, own.toUpperCase(), `storage/prod/blobs/zz/${d}`, latin1, d, `x${own}`];
        r.set(own, "own");
        for (const k of others) assert.equal(r.get(k), undefined, `${JSON.stringify(k)} is not ${own}`);
        others.forEach((k, i) => r.set(k, `other ${i}`));
        assert.equal(r.get(own), "own");
        others.forEach((k, i) => assert.equal(r.get(k), `other ${i}`));
        assert.equal(r.size, others.length + 1);
    });

    it("holds this env's content-addressed keys as their digests' 32 bytes, not as the key strings (the point of it)", () => {
        const n = 1000;
        const r = new RecentBlobs<boolean>("scale1000000", n);
        const keys = Array.from({ length: n }, (_, i) => storageBlobKey("scale1000000", sha(String(i))));
        for (const k of keys) r.set(k, true);
        const ids = [...(r as unknown as { map: Map<string, unknown> }).map.keys()];
        assert.equal(ids.length, n);
        assert.ok(ids.every((id) => id.length === 32), "32-character ids");
        assert.ok(keys.every((k) => k.length > 90 && r.get(k) === true));
    });
});
