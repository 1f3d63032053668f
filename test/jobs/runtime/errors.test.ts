// One line for any failure: an S3-compatible server's empty error message still names what happened.
import { strict as assert } from "node:assert";
import { errorMessage } from "../../../jobs/src/runtime/errors";

describe("runtime: errorMessage", () => {
    it("keeps a message, and names the code and HTTP status when the server sent none", () => {
        assert.equal(errorMessage(new Error("Access Denied")), "Access Denied");
        const unknown = Object.assign(new Error("UnknownError"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
        assert.equal(errorMessage(unknown), "AccessDenied (HTTP 403)");
        const empty = Object.assign(new Error(""), { name: "InternalError", Code: "SlowDown", $metadata: { httpStatusCode: 503 } });
        assert.equal(errorMessage(empty), "SlowDown (HTTP 503)");
        assert.equal(errorMessage(new AggregateError([new Error("a"), new Error("b")])), "a; b");
    });
});
