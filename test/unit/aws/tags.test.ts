import { describe, expect, it } from "vitest";
import { fromAwsTags, toAwsTags } from "../../../lib/aws/tags.ts";

describe("tags", () => {
  it.each([
    ["SSM and RDS spell them Key, Value", [{ Key: "bastionless:env", Value: "stg" }, { Key: "team" }], { "bastionless:env": "stg", team: "" }],
    ["ECS spells them key, value", [{ key: "bastionless:env", value: "stg" }, { value: "x" }], { "bastionless:env": "stg", "": "x" }],
    ["no list is no tags", undefined, {}],
  ])("reads a tag list as a record: %s", (_, list, record) => {
    expect(fromAwsTags(list)).toEqual(record);
  });

  it("writes a record as SSM's list", () => {
    expect(toAwsTags({ "bastionless:env": "stg", team: "" })).toEqual([
      { Key: "bastionless:env", Value: "stg" },
      { Key: "team", Value: "" },
    ]);
  });
});
