// Who is acting, for the audit record (docs/security.md "Audit before action"): the caller's cloud
// identity, never what a flag claims. On AWS, STS GetCallerIdentity with the same credentials the
// vault client uses (for the restore operator: the assumed role's session ARN). A store with its own
// endpoint that has no GetCallerIdentity (Ceph RGW Pacific answers 405) identifies the caller only by
// the access key it signs with, so the record says exactly that: `access-key:<id>@<endpoint host>`.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import type { S3Client } from "@aws-sdk/client-s3";
import type { JobConfig } from "@supabase-backups/contracts";
import { errorMessage, httpStatusOf } from "../runtime/errors";

export async function callerIdentity(s3: S3Client, vault: JobConfig["vault"]): Promise<string> {
    const credentials = await s3.config.credentials();
    const sts = new STSClient({ region: vault.region, credentials, ...(vault.endpoint ? { endpoint: vault.endpoint } : {}), maxAttempts: 2 });
    try {
        const r = await sts.send(new GetCallerIdentityCommand({}));
        if (!r.Arn) throw new Error("GetCallerIdentity returned no ARN");
        return r.Arn;
    } catch (e) {
        const status = httpStatusOf(e);
        if (vault.endpoint && (status === 405 || status === 501 || status === 404)) return `access-key:${credentials.accessKeyId}@${new URL(vault.endpoint).host}`;
        throw new Error(`cannot establish the caller's cloud identity (STS GetCallerIdentity): ${errorMessage(e)}`);
    } finally {
        sts.destroy();
    }
}
