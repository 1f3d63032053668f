// The pack and the components agree on what the identities may do. For every backup identity's real
// policy document (and for deliberately broadened writer documents) and for every forbidden action the
// pack judges — on the bucket, on each vault area's sample key, on the KMS key — the pack's wildcard
// expansion and statement evaluation must give the same answer as the IAM simulator
// (@cloud-copilot/iam-simulate, AGPL: used here in tests only, never by the pack).
import { strict as assert } from "node:assert";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { runProgramUnderMocks } from "../../scripts/lib/mockrun";
import { allows, categoryActions, expandDocument, isObjectAction, type CatalogAction } from "../../policy/lib/iam-catalog";
import { judgeIdentityDocument } from "../../policy/policies/iam-backup-identities-least-privilege";
import { sampleKeys, type IdentityName } from "../../policy/lib/identities";
import { stackConfig } from "../support/policy-fixtures";

/** A request context in which every Allow condition of the components' documents holds and no conditional Deny fires
 * (the pack assumes exactly that: conditional Allows count, conditional Denies do not protect). */
function context(region: string, principal: string): Record<string, string> {
    return {
        "aws:PrincipalArn": principal,
        "aws:SecureTransport": "true",
        "kms:ViaService": `s3.${region}.amazonaws.com`,
        "s3:object-lock-mode": "COMPLIANCE",
        "s3:x-amz-server-side-encryption": "aws:kms",
    };
}

async function simulatorAllows(doc: string, action: string, resource: string, accountId: string, region: string): Promise<boolean> {
    const principal = `arn:aws:iam::${accountId}:role/test`;
    const res: any = await runSimulation(
        {
            identityPolicies: [{ name: "identity", policy: JSON.parse(doc) }],
            serviceControlPolicies: [],
            resourceControlPolicies: [],
            request: { action, principal, resource: { accountId, resource }, contextVariables: context(region, principal) },
        } as any,
        {},
    );
    if (res.resultType === "error") throw new Error(`simulator rejected ${action} on ${resource}: ${JSON.stringify(res.errors)}`);
    // The identity policies' own verdict: what the pack judges. (The overall result also needs a KMS key
    // policy, which the simulator is not given, so it is ImplicitlyDenied for every KMS action.)
    const identity = res.result?.analysis?.identityAnalysis?.result;
    assert.ok(identity, `simulator returned no identity analysis for ${action}`);
    return identity === "Allowed";
}

interface Probe {
    action: CatalogAction;
    arn: string;
}

async function probes(env: string, bucket: string, keyArn: string): Promise<Probe[]> {
    const cats = await categoryActions();
    const all = new Map<string, CatalogAction>();
    for (const list of Object.values(cats)) for (const a of list) all.set(a.id, a);
    const keys = Object.values(sampleKeys(env));
    const out: Probe[] = [];
    for (const a of all.values()) {
        if (a.service === "s3" && isObjectAction(a)) for (const k of keys) out.push({ action: a, arn: `arn:aws:s3:::${bucket}/${k}` });
        else if (a.service === "s3" && a.resourceTypes.includes("bucket")) out.push({ action: a, arn: `arn:aws:s3:::${bucket}` });
        else if (a.service === "kms" && a.resourceTypes.includes("key")) out.push({ action: a, arn: keyArn });
    }
    return out;
}

async function compare(doc: string, env: string, bucket: string, keyArn: string, accountId: string, region: string): Promise<{ allowed: string[]; disagreements: string[] }> {
    const { statements } = await expandDocument(JSON.parse(doc));
    const allowed: string[] = [];
    const disagreements: string[] = [];
    for (const p of await probes(env, bucket, keyArn)) {
        const pack = !!allows(statements, p.action.id, p.arn);
        const sim = await simulatorAllows(doc, p.action.id, p.arn, accountId, region);
        if (pack !== sim) disagreements.push(`${p.action.id} on ${p.arn}: pack ${pack ? "allowed" : "denied"}, simulator ${sim ? "allowed" : "denied"}`);
        if (sim) allowed.push(`${p.action.id} ${p.arn}`);
    }
    return { allowed, disagreements };
}

const IDENTITIES: [string, IdentityName][] = [
    ["writer", "writer"],
    ["verifier", "verifier"],
    ["gc", "gc"],
    ["restore-operator", "restoreOperator"],
];

for (const stack of ["staging", "prod"]) {
    describe(`policy pack and IAM simulator agree (${stack})`, function () {
        this.timeout(300_000);
        const cfg = stackConfig(stack);
        const iamCfg = { env: cfg.env, bucketName: cfg.aws.bucketName, identities: {} as any };
        let docs: Record<string, string>;
        let keyArn: string;

        before(async () => {
            const run = await runProgramUnderMocks(stack);
            docs = {};
            for (const r of run.resources.filter((x) => x.type === "aws:iam/rolePolicy:RolePolicy")) {
                const id = IDENTITIES.find(([suffix]) => r.name.endsWith(`-${suffix}-vault`));
                if (id) docs[id[0]] = r.inputs.policy;
            }
            keyArn = run.resources.find((x) => x.type === "aws:kms/key:Key" && x.name.endsWith("-vault-key"))!.state.arn;
            assert.deepEqual(Object.keys(docs).sort(), IDENTITIES.map(([s]) => s).sort(), "one vault policy per identity");
        });

        for (const [suffix, identity] of IDENTITIES) {
            it(`${suffix}: the components' document — same answer for every forbidden action, and the pack finds nothing`, async () => {
                const { disagreements } = await compare(docs[suffix], cfg.env, cfg.aws.bucketName, keyArn, cfg.aws.accountId, cfg.aws.region);
                assert.deepEqual(disagreements, []);
                assert.deepEqual(await judgeIdentityDocument(docs[suffix], identity, iamCfg), []);
            });
        }

        const broadened: [string, object][] = [
            ["s3:*", { Effect: "Allow", Action: "s3:*", Resource: "*" }],
            ["s3:Del* on storage/", { Effect: "Allow", Action: "s3:Del*", Resource: `arn:aws:s3:::${cfg.aws.bucketName}/storage/*` }],
            ["s3:*Object* on db/", { Effect: "Allow", Action: "s3:*Object*", Resource: `arn:aws:s3:::${cfg.aws.bucketName}/db/${cfg.env}/*` }],
            ["NotAction s3:GetObject", { Effect: "Allow", NotAction: ["s3:GetObject", "s3:GetObjectVersion"], Resource: "*" }],
            ["kms:*", { Effect: "Allow", Action: "kms:*", Resource: "*" }],
        ];
        for (const [what, statement] of broadened) {
            it(`writer + ${what}: same answer for every forbidden action, and the pack reports what the simulator allows`, async () => {
                const d = JSON.parse(docs.writer);
                d.Statement.push(statement);
                const doc = JSON.stringify(d);
                const { allowed, disagreements } = await compare(doc, cfg.env, cfg.aws.bucketName, keyArn, cfg.aws.accountId, cfg.aws.region);
                assert.deepEqual(disagreements, []);
                assert.ok(allowed.length > 0, "the broadened document allows something forbidden");
                const messages = await judgeIdentityDocument(doc, "writer", iamCfg);
                assert.ok(messages.length > 0, "the pack reports it");
            });
        }
    });
}
