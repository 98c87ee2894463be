// Who the CMD runs as: the rules (Docker's USER syntax over passwd/group), the plan (only a root
// entrypoint switches), and the entrypoint itself spawning a tiny real child that reports its uid.
import { runScript, type RunResult } from "../../support/run.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { appEnv, findAppUserSpec, parseUserSpec, planAppUser, resolveAppUser, type AppIdentity } from "../../../lib/entrypoint/app-user.ts";
import { UsageError } from "../../../lib/errors.ts";
import { parseEntrypointConfig } from "../../../lib/entrypoint/config.ts";

const ROOT = join(import.meta.dirname, "../../..");
const PASSWD = [
  "root:x:0:0:root:/root:/bin/bash",
  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
  "bastion:x:10001:10001::/home/bastion:/bin/bash",
  "app:x:1000:1000::/home/app:/bin/sh",
  "",
].join("\n");
const GROUP = ["root:x:0:", "staff:x:50:", "bastion:x:10001:", "app:x:1000:", ""].join("\n");

describe("parseUserSpec", () => {
  it.each([
    ["app", { user: "app" }],
    ["1000", { user: "1000" }],
    ["app:staff", { user: "app", group: "staff" }],
    ["1000:50", { user: "1000", group: "50" }],
    [" bastion ", { user: "bastion" }],
    ["machine$", { user: "machine$" }],
    ["", undefined],
    ["app:", undefined],
    [":50", undefined],
    ["a b", undefined],
    ["app:staff:x", undefined],
  ])("%j → %j", (spec, expected) => {
    expect(parseUserSpec(spec)).toEqual(expected);
  });
});

describe("resolveAppUser (Docker's USER)", () => {
  it.each<[string, AppIdentity]>([
    ["app", { uid: 1000, gid: 1000, home: "/home/app", name: "app" }],
    ["1000", { uid: 1000, gid: 1000, home: "/home/app", name: "app" }],
    ["app:staff", { uid: 1000, gid: 50, home: "/home/app", name: "app" }],
    ["bastion:7", { uid: 10001, gid: 7, home: "/home/bastion", name: "bastion" }],
    // A uid without an entry: gid 0 and home /, as Docker runs it.
    ["4242", { uid: 4242, gid: 0, home: "/" }],
    ["4242:4242", { uid: 4242, gid: 4242, home: "/" }],
    ["root", { uid: 0, gid: 0, home: "/root", name: "root" }],
  ])("%s", (spec, expected) => {
    expect(resolveAppUser(spec, PASSWD, GROUP)).toEqual(expected);
  });

  it.each([
    ["ghost", 'user "ghost" is not in /etc/passwd'],
    ["app:ghosts", 'group "ghosts" is not in /etc/group'],
    ["a b", '"a b" is not a user: use name, uid, name:group or uid:gid'],
  ])("%s fails: %s", (spec, message) => {
    expect(() => resolveAppUser(spec, PASSWD, GROUP)).toThrow(message);
  });
});

describe("planAppUser", () => {
  const resolve = (spec: string) => resolveAppUser(spec, PASSWD, GROUP);
  const never = () => {
    throw new Error("resolve must not be called");
  };
  it.each([
    [undefined, 0, resolve, { keep: "no app user is set (BASTION_APP_USER or the image's record)" }],
    ["app", 1000, never, { keep: "the entrypoint runs as uid 1000, not root: the app runs as that uid" }],
    ["bastion", 10001, never, { keep: "the entrypoint runs as uid 10001, not root: the app runs as that uid" }],
    ["root", 0, resolve, { keep: "the app user is root" }],
    ["0:0", 0, resolve, { keep: "the app user is root" }],
    ["bastion", 0, resolve, { switch: { uid: 10001, gid: 10001, home: "/home/bastion", name: "bastion" } }],
    ["1000:0", 0, resolve, { switch: { uid: 1000, gid: 0, home: "/home/app", name: "app" } }],
  ])("%s as uid %i", (spec, ownUid, r, expected) => {
    expect(planAppUser(spec, ownUid, r)).toEqual(expected);
  });

  it("an unknown user is not silently root", () => {
    expect(() => planAppUser("ghost", 0, resolve)).toThrow('user "ghost" is not in /etc/passwd');
  });
});

