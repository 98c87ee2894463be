// ECS ExecuteCommand: an interactive shell session on a running task's container, through the
// same data plane as StartSession. Target string as the AWS CLI builds it.
import { AwsError } from "../aws-errors.ts";
import type { Handler } from "../context.ts";
import { judgeChannels, taskAgentIdentity } from "../iam/agents.ts";
import { hex } from "../ids.ts";
import { containerShell, findClusterKmsKey, isExecAgentStopped, isExecReady } from "../ssm/session-targets.ts";
import { openRecordedSession } from "../ssm/sessions.ts";
import { requireString } from "../ssm/validate.ts";
import { clusterNameOf } from "./tasks.ts";

const NOT_CONNECTED =
  "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn’t running. Wait and try again or run a new task with execute command enabled and try again.";

const AGENT_UNREACHABLE = "The execute command failed due to an internal error. Try again later.";

export const executeCommand: Handler = async (ctx, { region, body }) => {
  ctx.tick();
  const command = requireString("command", body.command, { min: 1 });
  const taskRef = requireString("task", body.task, { min: 1 });
  if (body.interactive !== true) throw new AwsError("InvalidParameterException", "Interactive is the only mode supported currently.");
  const cluster = clusterNameOf(body.cluster);
  const described = await ctx.moto.json("ecs", "AmazonEC2ContainerServiceV20141113.DescribeClusters", { clusters: [cluster] }, region);
  if (!described.clusters?.length) throw new AwsError("ClusterNotFoundException", "Cluster not found.");
  const taskId = taskRef.split("/").pop();
  const task = [...ctx.state.tasks.values()].find((t) => t.region === region && t.clusterName === cluster && t.id === taskId);
  if (!task) throw new AwsError("InvalidParameterException", "The specified task is not found.");
  let container = task.containers[0];
  if (body.container !== undefined) {
    const named = task.containers.find((c) => c.name === body.container);
    if (!named) throw new AwsError("InvalidParameterException", `The container ${body.container} does not exist in the task.`);
    container = named;
  } else if (task.containers.length > 1) {
    throw new AwsError("InvalidParameterException", "The task has more than one container; specify the container name.");
  }
  if (!isExecReady(task) || isExecAgentStopped(container)) throw new AwsError("TargetNotConnectedException", NOT_CONNECTED);
  // The agent runs but cannot reach Session Manager with the task role's credentials (no ssmmessages
  // permissions): ECS says no more than this.
  if (!(await judgeChannels(ctx, taskAgentIdentity(task), region)).allowed) throw new AwsError("TargetNotConnectedException", AGENT_UNREACHABLE);
  const target = `ecs:${cluster}_${task.id}_${container.runtimeId}`;
  const shell = containerShell(ctx, container);
  const kmsKeyId = await findClusterKmsKey(ctx, region, task.clusterArn);
  const session = openRecordedSession(
    ctx,
    region,
    { kind: "shell", sessionId: `ecs-execute-command-${hex(17)}`, target, command, ...shell, kmsKeyId },
    "AmazonECS-ExecuteInteractiveCommand",
  );
  return {
    clusterArn: task.clusterArn,
    containerArn: container.containerArn,
    containerName: container.name,
    interactive: true,
    taskArn: task.arn,
    session,
  };
};
