// The bastion task's life: where it runs (a service's network settings), launch or reuse, what each
// readiness poll sees, and the stop that proves nothing is left.
import { hostname, userInfo } from "node:os";
import type { AwsClients } from "../aws/clients.ts";
import { describeService, describeTasks, listTaskArns, runBastionTask, stopTask, type TaskInfo } from "../aws/ecs.ts";
import { AwsCallError } from "../aws/errors.ts";
import { findInstanceParameter, listManagedInstances } from "../aws/ssm.ts";
import { UsageError } from "../cli.ts";
import { withRetries } from "../retry.ts";
import { ourTags, parameterName, startedBy } from "../constants.ts";
import { abortableSleep, pollDelay, type BastionObservation, type Via } from "./readiness.ts";
import type { AfterStop } from "./leftovers.ts";
import type { NetworkConfiguration, CapacityProviderStrategyItem } from "@aws-sdk/client-ecs";

type Clients = Pick<AwsClients, "ecs" | "ssm">;

/** $USER, else the account name; only letters, digits, - and _ reach startedBy. */
export function currentUser(env: NodeJS.ProcessEnv = process.env, account: () => string = () => userInfo().username): string {
  let name = env.USER || env.LOGNAME || env.USERNAME || "";
  if (!name) {
    try {
      name = account();
    } catch {
      name = "";
    }
  }
  return name.replace(/[^a-zA-Z0-9_-]/g, "-").slice(0, 100) || "unknown";
}

export interface Placement {
  cluster: string;
  service: string;
  taskDefinition: string;
  networkConfiguration?: NetworkConfiguration;
  launchType?: string;
  capacityProviderStrategy?: CapacityProviderStrategyItem[];
  platformVersion?: string;
}

/** The service's awsvpc config and launch type or capacity providers, for the bastion task definition given. */
export async function resolvePlacement(ecs: Clients["ecs"], input: { cluster: string; service: string; taskDefinition: string }): Promise<Placement> {
  const service = await describeService(ecs, input.cluster, input.service).catch((error: unknown) => {
    if (error instanceof AwsCallError && error.errorName === "ClusterNotFoundException") {
      throw new UsageError(`Cluster ${input.cluster} was not found: check --cluster (leave it out to pick one of the env's clusters), --profile and --region.`, { cause: error });
    }
    throw error;
  });
  if (!service) throw new UsageError(`Service ${input.service} was not found in cluster ${input.cluster}: pass --service with one of the cluster's services.`);
  return {
    cluster: input.cluster,
    service: input.service,
    taskDefinition: input.taskDefinition,
    networkConfiguration: service.networkConfiguration,
    launchType: service.capacityProviderStrategy ? undefined : (service.launchType ?? "FARGATE"),
    capacityProviderStrategy: service.capacityProviderStrategy,
    platformVersion: service.platformVersion,
  };
}

/**
 * RunTask of the bastion. A task definition ECS does not know fails as a UsageError naming the fix;
 * `defaulted` says it was the `<env>-bastion` default rather than a name the user gave.
 */
export async function launchBastion(ecs: Clients["ecs"], placement: Placement, who: { env: string; user: string; now?: Date; defaulted?: boolean }): Promise<TaskInfo> {
  return runBastionTask(ecs, {
    cluster: placement.cluster,
    taskDefinition: placement.taskDefinition,
    startedBy: startedBy(who.user),
    tags: ourTags(who.env, `host:${hostname()}`, who.now),
    networkConfiguration: placement.networkConfiguration,
    launchType: placement.launchType,
    capacityProviderStrategy: placement.capacityProviderStrategy,
    platformVersion: placement.platformVersion,
  }).catch((error: unknown) => {
    // ECS's answer for a family or revision it does not have (RunTask, ClientException).
    if (error instanceof AwsCallError && error.errorName === "ClientException" && /Unable to describe task definition/i.test(error.message)) {
      const whose = who.defaulted ? ` (the default bastion of env ${who.env})` : "";
      throw new UsageError(
        `Could not launch the bastion in cluster ${placement.cluster}: task definition ${placement.taskDefinition}${whose} was not found. ` +
          `Register it (docker/bastion/), or pass --task-definition or set envs.${who.env}.taskDefinition in bastionless.config.json; a service's own task definition is used only when named, since it starts another copy of the app.`,
        { cause: error },
      );
    }
    throw error;
  });
}

