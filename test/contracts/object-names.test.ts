// The one check of Storage object names (contracts/src/object-names.ts): the payloads and their
// encoded variants are unsafe; ordinary names with dots, percent signs and Unicode are not.
import { strict as assert } from "node:assert";
import { MAX_OBJECT_NAME_BYTES, printableName, unsafeObjectName } from "@supabase-backups/contracts";

describe("contracts: object names", () => {
    const unsafe: Array<[string, string]> = [
        ["uid/../../user-media/avatars/victim.png", "dot-segment"],
        ["x/../../../bucket", "dot-segment"],
        ["..", "dot-segment"],
        ["a/./b", "dot-segment"],
        ["a/..", "dot-segment"],
        ["a\\..\\..\\victim.png", "dot-segment"],
        ["/etc/passwd", "leading-slash"],
        ["\\server\\share", "leading-slash"],
        ["uid/%2e%2e/%2e%2e/user-media/avatars/victim.png", "encoded"],
        ["uid/%2E%2E/x", "encoded"],
        ["uid/%252e%252e/x", "encoded"], // decoded twice by a server that decodes once more
        ["uid%2f..%2fx", "encoded"],
        ["%2fetc/passwd", "encoded"],
        ["a/%00.png", "encoded"],
        ["uid/\uff0e\uff0e/x", "encoded"], // fullwidth dots fold to '..' under NFKC
        ["evil\u0000.png", "control-character"],
        ["a\r\nx-upsert: true", "control-character"],
        ["\u001b[31mred", "control-character"],
        ["c1\u0085", "control-character"],
        ["", "empty"],
        ["a".repeat(MAX_OBJECT_NAME_BYTES + 1), "too-long"],
        ["é".repeat(513), "too-long"], // 1026 bytes in UTF-8, 513 characters
    ];
    for (const [name, reason] of unsafe) {
        it(`unsafe (${reason}): ${JSON.stringify(name.length > 40 ? name.slice(0, 40) + "…" : name)}`, () => {
            assert.equal(unsafeObjectName(name)?.reason, reason);
        });
    }

    const safe = ["avatars/1.png", "a..b/c.png", ".hidden/x", "x/...", "a/b%20c.png", "100%/done", "日本語/ファイル.png", "a".repeat(MAX_OBJECT_NAME_BYTES), "dir/", "a\\b.png"];
    for (const name of safe) {
        it(`safe: ${JSON.stringify(name.length > 40 ? name.slice(0, 40) + "…" : name)}`, () => {
            assert.equal(unsafeObjectName(name), undefined);
        });
    }

    it("printableName escapes control characters and backslashes and cuts long names with their byte length", () => {
        assert.equal(printableName("evil\u0000.png"), "evil\\u0000.png");
        assert.equal(printableName("a\r\nb"), "a\\u000d\\u000ab");
        assert.equal(printableName("a\\b"), "a\\\\b");
        const long = printableName("x".repeat(5000));
        assert.ok(long.length < 230);
        assert.match(long, /…\(5000 bytes\)$/);
        assert.ok(!/[\u0000-\u001f]/.test(printableName("\u001b[31m\u0007")));
    });
});
