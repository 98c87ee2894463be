// Every signed request the gateway serves or relays is authorized before it runs: the caller comes
// from the SigV4 access key (and session token), their identity policies are evaluated by
// docker/iam/evaluate.ts for each action, resource and condition keys the call is authorized as
// (requests.ts). The account's root (`localcloud`) is not evaluated; an unknown key is refused as
// AWS refuses it; a deny is the service's AccessDenied, in AWS's words.
import type { IncomingMessage } from "node:http";
import { evaluatePolicies } from "../../../docker/iam/evaluate.ts";
import { AwsError } from "../aws-errors.ts";
import type { CloudContext } from "../context.ts";
import { ExpiredSession, InvalidSessionToken, UnknownAccessKey, type Caller, type Denial } from "./principals.ts";
import { authorizationsOf, type Authorization, type ServedCall } from "./requests.ts";

export type Protocol = "json" | "query" | "rest";

/** The access key of a SigV4-signed request (header or presigned query), if it is signed. */
export function accessKeyOf(req: IncomingMessage): string | undefined {
  const header = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ""));
  if (header) return header[1];
  const query = new URL(req.url ?? "/", "http://x").searchParams.get("X-Amz-Credential");
  return query?.split("/")[0] || undefined;
}

function sessionTokenOf(req: IncomingMessage): string | undefined {
  const h = req.headers["x-amz-security-token"];
  if (typeof h === "string") return h;
  return new URL(req.url ?? "/", "http://x").searchParams.get("X-Amz-Security-Token") ?? undefined;
}

/** An error in the wire protocol's words: JSON services and query services (IAM, STS, RDS) name them differently. */
function authError(protocol: Protocol, json: [string, number], query: [string, number], message: string): AwsError {
  const [code, status] = protocol === "json" ? json : query;
  return new AwsError(code, message, status);
}

/** Unsigned calls AWS accepts: the SSM agent's registration (it holds an activation code, not a key). */
const UNSIGNED = new Set(["ssm:RegisterManagedInstance"]);

async function callerOf(ctx: CloudContext, req: IncomingMessage, call: ServedCall, protocol: Protocol): Promise<Caller | undefined> {
  const key = accessKeyOf(req);
  if (!key) {
    if (UNSIGNED.has(`${call.service}:${call.operation}`)) return undefined;
    throw authError(
      protocol,
      ["MissingAuthenticationTokenException", 403],
      ["MissingAuthenticationToken", 403],
      protocol === "json" ? "Missing Authentication Token" : "Request is missing Authentication Token",
    );
  }
  try {
    return await ctx.principals.callerOf(key, sessionTokenOf(req));
  } catch (error) {
    if (error instanceof UnknownAccessKey || error instanceof InvalidSessionToken) {
      const message = "The security token included in the request is invalid.";
      throw authError(protocol, ["UnrecognizedClientException", 400], ["InvalidClientTokenId", 403], message);
    }
    if (error instanceof ExpiredSession) {
      throw authError(protocol, ["ExpiredTokenException", 400], ["ExpiredToken", 400], "The security token included in the request is expired");
    }
    throw error;
  }
}

/** The keys IAM puts in every request's context, from the caller and the cloud's clock. */
function globalContext(ctx: CloudContext, caller: Caller, region: string): Record<string, string> {
  const now = ctx.clock.now();
  return {
    "aws:userid": caller.userId,
    ...(caller.userName ? { "aws:username": caller.userName } : {}),
    "aws:PrincipalArn": caller.policySourceArn,
    "aws:PrincipalAccount": caller.account,
    "aws:PrincipalType": caller.kind === "user" ? "User" : "AssumedRole",
    "aws:RequestedRegion": region,
    "aws:SecureTransport": "false",
    "aws:CurrentTime": new Date(now).toISOString(),
    "aws:EpochTime": String(Math.floor(now / 1000)),
  };
}

function deniedMessage(caller: Caller, a: Authorization, explicit: boolean): string {
  const why = explicit ? "with an explicit deny in an identity-based policy" : `because no identity-based policy allows the ${a.action} action`;
  return `User: ${caller.arn} is not authorized to perform: ${a.action} on resource: ${a.shownAs ?? a.resource} ${why}`;
}

/**
 * Authorizes one call; returns its caller (undefined for an unsigned call AWS accepts unsigned).
 * Throws the AwsError AWS would answer: unrecognized key, expired token, or AccessDenied naming
 * the first action denied.
 */
export async function authorize(ctx: CloudContext, req: IncomingMessage, call: ServedCall, protocol: Protocol): Promise<Caller | undefined> {
  const caller = await callerOf(ctx, req, call, protocol);
  if (!caller || caller.kind === "root") return caller;
  const denied = (message: string) =>
    protocol === "rest"
      ? new AwsError("AccessDenied", "Access Denied", 403)
      : authError(protocol, ["AccessDeniedException", 400], ["AccessDenied", 403], message);
  const authorizations = await authorizationsOf(ctx, call);
  const refuse = (action: string, resource: string, message: string) => {
    ctx.principals.denials.push({ caller: caller.arn, action, resource, message });
    return denied(message);
  };
  if (!authorizations) {
    const action = `${call.service}:${call.operation || call.method}`;
    throw refuse(
      action,
      "*",
      `User: ${caller.arn} is not authorized to perform: ${action} on resource: * because the local cloud has no authorization rule for ${action} (test/localcloud/iam/requests.ts)`,
    );
  }
  const denial = await findDenial(ctx, caller, call.region, authorizations);
  if (denial) throw denied(denial.message);
  return caller;
}

/**
 * Evaluates the caller's identity policies for each authorization in turn; the first one refused is
 * recorded in the denials (GET /_localcloud/denials, unless `record` is false: a call foreseen, not
 * made) and returned, in AWS's words. Also how the
 * agents' own calls are judged (agents.ts).
 */
export async function findDenial(
  ctx: CloudContext,
  caller: Caller,
  region: string,
  authorizations: Authorization[],
  options: { record?: boolean } = {},
): Promise<Denial | undefined> {
  if (!authorizations.length) return undefined;
  const policies = await ctx.principals.policiesOf(caller.policySourceArn);
  const base = globalContext(ctx, caller, region);
  for (const a of authorizations) {
    const { decision } = evaluatePolicies(policies, { action: a.action, resource: a.resource, context: { ...base, ...a.context } });
    if (decision === "allow") continue;
    const denial = { caller: caller.arn, action: a.action, resource: a.resource, message: deniedMessage(caller, a, decision === "deny") };
    if (options.record !== false) ctx.principals.denials.push(denial);
    return denial;
  }
  return undefined;
}
