// The dump's snapshot (postgres/snapshot.ts): its facts are read while pg_dump runs, after other
// sessions may already have written more rows; they must still be the snapshot's, as the dump's are.
import { strict as assert } from "node:assert";
import { openSnapshot } from "../../../jobs/src/postgres/snapshot";
import { startPostgres, type PgServer } from "../../support/postgres";

describe("postgres: dump snapshot facts", function () {
    this.timeout(60_000);
    let pg: PgServer;
    let url: string;

    before(async () => {
        pg = await startPostgres();
        url = await pg.createDatabase("snap");
        await pg.query("create table public.t (id int primary key); insert into public.t select generate_series(1, 10)", "snap");
    });
    after(async () => pg?.stop());

    it("counts read after later commits are the snapshot's (what pg_dump --snapshot dumps), not the database's", async () => {
        const snap = await openSnapshot(url, ["public.t"]);
        try {
            // another session commits while the dump would be running
            await pg.query("insert into public.t select generate_series(11, 15)", "snap");
            const facts = await snap.readFacts();
            assert.deepEqual(facts.rowCounts, { "public.t": 10 });
            assert.equal(snap.readFacts(), snap.readFacts(), "read once");
            assert.equal(Number((await pg.query("select count(*) n from public.t", "snap"))[0].n), 15);
        } finally {
            await snap.close();
        }
    });

    it("a configured table that does not exist fails when the snapshot opens, before anything is dumped", async () => {
        await assert.rejects(openSnapshot(url, ["public.t", "public.missing"]), /configured table public\.missing \(verify\.tables\) does not exist/);
    });
});
