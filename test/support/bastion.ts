// A bastion task in the local cloud's demo world, started the way portforward starts one, and the
// ECS Exec target it offers once its ExecuteCommandAgent runs. For tests and benchmarks that need a
// live target without going through scripts/portforward.mts.
import { DescribeServicesCommand, DescribeTasksCommand, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { DescribeDBClustersCommand } from "@aws-sdk/client-rds";
import type { LocalCloud } from "../localcloud/index.ts";
import { cloudClients } from "./orphans.ts";
import { RDSClient } from "@aws-sdk/client-rds";

export interface Bastion {
  taskArn: string;
  /** ecs:<cluster>_<taskId>_<runtimeId> */
  target: string;
  stop(): Promise<void>;
}

export async function startBastion(cloud: LocalCloud, env = "stg", options: { command?: string[]; timeoutMs?: number } = {}): Promise<Bastion> {
  const { ecs } = cloudClients(cloud);
  const cluster = `${env}-main`;
  const service = (await ecs.send(new DescribeServicesCommand({ cluster, services: [`${env}-app`] }))).services![0];
  const run = await ecs.send(
    new RunTaskCommand({
      cluster, taskDefinition: `${env}-bastion`, launchType: "FARGATE", enableExecuteCommand: true, startedBy: "bastionless:bench",
      networkConfiguration: service.networkConfiguration,
      // The stand-in workload: the exec agent is what matters here, not the entrypoint's registration.
      overrides: { containerOverrides: [{ name: "bastion", command: options.command ?? ["sleep", "86400"], ...(options.command ? {} : { environment: [{ name: "BASTION_DISABLED", value: "true" }] }) }] },
    }),
  );
  const taskArn = run.tasks![0].taskArn!;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const task = (await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }))).tasks![0];
    const container = task.containers?.[0];
    const agent = container?.managedAgents?.find((a) => a.name === "ExecuteCommandAgent");
    if (task.lastStatus === "RUNNING" && agent?.lastStatus === "RUNNING" && container?.runtimeId) {
      return {
        taskArn,
        target: `ecs:${cluster}_${taskArn.split("/").pop()}_${container.runtimeId}`,
        async stop() {
          await ecs.send(new StopTaskCommand({ cluster, task: taskArn, reason: "done" })).catch(() => undefined);
          ecs.destroy();
        },
      };
    }
    if (task.lastStatus === "STOPPED" || Date.now() > deadline) throw new Error(`bastion task ${taskArn} did not become reachable: ${task.lastStatus} ${task.stoppedReason ?? ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The writer endpoint and port of an env's Aurora cluster (`stg-db`). */
export async function databaseEndpoint(cloud: LocalCloud, env = "stg"): Promise<{ host: string; port: number }> {
  const rds = new RDSClient({ region: cloud.region, endpoint: cloud.endpoint, credentials: { accessKeyId: "localcloud", secretAccessKey: "localcloud" } });
  const c = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: `${env}-db` }))).DBClusters![0];
  rds.destroy();
  return { host: c.Endpoint!, port: c.Port! };
}
