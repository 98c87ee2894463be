// What the sweeper sees: the inventory of one region (paged, read-only). What to remove is decided by
// plan.ts, and apply.ts removes it.
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { SSMClient } from "@aws-sdk/client-ssm";
import type { STSClient } from "@aws-sdk/client-sts";
import { MANAGED_BY_VALUE, STARTED_BY_PREFIX, TAG_ENV, TAG_MANAGED_BY, TAG_SOURCE, parameterPrefix } from "../constants.ts";
import { describeTasks, listClusterNames, listTasksStartedWith, parseTaskArn } from "../aws/ecs.ts";
import { getCallerIdentity } from "../aws/sts.ts";
import { namesOfEnvs } from "../envs.ts";
import { listActivations, listInstanceParameters, listTaggedParameterNames, listInstanceTags, listManagedInstances, listParameterTags } from "../aws/ssm.ts";
import type { Inventory } from "./plan.ts";

export interface SweepClients {
  ssm: SSMClient;
  ecs: ECSClient;
  sts: STSClient;
}

export interface InventoryOptions {
  region: string;
  /** Only these envs; empty = every env found. */
  envs: string[];
  concurrency: number;
  /** Clusters to look for bastion tasks in; default: every cluster, or those named after the envs. */
  clusters?: string[];
}

/** Runs `work` over `items` with at most `limit` in flight, in input order of results. */
export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

const inEnvs = (envs: string[], env: string | undefined) => envs.length === 0 || (env !== undefined && envs.includes(env));

/** `/<env>/portforward/instances/<id>` → env; undefined for any other name. */
function envOfParameter(name: string): string | undefined {
  const env = /^\/([^/]+)\/portforward\/instances\//.exec(name)?.[1];
  return env !== undefined && name.startsWith(parameterPrefix(env)) ? env : undefined;
}

export async function readInventory(clients: SweepClients, options: InventoryOptions): Promise<Inventory> {
  const instances = await readInstances(clients, options);
  const activations = await readActivations(clients, options);
  const parameters = await readParameters(
    clients,
    options,
    [...instances, ...activations].map((x) => x.env),
  );
  const tasks = await readTasks(clients, options);
  const sourceTasks = await judgeSourceTasks(
    clients,
    instances.map((i) => i.source),
    options,
  );
  const liveInstanceIds = await stillRegistered(
    clients,
    parameters.map((p) => p.value),
    instances,
  );
  return { instances, activations, parameters, tasks, sourceTasks, liveInstanceIds };
}

async function readInstances(clients: SweepClients, { region, envs, concurrency }: InventoryOptions): Promise<Inventory["instances"]> {
  const managedBy = { [TAG_MANAGED_BY]: MANAGED_BY_VALUE };
  const found = await listManagedInstances(clients.ssm, { tags: envs.length ? { ...managedBy, [TAG_ENV]: envs } : managedBy });
  const instances = await mapLimit(found, concurrency, async (i) => {
    const tags = await listInstanceTags(clients.ssm, i.instanceId);
    return {
      instanceId: i.instanceId,
      region,
      env: tags[TAG_ENV],
      source: tags[TAG_SOURCE],
      pingStatus: i.pingStatus ?? "Unknown",
      lastPingAt: i.lastPingAt,
      tags,
    };
  });
  return instances.filter((i) => inEnvs(envs, i.env));
}

async function readActivations(clients: SweepClients, { region, envs }: InventoryOptions): Promise<Inventory["activations"]> {
  return (await listActivations(clients.ssm))
    .filter((a) => a.tags[TAG_MANAGED_BY] === MANAGED_BY_VALUE && inEnvs(envs, a.tags[TAG_ENV]))
    .map((a) => ({
      activationId: a.activationId,
      region,
      env: a.tags[TAG_ENV],
      expired: a.expired,
      registrationLimit: a.registrationLimit ?? 1,
      registrationsCount: a.registrationsCount ?? 0,
      createdAt: a.createdAt ?? new Date(0),
      tags: a.tags,
    }));
}

/**
 * Every env's parameters: without --env, the envs of our instances and activations and those our
 * parameters name, for a parameter outlives its instance and activation when its container was killed
 * between deregistering and deleting it.
 */
