// The bastion task's life: where it runs (a service's network settings), launch or reuse, what each
// readiness poll sees, and the stop that proves nothing is left.
import { hostname } from "node:os";
import { localUser } from "../local.ts";
import type { AwsClients } from "../aws/clients.ts";
import { describeService, describeTasks, listTaskArns, runBastionTask, stopTask, type TaskInfo } from "../aws/ecs.ts";
import { awsErrorName, isRetryable } from "../aws/errors.ts";
import { findInstanceParameter, listManagedInstances } from "../aws/ssm.ts";
import { isInterruption, UsageError } from "../errors.ts";
import { withRetries } from "../retry.ts";
import { TAG_LOCAL_USER, TAG_OWNER, TAG_SOURCE, ourTags, parameterName, startedBy } from "../constants.ts";
import { abortableSleep, pollDelay, type BastionObservation, type Via } from "./readiness.ts";
import type { AfterStop } from "./leftovers.ts";
import type { NetworkConfiguration, CapacityProviderStrategyItem } from "@aws-sdk/client-ecs";

type Clients = Pick<AwsClients, "ecs" | "ssm">;

/** The local user as startedBy may carry it: only letters, digits, - and _. */
export function startedByUser(user: string = localUser()): string {
  return user.replace(/[^a-zA-Z0-9_-]/g, "-").slice(0, 100) || "unknown";
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

/** For `.catch()` on a call about a cluster the user named (flag or config): ClusterNotFoundException is a usage error. */
export function unknownClusterIsUsage(cluster: string): (error: unknown) => never {
  return (error) => {
    if (awsErrorName(error) === "ClusterNotFoundException") {
      throw new UsageError(
        `Cluster ${cluster} was not found: check --cluster (or the config's cluster; leave both out to pick one of the env's clusters), --profile and --region.`,
        { cause: error },
      );
    }
    throw error;
  };
}

/** The service's awsvpc config and launch type or capacity providers, for the bastion task definition given. */
export async function resolvePlacement(ecs: Clients["ecs"], input: { cluster: string; service: string; taskDefinition: string }): Promise<Placement> {
  const service = await describeService(ecs, input.cluster, input.service).catch(unknownClusterIsUsage(input.cluster));
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
 * Why `--via instance` cannot work with this task definition, in one line, or undefined when it can:
 * a managed instance registers only from a container that runs the bastionless entrypoint with an
 * env (BASTION_ENV, or ENV), and its parameter is /<that env>/portforward/instances/<task id> — an
 * env that differs from --env, if only in case, is a parameter portforward would wait 5 minutes for.
 */
export function instancePathProblem(
  taskDefinition: string,
  containers: Array<{ name: string; environment?: Record<string, string>; hiddenEnvironment?: boolean }>,
  env: string,
): string | undefined {
  const registering = containers.map((c) => ({ name: c.name, env: c.environment?.BASTION_ENV ?? c.environment?.ENV })).filter((c) => c.env !== undefined);
  if (!registering.length) {
    // An env file or a secret may set it where the definition does not show it: no refusal on a guess.
    if (containers.some((c) => c.hiddenEnvironment)) return undefined;
    return `--via instance: task definition ${taskDefinition} does not run the bastionless entrypoint with an env (no container sets BASTION_ENV or ENV in its environment, env files or secrets), so no managed instance will register: pass --via ecs-exec, or a bastion task definition (docker/bastion/) that sets BASTION_ENV=${env} (an env baked into the image alone is not seen here: set it in the definition too).`;
  }
  if (registering.some((c) => c.env === env)) return undefined;
  const [first] = registering;
  const caseOnly = first.env!.toLowerCase() === env.toLowerCase();
  return `--via instance with --env ${env}: task definition ${taskDefinition} registers its instance under env ${first.env} (container ${first.name}, BASTION_ENV=${first.env}), at /${first.env}/portforward/instances/…, never /${env}/…${caseOnly ? " (env names are case-sensitive)" : ""}: pass --env ${first.env}${caseOnly ? "" : `, or a task definition of env ${env}`}.`;
}

/** Who launches a bastion: the local user (startedBy, sanitized) and the AWS identity vouched for by STS. */
export interface Launcher {
  env: string;
  /** The local user as typed by the OS (alice.smith), kept exactly in a tag. */
  localUser: string;
  /** The caller's ARN from sts:GetCallerIdentity. */
  owner: string;
  now?: Date;
  /** The task definition is the `<env>-bastion` default rather than a name the user gave. */
  defaulted?: boolean;
}

/** RunTask of the bastion. A task definition ECS does not know fails as a UsageError naming the fix. */
export async function launchBastion(ecs: Clients["ecs"], placement: Placement, who: Launcher): Promise<TaskInfo> {
  return runBastionTask(ecs, {
    cluster: placement.cluster,
    taskDefinition: placement.taskDefinition,
    startedBy: startedBy(startedByUser(who.localUser)),
    tags: { ...ourTags(who.env, `host:${hostname()}`, who.now), [TAG_OWNER]: who.owner, [TAG_LOCAL_USER]: who.localUser },
    networkConfiguration: placement.networkConfiguration,
    launchType: placement.launchType,
    capacityProviderStrategy: placement.capacityProviderStrategy,
    platformVersion: placement.platformVersion,
  }).catch((error: unknown) => {
    // ECS's answer for a family or revision it does not have (RunTask, ClientException).
    if (awsErrorName(error) === "ClientException" && /Unable to describe task definition/i.test((error as Error).message)) {
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

/**
 * The running bastions this launcher started in the cluster, newest first: the same AWS identity and
 * the same local user by their tags (startedBy alone maps alice.smith and alice-smith to one name).
 */
export async function listOwnBastions(ecs: Clients["ecs"], cluster: string, who: Pick<Launcher, "localUser" | "owner">): Promise<TaskInfo[]> {
  const label = startedBy(startedByUser(who.localUser));
  const arns = await listTaskArns(ecs, cluster, { startedBy: label });
  if (!arns.length) return [];
  const { tasks } = await describeTasks(ecs, cluster, arns);
  const mine = (t: TaskInfo) => t.startedBy === label && t.tags[TAG_OWNER] === who.owner && t.tags[TAG_LOCAL_USER] === who.localUser;
  const live = tasks.filter((t) => t.desiredStatus === "RUNNING" && t.lastStatus !== "STOPPED" && mine(t));
  return live.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
}

/** One line about this user's other running bastions (they cost money), or undefined when there are none. */
export function otherBastionsLine(others: TaskInfo[], cluster: string, reusing: boolean): string | undefined {
  if (!others.length) return undefined;
  const ids = others.map((t) => t.taskId).join(", ");
  const n = others.length === 1 ? "1 bastion task" : `${others.length} bastion tasks`;
  return reusing
    ? `Also running in ${cluster}, started by you: ${n} (${ids}); Ctrl-C here stops only the one reused.`
    : `You already have ${n} running in ${cluster}: ${ids}. Attach with --reuse instead of launching another.`;
}

export async function describeBastion(ecs: Clients["ecs"], task: Pick<TaskInfo, "cluster" | "taskArn">): Promise<TaskInfo | undefined> {
  const { tasks } = await describeTasks(ecs, task.cluster, [task.taskArn]);
  return tasks[0];
}

/**
 * One readiness poll: the task, and (instance path, once RUNNING) its managed instance. The instance
 * is the one tagged with this task's ARN as its source (AWS copies the activation's tags onto it), and
 * the parameter must name that one: a parameter anyone with ssm:PutParameter could rewrite is never
 * enough to send a tunnel (and the database password typed into it) to another machine.
 */
export async function observeBastion(
  clients: Clients,
  task: Pick<TaskInfo, "cluster" | "taskArn" | "taskId">,
  options: { env: string; via: Via },
): Promise<BastionObservation> {
  const current = await describeBastion(clients.ecs, task);
  if (!current || current.lastStatus !== "RUNNING" || options.via === "ecs-exec") return { task: current };
  if (options.via === "auto" && current.containers.some((c) => c.execAgentStatus === "RUNNING" && c.runtimeId)) return { task: current };
  const name = parameterName(options.env, task.taskId);
  const named = await findInstanceParameter(clients.ssm, name);
  if (!named) return { task: current };
  const tagged = await listManagedInstances(clients.ssm, { tags: { [TAG_SOURCE]: task.taskArn } });
  const instance = tagged.find((i) => i.instanceId === named);
  if (instance) return { task: current, instanceId: instance.instanceId, pingStatus: instance.pingStatus, iamRole: instance.iamRole };
  // Not tagged as this task's: registered under another source (refused), or not listed yet (wait).
  if (!(await listManagedInstances(clients.ssm, { instanceIds: [named] })).length) return { task: current };
  throw new Error(
    `Refusing managed instance ${named}: parameter ${name} names it, but its ${TAG_SOURCE} tag is not this bastion's task ${task.taskArn}. Nothing was opened; see who wrote the parameter (CloudTrail ssm:PutParameter).`,
  );
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
  const persist = <T>(run: () => Promise<T>) =>
    withRetries(run, { attempts: Number.POSITIVE_INFINITY, baseMs: 250, capMs: 4_000, deadline, signal: options.signal }, { retryable: isRetryable });
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
    if (isInterruption(error)) throw error;
    throw new StopNotConfirmed(error as Error);
  }
}

/** What is still there of a bastion: the task if not STOPPED, its instance-id parameter, its managed instance. */
export async function checkLeftovers(
  clients: Clients,
  task: Pick<TaskInfo, "cluster" | "taskId">,
  options: { env: string; instanceId?: string; lastStatus: string },
): Promise<AfterStop> {
  const name = parameterName(options.env, task.taskId);
  const value = await findInstanceParameter(clients.ssm, name);
  const instanceId = options.instanceId ?? value;
  const registered = instanceId ? (await listManagedInstances(clients.ssm, { instanceIds: [instanceId] })).length > 0 : false;
  return {
    task: {
      taskId: task.taskId,
      cluster: task.cluster,
      lastStatus: options.lastStatus,
      stopped: options.lastStatus === "STOPPED" || options.lastStatus === "MISSING",
    },
    parameter: { name, present: value !== undefined },
    ...(instanceId ? { instance: { instanceId, registered } } : {}),
  };
}
