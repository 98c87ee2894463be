// exec's pre-flight checks, as pure decisions over facts gathered once (facts.ts): each check is a
// line with ✓ (fine), ✗ (this breaks ECS Exec: the remedy says what to change), ? (could not be
// determined: it says what to check by hand) or ! (works, but is advised against). The checks follow
// aws-containers/amazon-ecs-exec-checker where they apply to Fargate; README "exec" lists them.
import type { ClusterInfo, ExecTaskDefinitionInfo, TaskInfo } from "../aws/ecs.ts";
import type { Decision } from "../aws/iam.ts";
import { compareVersions } from "../session/versions.ts";

export type CheckStatus = "ok" | "fail" | "unknown" | "warn";

export interface CheckResult {
  id: string;
  status: CheckStatus;
  /** "Task role permissions": what is checked. */
  title: string;
  /** What was found. */
  detail: string;
  /** For ✗ and !: what to change; for ?: what to check by hand. */
  remedy?: string;
}

/** A lookup that failed: the check it feeds becomes "?" with this reason. */
export interface Unknown {
  unknown: string;
}

export type Fact<T> = T | Unknown;

export function isUnknown<T>(fact: Fact<T> | undefined): fact is Unknown {
  return typeof fact === "object" && fact !== null && "unknown" in fact;
}

export interface ExecFacts {
  cluster: ClusterInfo;
  task: TaskInfo;
  container: string;
  /** Set when the task was reached through a service: for the update-service remedy. */
  service?: string;
  taskDefinition: Fact<ExecTaskDefinitionInfo>;
  /** Present when the cluster logs to this group (OVERRIDE) or DEFAULT and the container uses awslogs. */
  logGroup?: { name: string; exists: Fact<boolean> };
  bucket?: { name: string; status: Fact<"exists" | "missing" | "forbidden"> };
  /** The caller's kms:GenerateDataKey on the cluster's key, tried for real: "ok" or AWS's error. */
  kmsProbe?: { keyId: string; result: Fact<"ok" | { errorName: string; message: string }> };
  /** undefined: the task definition has no task role. */
  taskRole?: { arn: string; exists: Fact<boolean> };
  taskRoleDecisions?: Fact<Record<string, Decision>>;
  caller?: Fact<{ arn: string; principalArn: string }>;
  callerDecisions?: Fact<Record<string, Decision>>;
  /** Checked only with --client plugin. */
  plugin?: Fact<{ version: string } | { missing: string }>;
  minPluginVersion?: string;
  /** How ExecuteCommand or the session failed, when the checks run after a failure. */
  failure?: { errorName?: string; message: string };
}

