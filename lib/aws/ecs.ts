// ECS calls: verb-first, client first, paging inside, plain camelCase results (STYLE.md §3).
import {
  DescribeClustersCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListClustersCommand,
  ListServicesCommand,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type CapacityProviderStrategyItem,
  type ECSClient,
  type NetworkConfiguration,
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

/** A task ARN's parts: `arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>`; undefined for anything else. */
export function parseTaskArn(arn: string | undefined): { region: string; account: string; cluster: string; taskId: string } | undefined {
  const m = /^arn:aws[a-z-]*:ecs:([^:]*):([^:]*):task\/([^/]+)\/([^/]+)$/.exec(arn ?? "");
  return m ? { region: m[1], account: m[2], cluster: m[3], taskId: m[4] } : undefined;
}

/** A task ARN names its cluster; undefined for anything that is not a task ARN with one. */
export function clusterOfTaskArn(arn: string | undefined): string | undefined {
  return parseTaskArn(arn)?.cluster;
}

/** The Session Manager target of a container for ECS Exec: `ecs:<cluster>_<taskId>_<runtimeId>` (awscli's executecommand.py). */
export function ecsTarget(task: Pick<TaskInfo, "cluster" | "taskId">, runtimeId: string): string {
  return `ecs:${task.cluster}_${task.taskId}_${runtimeId}`;
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
/**
 * The tasks found, the ARNs AWS says do not exist (`failures[].reason` MISSING), and every other
 * failure with its reason (AWS's word for a task it could not describe is not proof that it is gone).
 */
export async function describeTasks(ecs: ECSClient, cluster: string, taskArns: string[]): Promise<{ tasks: TaskInfo[]; missing: string[]; failed: Array<{ arn: string; reason: string }> }> {
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

export interface ClusterInfo {
  name: string;
  arn: string;
  status: string;
  execKmsKeyId?: string;
  execLogging?: string;
  execLogGroup?: string;
  execS3Bucket?: string;
}

export async function describeCluster(ecs: ECSClient, cluster: string): Promise<ClusterInfo | undefined> {
  const out = await call({ action: "ecs:DescribeClusters", object: `cluster ${cluster}` }, () =>
    ecs.send(new DescribeClustersCommand({ clusters: [cluster], include: ["CONFIGURATIONS"] })),
  );
  const c = out.clusters?.[0];
  if (!c?.clusterArn || c.status === "INACTIVE") return undefined;
  const exec = c.configuration?.executeCommandConfiguration;
  return {
    name: c.clusterName ?? lastSegment(c.clusterArn),
    arn: c.clusterArn,
    status: c.status ?? "UNKNOWN",
    execKmsKeyId: exec?.kmsKeyId,
    execLogging: exec?.logging,
    execLogGroup: exec?.logConfiguration?.cloudWatchLogGroupName,
    execS3Bucket: exec?.logConfiguration?.s3BucketName,
  };
}

export async function listServiceNames(ecs: ECSClient, cluster: string): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call({ action: "ecs:ListServices", object: `cluster ${cluster}` }, () => ecs.send(new ListServicesCommand({ cluster, nextToken })));
    names.push(...(page.serviceArns ?? []).map(lastSegment));
    nextToken = page.nextToken;
  } while (nextToken);
  return names.sort();
}

export interface ServiceInfo {
  name: string;
  taskDefinition?: string;
  launchType?: string;
  capacityProviderStrategy?: CapacityProviderStrategyItem[];
  platformVersion?: string;
  networkConfiguration?: NetworkConfiguration;
}

export async function describeService(ecs: ECSClient, cluster: string, service: string): Promise<ServiceInfo | undefined> {
  const out = await call({ action: "ecs:DescribeServices", object: `service ${service} in cluster ${cluster}` }, () =>
    ecs.send(new DescribeServicesCommand({ cluster, services: [service] })),
  );
  const s = out.services?.find((x) => x.status !== "INACTIVE");
  if (!s) return undefined;
  return {
    name: s.serviceName ?? service,
    taskDefinition: s.taskDefinition,
    launchType: s.launchType,
    capacityProviderStrategy: s.capacityProviderStrategy?.length ? s.capacityProviderStrategy : undefined,
    platformVersion: s.platformVersion,
    networkConfiguration: s.networkConfiguration ?? s.deployments?.find((d) => d.networkConfiguration)?.networkConfiguration,
  };
}

export interface TaskDefinitionInfo {
  arn: string;
  family: string;
  revision: number;
  taskRoleArn?: string;
  pidMode?: string;
  containers: Array<{
    name: string;
    image?: string;
    initProcessEnabled: boolean;
    readonlyRootFilesystem: boolean;
    essential: boolean;
    /** awslogs-group when the container logs with the awslogs driver (where DEFAULT exec logging goes). */
    awslogsGroup?: string;
    /** Names of AWS_ credential variables set in the definition: they replace the task role's credentials. */
    credentialEnv: string[];
  }>;
}

const CREDENTIAL_ENV = ["AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN"];

export async function describeTaskDefinition(ecs: ECSClient, taskDefinition: string): Promise<TaskDefinitionInfo> {
  const out = await call({ action: "ecs:DescribeTaskDefinition", object: `task definition ${taskDefinition}` }, () =>
    ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition })),
  );
  const td = out.taskDefinition;
  return {
    arn: td?.taskDefinitionArn ?? taskDefinition,
    family: td?.family ?? taskDefinition,
    revision: td?.revision ?? 0,
    taskRoleArn: td?.taskRoleArn,
    pidMode: td?.pidMode,
    containers: (td?.containerDefinitions ?? []).map((c) => ({
      name: c.name ?? "",
      image: c.image,
      initProcessEnabled: c.linuxParameters?.initProcessEnabled ?? false,
      readonlyRootFilesystem: c.readonlyRootFilesystem ?? false,
      essential: c.essential ?? true,
      awslogsGroup: c.logConfiguration?.logDriver === "awslogs" ? c.logConfiguration.options?.["awslogs-group"] : undefined,
      credentialEnv: (c.environment ?? []).map((e) => e.name ?? "").filter((n) => CREDENTIAL_ENV.includes(n)),
    })),
  };
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
        ...(request.capacityProviderStrategy ? { capacityProviderStrategy: request.capacityProviderStrategy } : { launchType: (request.launchType ?? "FARGATE") as "FARGATE" }),
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
    throw new Error(`ecs:RunTask of ${request.taskDefinition} in cluster ${request.cluster} started no task: ${failure?.reason ?? "no reason given"}${failure?.detail ? ` (${failure.detail})` : ""}.`);
  }
  return toTaskInfo(task);
}

/** ARNs of a service's tasks with the given desired status (RUNNING by default). */
export async function listServiceTaskArns(ecs: ECSClient, cluster: string, service: string, desiredStatus: "RUNNING" | "STOPPED" = "RUNNING"): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call({ action: "ecs:ListTasks", object: `service ${service} in cluster ${cluster}` }, () =>
      ecs.send(new ListTasksCommand({ cluster, serviceName: service, desiredStatus, nextToken })),
    );
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return arns;
}

/** What ECS Exec depends on in a task definition, beyond describeTaskDefinition: logging and credential env per container. */
export interface ExecTaskDefinitionInfo extends TaskDefinitionInfo {
  containerExtras: Array<{ name: string; awslogsGroup?: string; credentialEnv: string[] }>;
}

export async function describeExecTaskDefinition(ecs: ECSClient, taskDefinition: string): Promise<ExecTaskDefinitionInfo> {
  const info = await describeTaskDefinition(ecs, taskDefinition);
  return { ...info, containerExtras: info.containers.map(({ name, awslogsGroup, credentialEnv }) => ({ name, awslogsGroup, credentialEnv })) };
}
