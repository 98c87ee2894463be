import { describe, expect, it } from "vitest";
import { ago, revisionOf, taskChoices, toExecTarget } from "../../../lib/exec/target.ts";
import type { TaskInfo } from "../../../lib/aws/ecs.ts";

const task = (id: string, startedAt: string, rev: number, az?: string): TaskInfo => ({
  taskArn: `arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/${id}`,
  taskId: id,
  clusterArn: "arn:aws:ecs:ap-northeast-1:123456789012:cluster/stg-main",
  cluster: "stg-main",
  lastStatus: "RUNNING",
  desiredStatus: "RUNNING",
  startedAt: new Date(startedAt),
  taskDefinitionArn: `arn:aws:ecs:ap-northeast-1:123456789012:task-definition/stg-app:${rev}`,
  enableExecuteCommand: true,
  availabilityZone: az,
  tags: {},
  containers: [{ name: "app", runtimeId: `${id}-1234567890`, execAgentStatus: "RUNNING" }],
});

describe("target discovery helpers", () => {
  it("labels tasks newest first with id, start, revision and AZ", () => {
    const now = new Date("2026-01-01T12:00:00Z");
    const choices = taskChoices([task("old", "2026-01-01T09:00:00Z", 3, "ap-northeast-1a"), task("new", "2026-01-01T11:59:30Z", 4)], now);
    expect(choices.map((c) => c.label)).toEqual([
      "new  started 2026-01-01T11:59:30Z (30s ago)  stg-app:4  -",
      "old  started 2026-01-01T09:00:00Z (3h ago)  stg-app:3  ap-northeast-1a",
    ]);
    expect(revisionOf(undefined)).toBe("?");
    expect(ago(new Date("2025-12-28T12:00:00Z"), now)).toBe("4d ago");
  });
  it("builds awscli's Session Manager target ecs:<cluster>_<taskId>_<runtimeId>", () => {
    expect(toExecTarget("stg-main", task("5f2e", "2026-01-01T00:00:00Z", 1), "app").ssmTarget).toBe("ecs:stg-main_5f2e_5f2e-1234567890");
  });
});