/** The newest running task this user started in the cluster (startedBy=bastionless:<user>), if any. */
export async function findReusableBastion(ecs: Clients["ecs"], cluster: string, user: string): Promise<TaskInfo | undefined> {
  const arns = await listTaskArns(ecs, cluster, { startedBy: startedBy(user) });
  if (!arns.length) return undefined;
  const { tasks } = await describeTasks(ecs, cluster, arns);
  const live = tasks.filter((t) => t.desiredStatus === "RUNNING" && t.lastStatus !== "STOPPED" && t.startedBy === startedBy(user));
  return live.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0))[0];
}

export async function describeBastion(ecs: Clients["ecs"], task: Pick<TaskInfo, "cluster" | "taskArn">): Promise<TaskInfo | undefined> {
  const { tasks } = await describeTasks(ecs, task.cluster, [task.taskArn]);
  return tasks[0];
}

/** One readiness poll: the task, and (instance path, once RUNNING) its parameter and the instance's ping. */
export async function observeBastion(clients: Clients, task: Pick<TaskInfo, "cluster" | "taskArn" | "taskId">, options: { env: string; via: Via }): Promise<BastionObservation> {
  const current = await describeBastion(clients.ecs, task);
  if (!current || current.lastStatus !== "RUNNING" || options.via === "ecs-exec") return { task: current };
  if (options.via === "auto" && current.containers.some((c) => c.execAgentStatus === "RUNNING" && c.runtimeId)) return { task: current };
  const instanceId = await findInstanceParameter(clients.ssm, parameterName(options.env, task.taskId));
  if (!instanceId) return { task: current };
  const [instance] = await listManagedInstances(clients.ssm, { instanceIds: [instanceId] });
  return { task: current, instanceId, pingStatus: instance?.pingStatus };
}

export interface StopOptions {
  env: string;
  reason: string;
  /** The managed instance the bastion registered, when known (read before the stop). */
  instanceId?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** StopTask was accepted, but what followed it (the wait for STOPPED, the leftover check) failed. */
export class StopNotConfirmed extends Error {
  override name = "StopNotConfirmed";
  constructor(readonly reason: Error) {
    super(reason.message, { cause: reason });
  }
}

/** StopTask, wait for STOPPED, then look for the task's parameter and instance: what is left, if anything. */
export async function stopBastion(clients: Clients, task: Pick<TaskInfo, "cluster" | "taskArn" | "taskId">, options: StopOptions): Promise<AfterStop> {
  // Whatever the path, a bastion running the entrypoint registered: learn its instance before the parameter goes.
  const instanceId = options.instanceId ?? (await findInstanceParameter(clients.ssm, parameterName(options.env, task.taskId)).catch(() => undefined));
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  // The stop is what ends the billing: throttling, 5xx and network errors are waited out past the
  // SDK's three tries, until the deadline or a second Ctrl-C; AccessDenied is reported at once.
  const persist = <T>(run: () => Promise<T>) => withRetries(run, { attempts: Number.POSITIVE_INFINITY, baseMs: 250, capMs: 4_000, deadline, signal: options.signal });
  await persist(() => stopTask(clients.ecs, task.cluster, task.taskArn, options.reason));
  try {
    let current: TaskInfo | undefined;
    for (let attempt = 0; ; attempt++) {
      current = await persist(() => describeBastion(clients.ecs, task));
      if (!current || current.lastStatus === "STOPPED" || Date.now() >= deadline) break;
      await abortableSleep(pollDelay(attempt), options.signal);
    }
    const lastStatus = current?.lastStatus ?? "MISSING";
    return await persist(() => checkLeftovers(clients, task, { env: options.env, instanceId, lastStatus }));
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new StopNotConfirmed(error as Error);
  }
}

/** What is still there of a bastion: the task if not STOPPED, its instance-id parameter, its managed instance. */
export async function checkLeftovers(clients: Clients, task: Pick<TaskInfo, "cluster" | "taskId">, options: { env: string; instanceId?: string; lastStatus: string }): Promise<AfterStop> {
  const name = parameterName(options.env, task.taskId);
  const value = await findInstanceParameter(clients.ssm, name);
  const instanceId = options.instanceId ?? value;
  const registered = instanceId ? (await listManagedInstances(clients.ssm, { instanceIds: [instanceId] })).length > 0 : false;
  return {
    task: { taskId: task.taskId, cluster: task.cluster, lastStatus: options.lastStatus, stopped: options.lastStatus === "STOPPED" || options.lastStatus === "MISSING" },
    parameter: { name, present: value !== undefined },
    ...(instanceId ? { instance: { instanceId, registered } } : {}),
  };
}
