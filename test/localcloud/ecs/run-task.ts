// RunTask: moto creates the task, we add the lifecycle record and the simulated containers.
import { join } from "node:path";
import { AwsError } from "../aws-errors.ts";
import type { CloudContext, Handler } from "../context.ts";
import { containerArgv, findImage } from "../containers/images.ts";
import { containerName, isLocalImage, podmanRunArgv } from "../containers/podman.ts";
import { ACCOUNT_ID, hex, newRuntimeId } from "../ids.ts";
import type { ContainerRecord, TaskRecord } from "../state.ts";
import { taskCredentialsUri } from "../containers/metadata.ts";
import { scheduleTicks } from "./lifecycle.ts";
import { overlayTask } from "./task-wire.ts";

const DEFAULT_STOP_TIMEOUT_S = 30;

export function containerBaseEnv(ctx: CloudContext, region: string, dir: string, taskId: string, containerName: string): Record<string, string> {
  const { endpoint, repoRoot } = ctx.options;
  const metadata = `${endpoint}/v4/${taskId}/${encodeURIComponent(containerName)}`;
  return {
    PATH: [join(repoRoot, "test/localcloud/bin"), join(process.execPath, ".."), "/usr/local/bin", "/usr/bin", "/bin"].join(":"),
    HOME: dir,
    HOSTNAME: `ip-10-0-${parseInt(taskId.slice(0, 2), 16) % 256}-${parseInt(taskId.slice(2, 4), 16) % 256}.${region}.compute.internal`,
    LANG: "C.UTF-8",
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: "localcloud",
    AWS_SECRET_ACCESS_KEY: "localcloud",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    AWS_EXECUTION_ENV: "AWS_ECS_FARGATE",
    ECS_CONTAINER_METADATA_URI_V4: metadata,
    ECS_CONTAINER_METADATA_URI: metadata,
    LOCALCLOUD_CONTAINER_DIR: dir,
    // The fake agent and the entrypoint agree on this file; never /var/lib on the host.
    SSM_REGISTRATION_FILE: join(dir, "var/lib/amazon/ssm/registration"),
  };
}

function pairs(list: { name?: string; value?: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).filter((e) => e.name).map((e) => [e.name!, e.value ?? ""]));
}

