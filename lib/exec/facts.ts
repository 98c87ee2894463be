// Gathers what the pre-flight checks decide on (checks.ts), each lookup on its own: one that fails
// (no permission, an API the endpoint lacks) turns its checks into "?" instead of ending the report.
import { randomBytes } from "node:crypto";
import type { AwsClients } from "../aws/clients.ts";
import { awsErrorName, awsErrorOf, httpStatusOf } from "../aws/errors.ts";
import { describeExecTaskDefinition, ecsTarget, parseTaskArn, type ClusterInfo, type TaskInfo } from "../aws/ecs.ts";
import { findRole, principalOf, roleNameOf, simulatePrincipalPolicy, type Decision } from "../aws/iam.ts";
import { findLogGroup } from "../aws/logs.ts";
import { getBucketStatus } from "../aws/s3.ts";
import { generateDataKey } from "../aws/sessions.ts";
import { getCallerIdentity } from "../aws/sts.ts";
import { getPluginVersion, PluginNotInstalledError } from "../session/plugin.ts";
import { MIN_PLUGIN_VERSION } from "../session/versions.ts";
import { kmsKeyArn, taskRoleSimulations, type ExecFacts, type Fact, type Simulation, type Unknown } from "./checks.ts";

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
  if (status && status >= 500 && /Deserialization|SyntaxError|not valid JSON/i.test(String(cause?.message)))
    return `the endpoint answered HTTP ${status}: it may not implement this API`;
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
  const { logGroupName, bucketName } = sessionLogDestination(cluster, td?.containerExtras.find((c) => c.name === container)?.awslogsGroup);
  const keyId = cluster.execKmsKeyId;
  // The role the task runs with: RunTask's override beats the task definition's.
  const roleArn = task.overrideTaskRoleArn ?? td?.taskRoleArn;
  const where = whereOf(task);
  const kmsContext = sessionKmsContext(task, container);

  const [logGroup, bucket, kmsProbe, taskRole, caller, plugin] = await Promise.all([
    logGroupName ? fact(async () => Boolean(await findLogGroup(clients.logs, logGroupName))).then((exists) => ({ name: logGroupName, exists })) : undefined,
    bucketName ? fact(() => getBucketStatus(clients.s3, bucketName)).then((status) => ({ name: bucketName, status })) : undefined,
    keyId ? probeKmsKey(clients, keyId, kmsContext) : undefined,
    roleArn ? taskRoleFact(clients, roleArn, Boolean(task.overrideTaskRoleArn)) : undefined,
    fact(() => findCaller(clients)),
    input.plugin ? pluginFact(input.plugin.path) : undefined,
  ]);

  const simulations = taskRoleSimulations(cluster, {
    ...where,
    logGroup: logGroupName,
    keyArn: keyId ? (kmsProbe?.keyArn ?? kmsKeyArn(keyId, where)) : undefined,
    kmsContext: Object.fromEntries(Object.entries(kmsContext).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
  });
  const [taskRoleDecisions, callerDecisions] = await Promise.all([
    taskRole && taskRole.exists === true ? fact(() => simulateAll(clients, taskRole.arn, simulations)) : undefined,
    "unknown" in caller ? undefined : fact(() => simulateCaller(clients, caller.principalArn, task.taskArn)),
  ]);

  return {
    cluster,
    task,
    container,
    service: input.service,
    taskDefinition,
    logGroup,
    bucket,
    kmsProbe: kmsProbe && { keyId: kmsProbe.keyId, result: kmsProbe.result },
    taskRole,
    taskRoleDecisions,
    taskRoleResources: Object.fromEntries(simulations.flatMap((s) => s.actions.map((a) => [a, s.resource]))),
    caller,
    callerDecisions,
    plugin,
    minPluginVersion: MIN_PLUGIN_VERSION,
    failure: input.failure,
  };
}

/** Where the cluster's exec sessions are logged: OVERRIDE names a group and a bucket, DEFAULT uses the container's awslogs group. */
function sessionLogDestination(cluster: ClusterInfo, awslogsGroup: string | undefined): { logGroupName?: string; bucketName?: string } {
  const logging = cluster.execLogging ?? "DEFAULT";
  if (logging === "OVERRIDE") return { logGroupName: cluster.execLogGroup, bucketName: cluster.execS3Bucket };
  if (logging === "DEFAULT") return { logGroupName: awslogsGroup };
  return {};
}

/**
 * The encryption context of a real session (lib/session/handshake.ts): the same two keys, so a
 * policy conditioned on them judges the probe and the simulation as it judges the session.
 */
function sessionKmsContext(task: TaskInfo, container: string): Record<string, string> {
  const runtimeId = task.containers.find((c) => c.name === container)?.runtimeId ?? "";
  return { "aws:ssm:SessionId": `ecs-execute-command-${randomBytes(9).toString("hex").slice(0, 17)}`, "aws:ssm:TargetId": ecsTarget(task, runtimeId) };
}

async function taskRoleFact(clients: Clients, roleArn: string, override: boolean): Promise<NonNullable<ExecFacts["taskRole"]>> {
  const exists = await fact(async () => Boolean(await findRole(clients.iam, roleNameOf(roleArn))));
  return { arn: roleArn, exists, ...(override ? { override: true } : {}) };
}

async function findCaller(clients: Clients): Promise<{ arn: string; principalArn: string }> {
  const id = await getCallerIdentity(clients.sts);
  const principal = principalOf(id.arn);
  // An assumed role with a path: GetRole knows its real ARN.
  const real = principal.roleName ? await findRole(clients.iam, principal.roleName).catch(() => undefined) : undefined;
  return { arn: id.arn, principalArn: real?.arn ?? principal.arn };
}

async function simulateCaller(clients: Clients, principalArn: string, taskArn: string): Promise<Record<string, Decision>> {
  return {
    ...(await simulatePrincipalPolicy(clients.iam, principalArn, ["ecs:ExecuteCommand"], taskArn)),
    ...(await simulatePrincipalPolicy(clients.iam, principalArn, ["ssm:StartSession"], taskArn)),
  };
}

/** The partition, region and account of the task (its ARN names them). */
function whereOf(task: TaskInfo): { partition: string; region: string; account: string } {
  const parsed = parseTaskArn(task.taskArn);
  return { partition: /^arn:(aws[a-z-]*):/.exec(task.taskArn)?.[1] ?? "aws", region: parsed?.region ?? "", account: parsed?.account ?? "" };
}

async function simulateAll(clients: Clients, principalArn: string, simulations: Simulation[]): Promise<Record<string, Decision>> {
  const each = await Promise.all(simulations.map((s) => simulatePrincipalPolicy(clients.iam, principalArn, s.actions, s.resource, s.context)));
  return Object.assign({}, ...each) as Record<string, Decision>;
}

/**
 * kms:GenerateDataKey as the session will call it, with its encryption context (the key is
 * discarded): the one test that counts both IAM and the key policy. KMS answers the key's ARN.
 */
async function probeKmsKey(
  clients: Clients,
  keyId: string,
  context: Record<string, string>,
): Promise<{ keyId: string; keyArn?: string; result: Fact<"ok" | { errorName: string; message: string }> }> {
  try {
    const key = await generateDataKey(clients.kms, { keyId, context });
    key.plaintext.fill(0);
    return { keyId, keyArn: key.keyArn, result: "ok" };
  } catch (error) {
    const name = awsErrorName(error);
    if (!name || httpStatusOf(error) === undefined) return { keyId, result: { unknown: reason(error) } };
    return { keyId, result: { errorName: name, message: String(awsErrorOf(error)?.message).split("\n")[0] } };
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
