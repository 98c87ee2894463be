// ECS tasks: describe, list, run and stop them.
import {
  DescribeTasksCommand,
  paginateListTasks,
  RunTaskCommand,
  StopTaskCommand,
  type CapacityProviderStrategyItem,
  type ECSClient,
  type NetworkConfiguration,
  type Task,
} from "@aws-sdk/client-ecs";
import { call, callPages } from "../errors.ts";
import { fromAwsTags } from "../tags.ts";
import { lastSegment } from "./arns.ts";

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
  /** "Linux", or a Windows family such as WINDOWS_SERVER_2019_CORE (Fargate). */
  platformFamily?: string;
  /** A task role given to RunTask (`overrides.taskRoleArn`): the role the task runs with, instead of the definition's. */
  overrideTaskRoleArn?: string;
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
    platformFamily: task.platformFamily,
    overrideTaskRoleArn: task.overrides?.taskRoleArn,
    tags: fromAwsTags(task.tags),
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

/** Tasks by ARN (100 per DescribeTasks call); ARNs ECS does not know are returned in `missing`. */
/**
 * The tasks found, the ARNs AWS says do not exist (`failures[].reason` MISSING), and every other
 * failure with its reason (AWS's word for a task it could not describe is not proof that it is gone).
 */
export async function describeTasks(
  ecs: ECSClient,
  cluster: string,
  taskArns: string[],
): Promise<{ tasks: TaskInfo[]; missing: string[]; failed: Array<{ arn: string; reason: string }> }> {
  const tasks: TaskInfo[] = [];
  const missing: string[] = [];
  const failed: Array<{ arn: string; reason: string }> = [];
  for (let i = 0; i < taskArns.length; i += 100) {
    const batch = taskArns.slice(i, i + 100);
    const out = await call({ action: "ecs:DescribeTasks", object: `cluster ${cluster}` }, () =>
      ecs.send(new DescribeTasksCommand({ cluster, tasks: batch, include: ["TAGS"] })),
    );
    tasks.push(...(out.tasks ?? []).map(toTaskInfo));
    for (const failure of out.failures ?? []) {
      if (!failure.arn) continue;
      if (failure.reason === "MISSING") missing.push(failure.arn);
      else failed.push({ arn: failure.arn, reason: failure.reason ?? "no reason given" });
    }
  }
  return { tasks, missing, failed };
}

/** ARNs of a cluster's tasks with the given desired status (RUNNING by default, like AWS). */
export async function listTaskArns(
  ecs: ECSClient,
  cluster: string,
  options: { desiredStatus?: "RUNNING" | "STOPPED"; startedBy?: string } = {},
): Promise<string[]> {
  const arns: string[] = [];
  const pages = paginateListTasks({ client: ecs }, { cluster, desiredStatus: options.desiredStatus ?? "RUNNING", startedBy: options.startedBy });
  for await (const page of callPages({ action: "ecs:ListTasks", object: `cluster ${cluster}` }, pages)) arns.push(...(page.taskArns ?? []));
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

export interface BastionTaskRequest {
  cluster: string;
  taskDefinition: string;
  startedBy: string;
  tags: Record<string, string>;
  networkConfiguration?: NetworkConfiguration;
  launchType?: string;
  capacityProviderStrategy?: CapacityProviderStrategyItem[];
  platformVersion?: string;
  /** Extra env for every container (the entrypoint's BASTION_* settings). */
  environment?: Record<string, string>;
  containerNames?: string[];
}

/** RunTask of one bastion with ECS Exec on; throws with ECS's failure reason when no task starts. */
export async function runBastionTask(ecs: ECSClient, request: BastionTaskRequest): Promise<TaskInfo> {
  const environment = Object.entries(request.environment ?? {}).map(([name, value]) => ({ name, value }));
  const out = await call({ action: "ecs:RunTask", object: `task definition ${request.taskDefinition} in cluster ${request.cluster}` }, () =>
    ecs.send(
      new RunTaskCommand({
        cluster: request.cluster,
        taskDefinition: request.taskDefinition,
        count: 1,
        startedBy: request.startedBy,
        enableExecuteCommand: true,
        propagateTags: "TASK_DEFINITION",
        tags: Object.entries(request.tags).map(([key, value]) => ({ key, value })),
        ...(request.capacityProviderStrategy
          ? { capacityProviderStrategy: request.capacityProviderStrategy }
          : { launchType: (request.launchType ?? "FARGATE") as "FARGATE" }),
        ...(request.platformVersion ? { platformVersion: request.platformVersion } : {}),
        ...(request.networkConfiguration ? { networkConfiguration: request.networkConfiguration } : {}),
        ...(environment.length && request.containerNames?.length
          ? { overrides: { containerOverrides: request.containerNames.map((name) => ({ name, environment })) } }
          : {}),
      }),
    ),
  );
  const task = out.tasks?.[0];
  if (!task) {
    const failure = out.failures?.[0];
    throw new Error(
      `ecs:RunTask of ${request.taskDefinition} in cluster ${request.cluster} started no task: ${failure?.reason ?? "no reason given"}${failure?.detail ? ` (${failure.detail})` : ""}.`,
    );
  }
  return toTaskInfo(task);
}

/** ARNs of a service's tasks with the given desired status (RUNNING by default). */
export async function listServiceTaskArns(
  ecs: ECSClient,
  cluster: string,
  service: string,
  desiredStatus: "RUNNING" | "STOPPED" = "RUNNING",
): Promise<string[]> {
  const arns: string[] = [];
  const pages = paginateListTasks({ client: ecs }, { cluster, serviceName: service, desiredStatus });
  for await (const page of callPages({ action: "ecs:ListTasks", object: `service ${service} in cluster ${cluster}` }, pages))
    arns.push(...(page.taskArns ?? []));
  return arns;
}
