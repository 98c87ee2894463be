import { describe, expect, it } from "vitest";
import type { TaskInfo } from "../../../lib/aws/ecs.ts";
import { exitCodeOf } from "../../../lib/cli.ts";
import {
  describeStop,
  describeTimeout,
  judgeBastion,
  pollDelay,
  waitUntilReady,
  WaitAborted,
  type BastionObservation,
} from "../../../lib/portforward/readiness.ts";

function task(over: Partial<TaskInfo> = {}, agent?: string): TaskInfo {
  return {
    taskArn: "arn:aws:ecs:ap-northeast-1:1:task/stg-main/abc",
    taskId: "abc",
    clusterArn: "arn:c/stg-main",
    cluster: "stg-main",
    lastStatus: "PROVISIONING",
    desiredStatus: "RUNNING",
    enableExecuteCommand: true,
    tags: {},
    containers: [{ name: "bastion", runtimeId: "abc-123", ...(agent ? { execAgentStatus: agent } : {}) }],
    ...over,
  };
}

describe("pollDelay", () => {
  it("starts at 200 ms, grows ×1.5 and stays at 500 ms", () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => pollDelay(a))).toEqual([200, 300, 450, 500, 500, 500]);
  });
});

describe("judgeBastion", () => {
  const running = task({ lastStatus: "RUNNING" }, "RUNNING");
  it.each<[string, BastionObservation, "auto" | "ecs-exec" | "instance", unknown]>([
    ["provisioning", { task: task() }, "auto", { kind: "waiting", status: "PROVISIONING" }],
    ["ecs-exec ready when the agent runs", { task: running }, "ecs-exec", { kind: "ready", via: "ecs-exec", target: "ecs:stg-main_abc_abc-123" }],
    [
      "auto prefers ECS Exec",
      { task: running, instanceId: "mi-0123456789abcdef0", pingStatus: "Online" },
      "auto",
      { kind: "ready", via: "ecs-exec", target: "ecs:stg-main_abc_abc-123" },
    ],
    [
      "ecs-exec waits for the agent",
      { task: task({ lastStatus: "RUNNING" }, "PENDING") },
      "ecs-exec",
      { kind: "waiting", status: "RUNNING, waiting for the ExecuteCommandAgent" },
    ],
    ["instance waits for the parameter", { task: running }, "instance", { kind: "waiting", status: "RUNNING, waiting for its managed instance to register" }],
    [
      "instance waits for Online",
      { task: running, instanceId: "mi-0123456789abcdef0", pingStatus: "ConnectionLost" },
      "instance",
      { kind: "waiting", status: "RUNNING, waiting for mi-0123456789abcdef0 to be Online (ConnectionLost)" },
    ],
    [
      "instance ready",
      { task: running, instanceId: "mi-0123456789abcdef0", pingStatus: "Online" },
      "instance",
      { kind: "ready", via: "instance", target: "mi-0123456789abcdef0" },
    ],
    [
      "auto falls back to the instance without an exec agent",
      { task: task({ lastStatus: "RUNNING" }), instanceId: "mi-0123456789abcdef0", pingStatus: "Online" },
      "auto",
      { kind: "ready", via: "instance", target: "mi-0123456789abcdef0" },
    ],
    [
      "stopped",
      {
        task: task({
          lastStatus: "STOPPED",
          desiredStatus: "STOPPED",
          stopCode: "TaskFailedToStart",
          stoppedReason: "CannotPullContainerError: x",
          containers: [{ name: "bastion", reason: "CannotPullContainerError: x" }],
        }),
      },
      "auto",
      { kind: "stopped", message: "TaskFailedToStart: CannotPullContainerError: x" },
    ],
    ["missing", {}, "auto", { kind: "stopped", message: "ECS no longer knows the task (MISSING)" }],
  ])("%s", (_name, observation, via, expected) => {
    expect(judgeBastion(observation, via)).toEqual(expected);
  });

  it("describeStop adds a container's own reason and exit code", () => {
    expect(
      describeStop(
        task({
          lastStatus: "STOPPED",
          stopCode: "EssentialContainerExited",
          stoppedReason: "Essential container in task exited",
          containers: [{ name: "bastion", exitCode: 1 }],
        }),
      ),
    ).toBe("EssentialContainerExited: Essential container in task exited (container bastion: exit code 1)");
  });
});

