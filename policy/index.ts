// The CrossGuard entry point: `pulumi preview --policy-pack policy --policy-pack-config policy/config.<stack>.json`.
// Constructing a PolicyPack starts the analyzer's gRPC server, so nothing but this file may do it:
// the policies live in ./policies (the list: ./policies/index.ts), which the tests and the offline gate
// (scripts/policy.ts) import.
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME } from "./lib/common";
import { policies } from "./policies";

new PolicyPack(PACK_NAME, {
    description: "Fails a preview that weakens the backups' retention, encryption, identities or schedules.",
    enforcementLevel: "mandatory",
    policies,
});
