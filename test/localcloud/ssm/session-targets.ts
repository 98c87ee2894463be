// Whether a Session Manager target is connected, and the SessionSpec the data plane needs for it.
import { AwsError } from "../aws-errors.ts";
import type { CloudContext } from "../context.ts";
import type { SessionSpec } from "../dataplane/types.ts";
import type { ContainerRecord, TaskRecord } from "../state.ts";
import { instanceAgentIdentity, judgeChannels, taskAgentIdentity, type AgentIdentity } from "../iam/agents.ts";
import { pingStatus } from "./ping.ts";
import { realAgentShell, realContainerShell } from "../containers/podman.ts";

export interface ResolvedTarget {
  /** cwd and env for shell sessions: the agent's process (mi-) or the simulated container (ecs:). */
  cwd: string;
  env: Record<string, string>;
  inside?: string[];
  kmsKeyId?: string;
}

export function notConnected(target: string): AwsError {
  return new AwsError("TargetNotConnected", `${target} is not connected.`);
}

export function isExecReady(task: TaskRecord): boolean {
  return task.lastStatus === "RUNNING" && task.desiredStatus === "RUNNING" && task.enableExecuteCommand;
}

/** A container whose env sets LOCALCLOUD_EXEC_AGENT=STOPPED has a dead ExecuteCommandAgent (as after an agent crash). */
export function isExecAgentStopped(c: ContainerRecord): boolean {
  return c.env.LOCALCLOUD_EXEC_AGENT === "STOPPED";
}

export function findEcsTarget(ctx: CloudContext, region: string, target: string): { task: TaskRecord; container: ContainerRecord } | undefined {
  const m = /^ecs:([^_]+)_([0-9a-f-]{32,36})_(.+)$/.exec(target);
  if (!m) return undefined;
  const task = [...ctx.state.tasks.values()].find((t) => t.region === region && t.clusterName === m[1] && t.id === m[2]);
  const container = task?.containers.find((c) => c.runtimeId === m[3]);
  return task && container ? { task, container } : undefined;
}

/** Whose credentials the agent behind a session target holds (undefined: no such target, or a task without a role). */
export function findAgentIdentity(ctx: CloudContext, region: string, target: string): AgentIdentity | undefined {
  if (target.startsWith("mi-")) {
    const mi = ctx.state.instances.get(target);
    return mi && mi.region === region ? instanceAgentIdentity(mi) : undefined;
  }
  const found = findEcsTarget(ctx, region, target);
  return found ? taskAgentIdentity(found.task) : undefined;
}

/** The cluster's executeCommandConfiguration.kmsKeyId: sessions on its tasks do the KMS handshake. */
export async function findClusterKmsKey(ctx: CloudContext, region: string, clusterArn: string): Promise<string | undefined> {
  const out = await ctx.moto.json(
    "ecs",
    "AmazonEC2ContainerServiceV20141113.DescribeClusters",
    { clusters: [clusterArn], include: ["CONFIGURATIONS"] },
    region,
  );
  return out.clusters?.[0]?.configuration?.executeCommandConfiguration?.kmsKeyId || undefined;
}

/**
 * The real container an agent runs in, from the ECS metadata endpoint in its env (the entrypoint
 * passes its own env on): its shell sessions then run inside that container.
 */
function findRealContainerOfAgent(ctx: CloudContext, env: Record<string, string> | undefined): ContainerRecord | undefined {
  const m = /\/v4\/([0-9a-f-]{32,36})\/([^/]+)$/.exec(env?.ECS_CONTAINER_METADATA_URI_V4 ?? "");
  if (!m) return undefined;
  const task = [...ctx.state.tasks.values()].find((t) => t.id === m[1]);
  return task?.containers.find((c) => c.real && c.name === decodeURIComponent(m[2]));
}

/** A simulated container's shell runs on the host in its dir and env; a real one's inside it, as its user. */
export function containerShell(ctx: CloudContext, c: ContainerRecord): { cwd: string; env: Record<string, string>; inside?: string[] } {
  if (c.real) return { cwd: c.dir ?? ctx.options.tmpRoot, ...realContainerShell(c) };
  return { cwd: c.dir ?? ctx.options.tmpRoot, env: { ...c.env } };
}

