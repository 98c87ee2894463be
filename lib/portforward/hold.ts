// The open tunnel, held until the user closes it: a session that drops while the task lives is
// reopened behind the same local listeners, never closed in between (and the user is told); a task
// that stops ends the run with its reason.
import type { TaskInfo } from "../aws/ecs.ts";
import type { Logger } from "../log.ts";
import type { PortForward } from "../session/index.ts";
import { DEFAULT_ADDRESS, formatLocalAddress } from "./forwards.ts";
import { abortableSleep, describeStop } from "./readiness.ts";

export type HoldResult = { kind: "closed"; why: string } | { kind: "task-stopped"; message: string } | { kind: "failed"; message: string };

export interface HoldOptions {
  first: PortForward;
  /** Opens the forwards again behind the listeners that hold these local ports. */
  reopen: (ports: number[]) => Promise<PortForward>;
  /** Where the ports listen, for the messages; default 127.0.0.1. */
  address?: string;
  /** What each forward's clients connect to, for the messages (a socket's `unix:/path`); default address:port. */
  local?: string[];
  closeRequested: Promise<string>;
  /** The task now (undefined = ECS no longer knows it). */
  describeTask: () => Promise<TaskInfo | undefined>;
  taskPollMs?: number;
  maxReconnects?: number;
  log: Logger;
}

/** Runs until the user closes, the task stops, or the sessions cannot be reopened; always stops the forwards. */
export async function holdTunnel(options: HoldOptions): Promise<HoldResult> {
  let forward = options.first;
  const ports = forward.ports;
  let failures = 0;
  const watch = new AbortController();
  const taskStopped = watchTask(options, watch.signal);
  try {
    for (;;) {
      const event = await Promise.race([
        options.closeRequested.then((why) => ({ kind: "closed" as const, why })),
        taskStopped.then((message) => ({ kind: "task-stopped" as const, message })),
        forward.ended.then((reason) => ({ kind: "ended" as const, reason })),
      ]);
      if (event.kind !== "ended") return event;
      await forward.stop();
      const task = await options.describeTask().catch(() => undefined);
      if (!task || task.lastStatus === "STOPPED" || task.desiredStatus === "STOPPED") {
        return { kind: "task-stopped", message: task ? describeStop(task) : "ECS no longer knows the task (MISSING)" };
      }
      options.log.warn(`The session ended (${event.reason}) while the bastion task is ${task.lastStatus}: reconnecting.`);
      for (;;) {
        try {
          forward = await options.reopen(ports);
          await forward.ready;
          options.log.info(`Reconnected on ${(options.local ?? ports.map((p) => formatLocalAddress(options.address ?? DEFAULT_ADDRESS, p))).join(", ")}.`);
          failures = 0;
          break;
        } catch (error) {
          await forward?.stop().catch(() => {});
          if (++failures >= (options.maxReconnects ?? 3))
            return { kind: "failed", message: `Could not reconnect after ${failures} attempts: ${(error as Error).message}` };
          options.log.warn(`Reconnecting failed (${(error as Error).message}); trying again.`);
          await abortableSleep(1000 * failures);
        }
      }
    }
  } finally {
    watch.abort();
    await forward.stop().catch(() => {});
  }
}

/** Resolves with the stop reason when the task stops; polls every `taskPollMs` (default 5 s) until aborted. */
async function watchTask(options: HoldOptions, signal: AbortSignal): Promise<string> {
  for (;;) {
    try {
      await abortableSleep(options.taskPollMs ?? 5000, signal);
    } catch {
      return new Promise<string>(() => {});
    }
    const task = await options.describeTask().catch(() => "error" as const);
    if (task === "error") continue;
    if (!task) return "ECS no longer knows the task (MISSING)";
    if (task.lastStatus === "STOPPED" || task.desiredStatus === "STOPPED") return describeStop(task);
  }
}
