// Overlays our lifecycle on moto's task JSON: the fields moto never returns or gets wrong.
import { epochSeconds } from "../clock.ts";
import { isExecAgentStopped } from "../ssm/session-targets.ts";
import type { ContainerRecord, TaskRecord } from "../state.ts";

function containerStatus(task: TaskRecord, c: ContainerRecord): string {
  if (task.lastStatus === "STOPPED" || c.exitCode !== undefined) return "STOPPED";
  return task.lastStatus === "RUNNING" || task.lastStatus === "STOPPING" ? "RUNNING" : "PENDING";
}

function agentStatus(task: TaskRecord, c: ContainerRecord): string {
  if (task.lastStatus === "RUNNING") return isExecAgentStopped(c) ? "STOPPED" : "RUNNING";
  return task.lastStatus === "STOPPED" || task.lastStatus === "STOPPING" ? "STOPPED" : "PENDING";
}

function overlayContainer(task: TaskRecord, motoContainer: any, c: ContainerRecord | undefined): any {
  const out = { ...motoContainer, taskArn: task.arn };
  if (!c) return out;
  out.containerArn = c.containerArn;
  out.runtimeId = c.runtimeId;
  out.lastStatus = containerStatus(task, c);
  // moto reports exitCode 0 for every container; AWS has none until the container has exited.
  if (c.exitCode !== undefined) out.exitCode = c.exitCode;
  else delete out.exitCode;
  if (c.reason) out.reason = c.reason;
  if (task.enableExecuteCommand) {
    out.managedAgents = [
      {
        name: "ExecuteCommandAgent",
        lastStatus: agentStatus(task, c),
        ...(task.startedMs !== undefined ? { lastStartedAt: epochSeconds(task.startedMs) } : {}),
      },
    ];
  }
  return out;
}

export function overlayTask(task: TaskRecord, motoTask: any): any {
  // moto lists only the first container of a task; AWS lists every one, in definition order.
  const motoByName = new Map<string, any>((motoTask.containers ?? []).map((c: any) => [c.name, c]));
  const shared = { networkInterfaces: motoTask.containers?.[0]?.networkInterfaces ?? [] };
  const out: any = {
    ...motoTask,
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    enableExecuteCommand: task.enableExecuteCommand,
    createdAt: epochSeconds(task.createdMs),
    containers: task.containers.map((c) => overlayContainer(task, motoByName.get(c.name) ?? { ...shared, name: c.name, image: c.image }, c)),
    connectivity: task.lastStatus === "PROVISIONING" ? undefined : "CONNECTED",
  };
  if (task.launchType === "FARGATE") {
    out.platformVersion = task.platformVersion ?? "1.4.0";
    out.platformFamily = task.platformFamily ?? "Linux";
  }
  if (task.startedMs !== undefined) {
    out.startedAt = epochSeconds(task.startedMs);
    out.pullStartedAt = epochSeconds(task.pendingAtMs);
    out.pullStoppedAt = epochSeconds(task.runningAtMs);
  }
  if (task.stoppingMs !== undefined) out.stoppingAt = epochSeconds(task.stoppingMs);
  if (task.stoppedMs !== undefined) {
    out.stoppedAt = epochSeconds(task.stoppedMs);
    out.executionStoppedAt = epochSeconds(task.stoppedMs);
  } else {
    delete out.stoppedAt;
    delete out.executionStoppedAt;
  }
  if (task.stopCode) out.stopCode = task.stopCode;
  if (task.stoppedReason) out.stoppedReason = task.stoppedReason;
  else delete out.stoppedReason;
  return out;
}
