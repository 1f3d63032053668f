// What Azurite (the Azure Blob server the tests run) does with blob versions, pinned so the day it
// changes is noticed (docs/testing.md "Azure Blob"). The dump records each Azure blob's versionId and
// verify reads the Azure copy at that version (jobs/src/commands/verify/secondary.ts), as on an account
// with versioning on (the components turn it on). Azurite 3.35 keeps no versions: an overwrite by the
// writer cannot be shown to be detected, nor the recorded version read, against it. If this test fails
// because Azurite now answers with version ids, add that attack test (test/attacks/) and drop this one.
import assert from "node:assert/strict";
import { startAzurite, type AzuriteServer } from "../support/azurite";

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
    let s = "";
    for await (const chunk of stream ?? []) s += chunk;
    return s;
}

describe("fidelity: Azurite keeps no blob versions", function () {
    this.timeout(60_000);
    let az: AzuriteServer;
    before(async () => {
        az = await startAzurite();
        await az.createContainer("versions");
    });
    after(async () => az?.stop());

    it("Put Blob answers without x-ms-version-id; List Blobs with include=versions lists only the current blob; Get Blob ignores ?versionid=", async () => {
        const blob = az.service.getContainerClient("versions").getBlockBlobClient("db/run/dump");
        const first = await blob.upload("original", 8);
        const second = await blob.upload("attacker", 8); // the writer's overwrite
        assert.equal(first.versionId, undefined);
        assert.equal(second.versionId, undefined);
        assert.equal(first._response.headers.get("x-ms-version-id"), undefined);

        const listed = [];
        for await (const b of az.service.getContainerClient("versions").listBlobsFlat({ includeVersions: true })) listed.push({ name: b.name, versionId: b.versionId, current: b.isCurrentVersion });
        assert.deepEqual(listed, [{ name: "db/run/dump", versionId: undefined, current: undefined }]);

        // a version id Azure would have given the first upload: Azurite serves the current bytes
        const pinned = await blob.withVersion("2026-12-02T06:00:00.0000000Z").download();
        assert.equal(pinned._response.status, 200);
        assert.equal(await text(pinned.readableStreamBody), "attacker");
    });
});