describe("findAppUserSpec and appEnv", () => {
  it("BASTION_APP_USER wins over the image's record, which wins over nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "app-user-"));
    try {
      writeFileSync(join(dir, "app-user"), "1000:1000\n");
      expect(findAppUserSpec("bastion", join(dir, "app-user"))).toBe("bastion");
      expect(findAppUserSpec(undefined, join(dir, "app-user"))).toBe("1000:1000");
      expect(findAppUserSpec(undefined, join(dir, "absent"))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("HOME, USER and LOGNAME become the app user's; the rest stays", () => {
    expect(appEnv({ HOME: "/root", USER: "root", PATH: "/bin", X: "1" }, { uid: 1000, gid: 1000, home: "/home/app", name: "app" })).toEqual({
      HOME: "/home/app",
      USER: "app",
      LOGNAME: "app",
      PATH: "/bin",
      X: "1",
    });
    expect(appEnv({ HOME: "/root", USER: "root" }, { uid: 4242, gid: 0, home: "/" })).toEqual({ HOME: "/", USER: "root" });
  });

  it("BASTION_APP_USER is validated with the rest of the configuration", () => {
    expect(parseEntrypointConfig({ BASTION_DISABLED: "true", BASTION_APP_USER: "nobody" }, ["app"]).appUser).toBe("nobody");
    expect(() => parseEntrypointConfig({ BASTION_DISABLED: "true", BASTION_APP_USER: "a b" }, ["app"])).toThrow(UsageError);
    expect(() => parseEntrypointConfig({ BASTION_DISABLED: "true", BASTION_APP_USER: "a b" }, ["app"])).toThrow("BASTION_APP_USER=a b is not a user");
  });
});

/** The entrypoint (BASTION_DISABLED: no cloud needed) running a child that prints who it is. */
function runEntrypoint(env: NodeJS.ProcessEnv): Promise<RunResult> {
  const report = "console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), home: process.env.HOME }))";
  return runScript("scripts/entrypoint.mts", [process.execPath, "-e", report], { cwd: ROOT, env: { BASTION_DISABLED: "true", ...env } });
}

const events = (stderr: string) =>
  stderr
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("the entrypoint starts the CMD as the app user", () => {
  const root = process.getuid?.() === 0;

  it(
    root
      ? "as root, BASTION_APP_USER=nobody: the child is uid 65534, gid 65534, no extra groups, HOME its own"
      : "not root: the child keeps the entrypoint's uid, and the log says why",
    async () => {
      const { code, stdout, stderr } = await runEntrypoint({ BASTION_APP_USER: "nobody", HOME: "/root" });
      expect(code).toBe(0);
      const started = events(stderr).find((e) => e.event === "app_started")!;
      if (root) {
        expect(JSON.parse(stdout)).toEqual({ uid: 65534, gid: 65534, groups: [65534], home: "/nonexistent" });
        expect(started).toMatchObject({ uid: 65534, gid: 65534, user: "nobody" });
      } else {
        const uid = process.getuid!();
        expect(JSON.parse(stdout)).toMatchObject({ uid, home: "/root" });
        expect(started).toMatchObject({ uid, userKept: `the entrypoint runs as uid ${uid}, not root: the app runs as that uid` });
      }
    },
  );

  it("an unknown BASTION_APP_USER is a usage error (exit 2) and no CMD runs", async () => {
    const { code, stdout, stderr } = await runEntrypoint({ BASTION_APP_USER: "no-such-user-here" });
    if (process.getuid?.() !== 0) {
      // Not root: no switch is possible, so the user is never looked up.
      expect(code).toBe(0);
      return;
    }
    expect(code).toBe(2);
    expect(stdout).toBe("");
    const fatal = events(stderr).find((e) => e.event === "fatal")!;
    expect(fatal.msg).toBe(
      'The app user no-such-user-here (BASTION_APP_USER, else the image\'s /etc/bastionless/app-user) cannot be used: user "no-such-user-here" is not in /etc/passwd; no CMD was started.',
    );
  });
});
