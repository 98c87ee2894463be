import { describe, expect, it } from "vitest";
import { instancePathProblem, otherBastionsLine, startedByUser } from "../../../lib/portforward/bastion.ts";

describe("instancePathProblem", () => {
  const bastion = [{ name: "bastion", environment: { BASTION_ENV: "stg", BASTION_IAM_ROLE: "r" } }];
  it("accepts a bastion that registers under --env, by BASTION_ENV or ENV", () => {
    expect(instancePathProblem("stg-bastion", bastion, "stg")).toBeUndefined();
    expect(instancePathProblem("stg-bastion", [{ name: "b", environment: { ENV: "stg" } }], "stg")).toBeUndefined();
  });

  it("names the case difference of --env STG in one line", () => {
    expect(instancePathProblem("stg-bastion", bastion, "STG")).toBe(
      "--via instance with --env STG: task definition stg-bastion registers its instance under env stg (container bastion, BASTION_ENV=stg), at /stg/portforward/instances/…, never /STG/… (env names are case-sensitive): pass --env stg.",
    );
    expect(instancePathProblem("stg-bastion", bastion, "prod")).toBe(
      "--via instance with --env prod: task definition stg-bastion registers its instance under env stg (container bastion, BASTION_ENV=stg), at /stg/portforward/instances/…, never /prod/…: pass --env stg, or a task definition of env prod.",
    );
  });

  it("refuses a task definition whose containers do not run the entrypoint with an env", () => {
    expect(instancePathProblem("stg-app", [{ name: "app", environment: { APP_ENV: "stg" } }, { name: "sidecar" }], "stg")).toBe(
      "--via instance: task definition stg-app does not run the bastionless entrypoint with an env (no container sets BASTION_ENV or ENV in its environment, env files or secrets), so no managed instance will register: pass --via ecs-exec, or a bastion task definition (docker/bastion/) that sets BASTION_ENV=stg (an env baked into the image alone is not seen here: set it in the definition too).",
    );
  });

  it("does not refuse on a guess: an env file or a BASTION_ENV secret may set the env where the definition does not show it", () => {
    expect(instancePathProblem("stg-bastion", [{ name: "bastion", environment: {}, hiddenEnvironment: true }], "stg")).toBeUndefined();
    // A visible env of another name is still refused, whatever else is hidden.
    expect(instancePathProblem("stg-bastion", [{ name: "bastion", environment: { BASTION_ENV: "prod" }, hiddenEnvironment: true }], "stg")).toMatch(
      /^--via instance with --env stg: /,
    );
  });
});

describe("the user's other running bastions", () => {
  const task = (id: string) => ({ taskId: id }) as Parameters<typeof otherBastionsLine>[0][number];
  it("are named before another launch, and beside the one reused", () => {
    expect(otherBastionsLine([], "stg-main", false)).toBeUndefined();
    expect(otherBastionsLine([task("t1")], "stg-main", false)).toBe(
      "You already have 1 bastion task running in stg-main: t1. Attach with --reuse instead of launching another.",
    );
    expect(otherBastionsLine([task("t1"), task("t2")], "stg-main", false)).toBe(
      "You already have 2 bastion tasks running in stg-main: t1, t2. Attach with --reuse instead of launching another.",
    );
    expect(otherBastionsLine([task("t2")], "stg-main", true)).toBe(
      "Also running in stg-main, started by you: 1 bastion task (t2); Ctrl-C here stops only the one reused.",
    );
  });
});

describe("the user in startedBy", () => {
  it("keeps letters, digits, - and _ of the local user", () => {
    expect(startedByUser("jane.doe@corp")).toBe("jane-doe-corp");
    expect(startedByUser("ops")).toBe("ops");
    expect(startedByUser("")).toBe("unknown");
  });
});
