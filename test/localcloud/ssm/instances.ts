// Hybrid managed instances: registration by the agent, deregistration, heartbeats, tags.
import { AwsError } from "../aws-errors.ts";
import type { CloudContext, Handler } from "../context.ts";
import { newManagedInstanceId } from "../ids.ts";
import type { AgentReport, ManagedInstance } from "../state.ts";
import { judgeInstancePing } from "../iam/agents.ts";
import { isExpired } from "./activations.ts";
import { endSessionsTo } from "./sessions.ts";
import { requireString, validateTags } from "./validate.ts";

export const MI_PATTERN = /^mi-[0-9a-f]{17}$/;

const invalidActivation = () =>
  new AwsError(
    "InvalidActivation",
    "The activation is not valid. The activation might have been deleted, or the ActivationId and the ActivationCode do not match.",
  );

/** What the agent calls, unsigned: the activation, not the caller's credentials, decides the region. */
export const registerManagedInstance: Handler = async (ctx, { body }) => {
  const code = requireString("activationCode", body.ActivationCode, { min: 20, max: 250 });
  const id = requireString("activationId", body.ActivationId, { min: 36, max: 36 });
  requireString("publicKey", body.PublicKey, { min: 1 });
  const a = ctx.state.activations.get(id);
  if (!a || a.code !== code) throw invalidActivation();
  const now = ctx.clock.now();
  if (isExpired(a, now)) throw new AwsError("InvalidActivation", "The activation has expired.");
  if (a.registrationsCount >= a.registrationLimit) {
    throw new AwsError("InvalidActivation", `The activation has reached its registration limit of ${a.registrationLimit}.`);
  }
  a.registrationsCount++;
  const mi: ManagedInstance = {
    id: newManagedInstanceId(),
    region: a.region,
    activationId: a.id,
    iamRole: a.iamRole,
    name: a.defaultInstanceName,
    registeredMs: now,
    // Our choice: registration counts as the first contact, so a fresh instance is Online until
    // connectionLostAfterMs passes without an agent heartbeat.
    lastPingMs: now,
    tags: a.tags.map((t) => ({ ...t })),
  };
  // Registration stands for the agent's first report only when its role may make it: an instance
  // whose role may not ssm:UpdateInstanceInformation is never Online, not even for a moment.
  if (!(await judgeInstancePing(ctx, mi, { record: false })).allowed) mi.pingRefused = true;
  ctx.state.instances.set(mi.id, mi);
  return { InstanceId: mi.id };
};

export function findInstance(ctx: CloudContext, region: string, id: unknown, field = "instanceId"): ManagedInstance {
  const instanceId = requireString(field, id);
  const mi = ctx.state.instances.get(instanceId);
  if (!MI_PATTERN.test(instanceId) || !mi || mi.region !== region) {
    throw new AwsError("InvalidInstanceId", "The following supplied instance ids are not valid: " + instanceId);
  }
  return mi;
}

export const deregisterManagedInstance: Handler = async (ctx, { region, body }) => {
  const mi = findInstance(ctx, region, body.InstanceId);
  ctx.state.instances.delete(mi.id);
  endSessionsTo(ctx, (target) => target === mi.id, `instance ${mi.id} deregistered`);
  return {};
};

export type HeartbeatAnswer = { kind: "unknown" } | { kind: "refused"; message: string } | { kind: "recorded" };

/**
 * The fake agent's heartbeat (POST /_localcloud/agent/heartbeat) is its ssm:UpdateInstanceInformation,
 * made with its activation role's credentials: refused, the instance is ConnectionLost at once (its
 * registration no longer counts as a contact) until a ping is allowed again.
 */
export async function recordHeartbeat(ctx: CloudContext, instanceId: string, report: AgentReport): Promise<HeartbeatAnswer> {
  const mi = ctx.state.instances.get(instanceId);
  if (!mi) return { kind: "unknown" };
  const verdict = await judgeInstancePing(ctx, mi);
  if (!verdict.allowed) {
    mi.pingRefused = true;
    return { kind: "refused", message: verdict.why };
  }
  mi.pingRefused = false;
  mi.lastPingMs = ctx.clock.now();
  mi.agent = report;
  return { kind: "recorded" };
}

// Tags: AWS only supports ManagedInstance tags for on-premises nodes; other resource types are moto's.

function mergeTags(current: { Key: string; Value: string }[], add: { Key: string; Value: string }[]) {
  const map = new Map(current.map((t) => [t.Key, t.Value]));
  for (const t of add) map.set(t.Key, t.Value);
  return [...map].map(([Key, Value]) => ({ Key, Value }));
}

export const addTagsToResource: Handler = async (ctx, call) => {
  if (call.body.ResourceType !== "ManagedInstance") return call.forwardJson();
  const mi = findResource(ctx, call.region, call.body.ResourceId);
  const merged = mergeTags(mi.tags, validateTags("tags", call.body.Tags, 1000));
  if (merged.length > 50)
    throw new AwsError("TooManyTagsError", "The Targets parameter includes too many tags. Remove one or more tags and try the request again.");
  mi.tags = merged;
  return {};
};

export const listTagsForResource: Handler = async (ctx, call) => {
  if (call.body.ResourceType !== "ManagedInstance") return call.forwardJson();
  return { TagList: findResource(ctx, call.region, call.body.ResourceId).tags };
};

export const removeTagsFromResource: Handler = async (ctx, call) => {
  if (call.body.ResourceType !== "ManagedInstance") return call.forwardJson();
  const mi = findResource(ctx, call.region, call.body.ResourceId);
  const keys: string[] = call.body.TagKeys ?? [];
  mi.tags = mi.tags.filter((t) => !keys.includes(t.Key));
  return {};
};

function findResource(ctx: CloudContext, region: string, id: unknown): ManagedInstance {
  const mi = ctx.state.instances.get(String(id));
  if (!mi || mi.region !== region)
    throw new AwsError("InvalidResourceId", "The resource ID is not valid. Verify that you entered the correct ID and try again.");
  return mi;
}
