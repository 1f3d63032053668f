// azure-archive-roles-least-privilege on the real prod program: who may do what on the archive, judged
// per assignment. Beyond the mutation corpus (mutations/azure-roles.ts): the first preview, where the
// identities' principal ids and the roles' ids are not known yet, and what the messages say.
import { strict as assert } from "node:assert";
import { runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { toPolicyResources } from "../../scripts/policy";
import { evaluatePack, type DeclaredResource } from "../../policy/evaluate";
import { archiveRolesPolicy } from "../../policy/policies/azure-archive-roles-least-privilege";

const ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const judge = async (rs: DeclaredResource[]) => (await evaluatePack(rs, {}, { stack: "prod", policies: [archiveRolesPolicy] })).map((v) => `${v.resourceName}: ${v.message}`);
const named = (rs: DeclaredResource[], suffix: string) => rs.find((r) => r.name.endsWith(suffix))!;

/** What a first `pulumi preview` shows: outputs of resources not created yet are unknown (absent). */
function unknownIds(rs: DeclaredResource[]): void {
    for (const r of rs) {
        if (r.type === "azure-native:managedidentity:UserAssignedIdentity") delete r.outputs?.principalId;
        if (r.type === ASSIGNMENT) {
            if (r.props.principalType === "ServicePrincipal") delete r.props.principalId;
            delete r.props.roleDefinitionId;
        }
    }
}

describe("azure-archive-roles-least-privilege (real prod program)", function () {
    this.timeout(120_000);
    let base: DeclaredResource[];
    before(async () => {
        base = toPolicyResources((await runProgramUnderMocks("prod")).resources);
    });

    it("the program's assignments pass, also while the principal and role ids are unknown (first preview)", async () => {
        assert.deepEqual(await judge(base), []);
        const rs = structuredClone(base);
        unknownIds(rs);
        assert.deepEqual(await judge(rs), []);
    });

    it("first preview: the writer's role assignment depending on the verifier identity instead fails", async () => {
        const rs = structuredClone(base);
        unknownIds(rs);
        const a = named(rs, "-writer-azure-assignment");
        const writerUai = named(rs, "-writer-azure").urn!;
        a.dependencies = [...(a.dependencies ?? []).filter((u) => u !== writerUai), named(rs, "-verifier-azure").urn!];
        const vs = await judge(rs);
        assert.ok(vs.some((v) => /-writer-azure-assignment: .*which is not the writer workload identity, set or remove blob immutability policies/.test(v)), vs.join("\n"));
    });

    it("first preview: gc's role assignment depending on the drill identity instead fails (delete is gc's alone)", async () => {
        const rs = structuredClone(base);
        unknownIds(rs);
        const a = named(rs, "-gc-azure-assignment");
        const gcUai = named(rs, "-gc-azure").urn!;
        a.dependencies = [...(a.dependencies ?? []).filter((u) => u !== gcUai), named(rs, "-drill-azure").urn!];
        const vs = await judge(rs);
        assert.ok(vs.some((v) => /-gc-azure-assignment: .*which is not the gc workload identity, delete: .*blobs\/delete/.test(v)), vs.join("\n"));
    });

    it("says which role lets whom do what", async () => {
        const rs = structuredClone(base);
        const role = named(rs, "-archive-restore-operators-role").props;
        role.permissions[0].dataActions.push("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete");
        delete rs.find((r) => r.type === ASSIGNMENT && r.name.includes("-archive-restore-operators-"))!.props.condition;
        const vs = await judge(rs);
        assert.ok(vs.some((v) => /role "supabase-backups-prod-restore-operator" lets "Group" "00000000-0000-4000-8000-000000000001", which is not the gc workload identity, delete: .*blobs\/delete/.test(v)), vs.join("\n"));
        assert.ok(vs.some((v) => /create blobs anywhere in the archive .*needs the condition that limits creation to audit\/<env>\/ \(found unset\)/.test(v)), vs.join("\n"));
    });
});
