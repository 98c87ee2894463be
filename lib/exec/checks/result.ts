// What every check reads and returns: the facts gathered once (../facts.ts) and one result line.
import type { ClusterInfo, ExecTaskDefinitionInfo, TaskInfo } from "../../aws/ecs.ts";
import type { Decision } from "../../aws/iam.ts";

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
  /** undefined: neither RunTask's override nor the task definition names a task role. */
  taskRole?: { arn: string; exists: Fact<boolean>; override?: boolean };
  taskRoleDecisions?: Fact<Record<string, Decision>>;
  /** The resource each task-role action was simulated on. */
  taskRoleResources?: Record<string, string>;
  caller?: Fact<{ arn: string; principalArn: string }>;
  callerDecisions?: Fact<Record<string, Decision>>;
  /** Checked only with --client plugin. */
  plugin?: Fact<{ version: string } | { missing: string }>;
  minPluginVersion?: string;
  /** How ExecuteCommand or the session failed, when the checks run after a failure. */
  failure?: { errorName?: string; message: string };
}

export const ok = (id: string, title: string, detail: string): CheckResult => ({ id, status: "ok", title, detail });
export const fail = (id: string, title: string, detail: string, remedy: string): CheckResult => ({ id, status: "fail", title, detail, remedy });
export const unknown = (id: string, title: string, detail: string, remedy: string): CheckResult => ({ id, status: "unknown", title, detail, remedy });
export const warn = (id: string, title: string, detail: string, remedy: string): CheckResult => ({ id, status: "warn", title, detail, remedy });

/** The task definition as read, or undefined when it could not be. */
export function readTaskDefinition(f: ExecFacts): ExecTaskDefinitionInfo | undefined {
  return isUnknown(f.taskDefinition) ? undefined : f.taskDefinition;
}

/** "?" for a check of the task definition that could not be read: check `what` by hand. */
export function taskDefinitionUnknown(f: ExecFacts, id: string, title: string, what: string): CheckResult {
  return unknown(
    id,
    title,
    `the task definition could not be read (${(f.taskDefinition as Unknown).unknown})`,
    `check ${what} in ${f.task.taskDefinitionArn ?? "the task definition"}`,
  );
}
