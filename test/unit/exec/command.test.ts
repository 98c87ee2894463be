import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { UsageError } from "../../../lib/errors.ts";
import { assertAllowed, assertClusterOfEnv, assertEnvForAllowLists, isInteractiveShell, wrapCommand } from "../../../lib/exec/command.ts";
import type { Config } from "../../../lib/config.ts";

describe("assertAllowed", () => {
  const allow = ["/bin/sh", "rails console"];
  it("lets everything through without a list, and listed commands up to whitespace", () => {
    expect(() => assertAllowed("rm -rf /", undefined, { env: "stg" })).not.toThrow();
    expect(() => assertAllowed("  rails   console ", allow, { env: "stg" })).not.toThrow();
  });
  it("refuses anything else, a listed command with more after it included, showing the list", () => {
    for (const command of ["rails console; rm -rf /", "rails console -e production", "/bin/bash"]) {
      expect(() => assertAllowed(command, allow, { env: "stg", configPath: "/r/bastionless.config.json" })).toThrow(UsageError);
    }
    expect(() => assertAllowed("id", allow, { env: "prod", configPath: "/r/c.json" })).toThrow(
      'The command "id" is not allowed in env prod; nothing was run. Allowed commands (envs.prod.exec.allow in /r/c.json): "/bin/sh", "rails console". Pass one of them exactly with --command, or ask for it to be added to the list.',
    );
    expect(() => assertAllowed("id", [], {})).toThrow(
      'The command "id" is not allowed; nothing was run. Allowed commands (defaults.exec.allow): none (the list is empty). Pass one of them exactly with --command, or ask for it to be added to the list.',
    );
  });
});

describe("assertAllowed compares the raw command", () => {
  const allow = ["sh /app/healthcheck.sh", "rails console --sandbox"];
  it("folds only spaces and tabs: a line break that /bin/sh -c would run as a second line never matches", () => {
    expect(() => assertAllowed("sh\t /app/healthcheck.sh ", allow, { env: "stg" })).not.toThrow();
    expect(() => assertAllowed("sh\n/app/healthcheck.sh", allow, { env: "stg", configPath: "/r/c.json" })).toThrow(
      'The command "sh\\n/app/healthcheck.sh" is not allowed in env stg: it contains a control character (U+000A), which no list entry matches; nothing was run. ' +
        'Allowed commands (envs.stg.exec.allow in /r/c.json): "sh /app/healthcheck.sh", "rails console --sandbox". Pass one of them exactly with --command, or ask for it to be added to the list.',
    );
    for (const command of [
      "sh /app/healthcheck.sh\n",
      "sh\r/app/healthcheck.sh",
      "rails console --sandbox\u001b",
      "sh /app/healthcheck.sh\u0085",
      "rails\u000bconsole --sandbox",
      "rails console",
    ]) {
      expect(() => assertAllowed(command, allow, { env: "stg" }), JSON.stringify(command)).toThrow(UsageError);
    }
  });
});

describe("allow-lists bind their env", () => {
  const config: Config = {
    path: "/r/bastionless.config.json",
    defaults: {},
    envs: { stg: { exec: { allow: ["sh /app/healthcheck.sh"] } }, prod: { cluster: "main-eu", exec: { allow: ["rails console --sandbox"] } }, dev: {} },
  };
  it("without any list, --env is free (and may be left out)", () => {
    expect(assertEnvForAllowLists(undefined, undefined)).toBe(false);
    expect(assertEnvForAllowLists({ ...config, envs: { dev: {} } }, undefined)).toBe(false);
    expect(assertEnvForAllowLists({ ...config, envs: { dev: {} } }, "STG")).toBe(false);
  });
  it("with a list in any env, --env must be one of the config's envs", () => {
    expect(assertEnvForAllowLists(config, "stg")).toBe(true);
    expect(assertEnvForAllowLists(config, "dev")).toBe(true);
    expect(() => assertEnvForAllowLists(config, undefined)).toThrow(
      "Missing --env: /r/bastionless.config.json restricts exec commands per env (exec.allow in prod, stg). Pass --env with one of dev, prod, stg (or set BASTION_ENV); nothing was run.",
    );
    expect(() => assertEnvForAllowLists(config, "STG")).toThrow(
      "--env STG is not an env of /r/bastionless.config.json, which restricts exec commands per env (exec.allow in prod, stg): pass --env with one of dev, prod, stg; nothing was run.",
    );
  });
  it("the cluster must be the env's: its configured cluster or one whose name carries the env", () => {
    expect(() => assertClusterOfEnv("stg-main", "stg", config)).not.toThrow();
    expect(() => assertClusterOfEnv("main-eu", "prod", config)).not.toThrow();
    expect(() => assertClusterOfEnv("prod-main", "stg", config)).toThrow(
      "Cluster prod-main is not env stg's, so env stg's exec rules (/r/bastionless.config.json) cannot apply to it; nothing was run. Pass --env prod for a task of prod-main, or a task of env stg.",
    );
    expect(() => assertClusterOfEnv("main-eu", "stg", config)).toThrow(
      "Cluster main-eu is not env stg's, so env stg's exec rules (/r/bastionless.config.json) cannot apply to it; nothing was run. Pass --env prod for a task of main-eu, or a task of env stg.",
    );
    expect(() => assertClusterOfEnv("shared", "stg", config)).toThrow(
      "Cluster shared is not env stg's, so env stg's exec rules (/r/bastionless.config.json) cannot apply to it; nothing was run. Pass a cluster or task of env stg, or the --env whose cluster it is.",
    );
  });
});

describe("wrapCommand", () => {
  it("sends a bare shell as it is", () => {
    expect(isInteractiveShell("/bin/bash -l")).toBe(true);
    expect(isInteractiveShell("/usr/local/bin/fish", "/usr/local/bin/fish")).toBe(true);
    expect(wrapCommand("/bin/sh", { auditId: "abc" })).toBe("/bin/sh");
    expect(isInteractiveShell("sh -c id")).toBe(false);
  });
  it("wraps anything else so that the transcript starts with the command line", () => {
    expect(wrapCommand("echo hello; id", { auditId: "0123456789ab" })).toBe(
      `/bin/sh -c 'printf '\\''%s\\n'\\'' '\\''# bastionless exec 0123456789ab: echo hello; id'\\''; echo hello; id'`,
    );
  });
  it("escapes control characters in the banner: a run of backspaces cannot draw another command over the one that runs", async () => {
    const command = `echo removing victim-data #${"\b".repeat(20)}ls -la victim-data`;
    const { stdout } = await promisify(execFile)("/bin/sh", ["-c", wrapCommand(command, { auditId: "feed" })]);
    const [banner, output] = stdout.split("\n");
    expect(banner).toBe(`# bastionless exec feed: echo removing victim-data #${"\\b".repeat(20)}ls -la victim-data`);
    // eslint-disable-next-line no-control-regex -- no control character may reach the remote transcript
    expect(banner).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    // The command itself runs as typed.
    expect(output).toBe(`removing victim-data`);
  });

  it("survives quotes, $ and backslashes when a shell runs it (as the agent's sh -c does)", async () => {
    const command = `echo "it's \\$HOME"; printf '%s|' a\\ b 'c"d'`;
    const wrapped = wrapCommand(command, { auditId: "feed" });
    const { stdout } = await promisify(execFile)("/bin/sh", ["-c", wrapped]);
    expect(stdout).toBe(`# bastionless exec feed: ${command}\nit's $HOME\na b|c"d|`);
  });
});
