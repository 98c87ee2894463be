// The one line exec prints when ECS Exec could not start. AWS's TargetNotConnectedException says
// "The execute command failed due to an internal error. Try again later." whatever kept the task's
// agent from Session Manager — most often a task role without the ssmmessages permissions — and
// trying again changes nothing. The pre-flight checks run after the failure usually know which it
// was; the line says that, the report below it says the rest.
import type { CheckResult, ExecFacts } from "./checks/result.ts";

/** The checks whose failure keeps the agent from Session Manager, the likeliest first. */
const AGENT_CAUSES = ["task-running", "exec-enabled", "exec-agent", "platform-version", "task-role", "task-role-ssmmessages"];

/** ExecuteCommand (or the session) failed with TargetNotConnected: the agent is unreachable. */
export function isNotConnectedFailure(failure: NonNullable<ExecFacts["failure"]>): boolean {
  return /TargetNotConnected/.test(failure.errorName ?? failure.message);
}

/** AWS's explained message, unless it is TargetNotConnected and a failed check says why: then that, with its fix. */
export function describeStartFailure(failure: NonNullable<ExecFacts["failure"]>, results: CheckResult[], target: { cluster: string; taskId: string }): string {
  if (!isNotConnectedFailure(failure)) return failure.message;
  const failed = results.filter((r) => r.status === "fail");
  const cause = AGENT_CAUSES.map((id) => failed.find((r) => r.id === id)).find(Boolean);
  if (!cause) return failure.message;
  const what = `ecs:ExecuteCommand on task ${target.taskId} in cluster ${target.cluster} failed`;
  if (cause.id === "task-role-ssmmessages") {
    return `${what}: the task's SSM agent cannot connect to Session Manager (TargetNotConnectedException): its task ${cause.detail}. Allow them in that role's policy (see docker/iam/ecs-exec-task-role.json), then try again.`;
  }
  return `${what}: Session Manager cannot reach the task's agent (TargetNotConnectedException): ${cause.detail}.${cause.remedy ? ` Fix: ${cause.remedy}.` : ""}`;
}