export async function resolveTarget(ctx: CloudContext, region: string, target: string): Promise<ResolvedTarget> {
  if (target.startsWith("mi-")) {
    const mi = ctx.state.instances.get(target);
    if (!mi || mi.region !== region || pingStatus(ctx, mi) !== "Online") throw notConnected(target);
    if (!(await judgeChannels(ctx, instanceAgentIdentity(mi), region)).allowed) throw notConnected(target);
    const container = findRealContainerOfAgent(ctx, mi.agent?.env);
    if (container) return { cwd: ctx.options.tmpRoot, ...realAgentShell(container, mi.agent?.cwd) };
    // Before the agent's first heartbeat we only know the cloud's temp dir.
    return { cwd: mi.agent?.cwd ?? ctx.options.tmpRoot, env: mi.agent?.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" } };
  }
  if (target.startsWith("ecs:")) {
    const found = findEcsTarget(ctx, region, target);
    if (!found || !isExecReady(found.task) || isExecAgentStopped(found.container)) throw notConnected(target);
    if (!(await judgeChannels(ctx, taskAgentIdentity(found.task), region)).allowed) throw notConnected(target);
    return { ...containerShell(ctx, found.container), kmsKeyId: await findClusterKmsKey(ctx, region, found.task.clusterArn) };
  }
  throw notConnected(target);
}

export const SESSION_DOCUMENTS = [
  "SSM-SessionManagerRunShell",
  "AWS-StartInteractiveCommand",
  "AWS-StartNonInteractiveCommand",
  "AWS-StartPortForwardingSession",
  "AWS-StartPortForwardingSessionToRemoteHost",
  "AWS-StartSSHSession",
];

export function assertKnownDocument(documentName: string | undefined): void {
  if (documentName !== undefined && !SESSION_DOCUMENTS.includes(documentName)) {
    throw new AwsError("InvalidDocument", `Document with name ${documentName} does not exist.`);
  }
}

type Params = Record<string, string[] | undefined>;

function one(params: Params, name: string): string | undefined {
  return params[name]?.[0];
}

function portNumber(params: Params, fallback?: number): number {
  const raw = one(params, "portNumber") ?? (fallback === undefined ? undefined : String(fallback));
  const n = Number(raw);
  if (!raw || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new AwsError("InvalidParameters", `Parameter "portNumber" must be a port number (1-65535), got ${JSON.stringify(raw ?? null)}.`);
  }
  return n;
}

/**
 * The documents Session Manager ships that we emulate. Custom session documents are not
 * supported: anything else is InvalidDocument.
 */
export function buildSpec(sessionId: string, target: string, documentName: string | undefined, params: Params, t: ResolvedTarget): SessionSpec {
  const doc = documentName ?? "SSM-SessionManagerRunShell";
  switch (doc) {
    case "SSM-SessionManagerRunShell":
      return { kind: "shell", sessionId, target, cwd: t.cwd, env: t.env, ...(t.inside ? { inside: t.inside } : {}), kmsKeyId: t.kmsKeyId };
    case "AWS-StartInteractiveCommand":
    case "AWS-StartNonInteractiveCommand": {
      const command = one(params, "command");
      if (!command) throw new AwsError("InvalidParameters", 'Parameter "command" is required by ' + doc + ".");
      return { kind: "shell", sessionId, target, command, cwd: t.cwd, env: t.env, ...(t.inside ? { inside: t.inside } : {}), kmsKeyId: t.kmsKeyId };
    }
    case "AWS-StartPortForwardingSession":
      return {
        kind: "port",
        sessionId,
        target,
        documentName: doc,
        host: "localhost",
        port: portNumber(params),
        localPortNumber: one(params, "localPortNumber"),
      };
    case "AWS-StartSSHSession":
      return { kind: "port", sessionId, target, documentName: doc, host: "localhost", port: portNumber(params, 22) };
    case "AWS-StartPortForwardingSessionToRemoteHost": {
      const host = one(params, "host");
      if (!host) throw new AwsError("InvalidParameters", 'Parameter "host" is required by ' + doc + ".");
      return { kind: "port", sessionId, target, documentName: doc, host, port: portNumber(params), localPortNumber: one(params, "localPortNumber") };
    }
    default:
      throw new AwsError("InvalidDocument", `Document with name ${doc} does not exist.`);
  }
}
