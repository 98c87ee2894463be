// Waiting until a bastion task is really usable — no fixed sleep: poll with a short backoff, judge
// each observation, stop at the first "ready" or "stopped", give up at the deadline.
import { ecsTarget, type TaskInfo } from "../aws/ecs.ts";
import type { Via } from "../config-schema.ts";
import { Interrupted } from "../errors.ts";

export type { Via };

/** What one poll saw: the task, and for the instance path its parameter and the instance's ping. */
export interface BastionObservation {
  task?: TaskInfo;
  /** The `mi-…` id in /<env>/portforward/instances/<taskId>, once the entrypoint wrote it. */
  instanceId?: string;
  pingStatus?: string;
  /** The instance's IAM role (its activation's): what its agent reports itself with. */
  iamRole?: string;
}

export type Readiness =
  { kind: "waiting"; status: string } | { kind: "ready"; via: "ecs-exec" | "instance"; target: string } | { kind: "stopped"; message: string };

export interface BackoffOptions {
  initialMs: number;
  factor: number;
  maxMs: number;
}

/** 200 ms, ×1.5, at most 500 ms: the tunnel opens within half a second of the task becoming reachable. */
export const READINESS_BACKOFF: BackoffOptions = { initialMs: 200, factor: 1.5, maxMs: 500 };

/** The pause before poll `attempt` + 1 (attempt 0 is the first pause). */
export function pollDelay(attempt: number, options: BackoffOptions = READINESS_BACKOFF): number {
  return Math.min(options.maxMs, Math.round(options.initialMs * options.factor ** Math.max(0, attempt)));
}

/** "stopCode: stoppedReason (container bastion: reason, exit 1)" */
export function describeStop(task: TaskInfo): string {
  const containers = task.containers
    .map((c) => ({
      name: c.name,
      parts: [c.reason !== task.stoppedReason ? c.reason : undefined, c.exitCode !== undefined ? `exit code ${c.exitCode}` : undefined].filter(Boolean),
    }))
    .filter((c) => c.parts.length)
    .map((c) => `container ${c.name}: ${c.parts.join(", ")}`);
  const head = [task.stopCode, task.stoppedReason].filter(Boolean).join(": ") || "no reason given";
  return containers.length ? `${head} (${containers.join("; ")})` : head;
}

/** The status shown while waiting: "PENDING", "RUNNING, waiting for the ExecuteCommandAgent", … */
function waitingStatus(o: BastionObservation, via: Via): string {
  const task = o.task!;
  if (task.lastStatus !== "RUNNING") return task.lastStatus;
  if (via === "instance") {
    if (!o.instanceId) return "RUNNING, waiting for its managed instance to register";
    return `RUNNING, waiting for ${o.instanceId} to be Online (${o.pingStatus ?? "not listed yet"})`;
  }
  return via === "ecs-exec" ? "RUNNING, waiting for the ExecuteCommandAgent" : "RUNNING, waiting for the ExecuteCommandAgent or a managed instance";
}

/** Judges one observation: ecs-exec needs the agent RUNNING, instance the parameter and an Online instance; auto takes either, ECS Exec first. */
export function judgeBastion(o: BastionObservation, via: Via): Readiness {
  const task = o.task;
  if (!task) return { kind: "stopped", message: "ECS no longer knows the task (MISSING)" };
  if (task.lastStatus === "STOPPED" || task.desiredStatus === "STOPPED") return { kind: "stopped", message: describeStop(task) };
  if (task.lastStatus === "RUNNING") {
    if (via !== "instance") {
      const container = task.containers.find((c) => c.execAgentStatus === "RUNNING" && c.runtimeId);
      if (container) return { kind: "ready", via: "ecs-exec", target: ecsTarget(task, container.runtimeId!) };
    }
    if (via !== "ecs-exec" && o.instanceId && o.pingStatus === "Online") return { kind: "ready", via: "instance", target: o.instanceId };
  }
  return { kind: "waiting", status: waitingStatus(o, via) };
}

/**
 * Why the bastion was not ready in time, and what to do. A managed instance that registered but never
 * came Online has an agent that cannot report itself: most often its role may not
 * ssm:UpdateInstanceInformation, else the task cannot reach Systems Manager.
 */
export function describeTimeout(
  task: Pick<TaskInfo, "taskId" | "cluster">,
  timeout: string,
  result: { lastStatus: string; last?: BastionObservation },
): string {
  const head = `Bastion task ${task.taskId} was not ready within ${timeout}`;
  const o = result.last;
  if (o?.task?.lastStatus === "RUNNING" && o.instanceId && o.pingStatus !== "Online") {
    const role = o.iamRole ? `role ${o.iamRole}` : "the activation's role";
    return `${head}: its managed instance ${o.instanceId} registered but stayed ${o.pingStatus ?? "unlisted"}, so its SSM agent cannot report itself (ssm:UpdateInstanceInformation). Allow ssm:UpdateInstanceInformation in ${role}'s policy (see docker/iam/ssm-instance-role.json), and check that the task reaches ssm.<region>.amazonaws.com.`;
  }
  return `${head} (last seen: ${result.lastStatus}): raise --timeout, or see why it starts slowly with aws ecs describe-tasks --cluster ${task.cluster} --tasks ${task.taskId}.`;
}

export interface WaitOptions {
  observe: () => Promise<BastionObservation>;
  via: Via;
  timeoutMs: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** Each observation's status, for the spinner. */
  onProgress?: (status: string, elapsedMs: number) => void;
  backoff?: BackoffOptions;
}

export type WaitResult =
  | { kind: "ready"; via: "ecs-exec" | "instance"; target: string; elapsedMs: number; polls: number }
  | { kind: "stopped"; message: string; elapsedMs: number }
  | { kind: "timeout"; lastStatus: string; elapsedMs: number; last?: BastionObservation };

/** Ctrl-C while waiting for the bastion (or the tunnel): an Interrupted, exit 130. */
export class WaitAborted extends Interrupted {
  override name = "WaitAborted";
}

/** Polls until ready, stopped or the deadline; the pause between polls grows from 200 ms to 500 ms. */
export async function waitUntilReady(options: WaitOptions): Promise<WaitResult> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const started = now();
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw new WaitAborted("interrupted while waiting for the bastion");
    const last = await options.observe();
    const verdict = judgeBastion(last, options.via);
    const elapsedMs = now() - started;
    if (verdict.kind === "ready") return { ...verdict, elapsedMs, polls: attempt + 1 };
    if (verdict.kind === "stopped") return { ...verdict, elapsedMs };
    options.onProgress?.(verdict.status, elapsedMs);
    const remaining = options.timeoutMs - elapsedMs;
    if (remaining <= 0) return { kind: "timeout", lastStatus: verdict.status, elapsedMs, last };
    await sleep(Math.min(pollDelay(attempt, options.backoff), remaining), options.signal);
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new WaitAborted("interrupted"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new WaitAborted("interrupted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
