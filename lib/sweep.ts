// The sweeper's effects: read the inventory (paged, read-only) and apply a plan (bounded concurrency,
// item by item, past failures). What to remove is decided by lib/orphans.ts.
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { SSMClient } from "@aws-sdk/client-ssm";
import type { STSClient } from "@aws-sdk/client-sts";
import { MANAGED_BY_VALUE, STARTED_BY_PREFIX, TAG_ENV, TAG_MANAGED_BY, TAG_SOURCE, parameterPrefix } from "./constants.ts";
import { clusterOfTaskArn, describeTasks, lastSegment, listClusterNames, listTasksStartedWith, parseTaskArn, stopTask } from "./aws/ecs.ts";
import { getCallerIdentity } from "./aws/sts.ts";
import { namesOfEnvs } from "./envs.ts";
import {
  deleteActivation,
  deleteParameter,
  deregisterInstance,
  listActivations,
  listInstanceParameters,
  listTaggedParameterNames,
  listInstanceTags,
  listManagedInstances,
  listParameterTags,
} from "./aws/ssm.ts";
import type { Decision, Inventory, Plan } from "./orphans.ts";

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
  const { region, envs, concurrency } = options;
  const managedBy = { [TAG_MANAGED_BY]: MANAGED_BY_VALUE };

  const found = await listManagedInstances(clients.ssm, { tags: envs.length ? { ...managedBy, [TAG_ENV]: envs } : managedBy });
  const instances = (
    await mapLimit(found, concurrency, async (i) => {
      const tags = await listInstanceTags(clients.ssm, i.instanceId);
      return { instanceId: i.instanceId, region, env: tags[TAG_ENV], source: tags[TAG_SOURCE], pingStatus: i.pingStatus ?? "Unknown", lastPingAt: i.lastPingAt, tags };
    })
  ).filter((i) => inEnvs(envs, i.env));

  const activations = (await listActivations(clients.ssm))
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

  // Every env: the envs of our parameters too, for a parameter outlives its instance and activation
  // when its container was killed between deregistering and deleting it.
  const parameterEnvs = envs.length
    ? envs
    : [
        ...new Set([
          ...[...instances, ...activations].map((x) => x.env),
          ...(await listTaggedParameterNames(clients.ssm, TAG_MANAGED_BY, MANAGED_BY_VALUE)).map((name) => envOfParameter(name)),
        ].filter((e): e is string => Boolean(e))),
      ];
  const parameters = (
    await mapLimit(parameterEnvs, concurrency, async (env) => {
      const list = await listInstanceParameters(clients.ssm, parameterPrefix(env));
      return mapLimit(list, concurrency, async (p) => ({ name: p.name, region, env, value: p.value, tags: await listParameterTags(clients.ssm, p.name) }));
    })
  ).flat();

  const clusters = options.clusters ?? namesOfEnvs(await listClusterNames(clients.ecs), envs);
  const tasks = (
    await mapLimit(clusters, concurrency, async (cluster) =>
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
    )
  )
    .flat()
    .filter((t) => inEnvs(envs, t.env));

  const sourceTasks = await judgeSourceTasks(clients, instances.map((i) => i.source), { region, concurrency });

  const known = new Set(instances.map((i) => i.instanceId));
  const unknown = [...new Set(parameters.map((p) => p.value).filter((v) => /^mi-[0-9a-f]{17}$/.test(v) && !known.has(v)))];
  const liveInstanceIds: string[] = [];
  for (let i = 0; i < unknown.length; i += 50) {
    const batch = unknown.slice(i, i + 50);
    liveInstanceIds.push(...(await listManagedInstances(clients.ssm, { instanceIds: batch })).map((x) => x.instanceId));
  }

  return { instances, activations, parameters, tasks, sourceTasks, liveInstanceIds };
}

/**
 * What this sweep can know of the tasks instances name as their source: only a task in its own
 * region and account is asked about (DescribeTasks elsewhere would answer MISSING for a live task),
 * and a DescribeTasks that fails marks its tasks unseen instead of ending the sweep.
 */
async function judgeSourceTasks(clients: SweepClients, sources: Array<string | undefined>, options: { region: string; concurrency: number }): Promise<Record<string, string>> {
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

export interface Outcome extends Decision {
  ok: boolean;
  /** "done", "already gone", or the one-line error. */
  detail: string;
  durationMs: number;
}

/**
 * Applies the plan kind by kind in its order (tasks, instances, parameters, activations), at most
 * `concurrency` calls in flight, continuing past failures. `onOutcome` sees each item as it ends.
 */
export async function applyPlan(clients: SweepClients, plan: Plan, options: { concurrency: number; onOutcome?: (o: Outcome) => void }): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const kind of ["task", "instance", "parameter", "activation"] as const) {
    const batch = plan.actions.filter((d) => d.kind === kind);
    const done = await mapLimit(batch, options.concurrency, async (decision) => {
      const started = Date.now();
      let outcome: Outcome;
      try {
        const removed = await applyOne(clients, decision);
        outcome = { ...decision, ok: true, detail: removed ? "done" : "already gone", durationMs: Date.now() - started };
      } catch (error) {
        outcome = { ...decision, ok: false, detail: (error as Error).message, durationMs: Date.now() - started };
      }
      options.onOutcome?.(outcome);
      return outcome;
    });
    outcomes.push(...done);
  }
  return outcomes;
}

async function applyOne(clients: SweepClients, decision: Decision): Promise<boolean> {
  switch (decision.kind) {
    case "task": {
      const cluster = clusterOfTaskArn(decision.id) ?? "";
      await stopTask(clients.ecs, cluster, decision.id, `bastionless cleanup-orphans: ${decision.reason}`);
      return true;
    }
    case "instance":
      return deregisterInstance(clients.ssm, decision.id);
    case "parameter":
      return deleteParameter(clients.ssm, decision.id);
    case "activation":
      return deleteActivation(clients.ssm, decision.id);
  }
}

/** Short ids for tables: the task id of an ARN, the rest as they are. */
export function shortId(decision: Decision): string {
  return decision.kind === "task" ? `${clusterOfTaskArn(decision.id) ?? "?"}/${lastSegment(decision.id)}` : decision.id;
}
