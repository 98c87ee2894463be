// The calls the SSM agents make with their own credentials, judged as IAM judges them (the gateway's
// evaluator, findDenial): the agent ECS runs in a task with ECS Exec calls as the task role (session
// = the task id), a hybrid managed instance's agent as its activation's IamRole (session = the
// instance id). The agents here are emulated, so these calls never reach the gateway as requests:
// the cloud authorizes them where the agent would make them — ssm:UpdateInstanceInformation at each
// heartbeat, the ssmmessages channels when a session to the target is asked for, kms:Decrypt in a
// KMS session's handshake. Refusals are recorded in the denials like any other.
import { AwsError } from "../aws-errors.ts";
import type { CloudContext } from "../context.ts";
import type { ManagedInstance, TaskRecord } from "../state.ts";
import { findDenial } from "./authorize.ts";
import { ACCOUNT, type Denial } from "./principals.ts";
import { authorizationsOf, type Authorization } from "./requests.ts";

/** Whose credentials an agent holds: a role, and the session name AWS gives them. */
export interface AgentIdentity {
  roleArn: string;
  sessionName: string;
  /** No role in IAM under that ARN: what the agent gets then (judgeAgentCalls). */
  withoutRole: "no-credentials" | "not-evaluated";
}

export type AgentVerdict = { allowed: true } | { allowed: false; denial?: Denial; why: string };

/**
 * The channels an agent opens: the control channel when it starts (a target is "connected" once it
 * holds one), a data channel per session. ssmmessages has no resource types: `*`.
 */
export const CHANNEL_ACTIONS = [
  "ssmmessages:CreateControlChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenDataChannel",
] as const;

/** ECS hands the task role to the agent it runs in a task; a task with ECS Exec always has one (RunTask refuses it otherwise). */
export function taskAgentIdentity(task: TaskRecord): AgentIdentity | undefined {
  return task.taskRoleArn ? { roleArn: task.taskRoleArn, sessionName: task.id, withoutRole: "no-credentials" } : undefined;
}

/**
 * A hybrid instance's agent holds its activation's IamRole (a role name, maybe with a path). A
 * name IAM does not know is not evaluated: a deliberate difference (test/localcloud/README.md).
 */
export function instanceAgentIdentity(mi: ManagedInstance): AgentIdentity {
  return { roleArn: `arn:aws:iam::${ACCOUNT}:role/${mi.iamRole}`, sessionName: mi.id, withoutRole: "not-evaluated" };
}

/** Authorizes an agent's calls in order; the first refused one is recorded and returned. */
export async function judgeAgentCalls(
  ctx: CloudContext,
  who: AgentIdentity | undefined,
  region: string,
  calls: Authorization[],
  options: { record?: boolean } = {},
): Promise<AgentVerdict> {
  if (!who) return { allowed: false, why: "the agent has no credentials (no task role)" };
  const caller = await ctx.principals.findRoleSessionCaller(who.roleArn, who.sessionName);
  if (!caller) {
    return who.withoutRole === "not-evaluated"
      ? { allowed: true }
      : { allowed: false, why: `the agent has no credentials (role ${who.roleArn} does not exist)` };
  }
  const denial = await findDenial(ctx, caller, region, calls, options);
  return denial ? { allowed: false, denial, why: denial.message } : { allowed: true };
}

/** What an agent asks for before it can serve a session: its control channel and a data channel. */
export function judgeChannels(ctx: CloudContext, who: AgentIdentity | undefined, region: string): Promise<AgentVerdict> {
  return judgeAgentCalls(
    ctx,
    who,
    region,
    CHANNEL_ACTIONS.map((action) => ({ action, resource: "*", context: {} })),
  );
}

/** The agent's health ping: ssm:UpdateInstanceInformation on its own managed-instance ARN (`record: false`: foreseen, not made). */
export function judgeInstancePing(ctx: CloudContext, mi: ManagedInstance, options: { record?: boolean } = {}): Promise<AgentVerdict> {
  const resource = `arn:aws:ssm:${mi.region}:${ACCOUNT}:managed-instance/${mi.id}`;
  return judgeAgentCalls(ctx, instanceAgentIdentity(mi), mi.region, [{ action: "ssm:UpdateInstanceInformation", resource, context: {} }], options);
}

/**
 * The agent's kms:Decrypt of a session's data key, authorized as the gateway authorizes a Decrypt
 * request (requests.ts: the key's ARN, the session's encryption context); throws AWS's AccessDenied.
 */
export async function assertAgentMayDecrypt(
  ctx: CloudContext,
  who: AgentIdentity | undefined,
  region: string,
  ciphertext: Buffer,
  encryptionContext: Record<string, string>,
): Promise<void> {
  const request = {
    service: "kms",
    operation: "Decrypt",
    region,
    body: { CiphertextBlob: ciphertext.toString("base64"), EncryptionContext: encryptionContext },
  };
  const verdict = await judgeAgentCalls(ctx, who, region, (await authorizationsOf(ctx, request)) ?? []);
  if (!verdict.allowed) throw new AwsError("AccessDeniedException", verdict.why);
}
