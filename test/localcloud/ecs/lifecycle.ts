// The task lifecycle moto lacks: PROVISIONING → PENDING → RUNNING after configurable delays, a
// local process per localcloud/* container, StopTask as `docker stop`, stopCode/stoppedReason.
import type { CloudContext } from "../context.ts";
import { isAlive, killContainerGroup, startContainerProcess, stopContainerProcess } from "../containers/process.ts";
import { removeRealContainerCommand } from "../containers/podman.ts";
import { endSessionsTo } from "../ssm/sessions.ts";
import type { ContainerRecord, TaskRecord } from "../state.ts";

/** AWS keeps stopped tasks visible to DescribeTasks for about an hour. */
export const STOPPED_TASK_RETENTION_MS = 3600_000;

function markStopped(ctx: CloudContext, task: TaskRecord): void {
  if (task.lastStatus === "STOPPED") return;
  const now = ctx.clock.now();
  task.lastStatus = "STOPPED";
  task.desiredStatus = "STOPPED";
  task.stoppingMs ??= now;
  task.stoppedMs = now;
  const execTarget = `ecs:${task.clusterName}_${task.id}_`;
  endSessionsTo(ctx, (target) => target.startsWith(execTarget), `task ${task.id} stopped`);
  // Keep moto's view in step so its ListTasks(desiredStatus) filters agree with ours.
  ctx.moto
    .json("ecs", "AmazonEC2ContainerServiceV20141113.StopTask", { cluster: task.clusterArn, task: task.arn, reason: task.stoppedReason ?? "" }, task.region)
    .catch(() => {});
}

function failToStart(ctx: CloudContext, task: TaskRecord, reason: string): void {
  task.stopCode = "TaskFailedToStart";
  task.stoppedReason = reason;
  markStopped(ctx, task);
}

function onContainerExit(ctx: CloudContext, task: TaskRecord, c: ContainerRecord, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
  if (error) {
    c.reason = `CannotStartContainerError: ${error.message}`;
    failToStart(ctx, task, `CannotStartContainerError: ${error.message}`);
    return;
  }
  c.exitCode = code ?? 128 + (signal ? signalNumber(signal) : 0);
  if (task.lastStatus === "STOPPED") return;
  if (task.desiredStatus === "RUNNING") {
    // Every container is essential in our task definitions: one exiting stops the task.
    task.stopCode = "EssentialContainerExited";
    task.stoppedReason = "Essential container in task exited";
  }
  const othersAlive = task.containers.some((o) => o !== c && isAlive(o));
  if (othersAlive) {
    task.desiredStatus = "STOPPED";
    for (const o of task.containers) stopContainerProcess(o);
    return;
  }
  markStopped(ctx, task);
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

function startContainers(ctx: CloudContext, task: TaskRecord): void {
  const unknown = task.containers.find((c) => c.reason?.startsWith("CannotPullContainerError"));
  if (unknown) return failToStart(ctx, task, unknown.reason!);
  for (const c of task.containers) {
    startContainerProcess(c, (code, signal, error) => {
      // A container ends with its main process: what that left in its group goes too (as with a
      // container's cgroup), and the watchdog forgets the group, whose id the system may reuse.
      const pgid = c.process?.pid;
      if (pgid) {
        killContainerGroup(c);
        ctx.untrackProcessGroup(pgid);
      }
      onContainerExit(ctx, task, c, code, signal, error);
    });
    if (c.process?.pid) ctx.trackProcessGroup(c.process.pid);
    if (c.real) {
      const remove = removeRealContainerCommand(c);
      ctx.trackCleanupCommand(remove.argv, remove.env);
    }
  }
}

/** Moves every task to where the simulated clock says it should be. Idempotent. */
export function tickTasks(ctx: CloudContext): void {
  const now = ctx.clock.now();
  for (const task of ctx.state.tasks.values()) {
    if (task.desiredStatus === "STOPPED" || task.lastStatus === "STOPPED") continue;
    if (task.lastStatus === "PROVISIONING" && now >= task.pendingAtMs) task.lastStatus = "PENDING";
    if (task.lastStatus === "PENDING" && now >= task.runningAtMs) {
      task.lastStatus = "RUNNING";
      // When it started, not when somebody looked: after a clock jump (advanceClock) a task due to
      // start before the jump reports its start from before it, as on AWS.
      task.startedMs = task.runningAtMs;
      startContainers(ctx, task);
    }
  }
}

const timers = new WeakMap<CloudContext, Set<NodeJS.Timeout>>();

/** Arms a timer so the lifecycle advances without anyone asking (processes start on time). */
export function scheduleTicks(ctx: CloudContext, task: TaskRecord): void {
  let armed = timers.get(ctx);
  if (!armed) timers.set(ctx, (armed = new Set()));
  for (const at of [task.pendingAtMs, task.runningAtMs]) {
    const t = setTimeout(
      () => {
        armed.delete(t);
        ctx.tick();
      },
      Math.max(0, at - ctx.clock.now()) + 5,
    );
    t.unref();
    armed.add(t);
  }
}

/**
 * The cloud is stopping: no task moves on again. The lifecycle timers are cancelled, and a task
 * not yet RUNNING is stopped where it is — it has no process yet, and now never gets one.
 */
export function haltTasks(ctx: CloudContext): void {
  for (const t of timers.get(ctx) ?? []) clearTimeout(t);
  timers.get(ctx)?.clear();
  for (const task of ctx.state.tasks.values()) {
    if (task.lastStatus === "STOPPED") continue;
    task.desiredStatus = "STOPPED";
    task.stopCode ??= "ServiceSchedulerInitiated";
    task.stoppedReason ??= "the local cloud is stopping";
    if (!task.containers.some(isAlive)) {
      task.lastStatus = "STOPPED";
      task.stoppedMs = ctx.clock.now();
    }
  }
}

export function stopTaskRecord(ctx: CloudContext, task: TaskRecord, reason: string | undefined): void {
  if (task.desiredStatus === "STOPPED") return;
  task.desiredStatus = "STOPPED";
  task.stopCode = "UserInitiated";
  task.stoppedReason = reason || "Task stopped by user";
  task.stoppingMs = ctx.clock.now();
  const alive = task.containers.filter(isAlive);
  if (!alive.length) return markStopped(ctx, task);
  task.lastStatus = "STOPPING";
  for (const c of alive) stopContainerProcess(c);
}

export function isRetained(ctx: CloudContext, task: TaskRecord): boolean {
  return task.stoppedMs === undefined || ctx.clock.now() - task.stoppedMs <= STOPPED_TASK_RETENTION_MS;
}
