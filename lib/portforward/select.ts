// What the bastion is placed beside and what it forwards to: the env's cluster and service (their
// network, launch type and task definition), then the database or host:port targets.
import { describeTaskDefinition, lastSegment, listClusterNames, listServiceNames } from "../aws/ecs.ts";
import { listDatabaseTargets } from "../aws/rds.ts";
import { belongsToEnv, namesOfEnv, productionLast } from "../envs.ts";
import { UsageError } from "../errors.ts";
import { selectOne } from "../prompts.ts";
import { instancePathProblem, resolvePlacement, unknownClusterIsUsage, type Placement } from "./bastion.ts";
import { databaseChoice, databasesOfEnv, nameChoices } from "./choices.ts";
import { applySocket, assertDistinctPorts, findDatabase, parseHostPort, targetForward, type PlannedForward } from "./forwards.ts";
import type { Run } from "./run.ts";

/** Cluster (the env's), service, and from it the bastion's network, launch type and task definition. */
export async function selectPlacement(run: Run): Promise<Placement> {
  const { settings, clients, prompt } = run;
  let cluster = settings.cluster;
  if (!cluster) {
    const all = await listClusterNames(clients.ecs);
    const mine = namesOfEnv(all, settings.env);
    if (!mine.length)
      throw new UsageError(
        `No ECS cluster matches env ${settings.env} in ${run.region} (clusters: ${all.join(", ") || "none"}): pass --cluster, or check --env, --profile and --region.`,
      );
    cluster = await selectOne(prompt, "cluster", "--cluster", nameChoices(productionLast(mine)));
  }
  let service = settings.service;
  if (!service) {
    const all = await listServiceNames(clients.ecs, cluster).catch(unknownClusterIsUsage(cluster));
    const mine = belongsToEnv(cluster, settings.env) ? all : namesOfEnv(all, settings.env);
    if (!mine.length) throw new UsageError(`Cluster ${cluster} has no service for env ${settings.env} to take the network settings from: pass --service.`);
    service = await selectOne(prompt, "service", "--service", nameChoices(productionLast(mine)));
  }
  const placement = await resolvePlacement(clients.ecs, { cluster, service, taskDefinition: settings.taskDefinition });
  // Before anything is launched: an instance path that cannot work is one line now, not a 5-minute wait.
  if (settings.via === "instance") {
    const definition = await describeTaskDefinition(clients.ecs, placement.taskDefinition).catch(() => undefined);
    const problem = definition && instancePathProblem(lastSegment(definition.arn).replace(/:\d+$/, ""), definition.containers, settings.env);
    if (problem) throw new UsageError(problem);
  }
  return placement;
}

/** --target (RDS id, endpoint, host:port; prompt: the env's databases) and every --forward. */
export async function selectForwards(run: Run): Promise<PlannedForward[]> {
  const { settings, clients, prompt } = run;
  const forwards = [...settings.forwards];
  if (settings.target || !forwards.length) {
    let target = settings.target ? parseHostPort(settings.target) : undefined;
    let label = settings.target ?? "";
    if (!target) {
      const databases = await listDatabaseTargets(clients.rds);
      if (settings.target) {
        const found = findDatabase(databases, settings.target);
        if (!found)
          throw new UsageError(
            `--target ${settings.target}: no RDS cluster or instance has that id or endpoint in ${run.region}; pass a database id, an endpoint with its port (host:port), or --forward L:HOST:R.`,
          );
        target = { host: found.host, port: found.port };
      } else {
        const mine = databasesOfEnv(databases, settings.env);
        if (!mine.length)
          throw new UsageError(`No RDS database of env ${settings.env} in ${run.region}: pass --target (an id or host:port) or --forward L:HOST:R.`);
        const picked = await selectOne(prompt, "target", "--target", mine.map(databaseChoice));
        target = { host: picked.host, port: picked.port };
        label = picked.id;
      }
    }
    forwards.unshift(targetForward({ ...target, label }, settings.localPort));
  }
  assertDistinctPorts(forwards);
  return applySocket(forwards, run.socket, run.localPortFlag);
}
