// IAM: the task role (that it exists and allows what the exec agent calls) and the caller (that it
// may ecs:ExecuteCommand on the task), from iam:SimulatePrincipalPolicy's decisions.
import type { ClusterInfo } from "../../aws/ecs.ts";
import type { Decision } from "../../aws/iam.ts";
import { fail, isUnknown, ok, readTaskDefinition, taskDefinitionUnknown, unknown, type CheckResult, type ExecFacts, type Unknown } from "./result.ts";

export const SSMMESSAGES_ACTIONS = [
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
];
export const LOG_STREAM_ACTIONS = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"];

/** One iam:SimulatePrincipalPolicy call: these actions on this resource, with these condition keys. */
export interface Simulation {
  actions: string[];
  resource: string;
  context?: Record<string, string>;
}

export interface RoleSimulationInput {
  partition: string;
  region: string;
  account: string;
  /** The log group sessions go to (OVERRIDE's, or DEFAULT's awslogs group). */
  logGroup?: string;
  /** The cluster's KMS key as an ARN. */
  keyArn?: string;
  /** The session's KMS encryption context as condition keys (kms:EncryptionContext:aws:ssm:…). */
  kmsContext?: Record<string, string>;
}

/**
 * What the task role is simulated for, each action on the ARN the agent's own call is authorized on
 * (as amazon-ecs-exec-checker does): ssmmessages on "*" (no resource type), kms:Decrypt on the key
 * with the session's encryption context, the log stream actions on the log group, s3:PutObject under
 * the bucket's key prefix and s3:GetEncryptionConfiguration on the bucket when S3 encryption is on.
 */
export function taskRoleSimulations(cluster: ClusterInfo, input: RoleSimulationInput): Simulation[] {
  const { partition, region, account } = input;
  const out: Simulation[] = [{ actions: SSMMESSAGES_ACTIONS, resource: "*" }];
  if (cluster.execKmsKeyId && input.keyArn) out.push({ actions: ["kms:Decrypt"], resource: input.keyArn, context: input.kmsContext });
  if (input.logGroup) {
    out.push({ actions: ["logs:DescribeLogGroups"], resource: "*" });
    out.push({ actions: LOG_STREAM_ACTIONS, resource: `arn:${partition}:logs:${region}:${account}:log-group:${input.logGroup}:*` });
  }
  if (cluster.execLogging === "OVERRIDE" && cluster.execS3Bucket) {
    out.push({ actions: ["s3:PutObject"], resource: `arn:${partition}:s3:::${cluster.execS3Bucket}/${cluster.execS3KeyPrefix ?? ""}*` });
    if (cluster.execS3EncryptionEnabled) out.push({ actions: ["s3:GetEncryptionConfiguration"], resource: `arn:${partition}:s3:::${cluster.execS3Bucket}` });
  }
  return out;
}

/** A kmsKeyId as ECS holds it (key id, alias name, key or alias ARN) as an ARN. */
export function kmsKeyArn(keyId: string, where: { partition: string; region: string; account: string }): string {
  if (keyId.startsWith("arn:")) return keyId;
  const base = `arn:${where.partition}:kms:${where.region}:${where.account}`;
  return keyId.startsWith("alias/") ? `${base}:${keyId}` : `${base}:key/${keyId}`;
}

export function taskRoleCheck(f: ExecFacts): CheckResult {
  const t = "Task role";
  const td = readTaskDefinition(f);
  if (!td) return taskDefinitionUnknown(f, "task-role", t, "taskRoleArn");
  if (!f.taskRole)
    return fail(
      "task-role",
      t,
      `task definition ${td.family}:${td.revision} has no task role: the exec agent has no credentials`,
      `set taskRoleArn to a role allowing ${SSMMESSAGES_ACTIONS.join(", ")}`,
    );
  const e = f.taskRole.exists;
  const role = f.taskRole.override ? `role ${f.taskRole.arn} (RunTask override)` : `role ${f.taskRole.arn}`;
  if (isUnknown(e)) return unknown("task-role", t, `${role} could not be looked up (${e.unknown})`, `check that role ${f.taskRole.arn} exists`);
  const fix = f.taskRole.override ? `run the task with an existing role in overrides.taskRoleArn` : `fix taskRoleArn in ${td.family}`;
  return e ? ok("task-role", t, `${role} exists`) : fail("task-role", t, `${role} does not exist`, `create it or ${fix}`);
}

