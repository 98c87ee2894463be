import { describe, expect, it } from "vitest";
import { keptLines, reportLeftovers } from "../../../lib/portforward/leftovers.ts";

describe("what was left", () => {
  const scope = { env: "stg", region: "ap-northeast-1", profile: "stg-admin" };
  it("is nothing after a clean stop", () => {
    expect(
      reportLeftovers(
        {
          task: { taskId: "t1", cluster: "stg-main", lastStatus: "STOPPED", stopped: true },
          parameter: { name: "/stg/portforward/instances/t1", present: false },
          instance: { instanceId: "mi-0123456789abcdef0", registered: false },
        },
        scope,
      ),
    ).toEqual({ clean: true, lines: [] });
  });

  it("names each leftover with the command that removes it", () => {
    expect(
      reportLeftovers(
        {
          task: { taskId: "t1", cluster: "stg-main", lastStatus: "STOPPING", stopped: false },
          parameter: { name: "/stg/portforward/instances/t1", present: true },
          instance: { instanceId: "mi-0123456789abcdef0", registered: true },
        },
        scope,
      ).lines,
    ).toEqual([
      "Bastion task t1 is still STOPPING: aws ecs stop-task --cluster stg-main --task t1 --profile stg-admin --region ap-northeast-1",
      "Managed instance mi-0123456789abcdef0 is still registered: aws ssm deregister-managed-instance --instance-id mi-0123456789abcdef0 --profile stg-admin --region ap-northeast-1",
      "Parameter /stg/portforward/instances/t1 is still there: aws ssm delete-parameter --name /stg/portforward/instances/t1 --profile stg-admin --region ap-northeast-1",
      "Or remove every orphan of stg at once: make cleanup ENV=stg ARGS=--yes",
    ]);
    expect(keptLines({ taskId: "t1", cluster: "stg-main" }, { env: "stg" })[1]).toBe("  aws ecs stop-task --cluster stg-main --task t1");
  });
});
