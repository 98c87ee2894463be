// StartSession / ResumeSession / TerminateSession / DescribeSessions. The gateway decides whether a
// session may start and records it; the data plane carries the bytes behind StreamUrl.
import { AwsError } from "../aws-errors.ts";
import { epochSeconds } from "../clock.ts";
import type { CloudContext, Handler } from "../context.ts";
import type { SessionSpec } from "../dataplane/types.ts";
import { ACCOUNT_ID, newSessionId } from "../ids.ts";
import type { SessionRecord, SessionStatus } from "../state.ts";
import { assertKnownDocument, buildSpec, resolveTarget } from "./session-targets.ts";
import { optionalInt, optionalString, page, requireString } from "./validate.ts";

export const OWNER = `arn:aws:iam::${ACCOUNT_ID}:user/localcloud`;

/** Registers the session with the data plane and records it for DescribeSessions. */
export function openRecordedSession(ctx: CloudContext, region: string, spec: SessionSpec, documentName: string, reason?: string) {
  let opened: { streamUrl: string; tokenValue: string };
  try {
    opened = ctx.dataPlane.openSession(spec);
  } catch (err) {
    // The data plane refuses targets listed in faults.dataChannel.refuseTargets.
    if ((err as Error).name === "TargetNotConnected") throw new AwsError(notConnectedCode(spec.sessionId), (err as Error).message);
    throw err;
  }
  const { streamUrl, tokenValue } = opened;
  ctx.secrets.record("session-token", tokenValue, documentName === "AmazonECS-ExecuteInteractiveCommand" ? "ecs:ExecuteCommand" : "ssm:StartSession");
  const record: SessionRecord = {
    sessionId: spec.sessionId,
    region,
    target: spec.target,
    documentName,
    kind: spec.kind,
    owner: OWNER,
    reason,
    startMs: ctx.clock.now(),
    status: "Connected",
  };
  ctx.state.sessions.set(record.sessionId, record);
  return { sessionId: spec.sessionId, streamUrl, tokenValue };
}

function notConnectedCode(sessionId: string): string {
  return sessionId.startsWith("ecs-execute-command-") ? "TargetNotConnectedException" : "TargetNotConnected";
}

export function markSessionEnded(ctx: CloudContext, sessionId: string): void {
  const s = ctx.state.sessions.get(sessionId);
  if (s && !s.endMs) {
    s.status = "Terminated";
    s.endMs = ctx.clock.now();
  }
}

/**
 * The agent behind a target is gone (its task stopped, its instance deregistered): the sessions to
 * it end, as Session Manager ends them when the agent's session worker goes away.
 */
export function endSessionsTo(ctx: CloudContext, matches: (target: string) => boolean, reason: string): void {
  for (const s of ctx.state.sessions.values()) {
    if (s.endMs || !matches(s.target)) continue;
    ctx.dataPlane.terminateSession(s.sessionId, reason);
    markSessionEnded(ctx, s.sessionId);
  }
}

/** Our record, with the live status the data plane knows when it knows it. */
export function currentStatus(ctx: CloudContext, s: SessionRecord): SessionStatus {
  if (s.endMs) return s.status;
  return ctx.dataPlane.sessions().find((d) => d.sessionId === s.sessionId)?.status ?? s.status;
}

export const startSession: Handler = async (ctx, { region, body }) => {
  const target = requireString("target", body.Target, { min: 1, max: 400 });
  const documentName = optionalString("documentName", body.DocumentName, { pattern: /^[a-zA-Z0-9_\-.:/]{3,128}$/ });
  const reason = optionalString("reason", body.Reason, { min: 1, max: 256 });
  assertKnownDocument(documentName);
  const resolved = await resolveTarget(ctx, region, target);
  const sessionId = newSessionId();
  const spec = buildSpec(sessionId, target, documentName, body.Parameters ?? {}, resolved);
  const s = openRecordedSession(ctx, region, spec, documentName ?? "SSM-SessionManagerRunShell", reason);
  return { SessionId: s.sessionId, TokenValue: s.tokenValue, StreamUrl: s.streamUrl };
};