export const SSMMESSAGES_ACTIONS = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"];
export const LOGS_ACTIONS = ["logs:DescribeLogGroups", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"];
export const S3_ACTIONS = ["s3:PutObject", "s3:GetEncryptionConfiguration"];

/** The actions the task role needs for this cluster's exec configuration. */
export function taskRoleActions(cluster: ClusterInfo, logsToCloudWatch: boolean): string[] {
  return [
    ...SSMMESSAGES_ACTIONS,
    ...(cluster.execKmsKeyId ? ["kms:Decrypt"] : []),
    ...(logsToCloudWatch ? LOGS_ACTIONS : []),
    ...(cluster.execLogging === "OVERRIDE" && cluster.execS3Bucket ? S3_ACTIONS : []),
  ];
}

const ok = (id: string, title: string, detail: string): CheckResult => ({ id, status: "ok", title, detail });
const fail = (id: string, title: string, detail: string, remedy: string): CheckResult => ({ id, status: "fail", title, detail, remedy });
const unknown = (id: string, title: string, detail: string, remedy: string): CheckResult => ({ id, status: "unknown", title, detail, remedy });
const warn = (id: string, title: string, detail: string, remedy: string): CheckResult => ({ id, status: "warn", title, detail, remedy });

export function evaluateChecks(f: ExecFacts): CheckResult[] {
  const td = isUnknown(f.taskDefinition) ? undefined : f.taskDefinition;
  const containerDef = td?.containers.find((c) => c.name === f.container);
  const extras = td?.containerExtras.find((c) => c.name === f.container);
  const tdUnknown = (id: string, title: string, what: string) =>
    unknown(id, title, `the task definition could not be read (${(f.taskDefinition as Unknown).unknown})`, `check ${what} in ${f.task.taskDefinitionArn ?? "the task definition"}`);
  const results: CheckResult[] = [
    ...clusterChecks(f),
    kmsCheck(f),
    f.task.lastStatus === "RUNNING"
      ? ok("task-running", "Task status", `task ${f.task.taskId} is RUNNING`)
      : fail("task-running", "Task status", `task ${f.task.taskId} is ${f.task.lastStatus}`, "pick a RUNNING task"),
    execEnabledCheck(f),
    agentCheck(f),
    platformCheck(f.task),
    td ? taskRoleCheck(f) : tdUnknown("task-role", "Task role", "taskRoleArn"),
    ...taskRoleDecisionChecks(f),
    ...callerChecks(f),
    !td
      ? tdUnknown("readonly-root", "Read-only root filesystem", "readonlyRootFilesystem")
      : containerDef?.readonlyRootFilesystem
        ? fail("readonly-root", "Read-only root filesystem", `container ${f.container} has readonlyRootFilesystem true: the exec agent cannot write its files`, `set readonlyRootFilesystem to false for ${f.container} in task definition ${td.family} and redeploy`)
        : ok("readonly-root", "Read-only root filesystem", `container ${f.container}'s root filesystem is writable`),
    !td
      ? tdUnknown("init-process", "Init process", "linuxParameters.initProcessEnabled")
      : containerDef?.initProcessEnabled
        ? ok("init-process", "Init process", `container ${f.container} has initProcessEnabled`)
        : warn("init-process", "Init process", `container ${f.container} has no init process`, `set linuxParameters.initProcessEnabled to true in ${td.family}, so processes left by exec sessions are reaped`),
    !td
      ? tdUnknown("pid-mode", "PID mode", "pidMode")
      : td.pidMode === "task"
        ? fail("pid-mode", "PID mode", `task definition ${td.family} sets pidMode "task": ECS Exec cannot start its agent then (amazon-ecs-exec-checker#75)`, `remove pidMode from ${td.family} and redeploy`)
        : ok("pid-mode", "PID mode", td.pidMode ? `pidMode ${td.pidMode}` : "pidMode not set"),
    !td
      ? tdUnknown("credential-env", "AWS credentials in the environment", "the containers' environment")
      : extras?.credentialEnv.length
        ? warn("credential-env", "AWS credentials in the environment", `container ${f.container} sets ${extras.credentialEnv.join(", ")}: the exec agent then uses those credentials instead of the task role's`, `remove them from ${td.family} and grant what they gave to the task role`)
        : ok("credential-env", "AWS credentials in the environment", "no AWS_ credential variables in the task definition"),
  ];
  if (f.plugin) results.push(pluginCheck(f.plugin, f.minPluginVersion ?? "1.2.764.0"));
  return results;
}

function clusterChecks(f: ExecFacts): CheckResult[] {
  const c = f.cluster;
  const title = "Cluster exec logging";
  const out: CheckResult[] = [];
  const logging = c.execLogging ?? "DEFAULT";
  if (logging === "NONE") out.push(warn("cluster-logging", title, `cluster ${c.name} logs no exec session (logging NONE)`, "set executeCommandConfiguration.logging to DEFAULT or OVERRIDE if sessions must be audited"));
  else if (logging === "OVERRIDE" && !c.execLogGroup && !c.execS3Bucket) {
    out.push(fail("cluster-logging", title, `cluster ${c.name} has logging OVERRIDE but names no log group or bucket`, `aws ecs update-cluster --cluster ${c.name} --configuration 'executeCommandConfiguration={logging=OVERRIDE,logConfiguration={cloudWatchLogGroupName=<group>}}'`));
  } else if (logging === "DEFAULT") {
    out.push(ok("cluster-logging", title, f.logGroup ? `DEFAULT: sessions go to the container's awslogs group ${f.logGroup.name}` : `DEFAULT, but container ${f.container} has no awslogs driver: session output is not recorded`));
  } else {
    const where = [c.execLogGroup ? `log group ${c.execLogGroup}` : "", c.execS3Bucket ? `bucket ${c.execS3Bucket}` : ""].filter(Boolean).join(" and ");
    out.push(ok("cluster-logging", title, `OVERRIDE: sessions go to ${where}`));
  }
  if (f.logGroup) {
    const t = "Exec log group";
    const e = f.logGroup.exists;
    out.push(isUnknown(e)
      ? unknown("log-group", t, `log group ${f.logGroup.name} could not be looked up (${e.unknown})`, `check that log group ${f.logGroup.name} exists (aws logs describe-log-groups --log-group-name-prefix ${f.logGroup.name})`)
      : e
        ? ok("log-group", t, `log group ${f.logGroup.name} exists`)
        : fail("log-group", t, `log group ${f.logGroup.name} does not exist: the agent cannot record sessions and exec fails`, `aws logs create-log-group --log-group-name ${f.logGroup.name}`));
  }
  if (f.bucket) {
    const t = "Exec log bucket";
    const s = f.bucket.status;
    out.push(isUnknown(s)
      ? unknown("s3-bucket", t, `bucket ${f.bucket.name} could not be looked up (${s.unknown})`, `check that bucket ${f.bucket.name} exists and the task role may write to it`)
      : s === "exists"
        ? ok("s3-bucket", t, `bucket ${f.bucket.name} exists`)
        : s === "forbidden"
          ? unknown("s3-bucket", t, `bucket ${f.bucket.name} exists but the caller may not list it (403)`, `check that it is in this account and the task role may s3:PutObject to it`)
          : fail("s3-bucket", t, `bucket ${f.bucket.name} does not exist`, `create it (aws s3 mb s3://${f.bucket.name}) or fix logConfiguration.s3BucketName of cluster ${f.cluster.name}`));
  }
  return out;
}

function kmsCheck(f: ExecFacts): CheckResult {
  const t = "KMS key (caller)";
  if (!f.kmsProbe) return ok("kms-key", t, `cluster ${f.cluster.name} encrypts sessions with TLS only (no kmsKeyId)`);
  const { keyId, result } = f.kmsProbe;
  if (isUnknown(result)) return unknown("kms-key", t, `kms:GenerateDataKey on ${keyId} could not be tried (${result.unknown})`, `check that the caller may kms:GenerateDataKey on key ${keyId} (IAM policy and key policy)`);
  if (result === "ok") return ok("kms-key", t, `the caller may kms:GenerateDataKey on ${keyId}`);
  const cause = `${result.errorName}: ${result.message}`;
  if (/AccessDenied/.test(result.errorName)) {
    return fail("kms-key", t, `the caller may not use key ${keyId} (${cause})`, `allow kms:GenerateDataKey on ${keyId} for the caller, in its IAM policy and in the key policy`);
  }
  if (/NotFound|Disabled|InvalidState/.test(result.errorName)) {
    return fail("kms-key", t, `key ${keyId} cannot be used (${cause})`, `enable the key or set a usable kmsKeyId in cluster ${f.cluster.name}'s executeCommandConfiguration`);
  }
  return unknown("kms-key", t, `kms:GenerateDataKey on ${keyId} failed (${cause})`, `check that key ${keyId} is enabled and the caller may kms:GenerateDataKey on it`);
}

function execEnabledCheck(f: ExecFacts): CheckResult {
  const t = "Execute command enabled";
  if (f.task.enableExecuteCommand) return ok("exec-enabled", t, `task ${f.task.taskId} was started with enableExecuteCommand`);
  const remedy = f.service
    ? `aws ecs update-service --cluster ${f.cluster.name} --service ${f.service} --enable-execute-command --force-new-deployment, then exec into a new task`
    : `run a new task with --enable-execute-command (it cannot be turned on for a running task)`;
  return fail("exec-enabled", t, `task ${f.task.taskId} was started without enableExecuteCommand`, remedy);
}

function agentCheck(f: ExecFacts): CheckResult {
  const t = "ExecuteCommandAgent";
  const c = f.task.containers.find((x) => x.name === f.container);
  const status = c?.execAgentStatus;
  if (status === "RUNNING") return ok("exec-agent", t, `the agent in container ${f.container} is RUNNING`);
  if (!status) {
    return f.task.enableExecuteCommand
      ? unknown("exec-agent", t, `ECS reports no ExecuteCommandAgent for container ${f.container}`, "check the task in the console (Configuration → Containers → managed agents)")
      : unknown("exec-agent", t, `no agent: execute command is not enabled on task ${f.task.taskId}`, "see \"Execute command enabled\"");
  }
  if (status === "PENDING") return fail("exec-agent", t, `the agent in container ${f.container} is still PENDING`, "wait a few seconds for it to start, then try again");
  return fail("exec-agent", t, `the agent in container ${f.container} is ${status}`, `stop task ${f.task.taskId} so that a new one starts (aws ecs stop-task --cluster ${f.cluster.name} --task ${f.task.taskId}); if the new agent stops too, check the task role's ssmmessages permissions and the network path to ssmmessages`);
}

function platformCheck(task: TaskInfo): CheckResult {
  const t = "Fargate platform version";
  const v = task.platformVersion;
  if (!v) return unknown("platform-version", t, "not a Fargate task (no platform version)", "on EC2, check that the container instance runs ECS agent 1.50.2 or newer");
  if (/^\d+(\.\d+)*$/.test(v) && compareVersions(v, "1.4.0") < 0) return fail("platform-version", t, `platform version ${v} has no ECS Exec`, "run the service on platform version 1.4.0 or LATEST");
  return ok("platform-version", t, `platform version ${v}`);
}

function taskRoleCheck(f: ExecFacts): CheckResult {
  const t = "Task role";
  const td = f.taskDefinition as ExecTaskDefinitionInfo;
  if (!f.taskRole) return fail("task-role", t, `task definition ${td.family}:${td.revision} has no task role: the exec agent has no credentials`, `set taskRoleArn to a role allowing ${SSMMESSAGES_ACTIONS.join(", ")}`);
  const e = f.taskRole.exists;
  if (isUnknown(e)) return unknown("task-role", t, `role ${f.taskRole.arn} could not be looked up (${e.unknown})`, `check that role ${f.taskRole.arn} exists`);
  return e ? ok("task-role", t, `role ${f.taskRole.arn} exists`) : fail("task-role", t, `role ${f.taskRole.arn} does not exist`, `create it or fix taskRoleArn in ${td.family}`);
}

function decisionLine(decisions: Record<string, Decision>, actions: string[]): { denied: string[] } {
  return { denied: actions.filter((a) => decisions[a] !== "allowed") };
}

function taskRoleDecisionChecks(f: ExecFacts): CheckResult[] {
  if (!f.taskRole || isUnknown(f.taskRole.exists) || !f.taskRole.exists || !f.taskRoleDecisions) return [];
  const groups: Array<[string, string, string[]]> = [["task-role-ssmmessages", "Task role: ssmmessages", SSMMESSAGES_ACTIONS]];
  if (f.cluster.execKmsKeyId) groups.push(["task-role-kms", "Task role: KMS", ["kms:Decrypt"]]);
  const logging = taskRoleActions(f.cluster, Boolean(f.logGroup)).filter((a) => a.startsWith("logs:") || a.startsWith("s3:"));
  if (logging.length) groups.push(["task-role-logging", "Task role: session logging", logging]);
  const role = f.taskRole.arn;
  const d = f.taskRoleDecisions;
  return groups.map(([id, title, actions]) => {
    if (isUnknown(d)) return unknown(id, title, `could not simulate role ${role}'s policies (${d.unknown})`, `check that role ${role} allows ${actions.join(", ")}`);
    const { denied } = decisionLine(d, actions);
    return denied.length
      ? fail(id, title, `role ${role} is not allowed ${denied.join(", ")}`, `add ${denied.join(", ")} to role ${role}'s policy`)
      : ok(id, title, `role ${role} allows ${actions.join(", ")}`);
  });
}

function callerChecks(f: ExecFacts): CheckResult[] {
  const t = "Caller: ecs:ExecuteCommand";
  const denied = f.failure?.errorName && /AccessDenied/.test(f.failure.errorName) && /ExecuteCommand/.test(f.failure.message);
  if (denied) return [fail("caller-execute-command", t, `ecs:ExecuteCommand was denied: ${f.failure!.message}`, `allow ecs:ExecuteCommand on ${f.task.taskArn} (and on cluster ${f.cluster.name}) for the caller`)];
  if (!f.caller) return [];
  const who = isUnknown(f.caller) ? "the caller" : f.caller.principalArn;
  const d = isUnknown(f.caller) ? f.caller : f.callerDecisions;
  if (!d || isUnknown(d)) {
    const why = isUnknown(f.caller) ? f.caller.unknown : (d as Unknown | undefined)?.unknown ?? "not simulated";
    return [unknown("caller-execute-command", t, `could not simulate ${who}'s policies (${why})`, `check that ${who} is allowed ecs:ExecuteCommand on ${f.task.taskArn} and is not denied ssm:StartSession on it`)];
  }
  const out: CheckResult[] = [];
  out.push(d["ecs:ExecuteCommand"] === "allowed"
    ? ok("caller-execute-command", t, `${who} may ecs:ExecuteCommand on task ${f.task.taskId}`)
    : fail("caller-execute-command", t, `${who} is not allowed ecs:ExecuteCommand on task ${f.task.taskId} (${d["ecs:ExecuteCommand"]})`, `allow ecs:ExecuteCommand on ${f.task.taskArn} for ${who}`));
  out.push(d["ssm:StartSession"] === "explicitDeny"
    ? fail("caller-start-session", "Caller: ssm:StartSession", `${who} is explicitly denied ssm:StartSession on the task`, `remove the Deny of ssm:StartSession on ${f.task.taskArn} for ${who}`)
    : ok("caller-start-session", "Caller: ssm:StartSession", `${who} is not denied ssm:StartSession on the task`));
  return out;
}

function pluginCheck(plugin: NonNullable<ExecFacts["plugin"]>, min: string): CheckResult {
  const t = "session-manager-plugin";
  if (isUnknown(plugin)) return unknown("plugin", t, `its version could not be read (${plugin.unknown})`, "run session-manager-plugin --version");
  if ("missing" in plugin) return fail("plugin", t, plugin.missing, "install it, or use --client native (no plugin needed)");
  if (compareVersions(plugin.version, min) < 0) return fail("plugin", t, `version ${plugin.version} is older than ${min}`, "update it, or use --client native");
  return ok("plugin", t, `version ${plugin.version}`);
}

const MARK: Record<CheckStatus, string> = { ok: "✓", fail: "✗", unknown: "?", warn: "!" };

/** The report: one line per check, its remedy indented under it. */
export function formatReport(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.title.length));
  const lines = results.flatMap((r) => [
    `  ${MARK[r.status]} ${r.title.padEnd(width)}  ${r.detail}`,
    ...(r.remedy && r.status !== "ok" ? [`    ${" ".repeat(width + 2)}→ ${r.remedy}`] : []),
  ]);
  return lines.join("\n") + "\n";
}

export function summarize(results: CheckResult[], failure?: ExecFacts["failure"]): string {
  const failed = results.filter((r) => r.status === "fail").length;
  const unknowns = results.filter((r) => r.status === "unknown").length;
  if (failed) return `${failed} check(s) failed (✗): fix those first.`;
  if (failure && /TargetNotConnected/.test(failure.errorName ?? failure.message)) {
    return `No check failed, yet Session Manager could not reach the task's agent. Check that the task's subnets reach ssmmessages.<region>.amazonaws.com (a NAT gateway or an ssmmessages VPC endpoint)${unknowns ? ", and the ? lines above" : ""}; a task started seconds ago may need a moment more.`;
  }
  return unknowns ? `No check failed; ${unknowns} could not be determined (?).` : "Every check passed.";
}