export function taskRoleDecisionChecks(f: ExecFacts): CheckResult[] {
  if (!f.taskRole || isUnknown(f.taskRole.exists) || !f.taskRole.exists || !f.taskRoleDecisions) return [];
  const d = f.taskRoleDecisions;
  const resources = f.taskRoleResources ?? {};
  const role = f.taskRole.arn;
  const onResources = (actions: string[]) => actionsOnResources(actions, resources);
  return decisionGroups(isUnknown(d) ? Object.keys(resources) : Object.keys(d)).map(([id, title, actions]) => {
    if (isUnknown(d))
      return unknown(id, title, `could not simulate role ${role}'s policies (${d.unknown})`, `check that role ${role} allows ${onResources(actions)}`);
    const denied = actions.filter((a) => d[a] !== "allowed");
    return denied.length
      ? fail(id, title, `role ${role} is not allowed ${onResources(denied)}`, `allow ${onResources(denied)} in role ${role}'s policy`)
      : ok(id, title, `role ${role} allows ${actions.join(", ")}`);
  });
}

/** The task role's simulated actions as checks: ssmmessages always, KMS and session logging when simulated. */
function decisionGroups(simulated: string[]): Array<[string, string, string[]]> {
  const groups: Array<[string, string, string[]]> = [["task-role-ssmmessages", "Task role: ssmmessages", SSMMESSAGES_ACTIONS]];
  const kms = simulated.filter((a) => a.startsWith("kms:"));
  if (kms.length) groups.push(["task-role-kms", "Task role: KMS", kms]);
  const logging = simulated.filter((a) => a.startsWith("logs:") || a.startsWith("s3:"));
  if (logging.length) groups.push(["task-role-logging", "Task role: session logging", logging]);
  return groups;
}

/** "logs:PutLogEvents on arn:…:log-group:/x:*": actions on one resource together, "*" left unsaid. */
function actionsOnResources(actions: string[], resources: Record<string, string>): string {
  const byResource = new Map<string, string[]>();
  for (const a of actions) byResource.set(resources[a] ?? "*", [...(byResource.get(resources[a] ?? "*") ?? []), a]);
  return [...byResource].map(([r, as]) => (r === "*" ? as.join(", ") : `${as.join(", ")} on ${r}`)).join("; ");
}

export function callerChecks(f: ExecFacts): CheckResult[] {
  const t = "Caller: ecs:ExecuteCommand";
  const denied = f.failure?.errorName && /AccessDenied/.test(f.failure.errorName) && /ExecuteCommand/.test(f.failure.message);
  if (denied)
    return [
      fail(
        "caller-execute-command",
        t,
        `ecs:ExecuteCommand was denied: ${f.failure!.message}`,
        `allow ecs:ExecuteCommand on ${f.task.taskArn} (and on cluster ${f.cluster.name}) for the caller`,
      ),
    ];
  if (!f.caller) return [];
  const who = isUnknown(f.caller) ? "the caller" : f.caller.principalArn;
  const d = isUnknown(f.caller) ? f.caller : f.callerDecisions;
  if (!d || isUnknown(d)) {
    const why = isUnknown(f.caller) ? f.caller.unknown : ((d as Unknown | undefined)?.unknown ?? "not simulated");
    return [
      unknown(
        "caller-execute-command",
        t,
        `could not simulate ${who}'s policies (${why})`,
        `check that ${who} is allowed ecs:ExecuteCommand on ${f.task.taskArn} and is not denied ssm:StartSession on it`,
      ),
    ];
  }
  const execute =
    d["ecs:ExecuteCommand"] === "allowed"
      ? ok("caller-execute-command", t, `${who} may ecs:ExecuteCommand on task ${f.task.taskId}`)
      : fail(
          "caller-execute-command",
          t,
          `${who} is not allowed ecs:ExecuteCommand on task ${f.task.taskId} (${d["ecs:ExecuteCommand"]})`,
          `allow ecs:ExecuteCommand on ${f.task.taskArn} for ${who}`,
        );
  return [execute, startSessionNote(who, d["ssm:StartSession"])];
}

/**
 * ECS Exec does not need the caller's ssm:StartSession, and AWS recommends denying it on tasks to
 * exec-only users ("Limiting access to the Start Session action"): every answer is fine for exec.
 */
function startSessionNote(who: string, start: Decision | undefined): CheckResult {
  const t = "Caller: ssm:StartSession";
  if (start === "allowed") return ok("caller-start-session", t, `${who} may also ssm:StartSession on the task (port forwarding uses it; ECS Exec does not)`);
  const answer = start === "explicitDeny" ? "is explicitly denied" : "is not allowed";
  return ok("caller-start-session", t, `${who} ${answer} ssm:StartSession on the task: ECS Exec does not need it; port forwarding through this task would`);
}
