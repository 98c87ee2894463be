// Where every program keeps its state, and who it says the local user is: one answer for all.
import { describe, expect, it } from "vitest";
import { localUser, stateDir } from "../../lib/local.ts";

describe("stateDir", () => {
  it.each([
    [{ XDG_STATE_HOME: "/x/state" }, "/home/u", "/x/state/bastionless"],
    [{ XDG_STATE_HOME: "relative" }, "/home/u", "/home/u/.local/state/bastionless"],
    [{ XDG_STATE_HOME: "" }, "/home/u", "/home/u/.local/state/bastionless"],
    [{}, "/home/u", "/home/u/.local/state/bastionless"],
  ])("%o with home %s → %s", (env, home, dir) => {
    expect(stateDir(env, home)).toBe(dir);
  });
  it("takes the home from $HOME by default", () => {
    expect(stateDir({ HOME: "/home/v" })).toBe("/home/v/.local/state/bastionless");
  });
});

describe("localUser", () => {
  it("takes $USER, $LOGNAME, $USERNAME, then the OS account", () => {
    expect(localUser({ USER: "jane.doe", LOGNAME: "x" }, () => "ops")).toBe("jane.doe");
    expect(localUser({}, () => "ops")).toBe("ops");
    const none = () => {
      throw new Error("no passwd entry");
    };
    expect(localUser({ LOGNAME: "lg" }, none)).toBe("lg");
    expect(localUser({ USERNAME: "un" }, none)).toBe("un");
    expect(localUser({}, none)).toBe("unknown");
  });
});
