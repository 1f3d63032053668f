// The Azure restore-operator role (components/archive-restore-operators.ts): the real program under
// mocks, read back from what `pulumi up` would send. Exact data actions, exact container scope, one
// assignment per configured principal, each with the condition that limits blob creation to the audit
// records `restore … --from archive` writes.
import { strict as assert } from "node:assert";
import { auditKey, auditStartedKey, ConfigError, newRunId, storageBlobKey, storageRunManifestKey } from "@supabase-backups/contracts";
import { runProgramUnderMocks, type MockRunResult } from "../../scripts/lib/mockrun";
import { ofType, one, stackRun } from "../support/components";

const BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";
const ROLE_DEF = "azure-native:authorization:RoleDefinition";
const ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const PROD_GROUP = "00000000-0000-4000-8000-000000000001";

const operatorRole = (r: MockRunResult) => one(r, ROLE_DEF, "-archive-restore-operators-role");
const operatorAssignments = (r: MockRunResult) => ofType(r, ASSIGNMENT).filter((a) => a.name.includes("-archive-restore-operators-"));

/** What the assignment's condition lets through for blob creation: the prefix after StringStartsWith. */
function createPrefix(condition: string): string {
    const m = /^\(\(!\(ActionMatches\{'([^']+)'\}\)\) OR \(@Resource\[([^\]]+)\] StringStartsWith '([^']+)'\)\)$/.exec(condition);
    assert.ok(m, `unexpected condition shape: ${condition}`);
    assert.equal(m[1], `${BLOBS}/add/action`);
    assert.equal(m[2], `${BLOBS}:path`);
    return m[3];
}

describe("Azure restore-operator role on the archive (azure.restoreOperators)", function () {
    this.timeout(120_000);
    let r: MockRunResult;

    before(async () => {
        r = await stackRun("prod");
    });

    it("prod: one custom role, exactly read / read tags / create, no control-plane action, scoped to the archive container", () => {
        const role = operatorRole(r).inputs;
        const accountRg = one(r, "azure-native:storage:StorageAccount").inputs.resourceGroupName;
        const scope = `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/${accountRg}/providers/Microsoft.Storage/storageAccounts/acmesbbackupsprod/blobServices/default/containers/backups`;
        assert.equal(role.roleName, "supabase-backups-prod-restore-operator");
        assert.equal(role.roleType, "CustomRole");
        assert.deepEqual(role.permissions, [{ actions: [], notActions: [], dataActions: [`${BLOBS}/read`, `${BLOBS}/tags/read`, `${BLOBS}/add/action`], notDataActions: [] }]);
        assert.equal(role.scope, scope);
        assert.deepEqual(role.assignableScopes, [scope]);
    });

    it("prod: the configured group gets it on the container, with the audit-prefix condition", () => {
        const role = operatorRole(r);
        const as = operatorAssignments(r).map((a) => a.inputs);
        assert.equal(as.length, 1);
        const a = as[0];
        assert.equal(a.principalId, PROD_GROUP);
        assert.equal(a.principalType, "Group");
        assert.equal(a.roleDefinitionId, `${role.inputs.scope}/providers/Microsoft.Authorization/roleDefinitions/${role.inputs.roleDefinitionId}`);
        assert.equal(a.scope, role.inputs.scope);
        assert.equal(a.conditionVersion, "2.0");
        assert.equal(createPrefix(a.condition), "audit/prod/");
    });

    it("the condition admits exactly where ArchiveAuditTrail writes, not runs, manifests or blobs", () => {
        const prefix = createPrefix(operatorAssignments(r)[0].inputs.condition);
        const at = new Date("2026-12-02T10:00:00Z");
        for (const k of [auditKey("prod", at, "e1"), auditStartedKey("prod", at, "e1")]) assert.ok(k.startsWith(prefix), k);
        const runId = newRunId(at, "abc123");
        for (const k of [storageRunManifestKey("prod", runId), storageBlobKey("prod", "ab".repeat(32)), auditKey("staging", at, "e1"), `db/prod/${runId}/dump`]) {
            assert.ok(!k.startsWith(prefix), k);
        }
    });

    it("the restore-operator assignments are the stack's only ones to people (all others go to the workload identities)", () => {
        const humans = ofType(r, ASSIGNMENT).filter((a) => a.inputs.principalType !== "ServicePrincipal");
        assert.deepEqual(humans.map((a) => a.name), operatorAssignments(r).map((a) => a.name));
    });

    it("staging (archive off): no Azure role at all", async () => {
        const s = await stackRun("staging");
        assert.deepEqual(ofType(s, ROLE_DEF), []);
        assert.equal(s.outputs.archiveRestoreOperatorRoleId, undefined);
    });

    it("prod without restoreOperators: no restore-operator role and no human assignment", async () => {
        const x = await runProgramUnderMocks("prod", { mutate: (f) => void delete (f.values.azure as any).restoreOperators });
        assert.deepEqual(ofType(x, ROLE_DEF).filter((d) => /restore/.test(d.inputs.roleName)), []);
        assert.equal(ofType(x, ASSIGNMENT).length, 4);
        assert.equal(x.outputs.archiveRestoreOperatorRoleId, undefined);
    });

    it("a user and a group: one assignment each, distinct names, principalType from the config", async () => {
        const user = "11111111-2222-4333-8444-555555555555";
        const x = await runProgramUnderMocks("prod", {
            mutate: (f) => void ((f.values.azure as any).restoreOperators = [{ objectId: PROD_GROUP }, { objectId: user.toUpperCase(), type: "User" }]),
        });
        const as = operatorAssignments(x).map((a) => a.inputs);
        assert.deepEqual(as.map((a) => [a.principalId, a.principalType]), [[PROD_GROUP, "Group"], [user, "User"]]);
        assert.equal(new Set(as.map((a) => a.roleAssignmentName)).size, 2);
        assert.match(x.outputs.archiveRestoreOperatorRoleId, /\/containers\/backups\/providers\/Microsoft.Authorization\/roleDefinitions\//);
    });

    it("bad config: a non-GUID object id and a principal listed twice are refused, one line each", async () => {
        const bad = (ops: unknown) => runProgramUnderMocks("prod", { mutate: (f) => void ((f.values.azure as any).restoreOperators = ops) });
        await assert.rejects(bad([{ objectId: "oncall@acme.example" }]), (e: unknown) => e instanceof ConfigError && /azure\.restoreOperators\[0\]\.objectId/.test(e.message));
        await assert.rejects(bad([{ objectId: PROD_GROUP }, { objectId: PROD_GROUP.toUpperCase(), type: "User" }]), (e: unknown) => e instanceof ConfigError && /restoreOperators\[1\]\.objectId: expected each principal listed once/.test(e.message));
    });
});
