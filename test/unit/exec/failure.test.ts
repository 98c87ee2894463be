import { describe, expect, it } from "vitest";
import type { CheckResult } from "../../../lib/exec/checks.ts";
import { describeStartFailure } from "../../../lib/exec/failure.ts";

const ROLE = "arn:aws:iam::123456789012:role/stg-app-task";
const SSMMESSAGES = "ssmmessages:CreateControlChannel, ssmmessages:CreateDataChannel, ssmmessages:OpenControlChannel, ssmmessages:OpenDataChannel";
const NOT_CONNECTED = {
  errorName: "TargetNotConnectedException",
  message:
    "ecs:ExecuteCommand on task arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/5f2e in cluster stg-main failed: TargetNotConnectedException: The execute command failed due to an internal error. Try again later.",
};
const where = { cluster: "stg-main", taskId: "5f2e" };
const ok = (id: string): CheckResult => ({ id, status: "ok", title: id, detail: "fine" });
const ssmmessages: CheckResult = {
  id: "task-role-ssmmessages",
  status: "fail",
  title: "Task role: ssmmessages",
  detail: `role ${ROLE} is not allowed ${SSMMESSAGES}`,
  remedy: `allow ${SSMMESSAGES} in role ${ROLE}'s policy`,
};
const agentStopped: CheckResult = {
  id: "exec-agent",
  status: "fail",
  title: "ExecuteCommandAgent",
  detail: "the agent in container app is STOPPED",
  remedy: "stop task 5f2e so that a new one starts",
};
const logGroup: CheckResult = { id: "log-group", status: "fail", title: "Exec log group", detail: "log group /x does not exist", remedy: "create it" };

describe("the line exec prints when ECS Exec could not start", () => {
  it.each([
    [
      "TargetNotConnected, the task role may not open the channels: names the role, the actions and the policy",
      [ok("task-role"), ssmmessages],
      `ecs:ExecuteCommand on task 5f2e in cluster stg-main failed: the task's SSM agent cannot connect to Session Manager (TargetNotConnectedException): its task role ${ROLE} is not allowed ${SSMMESSAGES}. Allow them in that role's policy (see docker/iam/ecs-exec-task-role.json), then try again.`,
    ],
    [
      "TargetNotConnected, the agent stopped (and the role too): the likelier cause, with its fix",
      [ssmmessages, agentStopped],
      "ecs:ExecuteCommand on task 5f2e in cluster stg-main failed: Session Manager cannot reach the task's agent (TargetNotConnectedException): the agent in container app is STOPPED. Fix: stop task 5f2e so that a new one starts.",
    ],
    ["TargetNotConnected, only an unrelated check failed: AWS's words", [logGroup, ok("task-role-ssmmessages")], NOT_CONNECTED.message],
    ["TargetNotConnected, nothing failed: AWS's words (the summary below points at the network)", [ok("task-role-ssmmessages")], NOT_CONNECTED.message],
  ])("%s", (_name, results, line) => {
    expect(describeStartFailure(NOT_CONNECTED, results, where)).toBe(line);
  });

  it("another failure keeps its own line, whatever the checks found", () => {
    const denied = {
      errorName: "AccessDeniedException",
      message: 'ecs:ExecuteCommand on task 5f2e in cluster stg-main was denied: allow "ecs:ExecuteCommand" …',
    };
    expect(describeStartFailure(denied, [ssmmessages], where)).toBe(denied.message);
  });
});
