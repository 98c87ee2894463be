// Finding exec's target: cluster (filtered by env) → service → RUNNING task → container. Prompts
// only fill gaps (a flag or the config answers each), and a single choice is taken without asking.
import type { ECSClient } from "@aws-sdk/client-ecs";
import { UsageError } from "../errors.ts";
import { awsNow } from "../aws/clients.ts";
import {
  clusterOfTaskArn,
  describeCluster,
  describeService,
  describeTasks,
  ecsTarget,
  lastSegment,
  listClusterNames,
  listServiceNames,
  listServiceTaskArns,
  listTaskArns,
  type ClusterInfo,
  type TaskInfo,
} from "../aws/ecs.ts";
import { selectOne, type Choice, type PromptContext } from "../prompts.ts";
import { namesOfEnv, productionLast } from "../envs.ts";
import { assertClusterOfEnv } from "./command.ts";
import type { ExecRequest } from "./request.ts";

export interface ExecTarget {
  cluster: string;
  task: TaskInfo;
  container: string;
  /** `ecs:<cluster>_<taskId>_<runtimeId>`, the Session Manager target (awscli executecommand.py). */
  ssmTarget: string;
}

export function revisionOf(taskDefinitionArn: string | undefined): string {
  const m = /:(\d+)$/.exec(taskDefinitionArn ?? "");
  return m ? `${lastSegment(taskDefinitionArn!.slice(0, -m[0].length))}:${m[1]}` : "?";
}

