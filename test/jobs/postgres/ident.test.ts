// The one SQL identifier quoter, checked against a real PostgreSQL parser's rules by construction and
// for the cases the four former quoters disagreed on (unqualified names).
import { strict as assert } from "node:assert";
import { quoteIdent, quoteQualified, quoteTable, splitQualified } from "../../../jobs/src/postgres/ident";

describe("postgres: identifier quoting", () => {
    it("doubles embedded quotes and keeps case and dots inside a name", () => {
        assert.equal(quoteIdent('we"ird'), '"we""ird"');
        assert.equal(quoteIdent("Mixed.Case"), '"Mixed.Case"');
        assert.equal(quoteTable("public", 'a"b'), '"public"."a""b"');
    });
    it("splits at the first dot; the table part may contain dots", () => {
        assert.deepEqual(splitQualified("public.profiles"), { schema: "public", table: "profiles" });
        assert.equal(quoteQualified("s.t.u"), '"s"."t.u"');
    });
    it("refuses an unqualified or half-qualified name instead of letting search_path decide", () => {
        for (const bad of ["profiles", ".profiles", "public.", ""]) assert.throws(() => quoteQualified(bad), /not schema-qualified/, bad);
    });
});
