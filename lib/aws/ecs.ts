// ECS calls: verb-first, client first, paging inside, plain camelCase results (STYLE.md §3).
import {
  DescribeTasksCommand,
  ListClustersCommand,
  ListTasksCommand,
  StopTaskCommand,
  type ECSClient,
  type Task,
} from "@aws-sdk/client-ecs";
import { call } from "./errors.ts";

export interface TaskInfo {
  taskArn: string;
  taskId: string;
  clusterArn: string;
  cluster: string;
  lastStatus: string;
  desiredStatus: string;
  startedBy?: string;
  startedAt?: Date;
  createdAt?: Date;
  stoppedAt?: Date;
  stopCode?: string;
  stoppedReason?: string;
  taskDefinitionArn?: string;
  enableExecuteCommand: boolean;
  availabilityZone?: string;
  platformVersion?: string;
  tags: Record<string, string>;
  containers: Array<{
    name: string;
    runtimeId?: string;
    lastStatus?: string;
    reason?: string;
    exitCode?: number;
    execAgentStatus?: string;
  }>;
}

/** The last segment of an ARN (`…/stg-main` → `stg-main`, `…/task/c/abc` → `abc`). */
export function lastSegment(arn: string): string {
  return arn.slice(arn.lastIndexOf("/") + 1);
}

export function toTaskInfo(task: Task): TaskInfo {
  const clusterArn = task.clusterArn ?? "";
  return {
    taskArn: task.taskArn ?? "",
    taskId: lastSegment(task.taskArn ?? ""),
    clusterArn,
    cluster: lastSegment(clusterArn),
    lastStatus: task.lastStatus ?? "UNKNOWN",
    desiredStatus: task.desiredStatus ?? "UNKNOWN",
    startedBy: task.startedBy,
    startedAt: task.startedAt,
    createdAt: task.createdAt,
    stoppedAt: task.stoppedAt,
    stopCode: task.stopCode,
    stoppedReason: task.stoppedReason,
    taskDefinitionArn: task.taskDefinitionArn,
    enableExecuteCommand: task.enableExecuteCommand ?? false,
    availabilityZone: task.availabilityZone,
    platformVersion: task.platformVersion,
    tags: Object.fromEntries((task.tags ?? []).map((t) => [t.key ?? "", t.value ?? ""])),
    containers: (task.containers ?? []).map((c) => ({
      name: c.name ?? "",
      runtimeId: c.runtimeId,
      lastStatus: c.lastStatus,
      reason: c.reason,
      exitCode: c.exitCode,
      execAgentStatus: c.managedAgents?.find((a) => a.name === "ExecuteCommandAgent")?.lastStatus,
    })),
  };
}

export async function listClusterNames(ecs: ECSClient): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call({ action: "ecs:ListClusters" }, () => ecs.send(new ListClustersCommand({ nextToken })));
    names.push(...(page.clusterArns ?? []).map(lastSegment));
    nextToken = page.nextToken;
  } while (nextToken);
  return names.sort();
}

/** Tasks by ARN (100 per DescribeTasks call); ARNs ECS does not know are returned in `missing`. */
export async function describeTasks(ecs: ECSClient, cluster: string, taskArns: string[]): Promise<{ tasks: TaskInfo[]; missing: string[] }> {
  const tasks: TaskInfo[] = [];
  const missing: string[] = [];
  for (let i = 0; i < taskArns.length; i += 100) {
    const batch = taskArns.slice(i, i + 100);
    const out = await call({ action: "ecs:DescribeTasks", object: `cluster ${cluster}` }, () =>
      ecs.send(new DescribeTasksCommand({ cluster, tasks: batch, include: ["TAGS"] })),
    );
    tasks.push(...(out.tasks ?? []).map(toTaskInfo));
    for (const failure of out.failures ?? []) if (failure.arn) missing.push(failure.arn);
  }
  return { tasks, missing };
}

/** ARNs of a cluster's tasks with the given desired status (RUNNING by default, like AWS). */
export async function listTaskArns(ecs: ECSClient, cluster: string, options: { desiredStatus?: "RUNNING" | "STOPPED"; startedBy?: string } = {}): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call({ action: "ecs:ListTasks", object: `cluster ${cluster}` }, () =>
      ecs.send(new ListTasksCommand({ cluster, desiredStatus: options.desiredStatus ?? "RUNNING", startedBy: options.startedBy, nextToken })),
    );
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return arns;
}

/** Running tasks of a cluster whose startedBy begins with `prefix` (ListTasks only filters on an exact value). */
export async function listTasksStartedWith(ecs: ECSClient, cluster: string, prefix: string): Promise<TaskInfo[]> {
  const arns = await listTaskArns(ecs, cluster);
  const { tasks } = await describeTasks(ecs, cluster, arns);
  return tasks.filter((t) => t.startedBy?.startsWith(prefix));
}

export async function stopTask(ecs: ECSClient, cluster: string, task: string, reason: string): Promise<TaskInfo | undefined> {
  const out = await call({ action: "ecs:StopTask", object: `task ${lastSegment(task)} in cluster ${cluster}` }, () =>
    ecs.send(new StopTaskCommand({ cluster, task, reason })),
  );
  return out.task ? toTaskInfo(out.task) : undefined;
}