async function readParameters(
  clients: SweepClients,
  { region, envs, concurrency }: InventoryOptions,
  seenEnvs: Array<string | undefined>,
): Promise<Inventory["parameters"]> {
  const named = envs.length ? [] : (await listTaggedParameterNames(clients.ssm, TAG_MANAGED_BY, MANAGED_BY_VALUE)).map((name) => envOfParameter(name));
  const parameterEnvs = envs.length ? envs : [...new Set([...seenEnvs, ...named].filter((e): e is string => Boolean(e)))];
  const perEnv = await mapLimit(parameterEnvs, concurrency, async (env) => {
    const list = await listInstanceParameters(clients.ssm, parameterPrefix(env));
    return mapLimit(list, concurrency, async (p) => ({ name: p.name, region, env, value: p.value, tags: await listParameterTags(clients.ssm, p.name) }));
  });
  return perEnv.flat();
}

async function readTasks(clients: SweepClients, options: InventoryOptions): Promise<Inventory["tasks"]> {
  const { region, envs, concurrency } = options;
  const clusters = options.clusters ?? namesOfEnvs(await listClusterNames(clients.ecs), envs);
  const perCluster = await mapLimit(clusters, concurrency, async (cluster) =>
    (await listTasksStartedWith(clients.ecs, cluster, STARTED_BY_PREFIX)).map((t) => ({
      taskArn: t.taskArn,
      region,
      cluster,
      env: t.tags[TAG_ENV],
      startedBy: t.startedBy,
      lastStatus: t.lastStatus,
      startedAt: t.startedAt,
      createdAt: t.createdAt,
      tags: t.tags,
    })),
  );
  return perCluster.flat().filter((t) => inEnvs(envs, t.env));
}

/** Of the instance ids parameters hold that this sweep did not list, those still registered (asked 50 at a time). */
async function stillRegistered(clients: SweepClients, values: string[], listed: Array<{ instanceId: string }>): Promise<string[]> {
  const known = new Set(listed.map((i) => i.instanceId));
  const unknown = [...new Set(values.filter((v) => /^mi-[0-9a-f]{17}$/.test(v) && !known.has(v)))];
  const live: string[] = [];
  for (let i = 0; i < unknown.length; i += 50) {
    const batch = unknown.slice(i, i + 50);
    live.push(...(await listManagedInstances(clients.ssm, { instanceIds: batch })).map((x) => x.instanceId));
  }
  return live;
}

/**
 * What this sweep can know of the tasks instances name as their source: only a task in its own
 * region and account is asked about (DescribeTasks elsewhere would answer MISSING for a live task),
 * and a DescribeTasks that fails marks its tasks unseen instead of ending the sweep.
 */
async function judgeSourceTasks(
  clients: SweepClients,
  sources: Array<string | undefined>,
  options: { region: string; concurrency: number },
): Promise<Record<string, string>> {
  const verdicts: Record<string, string> = {};
  const arns = [...new Set(sources.filter((s): s is string => parseTaskArn(s) !== undefined))];
  if (!arns.length) return verdicts;
  const account = (await getCallerIdentity(clients.sts)).account;
  const byCluster = new Map<string, string[]>();
  for (const arn of arns) {
    const parts = parseTaskArn(arn)!;
    if (parts.region !== options.region) verdicts[arn] = `unseen: it runs in region ${parts.region}, and this sweep is of ${options.region}`;
    else if (account && parts.account !== account) verdicts[arn] = `unseen: it belongs to account ${parts.account}, and this sweep runs as ${account}`;
    else byCluster.set(parts.cluster, [...(byCluster.get(parts.cluster) ?? []), arn]);
  }
  await mapLimit([...byCluster], options.concurrency, async ([cluster, list]) => {
    try {
      const { tasks, missing, failed } = await describeTasks(clients.ecs, cluster, list);
      for (const t of tasks) verdicts[t.taskArn] = t.lastStatus;
      for (const arn of missing) verdicts[arn] = "MISSING";
      for (const f of failed) verdicts[f.arn] = `unseen: DescribeTasks answered ${f.reason}`;
      for (const arn of list) verdicts[arn] ??= "unseen: DescribeTasks did not mention it";
    } catch (error) {
      for (const arn of list) verdicts[arn] = `unseen: ${(error as Error).message}`;
    }
  });
  return verdicts;
}
