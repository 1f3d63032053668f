// The archive's table of contents and the use-list that leaves out exactly what a canary cannot restore
// for reasons that say nothing about the backup. Lines as pg_restore 17 lists a Supabase-shaped dump.
import { strict as assert } from "node:assert";
import { parseToc, planUseList, EXTENSION_OWN_SCHEMAS } from "../../../jobs/src/postgres/toc";
import { parseExtensionStatements } from "../../../jobs/src/postgres/canary-sandbox";

const TOC = `;
; Archive created at 2026-12-02 01:10:00 UTC
;
9; 3079 16732 EXTENSION - pg_cron 
3722; 0 0 COMMENT - EXTENSION pg_cron 
3723; 0 0 ACL - SCHEMA cron supabase_admin
19; 2615 16660 SCHEMA - graphql supabase_admin
6; 3079 16661 EXTENSION - pg_graphql 
3738; 0 0 COMMENT - EXTENSION "uuid-ossp" 
3739; 0 0 ACL auth FUNCTION email() supabase_auth_admin
280; 1255 16500 FUNCTION auth email() supabase_auth_admin
3747; 0 0 ACL graphql_public FUNCTION graphql("operationName" text, query text, variables jsonb, extensions jsonb) supabase_admin
3763; 0 0 ACL cron TABLE job supabase_admin
3380; 0 16735 TABLE DATA cron job supabase_admin
3793; 0 0 SEQUENCE SET cron jobid_seq supabase_admin
2289; 826 16767 DEFAULT ACL cron DEFAULT PRIVILEGES FOR SEQUENCES supabase_admin
217; 1259 16384 TABLE public profiles postgres
3272; 0 16384 TABLE DATA public profiles postgres
3126; 2606 16390 CONSTRAINT public profiles profiles_pkey postgres
`;

describe("postgres: table of contents and use-list", () => {
    const entries = parseToc(TOC);

    it("parses kind, schema and name, multi-word kinds and function arguments included", () => {
        assert.equal(entries.length, 16);
        const find = (id: string) => entries.find((e) => e.line.startsWith(id + ";"))!;
        assert.deepEqual([find("9").desc, find("9").schema, find("9").name], ["EXTENSION", "-", "pg_cron"]);
        assert.deepEqual([find("3380").desc, find("3380").schema, find("3380").name], ["TABLE DATA", "cron", "job"]);
        assert.deepEqual([find("2289").desc, find("2289").schema], ["DEFAULT ACL", "cron"]);
        assert.equal(find("3747").name, 'FUNCTION graphql("operationName" text, query text, variables jsonb, extensions jsonb)');
        assert.equal(find("3126").name, "profiles profiles_pkey");
    });

    it("with nothing refused, leaves out what a NOSUPERUSER owner cannot restore: grants on objects the archive does not create, other roles' default privileges", () => {
        const plan = planUseList(entries, new Map());
        assert.deepEqual(plan.skipped.map((s) => s.entry), [
            "ACL SCHEMA cron",
            'ACL graphql_public FUNCTION graphql("operationName" text, query text, variables jsonb, extensions jsonb)',
            "ACL cron TABLE job",
            "DEFAULT ACL cron DEFAULT PRIVILEGES FOR SEQUENCES",
        ]);
        assert.match(plan.skipped[3].why, /default privileges of role supabase_admin/);
        assert.ok(plan.text.includes("3739; 0 0 ACL auth FUNCTION email()"), "a grant on a function the archive creates is kept");
        assert.equal(plan.text.split("\n").filter(Boolean).length, entries.length - 4);
    });

    it("what the verifier's superuser prepared (extensions, their schemas) is not restored again, and not reported as left out", () => {
        const plan = planUseList(entries, new Map(), { extensions: new Set(["pg_graphql", "uuid-ossp"]), schemas: new Set(["graphql"]) });
        for (const gone of ["6; 3079 16661 EXTENSION - pg_graphql", '3738; 0 0 COMMENT - EXTENSION "uuid-ossp"', "19; 2615 16660 SCHEMA - graphql"]) assert.ok(!plan.text.includes(gone), gone);
        assert.ok(plan.text.includes("9; 3079 16732 EXTENSION - pg_cron"), "an extension not prepared stays in the list");
        assert.ok(!plan.skipped.some((s) => /graphql$|uuid/.test(s.entry)), JSON.stringify(plan.skipped));
    });

    it("event triggers need a superuser: left out and said", () => {
        const plan = planUseList(parseToc("2345; 3466 16800 EVENT TRIGGER - pgrst_ddl_watch supabase_admin\n3800; 0 0 COMMENT - EVENT TRIGGER pgrst_ddl_watch supabase_admin\n"), new Map());
        assert.equal(plan.skipped.length, 2);
        assert.match(plan.skipped[0].why, /event triggers need a superuser/);
    });

    it("a refused extension takes its entries, its comment and everything in its own schema with it", () => {
        const plan = planUseList(entries, new Map([["pg_cron", { schemas: EXTENSION_OWN_SCHEMAS.pg_cron, why: "refused here" }]]));
        const left = plan.skipped.map((s) => s.entry.split(" ").slice(0, 3).join(" "));
        for (const want of ["EXTENSION pg_cron", "COMMENT EXTENSION pg_cron", "ACL SCHEMA cron", "ACL cron TABLE", "TABLE DATA cron", "SEQUENCE SET cron", "DEFAULT ACL cron"]) {
            assert.ok(left.some((l) => l.startsWith(want)), `${want} left out: ${left.join(" | ")}`);
        }
        for (const kept of ["6; 3079 16661 EXTENSION - pg_graphql", "217; 1259 16384 TABLE public profiles", "3272; 0 16384 TABLE DATA public profiles", "3738; 0 0 COMMENT - EXTENSION \"uuid-ossp\""]) {
            assert.ok(plan.text.includes(kept), `${kept} kept`);
        }
        assert.equal(plan.skipped.find((s) => s.entry === "EXTENSION pg_cron")?.why, "refused here");
    });
});

describe("postgres: the extension statements the verifier's superuser rebuilds (canary-sandbox.ts)", () => {
    it("reads name and schema from pg_restore's CREATE EXTENSION lines, quoted or not, and nothing else", () => {
        const sql = [
            "CREATE EXTENSION IF NOT EXISTS pg_net WITH SCHEMA extensions;",
            'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;',
            'CREATE EXTENSION IF NOT EXISTS odd WITH SCHEMA "we""ird";',
            "CREATE EXTENSION IF NOT EXISTS evil WITH SCHEMA x; COPY (SELECT 1) TO PROGRAM 'id';",
            "COMMENT ON EXTENSION pg_net IS 'x';",
        ].join("\n");
        assert.deepEqual(parseExtensionStatements(sql), [
            { name: "pg_net", schema: "extensions" },
            { name: "uuid-ossp", schema: "extensions" },
            { name: "odd", schema: 'we"ird' },
        ]);
    });
});
