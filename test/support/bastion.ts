// A bastion task in the local cloud's demo world with ECS Exec, waited for until its
// ExecuteCommandAgent runs, and the ecs: target string the AWS CLI would build for it. For tests and
// benchmarks that need a live target without going through scripts/portforward.mts.
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, RunTaskCommand, StopTaskCommand, type TaskOverride } from "@aws-sdk/client-ecs";
import { DescribeDBClustersCommand, RDSClient } from "@aws-sdk/client-rds";
import type { LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "./clients.ts";
import { eventually } from "./eventually.ts";

export interface BastionTask {
  taskArn: string;
  taskId: string;
  runtimeId: string;
  /** `ecs:<cluster>_<taskId>_<runtimeId>` */
  target: string;
}

export interface BastionTaskOptions {
  /** Whose app service lends the subnets and security group (default stg), and the task definition `<env>-bastion`. */
  env?: string;
  startedBy?: string;
  overrides?: TaskOverride;
  timeoutMs?: number;
}

/** Runs `<env>-bastion` with ECS Exec in `cluster`; resolves once its ExecuteCommandAgent runs. */
export async function runBastionTask(ecs: ECSClient, cluster: string, options: BastionTaskOptions = {}): Promise<BastionTask> {
  const env = options.env ?? "stg";
  // The demo world's app service has the subnets and security group a bastion would use.
  const service = (await ecs.send(new DescribeServicesCommand({ cluster: `${env}-main`, services: [`${env}-app`] }))).services![0];
  const run = await ecs.send(
    new RunTaskCommand({
      cluster,
      taskDefinition: `${env}-bastion`,
      launchType: "FARGATE",
      networkConfiguration: service.networkConfiguration,
      enableExecuteCommand: true,
      ...(options.startedBy ? { startedBy: options.startedBy } : {}),
      ...(options.overrides ? { overrides: options.overrides } : {}),
    }),
  );
  const taskArn = run.tasks![0].taskArn!;
  const taskId = taskArn.split("/").at(-1)!;
  const container = await eventually(
    async () => {
      const task = (await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }))).tasks?.[0];
      const c = task?.containers?.[0];
      const agent = c?.managedAgents?.find((a) => a.name === "ExecuteCommandAgent");
      return task?.lastStatus === "RUNNING" && agent?.lastStatus === "RUNNING" && c?.runtimeId ? c : undefined;
    },
    options.timeoutMs ?? 60_000,
    `task ${taskId} RUNNING with its ExecuteCommandAgent`,
  );
  return { taskArn, taskId, runtimeId: container.runtimeId!, target: `ecs:${cluster}_${taskId}_${container.runtimeId}` };
}

export interface Bastion {
  taskArn: string;
  /** ecs:<cluster>_<taskId>_<runtimeId> */
  target: string;
  stop(): Promise<void>;
}

/** A bastion task in `<env>-main`, started the way portforward starts one, with a stand-in workload unless `command` is given. */
export async function startBastion(cloud: LocalCloud, env = "stg", options: { command?: string[]; timeoutMs?: number } = {}): Promise<Bastion> {
  const ecs = new ECSClient(cloudConfig(cloud, { maxAttempts: 8 }));
  const cluster = `${env}-main`;
  // The stand-in workload: the exec agent is what matters here, not the entrypoint's registration.
  const overrides = {
    containerOverrides: [
      {
        name: "bastion",
        command: options.command ?? ["sleep", "86400"],
        ...(options.command ? {} : { environment: [{ name: "BASTION_DISABLED", value: "true" }] }),
      },
    ],
  };
  const { taskArn, target } = await runBastionTask(ecs, cluster, { env, startedBy: "bastionless:bench", overrides, timeoutMs: options.timeoutMs });
  return {
    taskArn,
    target,
    async stop() {
      await ecs.send(new StopTaskCommand({ cluster, task: taskArn, reason: "done" })).catch(() => undefined);
      ecs.destroy();
    },
  };
}

/** The writer endpoint and port of an env's Aurora cluster (`stg-db`). */
export async function databaseEndpoint(cloud: LocalCloud, env = "stg"): Promise<{ host: string; port: number }> {
  const rds = new RDSClient(cloudConfig(cloud, { maxAttempts: 3 }));
  const c = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: `${env}-db` }))).DBClusters![0];
  rds.destroy();
  return { host: c.Endpoint!, port: c.Port! };
}