export function ago(from: Date | undefined, now: Date): string {
  if (!from) return "not started";
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** One line per task: id, started at, task definition revision, AZ. */
export function taskChoices(tasks: TaskInfo[], now: Date): Choice<TaskInfo>[] {
  return [...tasks]
    .sort((a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0))
    .map((t) => ({
      value: t,
      label: `${t.taskId}  started ${t.startedAt?.toISOString().replace(/\.\d+Z$/, "Z") ?? "-"} (${ago(t.startedAt, now)})  ${revisionOf(t.taskDefinitionArn)}  ${t.availabilityZone ?? "-"}`,
    }));
}

export async function selectCluster(ecs: ECSClient, prompt: PromptContext, options: { cluster?: string; task?: string; env?: string }): Promise<string> {
  if (options.cluster) return options.cluster;
  const fromArn = options.task ? clusterOfTaskArn(options.task) : undefined;
  if (fromArn) return fromArn;
  const all = await listClusterNames(ecs);
  const matching = namesOfEnv(all, options.env);
  if (matching.length === 0) {
    throw new UsageError(
      all.length
        ? `No ECS cluster's name contains the env ${options.env} (clusters: ${all.slice(0, 8).join(", ")}${all.length > 8 ? ", …" : ""}): pass --cluster, or set envs.${options.env}.cluster in bastionless.config.json.`
        : "This account and region have no ECS cluster: check --profile and --region.",
    );
  }
  return selectOne(
    prompt,
    "cluster",
    "--cluster",
    productionLast(matching).map((name) => ({ value: name, label: name })),
  );
}

/** The task named by --task (id or ARN), or one of the service's RUNNING tasks. */
export async function selectTask(
  ecs: ECSClient,
  prompt: PromptContext,
  options: { cluster: string; task?: string; service?: string; now: Date },
): Promise<TaskInfo> {
  if (options.task) {
    const { tasks } = await describeTasks(ecs, options.cluster, [options.task]);
    const task = tasks[0];
    if (!task)
      throw new UsageError(
        `Task ${options.task} was not found in cluster ${options.cluster}: check --task and --cluster (tasks stopped over an hour ago are gone).`,
      );
    if (task.lastStatus !== "RUNNING") {
      throw new UsageError(
        `Task ${task.taskId} in cluster ${options.cluster} is ${task.lastStatus}${task.stoppedReason ? ` (${task.stoppedReason})` : ""}, not RUNNING: pick a running task (leave out --task to choose).`,
      );
    }
    return task;
  }
  const service = options.service ?? (await selectService(ecs, prompt, options.cluster));
  const arns = await listServiceTaskArns(ecs, options.cluster, service);
  const running = arns.length ? (await describeTasks(ecs, options.cluster, arns)).tasks.filter((t) => t.lastStatus === "RUNNING") : [];
  if (running.length === 0) {
    // A --service that does not exist reads as a typo, not as an empty service.
    if (options.service && !(await describeService(ecs, options.cluster, service).catch(() => true))) {
      throw new UsageError(
        `Service ${service} was not found in cluster ${options.cluster}: pass --service with one of the cluster's services (leave it out to choose).`,
      );
    }
    throw new Error(
      `Service ${service} in cluster ${options.cluster} has no RUNNING task: check its deployments (aws ecs describe-services --cluster ${options.cluster} --services ${service}) or pass --task.`,
    );
  }
  return selectOne(prompt, "task", "--task", taskChoices(running, options.now));
}

async function selectService(ecs: ECSClient, prompt: PromptContext, cluster: string): Promise<string> {
  const names = await listServiceNames(ecs, cluster);
  if (names.length === 0) {
    const any = await listTaskArns(ecs, cluster);
    throw new UsageError(
      `Cluster ${cluster} has no service${any.length ? ` (it has ${any.length} running task(s))` : ""}: pass --task <id>${any.length ? `, e.g. --task ${lastSegment(any[0])}` : ""}.`,
    );
  }
  return selectOne(
    prompt,
    "service",
    "--service",
    productionLast(names).map((n) => ({ value: n, label: n })),
  );
}

/** --container when given (it must exist), else the only container, else a prompt. */
export async function selectContainer(prompt: PromptContext, task: TaskInfo, container?: string): Promise<string> {
  const names = task.containers.map((c) => c.name);
  if (container) {
    if (!names.includes(container)) throw new UsageError(`Task ${task.taskId} has no container ${container} (it has ${names.join(", ")}): check --container.`);
    return container;
  }
  return selectOne(
    prompt,
    "container",
    "--container",
    task.containers.map((c) => ({ value: c.name, label: `${c.name}  ${c.lastStatus ?? ""}`.trim() })),
  );
}

export function toExecTarget(cluster: string, task: TaskInfo, container: string): ExecTarget {
  const runtimeId = task.containers.find((c) => c.name === container)?.runtimeId;
  // Without a runtimeId ECS has not placed the container yet; the plugin's target would be wrong.
  return {
    cluster: task.cluster || cluster,
    task,
    container,
    ssmTarget: ecsTarget({ cluster: task.cluster || cluster, taskId: task.taskId }, runtimeId ?? "unknown"),
  };
}

/** The target's cluster, task and container, each from a flag, the config or a prompt; with allow-lists, only the env's clusters. */
export interface FoundTarget {
  cluster: ClusterInfo;
  task: TaskInfo;
  target: ExecTarget;
  /** The service the task was chosen from (none when --task named it). */
  service: string | undefined;
}

export async function findTarget(ecs: ECSClient, prompt: PromptContext, request: ExecRequest, region: string): Promise<FoundTarget> {
  const { flags, settings, guarded, config } = request;
  const clusterName = await selectCluster(ecs, prompt, { cluster: flags.cluster ?? settings.cluster, task: flags.task, env: flags.env });
  if (guarded) assertClusterOfEnv(clusterName, flags.env!, config!);
  const cluster = await describeCluster(ecs, clusterName);
  if (!cluster) throw new UsageError(`Cluster ${clusterName} was not found in ${region}: check --cluster, --profile and --region.`);
  const service = flags.task ? undefined : (flags.service ?? settings.service);
  const task = await selectTask(ecs, prompt, { cluster: clusterName, task: flags.task, service, now: awsNow(ecs) });
  const target = toExecTarget(clusterName, task, await selectContainer(prompt, task, flags.container));
  if (guarded) assertClusterOfEnv(target.cluster, flags.env!, config!);
  return { cluster, task, target, service };
}
