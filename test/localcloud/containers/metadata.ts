// The ECS task metadata endpoint v4 (ECS_CONTAINER_METADATA_URI_V4), served by the gateway:
// GET <uri> is the container, GET <uri>/task the task, as on Fargate platform 1.4. And the task
// credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI; ECS's RELATIVE_URI host 169.254.170.2
// is not ours): GET /v2/credentials/<id> is the task role's temporary credentials, the id a random
// per-task secret as on ECS.
import { randomUUID } from "node:crypto";
import { epochSeconds } from "../clock.ts";
import type { CloudContext } from "../context.ts";
import type { ContainerRecord, TaskRecord } from "../state.ts";

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function containerMetadata(task: TaskRecord, c: ContainerRecord) {
  const status = task.lastStatus === "STOPPED" || task.lastStatus === "RUNNING" ? task.lastStatus : "PENDING";
  return {
    DockerId: c.runtimeId,
    Name: c.name,
    DockerName: c.name,
    Image: c.image,
    ImageID: "sha256:" + "0".repeat(64),
    Labels: {
      "com.amazonaws.ecs.cluster": task.clusterArn,
      "com.amazonaws.ecs.container-name": c.name,
      "com.amazonaws.ecs.task-arn": task.arn,
      "com.amazonaws.ecs.task-definition-family": task.family,
      "com.amazonaws.ecs.task-definition-version": String(task.revision),
    },
    DesiredStatus: task.desiredStatus,
    KnownStatus: status,
    Limits: { CPU: 2 },
    CreatedAt: iso(task.createdMs),
    StartedAt: iso(task.startedMs),
    Type: "NORMAL",
    ContainerARN: c.containerArn,
    LogDriver: "awslogs",
    Networks: [{ NetworkMode: "awsvpc", IPv4Addresses: ["127.0.0.1"] }],
  };
}

/** The JSON for /v4/<taskId>/<container>[/task], or undefined for an unknown path. */
export function readMetadata(ctx: CloudContext, path: string): unknown {
  const m = /^\/v4\/([0-9a-f-]{32,36})\/([^/]+)(\/task)?$/.exec(path);
  if (!m) return undefined;
  const task = [...ctx.state.tasks.values()].find((t) => t.id === m[1]);
  const c = task?.containers.find((x) => x.name === decodeURIComponent(m[2]));
  if (!task || !c) return undefined;
  if (!m[3]) return containerMetadata(task, c);
  return {
    Cluster: task.clusterArn,
    TaskARN: task.arn,
    Family: task.family,
    Revision: String(task.revision),
    DesiredStatus: task.desiredStatus,
    KnownStatus: task.lastStatus,
    Limits: { CPU: 0.25, Memory: 512 },
    PullStartedAt: iso(task.startedMs === undefined ? undefined : task.pendingAtMs),
    PullStoppedAt: iso(task.startedMs === undefined ? undefined : task.runningAtMs),
    AvailabilityZone: `${task.region}a`,
    LaunchType: task.launchType ?? "FARGATE",
    Containers: task.containers.map((x) => containerMetadata(task, x)),
    ClockDrift: { ClockErrorBound: 0.5, ReferenceTimestamp: iso(ctx.clock.now()), ClockSynchronizationStatus: "SYNCHRONIZED" },
    EphemeralStorageMetrics: { Utilized: 0, Reserved: 20496 },
    CreatedAtEpoch: epochSeconds(task.createdMs),
  };
}

/** Registers a task's role with the credentials endpoint; the URI its containers get. */
export function taskCredentialsUri(ctx: CloudContext, taskId: string, roleArn: string): string {
  const id = randomUUID();
  ctx.principals.registerTaskRole(id, taskId, roleArn);
  return `${ctx.options.endpoint}/v2/credentials/${id}`;
}

/** The JSON for /v2/credentials/<id> (the task role's credentials, in ECS's shape), or undefined for an unknown id. */
export async function readCredentials(ctx: CloudContext, path: string): Promise<unknown> {
  const m = /^\/v2\/credentials\/([0-9a-f-]{36})$/.exec(path);
  const credentials = m ? await ctx.principals.taskRoleCredentials(m[1]) : undefined;
  if (!credentials) return undefined;
  ctx.secrets.record("secret-access-key", credentials.secretAccessKey, "ecs:TaskRoleCredentials");
  ctx.secrets.record("credentials-session-token", credentials.sessionToken, "ecs:TaskRoleCredentials");
  return {
    RoleArn: credentials.roleArn,
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    Token: credentials.sessionToken,
    Expiration: credentials.expiration.toISOString(),
  };
}
