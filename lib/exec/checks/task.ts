// The task's side: that it runs, was started with execute command, its agent runs, its platform
// version has ECS Exec, and what its task definition sets for the container.
import type { ExecTaskDefinitionInfo, TaskInfo } from "../../aws/ecs.ts";
import { compareVersions } from "../../session/versions.ts";
import { fail, ok, readTaskDefinition, taskDefinitionUnknown, unknown, warn, type CheckResult, type ExecFacts } from "./result.ts";

export function taskRunningCheck(f: ExecFacts): CheckResult {
  if (f.task.lastStatus === "RUNNING") return ok("task-running", "Task status", `task ${f.task.taskId} is RUNNING`);
  return fail("task-running", "Task status", `task ${f.task.taskId} is ${f.task.lastStatus}`, "pick a RUNNING task");
}

export function execEnabledCheck(f: ExecFacts): CheckResult {
  const t = "Execute command enabled";
  if (f.task.enableExecuteCommand) return ok("exec-enabled", t, `task ${f.task.taskId} was started with enableExecuteCommand`);
  const remedy = f.service
    ? `aws ecs update-service --cluster ${f.cluster.name} --service ${f.service} --enable-execute-command --force-new-deployment, then exec into a new task`
    : `run a new task with --enable-execute-command (it cannot be turned on for a running task)`;
  return fail("exec-enabled", t, `task ${f.task.taskId} was started without enableExecuteCommand`, remedy);
}

export function agentCheck(f: ExecFacts): CheckResult {
  const t = "ExecuteCommandAgent";
  const c = f.task.containers.find((x) => x.name === f.container);
  const status = c?.execAgentStatus;
  if (status === "RUNNING") return ok("exec-agent", t, `the agent in container ${f.container} is RUNNING`);
  if (!status) {
    return f.task.enableExecuteCommand
      ? unknown(
          "exec-agent",
          t,
          `ECS reports no ExecuteCommandAgent for container ${f.container}`,
          "check the task in the console (Configuration → Containers → managed agents)",
        )
      : unknown("exec-agent", t, `no agent: execute command is not enabled on task ${f.task.taskId}`, 'see "Execute command enabled"');
  }
  if (status === "PENDING")
    return fail("exec-agent", t, `the agent in container ${f.container} is still PENDING`, "wait a few seconds for it to start, then try again");
  return fail(
    "exec-agent",
    t,
    `the agent in container ${f.container} is ${status}`,
    `stop task ${f.task.taskId} so that a new one starts (aws ecs stop-task --cluster ${f.cluster.name} --task ${f.task.taskId}); if the new agent stops too, check the task role's ssmmessages permissions and the network path to ssmmessages`,
  );
}

export function platformCheck(task: TaskInfo): CheckResult {
  const t = "Fargate platform version";
  const v = task.platformVersion;
  if (!v)
    return unknown(
      "platform-version",
      t,
      "not a Fargate task (no platform version)",
      "on EC2, check that the container instance runs ECS agent 1.50.2 or newer",
    );
  // ECS Exec came with 1.4.0 on Linux; Windows Fargate has had it since its first platform version, 1.0.0.
  const windows = /windows/i.test(task.platformFamily ?? "");
  const min = windows ? "1.0.0" : "1.4.0";
  const family = task.platformFamily ? ` (${task.platformFamily})` : "";
  if (/^\d+(\.\d+)*$/.test(v) && compareVersions(v, min) < 0)
    return fail("platform-version", t, `platform version ${v}${family} has no ECS Exec`, `run the service on platform version ${min} or LATEST`);
  return ok("platform-version", t, `platform version ${v}${family}`);
}

/** What the task definition sets for the container: each check is "?" when it could not be read. */
export function taskDefinitionChecks(f: ExecFacts): CheckResult[] {
  const td = readTaskDefinition(f);
  if (!td) {
    return [
      taskDefinitionUnknown(f, "readonly-root", "Read-only root filesystem", "readonlyRootFilesystem"),
      taskDefinitionUnknown(f, "init-process", "Init process", "linuxParameters.initProcessEnabled"),
      taskDefinitionUnknown(f, "pid-mode", "PID mode", "pidMode"),
      taskDefinitionUnknown(f, "credential-env", "AWS credentials in the environment", "the containers' environment"),
    ];
  }
  return [readonlyRootCheck(td, f.container), initProcessCheck(td, f.container), pidModeCheck(td), credentialEnvCheck(td, f.container)];
}

function readonlyRootCheck(td: ExecTaskDefinitionInfo, container: string): CheckResult {
  const t = "Read-only root filesystem";
  if (!td.containers.find((c) => c.name === container)?.readonlyRootFilesystem)
    return ok("readonly-root", t, `container ${container}'s root filesystem is writable`);
  return fail(
    "readonly-root",
    t,
    `container ${container} has readonlyRootFilesystem true: the exec agent cannot write its files`,
    `set readonlyRootFilesystem to false for ${container} in task definition ${td.family} and redeploy`,
  );
}

function initProcessCheck(td: ExecTaskDefinitionInfo, container: string): CheckResult {
  const t = "Init process";
  if (td.containers.find((c) => c.name === container)?.initProcessEnabled) return ok("init-process", t, `container ${container} has initProcessEnabled`);
  return warn(
    "init-process",
    t,
    `container ${container} has no init process`,
    `set linuxParameters.initProcessEnabled to true in ${td.family}, so processes left by exec sessions are reaped`,
  );
}

function pidModeCheck(td: ExecTaskDefinitionInfo): CheckResult {
  const t = "PID mode";
  if (td.pidMode !== "task") return ok("pid-mode", t, td.pidMode ? `pidMode ${td.pidMode}` : "pidMode not set");
  return warn(
    "pid-mode",
    t,
    `task definition ${td.family} sets pidMode "task": its containers share one PID namespace, and ECS Exec runs one session per PID namespace`,
    `to exec into several of its containers at once, remove pidMode from ${td.family} and redeploy`,
  );
}

function credentialEnvCheck(td: ExecTaskDefinitionInfo, container: string): CheckResult {
  const t = "AWS credentials in the environment";
  const extras = td.containerExtras.find((c) => c.name === container);
  if (!extras?.credentialEnv.length) return ok("credential-env", t, "no AWS_ credential variables in the task definition");
  return warn(
    "credential-env",
    t,
    `container ${container} sets ${extras.credentialEnv.join(", ")}: the exec agent then uses those credentials instead of the task role's`,
    `remove them from ${td.family} and grant what they gave to the task role`,
  );
}
