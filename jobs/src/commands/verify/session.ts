// What one `verify` invocation shares across the runs it verifies (engine.ts builds it, run.ts and the
// stages read it).
import type { S3Client } from "@aws-sdk/client-s3";
import type { JobContext } from "../../runtime/context";
import type { RunRef } from "../../vault/runs";
import type { CanaryDatabase } from "../../postgres/canary";
import type { VerificationIndex } from "../../vault/verifications";
import type { VersionIndex } from "../../vault/versions";
import type { RecordSigner } from "../../vault/record-signing";

export interface VerifySession {
    ctx: JobContext;
    s3: S3Client;
    bucket: string;
    canaryUrl: string;
    jobs: number;
    scratch: string;
    signal: AbortSignal;
    records: VerificationIndex;
    /** every version under the env's db prefix, listed once: what each run's objects are read at */
    versions: VersionIndex;
    /** signs each record (undefined: the stack does not sign records) */
    signer?: RecordSigner;
    /** the env's complete database runs, oldest first */
    complete: RunRef[];
    statementTimeoutMs: number;
    /** set while a canary database exists, so a signal handler can drop it */
    liveCanary: Set<CanaryDatabase>;
}
