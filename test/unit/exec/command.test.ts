import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { UsageError } from "../../../lib/cli.ts";
import { assertAllowed, isInteractiveShell, wrapCommand } from "../../../lib/exec/command.ts";

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
    expect(() => assertAllowed("id", [], {})).toThrow('The command "id" is not allowed; nothing was run. Allowed commands (defaults.exec.allow): none (the list is empty). Pass one of them exactly with --command, or ask for it to be added to the list.');
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
  it("survives quotes, $ and backslashes when a shell runs it (as the agent's sh -c does)", async () => {
    const command = `echo "it's \\$HOME"; printf '%s|' a\\ b 'c"d'`;
    const wrapped = wrapCommand(command, { auditId: "feed" });
    const { stdout } = await promisify(execFile)("/bin/sh", ["-c", wrapped]);
    expect(stdout).toBe(`# bastionless exec feed: ${command}\nit's $HOME\na b|c"d|`);
  });
});