describe("waitUntilReady with a fake clock", () => {
  function fakeClock() {
    let now = 0;
    const sleeps: number[] = [];
    return { now: () => now, sleep: async (ms: number) => void (sleeps.push(ms), (now += ms)), sleeps, advance: (ms: number) => (now += ms) };
  }

  it("polls with the backoff and returns at the first ready observation, no fixed sleep", async () => {
    const clock = fakeClock();
    // RUNNING (and the agent) from t = 4000 ms.
    const observe = async () =>
      clock.now() >= 4000
        ? { task: task({ lastStatus: "RUNNING" }, "RUNNING") }
        : { task: task({ lastStatus: clock.now() >= 2000 ? "PENDING" : "PROVISIONING" }) };
    const progress: string[] = [];
    const result = await waitUntilReady({
      observe,
      via: "auto",
      timeoutMs: 300_000,
      now: clock.now,
      sleep: clock.sleep,
      onProgress: (s, t) => progress.push(`${t} ${s}`),
    });
    expect(clock.sleeps).toEqual([200, 300, 450, 500, 500, 500, 500, 500, 500, 500]);
    expect(result).toEqual({ kind: "ready", via: "ecs-exec", target: "ecs:stg-main_abc_abc-123", elapsedMs: 4450, polls: 11 });
    // Ready at most one 500 ms pause after the task became reachable.
    expect(result.elapsedMs - 4000).toBeLessThanOrEqual(500);
    expect(progress[0]).toBe("0 PROVISIONING");
    expect(progress.at(-1)).toBe("3950 PENDING");
  });

  it("times out with the last status seen, never sleeping past the deadline", async () => {
    const clock = fakeClock();
    const result = await waitUntilReady({
      observe: async () => ({ task: task({ lastStatus: "PENDING" }) }),
      via: "ecs-exec",
      timeoutMs: 1000,
      now: clock.now,
      sleep: clock.sleep,
    });
    expect(clock.sleeps).toEqual([200, 300, 450, 50]);
    expect(result).toEqual({ kind: "timeout", lastStatus: "PENDING", elapsedMs: 1000, last: { task: task({ lastStatus: "PENDING" }) } });
  });

  it("reports a stop with its reason", async () => {
    const clock = fakeClock();
    const stopped = task({
      lastStatus: "STOPPED",
      desiredStatus: "STOPPED",
      stopCode: "EssentialContainerExited",
      stoppedReason: "Essential container in task exited",
    });
    const result = await waitUntilReady({ observe: async () => ({ task: stopped }), via: "auto", timeoutMs: 1000, now: clock.now, sleep: clock.sleep });
    expect(result).toEqual({ kind: "stopped", message: "EssentialContainerExited: Essential container in task exited", elapsedMs: 0 });
  });

  it("an aborted signal ends the wait with a WaitAborted (exit 130)", async () => {
    const clock = fakeClock();
    const controller = new AbortController();
    controller.abort();
    const error = await waitUntilReady({
      observe: async () => ({ task: task() }),
      via: "auto",
      timeoutMs: 1000,
      now: clock.now,
      sleep: clock.sleep,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect([error instanceof WaitAborted, exitCodeOf(error)]).toEqual([true, 130]);
  });
});

describe("describeTimeout", () => {
  const running = task({ lastStatus: "RUNNING" });
  const slow =
    "Bastion task abc was not ready within 15s (last seen: PENDING): raise --timeout, or see why it starts slowly with aws ecs describe-tasks --cluster stg-main --tasks abc.";
  it.each<[string, BastionObservation | undefined, string, string]>([
    ["still starting: raise --timeout", { task: task({ lastStatus: "PENDING" }) }, "PENDING", slow],
    [
      "registered, never Online: the agent cannot report itself, and the role that must allow it",
      { task: running, instanceId: "mi-0123456789abcdef0", pingStatus: "ConnectionLost", iamRole: "bastionless-stg-ssm-instance" },
      "RUNNING, waiting for mi-0123456789abcdef0 to be Online (ConnectionLost)",
      "Bastion task abc was not ready within 15s: its managed instance mi-0123456789abcdef0 registered but stayed ConnectionLost, so its SSM agent cannot report itself (ssm:UpdateInstanceInformation). Allow ssm:UpdateInstanceInformation in role bastionless-stg-ssm-instance's policy (see docker/iam/ssm-instance-role.json), and check that the task reaches ssm.<region>.amazonaws.com.",
    ],
    [
      "registered, role not listed",
      { task: running, instanceId: "mi-0123456789abcdef0", pingStatus: "ConnectionLost" },
      "x",
      "Bastion task abc was not ready within 15s: its managed instance mi-0123456789abcdef0 registered but stayed ConnectionLost, so its SSM agent cannot report itself (ssm:UpdateInstanceInformation). Allow ssm:UpdateInstanceInformation in the activation's role's policy (see docker/iam/ssm-instance-role.json), and check that the task reaches ssm.<region>.amazonaws.com.",
    ],
    ["no observation kept", undefined, "PENDING", slow],
  ])("%s", (_name, last, lastStatus, line) => {
    expect(describeTimeout({ taskId: "abc", cluster: "stg-main" }, "15s", { lastStatus, last })).toBe(line);
  });
});