function buildContainer(ctx: CloudContext, region: string, taskArn: string, taskId: string, cd: any, override: any, credentialsUri?: string): ContainerRecord {
  const dir = join(ctx.options.tmpRoot, "tasks", taskId, cd.name);
  const base = containerBaseEnv(ctx, region, dir, taskId, cd.name);
  if (credentialsUri) {
    // A task with a task role gets that role's credentials from the credentials endpoint, as on ECS; no static key.
    delete base.AWS_ACCESS_KEY_ID;
    delete base.AWS_SECRET_ACCESS_KEY;
    base.AWS_CONTAINER_CREDENTIALS_FULL_URI = credentialsUri;
  }
  const env = { ...base, ...pairs(cd.environment), ...pairs(override?.environment) };
  const image = findImage(cd.image, ctx.options.repoRoot);
  const command: string[] | undefined = override?.command ?? cd.command;
  const c: ContainerRecord = {
    name: cd.name,
    image: cd.image,
    runtimeId: newRuntimeId(taskId),
    containerArn: `arn:aws:ecs:${region}:${ACCOUNT_ID}:container/${taskArn.split("/").slice(-2).join("/")}/${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
    env,
    stopTimeoutMs: ctx.options.stopTimeoutMs ?? (cd.stopTimeout ?? DEFAULT_STOP_TIMEOUT_S) * 1000,
    output: "",
  };
  if (image === "unknown") {
    const ref = isLocalImage(cd.image) ? cd.image : `docker.io/${cd.image}`;
    c.reason = `CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ${ref}: not found`;
  } else if (image === "real") {
    c.real = { image: cd.image, containerName: containerName(taskId, cd.name) };
    c.argv = podmanRunArgv(c, { image: cd.image, taskId, entryPoint: cd.entryPoint, command, user: cd.user });
    c.dir = dir;
  } else if (image) {
    c.argv = containerArgv(image, cd.entryPoint, command);
    c.dir = dir;
  }
  return c;
}

/** AWS keeps RunTask's platformVersion; LATEST (or none) is 1.4.0 on Linux, 1.0.0 on Windows. */
function fargatePlatform(launchType: string | undefined, requested: string | undefined, taskDef: any): Pick<TaskRecord, "platformVersion" | "platformFamily"> {
  if (launchType !== "FARGATE") return {};
  const os = String(taskDef.runtimePlatform?.operatingSystemFamily ?? "LINUX");
  const windows = os.startsWith("WINDOWS");
  return {
    platformVersion: requested && requested !== "LATEST" ? requested : latestPlatform(windows),
    platformFamily: windows ? os : "Linux",
  };
}

export function recordTask(ctx: CloudContext, region: string, motoTask: any, taskDef: any, body: any): TaskRecord {
  const now = ctx.clock.now();
  const id = motoTask.taskArn.split("/").pop();
  const { provisioningMs, pendingMs } = ctx.options.taskDelays;
  const overrides: any[] = body.overrides?.containerOverrides ?? [];
  const taskRole: string | undefined = body.overrides?.taskRoleArn ?? taskDef.taskRoleArn;
  const credentialsUri = taskRole ? taskCredentialsUri(ctx, id, taskRole) : undefined;
  const task: TaskRecord = {
    arn: motoTask.taskArn,
    id,
    region,
    clusterArn: motoTask.clusterArn,
    clusterName: motoTask.clusterArn.split("/").pop(),
    taskDefinitionArn: taskDef.taskDefinitionArn,
    family: taskDef.family,
    revision: taskDef.revision,
    group: motoTask.group ?? body.group ?? `family:${taskDef.family}`,
    startedBy: body.startedBy,
    launchType: motoTask.launchType ?? body.launchType,
    ...fargatePlatform(motoTask.launchType ?? body.launchType, body.platformVersion, taskDef),
    enableExecuteCommand: body.enableExecuteCommand === true,
    taskRoleArn: taskRole,
    createdMs: now,
    pendingAtMs: now + provisioningMs,
    runningAtMs: now + provisioningMs + pendingMs,
    desiredStatus: "RUNNING",
    lastStatus: "PROVISIONING",
    containers: taskDef.containerDefinitions.map((cd: any) =>
      buildContainer(
        ctx,
        region,
        motoTask.taskArn,
        id,
        cd,
        overrides.find((o) => o.name === cd.name),
        credentialsUri,
      ),
    ),
  };
  ctx.state.tasks.set(task.arn, task);
  scheduleTicks(ctx, task);
  return task;
}

/**
 * moto indexes awsvpcConfiguration["securityGroups"] and answers 500 without it; AWS makes it
 * optional (the VPC's default group). We send an explicit empty list instead.
 */
export function withSecurityGroupsKey(body: any): any {
  const vpc = body.networkConfiguration?.awsvpcConfiguration;
  if (!vpc || vpc.securityGroups) return body;
  return { ...body, networkConfiguration: { ...body.networkConfiguration, awsvpcConfiguration: { ...vpc, securityGroups: [] } } };
}

export const createService: Handler = async (_ctx, call) => call.forwardJson(withSecurityGroupsKey(call.body));

export const runTask: Handler = async (ctx, call) => {
  const { body, region } = call;
  let taskDef: any;
  try {
    taskDef = (await ctx.moto.json("ecs", "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition", { taskDefinition: body.taskDefinition }, region))
      .taskDefinition;
  } catch {
    return call.forwardJson(); // moto names the problem (unknown task definition…)
  }
  if (body.count !== undefined && (body.count < 1 || body.count > 10)) {
    throw new AwsError("InvalidParameterException", "The count parameter must be between 1 and 10.");
  }
  if (body.enableExecuteCommand === true && !taskDef.taskRoleArn && !body.overrides?.taskRoleArn) {
    // RunTask doc: "the task definition must have a task role, or you must provide one as an override".
    throw new AwsError("InvalidParameterException", "Task definition does not have a task role. A task role is required when enableExecuteCommand is true.");
  }
  const out = await call.forwardJson(withSecurityGroupsKey(body));
  out.tasks = (out.tasks ?? []).map((t: any) => overlayTask(recordTask(ctx, region, t, taskDef, body), t));
  return out;
};

/** What Fargate's LATEST platform version is: 1.0.0 for Windows, 1.4.0 for Linux. */
function latestPlatform(windows: boolean): string {
  return windows ? "1.0.0" : "1.4.0";
}
