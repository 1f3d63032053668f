// BreakGlass: the one role that may delete or disable the vault's KMS key or change its policy
// (docs/security.md "Vault and key policies"). People assume it only with a recent MFA sign-in; it holds
// no IAM policy: its rights on the key are granted by the key policy itself (resource-policies.ts
// kmsKeyPolicy), so nothing else in the account can widen or borrow them.
import * as pulumi from "@pulumi/pulumi";
import * as iam from "@pulumi/aws/iam";
import { peopleWithMfaTrustPolicy } from "./iam-policies";
import { roleArn, roleName } from "./names";

export interface BreakGlassArgs {
    env: string;
    accountId: string;
    principalArns: string[];
    mfaMaxAgeSeconds: number;
    tags?: Record<string, string>;
}

export class BreakGlass extends pulumi.ComponentResource {
    readonly role: iam.Role;
    /** computed from the name, so the key policy can name it as a plain string */
    readonly roleArn: string;

    constructor(name: string, args: BreakGlassArgs, opts?: pulumi.ComponentResourceOptions) {
        super("supabase-backups:index:BreakGlass", name, {}, opts);
        this.roleArn = roleArn(args.accountId, args.env, "break-glass");
        this.role = new iam.Role(
            `${name}-role`,
            {
                name: roleName(args.env, "break-glass"),
                description: `supabase-backups ${args.env}: break-glass for the vault key (MFA required; alerts on use)`,
                assumeRolePolicy: JSON.stringify(peopleWithMfaTrustPolicy(args.principalArns, args.mfaMaxAgeSeconds)),
                maxSessionDuration: 3600,
                tags: { project: "supabase-backups", env: args.env, ...args.tags },
            },
            { parent: this },
        );
        this.registerOutputs({ roleArn: this.roleArn });
    }
}
