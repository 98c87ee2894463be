// Gathers what the pre-flight checks decide on (checks.ts), each lookup on its own: one that fails
// (no permission, an API the endpoint lacks) turns its checks into "?" instead of ending the report.
import type { AwsClients } from "../aws/clients.ts";
import { awsErrorName, awsErrorOf, httpStatusOf } from "../aws/errors.ts";
import { describeExecTaskDefinition, ecsTarget, type ClusterInfo, type TaskInfo } from "../aws/ecs.ts";
import { findRole, principalOf, roleNameOf, simulatePrincipalPolicy } from "../aws/iam.ts";
import { findLogGroup } from "../aws/logs.ts";
import { getBucketStatus } from "../aws/s3.ts";
import { generateDataKey } from "../aws/sessions.ts";
import { getCallerIdentity } from "../aws/sts.ts";
import { getPluginVersion, MIN_PLUGIN_VERSION, PluginNotInstalledError } from "../plugin.ts";
import { taskRoleActions, type ExecFacts, type Fact, type Unknown } from "./checks.ts";

export interface GatherInput {
  cluster: ClusterInfo;
  task: TaskInfo;
  container: string;
  service?: string;
  /** Check the plugin (with --client plugin). */
  plugin?: { path?: string };
  failure?: ExecFacts["failure"];
}

type Clients = Pick<AwsClients, "ecs" | "iam" | "kms" | "logs" | "s3" | "sts">;

/** The one line of a failed lookup, without the "action on object failed:" prefix call() adds. */
function reason(error: unknown): string {
  const cause = awsErrorOf(error);
  const name = awsErrorName(error);
  const status = httpStatusOf(error);
  if (status && status >= 500 && /Deserialization|SyntaxError|not valid JSON/i.test(String(cause?.message))) return `the endpoint answered HTTP ${status}: it may not implement this API`;
  const message = String(cause?.message ?? cause).split("\n")[0];
  return name && !message.startsWith(name) ? `${name}: ${message}` : message;
}

async function fact<T>(run: () => Promise<T>): Promise<Fact<T>> {
  try {
    return await run();
  } catch (error) {
    return { unknown: reason(error) } satisfies Unknown;
  }
}

export async function gatherFacts(clients: Clients, input: GatherInput): Promise<ExecFacts> {
  const { cluster, task, container } = input;
  const taskDefinition = await fact(() => describeExecTaskDefinition(clients.ecs, task.taskDefinitionArn ?? ""));
  const td = "unknown" in taskDefinition ? undefined : taskDefinition;
  const awslogs = td?.containerExtras.find((c) => c.name === container)?.awslogsGroup;
  const logging = cluster.execLogging ?? "DEFAULT";
  const logGroupName = logging === "OVERRIDE" ? cluster.execLogGroup : logging === "DEFAULT" ? awslogs : undefined;
  const bucketName = logging === "OVERRIDE" ? cluster.execS3Bucket : undefined;
  const keyId = cluster.execKmsKeyId;

  const [logGroup, bucket, kmsProbe, taskRole, caller, plugin] = await Promise.all([
    logGroupName ? fact(async () => Boolean(await findLogGroup(clients.logs, logGroupName))).then((exists) => ({ name: logGroupName, exists })) : undefined,
    bucketName ? fact(() => getBucketStatus(clients.s3, bucketName)).then((status) => ({ name: bucketName, status })) : undefined,
    keyId ? probeKmsKey(clients, keyId, task, container).then((result) => ({ keyId, result })) : undefined,
    td?.taskRoleArn ? fact(async () => Boolean(await findRole(clients.iam, roleNameOf(td.taskRoleArn!)))).then((exists) => ({ arn: td.taskRoleArn!, exists })) : undefined,
    fact(async () => {
      const id = await getCallerIdentity(clients.sts);
      const principal = principalOf(id.arn);
      // An assumed role with a path: GetRole knows its real ARN.
      const real = principal.roleName ? await findRole(clients.iam, principal.roleName).catch(() => undefined) : undefined;
      return { arn: id.arn, principalArn: real?.arn ?? principal.arn };
    }),
    input.plugin ? pluginFact(input.plugin.path) : undefined,
  ]);

  const [taskRoleDecisions, callerDecisions] = await Promise.all([
    taskRole && taskRole.exists === true
      ? fact(() => simulatePrincipalPolicy(clients.iam, taskRole.arn, taskRoleActions(cluster, Boolean(logGroupName))))
      : undefined,
    "unknown" in caller
      ? undefined
      : fact(async () => ({
          ...(await simulatePrincipalPolicy(clients.iam, caller.principalArn, ["ecs:ExecuteCommand"], task.taskArn)),
          ...(await simulatePrincipalPolicy(clients.iam, caller.principalArn, ["ssm:StartSession"], task.taskArn)),
        })),
  ]);

  return {
    cluster,
    task,
    container,
    service: input.service,
    taskDefinition,
    logGroup,
    bucket,
    kmsProbe,
    taskRole,
    taskRoleDecisions,
    caller,
    callerDecisions,
    plugin,
    minPluginVersion: MIN_PLUGIN_VERSION,
    failure: input.failure,
  };
}

/** kms:GenerateDataKey as the session will call it (the key is discarded): the one test that counts both IAM and the key policy. */
async function probeKmsKey(clients: Clients, keyId: string, task: TaskInfo, container: string): Promise<Fact<"ok" | { errorName: string; message: string }>> {
  const runtimeId = task.containers.find((c) => c.name === container)?.runtimeId ?? "";
  try {
    await generateDataKey(clients.kms, { keyId, context: { "aws:ssm:TargetId": ecsTarget(task, runtimeId) } });
    return "ok";
  } catch (error) {
    const name = awsErrorName(error);
    if (!name || httpStatusOf(error) === undefined) return { unknown: reason(error) };
    return { errorName: name, message: String(awsErrorOf(error)?.message).split("\n")[0] };
  }
}

async function pluginFact(path?: string): Promise<Fact<{ version: string } | { missing: string }>> {
  try {
    return { version: await getPluginVersion(path) };
  } catch (error) {
    if (error instanceof PluginNotInstalledError) return { missing: "session-manager-plugin is not installed (not on PATH)" };
    return { unknown: (error as Error).message };
  }
}
