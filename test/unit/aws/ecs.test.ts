// ECS names every program reads the same way: a task ARN's cluster and the ECS Exec target string.
import { describe, expect, it } from "vitest";
import { clusterOfTaskArn, ecsTarget } from "../../../lib/aws/ecs.ts";

describe("clusterOfTaskArn", () => {
  it.each([
    ["arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/5f2e", "stg-main"],
    ["arn:aws-cn:ecs:cn-north-1:123456789012:task/main-stg-eu/abc", "main-stg-eu"],
    ["arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task/app_stg_main/abc", "app_stg_main"],
    ["arn:aws:ecs:ap-northeast-1:123456789012:task/5f2e", undefined],
    ["arn:aws:ecs:ap-northeast-1:123456789012:cluster/stg-main", undefined],
    ["5f2e", undefined],
    ["host:builder-1", undefined],
    [undefined, undefined],
  ])("%s → %s", (arn, cluster) => {
    expect(clusterOfTaskArn(arn)).toBe(cluster);
  });
});

describe("ecsTarget", () => {
  it("is ecs:<cluster>_<taskId>_<runtimeId>", () => {
    expect(ecsTarget({ cluster: "stg-main", taskId: "5f2e" }, "5f2e-1234567890")).toBe("ecs:stg-main_5f2e_5f2e-1234567890");
  });
});
