// What the line after a stop that could not be confirmed says of its reason: "for the same reason"
// only when the start and the stop failed on the same AWS call with the same error, whatever the words.
import { describe, expect, it } from "vitest";
import { AwsCallError } from "../../../lib/aws/errors.ts";
import { sameCause } from "../../../lib/portforward/stop.ts";

describe("sameCause", () => {
  const denied = (action: string, object: string) => new AwsCallError(`portforward: ${action} on ${object} was denied.`, action, "AccessDeniedException");

  it("is the same AWS call refused the same way, though the objects in the words differ", () => {
    expect(sameCause(denied("ecs:DescribeTasks", "cluster stg-main"), denied("ecs:DescribeTasks", "task 1 in cluster stg-main"))).toBe(true);
  });

  it("is not another call, another error, or errors that only read alike", () => {
    expect(sameCause(denied("ecs:DescribeTasks", "x"), denied("ecs:StopTask", "x"))).toBe(false);
    expect(
      sameCause(
        denied("ecs:DescribeTasks", "x"),
        new AwsCallError("portforward: ecs:DescribeTasks on x was denied.", "ecs:DescribeTasks", "ThrottlingException"),
      ),
    ).toBe(false);
    expect(sameCause(new Error("Service unavailable"), new Error("Service unavailable"))).toBe(false);
  });
});