export const resumeSession: Handler = async (ctx, { region, body }) => {
  const sessionId = requireString("sessionId", body.SessionId, { min: 1, max: 96 });
  const s = ctx.state.sessions.get(sessionId);
  const fresh = s && s.region === region && !s.endMs ? ctx.dataPlane.resumeSession(sessionId) : undefined;
  if (!fresh) throw new AwsError("DoesNotExistException", `Session ${sessionId} does not exist or has already ended.`);
  ctx.secrets.record("session-token", fresh.tokenValue, "ssm:ResumeSession");
  return { SessionId: sessionId, TokenValue: fresh.tokenValue, StreamUrl: fresh.streamUrl };
};

/** AWS answers TerminateSession with the id even when the session is already gone. */
export const terminateSession: Handler = async (ctx, { region, body }) => {
  const sessionId = requireString("sessionId", body.SessionId, { min: 1, max: 96 });
  const s = ctx.state.sessions.get(sessionId);
  if (s && s.region === region && !s.endMs) {
    ctx.dataPlane.terminateSession(sessionId, "TerminateSession");
    markSessionEnded(ctx, sessionId);
  }
  return { SessionId: sessionId };
};

const SESSION_FILTER_KEYS = ["InvokedAfter", "InvokedBefore", "Target", "Owner", "Status", "SessionId", "AccessType"];

function matches(ctx: CloudContext, s: SessionRecord, key: string, value: string): boolean {
  switch (key) {
    case "InvokedAfter":
      return s.startMs >= Date.parse(value);
    case "InvokedBefore":
      return s.startMs <= Date.parse(value);
    case "Target":
      return s.target === value;
    case "Owner":
      return s.owner === value;
    case "Status":
      return currentStatus(ctx, s) === value;
    case "SessionId":
      return s.sessionId === value;
    default:
      return value === "Standard";
  }
}

export function sessionToWire(ctx: CloudContext, s: SessionRecord) {
  return {
    SessionId: s.sessionId,
    Target: s.target,
    Status: currentStatus(ctx, s),
    StartDate: epochSeconds(s.startMs),
    EndDate: s.endMs === undefined ? undefined : epochSeconds(s.endMs),
    DocumentName: s.documentName,
    Owner: s.owner,
    Reason: s.reason,
    AccessType: "Standard",
  };
}

export const describeSessions: Handler = async (ctx, { region, body }) => {
  const state = requireString("state", body.State);
  if (state !== "Active" && state !== "History") {
    throw new AwsError(
      "ValidationException",
      `1 validation error detected: Value '${state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]`,
    );
  }
  const maxResults = optionalInt("maxResults", body.MaxResults, 1, 200) ?? 20;
  const filters: { key: string; value: string }[] = body.Filters ?? [];
  if (filters.length > 6) throw new AwsError("InvalidFilterKey", "At most 6 filters are allowed.");
  for (const f of filters) {
    if (!SESSION_FILTER_KEYS.includes(f.key)) throw new AwsError("InvalidFilterKey", `The specified key ${f.key} is not valid.`);
    if ((f.key === "InvokedAfter" || f.key === "InvokedBefore") && Number.isNaN(Date.parse(f.value))) {
      throw new AwsError("InvalidFilterValue", `The filter value ${f.value} is not a valid date.`);
    }
  }
  const ended = (s: SessionRecord) => ["Terminated", "Failed"].includes(currentStatus(ctx, s));
  const list = [...ctx.state.sessions.values()]
    .filter((s) => s.region === region && (state === "History" ? ended(s) : !ended(s)))
    .filter((s) => filters.every((f) => matches(ctx, s, f.key, f.value)))
    .sort((a, b) => b.startMs - a.startMs);
  const p = page("DescribeSessions", list, maxResults, body.NextToken);
  return { Sessions: p.items.map((s) => sessionToWire(ctx, s)), NextToken: p.nextToken };
};
