// Shared by the session e2e tests: a stg-bastion task with ECS Exec in a demo-world cluster, waited
// for until its ExecuteCommandAgent runs, and the ecs: target string the AWS CLI would build for it.
import { DescribeServicesCommand, DescribeTasksCommand, type ECSClient, RunTaskCommand } from "@aws-sdk/client-ecs";
import { eventually } from "./entrypoint-harness.ts";

export interface BastionTask {
  taskArn: string;
  taskId: string;
  runtimeId: string;
  /** `ecs:<cluster>_<taskId>_<runtimeId>` */
  target: string;
}

export async function runBastionTask(ecs: ECSClient, cluster: string): Promise<BastionTask> {
  // The demo world's app service has the subnets and security group a bastion would use.
  const service = await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }));
  const run = await ecs.send(
    new RunTaskCommand({
      cluster,
      taskDefinition: "stg-bastion",
      launchType: "FARGATE",
      networkConfiguration: service.services![0].networkConfiguration,
      enableExecuteCommand: true,
    }),
  );
  const taskArn = run.tasks![0].taskArn!;
  const taskId = taskArn.split("/").at(-1)!;
  const container = await eventually(async () => {
    const described = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }));
    const task = described.tasks?.[0];
    const c = task?.containers?.[0];
    const agent = c?.managedAgents?.find((a) => a.name === "ExecuteCommandAgent");
    return task?.lastStatus === "RUNNING" && agent?.lastStatus === "RUNNING" && c?.runtimeId ? c : undefined;
  }, 60_000, `task ${taskId} RUNNING with its ExecuteCommandAgent`);
  return { taskArn, taskId, runtimeId: container.runtimeId!, target: `ecs:${cluster}_${taskId}_${container.runtimeId}` };
}
