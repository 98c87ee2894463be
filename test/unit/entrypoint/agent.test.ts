import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegisterFailed, clearAgentState, parseInstanceId, registerAgent } from "../../../lib/entrypoint/agent.ts";

const ID = "mi-0123456789abcdef0";
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "agent-test-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("parseInstanceId", () => {
  const line = (id: string) => `2024-10-21 18:08:11.1234 INFO Successfully registered the instance with AWS SSM using Managed instance-id: ${id}`;
  it.each([
    ["the registration file", `{"ManagedInstanceID":"${ID}","Region":"eu-west-1"}`, "", ID],
    ["the file over stdout", `{"ManagedInstanceID":"${ID}","Region":"eu-west-1"}`, line("mi-ffffffffffffffff1"), ID],
    ["stdout when there is no file", undefined, `Error occurred fetching the seelog config file path\n${line(ID)}`, ID],
    ["stdout when the file is garbage", "{not json", line(ID), ID],
    ["stdout when the file's id is malformed", '{"ManagedInstanceID":"i-123"}', line(ID), ID],
  ])("from %s", (_name, file, stdout, expected) => {
    expect(parseInstanceId(file, stdout)).toBe(expected);
  });

  it("rejects an id that is not mi- + 17 hex characters", () => {
    expect(() => parseInstanceId(undefined, line("mi-0123456789ABCDEF0"))).toThrow(/not mi- followed by 17 hex characters/);
    expect(() => parseInstanceId(undefined, line("mi-0123"))).toThrow(RegisterFailed);
  });

  it("fails when neither source has an id", () => {
    expect(() => parseInstanceId(undefined, "INFO nothing here", "/var/lib/amazon/ssm/registration")).toThrow(
      "The agent reported success, but its registration file is absent and its output names none. Is SSM_REGISTRATION_FILE (/var/lib/amazon/ssm/registration) where this agent writes its registration?",
    );
    expect(() => parseInstanceId('{"ManagedInstanceID":', "INFO nothing here")).toThrow(
      "The agent reported success, but its registration file holds no managed instance id and its output names none.",
    );
  });
});

describe("clearAgentState", () => {
  it("removes the stale ipc sockets and the old registration file in the agent's data dir, and says so", async () => {
    const dir = join(tempDir(), "var/lib/amazon/ssm");
    mkdirSync(join(dir, "ipc"), { recursive: true });
    writeFileSync(join(dir, "ipc", "health"), "");
    writeFileSync(join(dir, "registration"), `{"ManagedInstanceID":"${ID}"}`);
    expect(await clearAgentState(join(dir, "registration"))).toEqual([join(dir, "ipc"), join(dir, "registration")]);
    expect(existsSync(join(dir, "ipc"))).toBe(false);
    expect(existsSync(join(dir, "registration"))).toBe(false);
    expect(await clearAgentState(join(dir, "registration"))).toEqual([]);
  });

  it("refuses a directory named as the registration file and removes nothing, not it and not <dir>/../ipc", async () => {
    const data = tempDir();
    mkdirSync(join(data, "uploads"));
    writeFileSync(join(data, "uploads", "customer.db"), "rows");
    mkdirSync(join(data, "ipc"));
    writeFileSync(join(data, "ipc", "queue"), "jobs");
    await expect(clearAgentState(join(data, "uploads"))).rejects.toThrow(
      `Could not clear the stale agent state: SSM_REGISTRATION_FILE ${join(data, "uploads")} is a directory, not the agent's registration file, so nothing was removed. Point SSM_REGISTRATION_FILE at the agent's registration file (default /var/lib/amazon/ssm/registration).`,
    );
    expect(readFileSync(join(data, "uploads", "customer.db"), "utf8")).toBe("rows");
    expect(readFileSync(join(data, "ipc", "queue"), "utf8")).toBe("jobs");
  });

  it("outside the agent's data dir removes the registration file only, never an ipc directory beside it", async () => {
    const data = tempDir();
    mkdirSync(join(data, "ipc"));
    writeFileSync(join(data, "ipc", "queue"), "jobs");
    writeFileSync(join(data, "registration"), `{"ManagedInstanceID":"${ID}"}`);
    expect(await clearAgentState(join(data, "registration"))).toEqual([join(data, "registration")]);
    expect(readFileSync(join(data, "ipc", "queue"), "utf8")).toBe("jobs");
  });

  it("a symlink in place of the registration file or of the ipc directory is refused, its target untouched", async () => {
    const root = tempDir();
    const dir = join(root, "var/lib/amazon/ssm");
    mkdirSync(dir, { recursive: true });
    mkdirSync(join(root, "precious"));
    writeFileSync(join(root, "precious", "keep"), "x");
    symlinkSync(join(root, "precious"), join(dir, "ipc"));
    writeFileSync(join(dir, "registration"), "{}");
    await expect(clearAgentState(join(dir, "registration"))).rejects.toThrow(
      `Could not clear the stale agent state: ${join(dir, "ipc")} is a symbolic link, not the agent's ipc directory, so nothing was removed. Remove it, or point SSM_REGISTRATION_FILE at the agent's registration file.`,
    );
    expect(existsSync(join(dir, "registration"))).toBe(true);
    symlinkSync(join(root, "precious", "keep"), join(root, "registration"));
    await expect(clearAgentState(join(root, "registration"))).rejects.toThrow(
      `SSM_REGISTRATION_FILE ${join(root, "registration")} is a symbolic link, not the agent's registration file`,
    );
    expect(readFileSync(join(root, "precious", "keep"), "utf8")).toBe("x");
  });
});

describe("registerAgent", () => {
  function fakeAgent(dir: string, body: string): string {
    const path = join(dir, "amazon-ssm-agent");
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }
  const options = (agentBin: string, dir: string) => ({
    agentBin,
    activationId: "3b1c2d4e-0000-4000-8000-000000000001",
    activationCode: "SECRETCODE0123456789",
    region: "eu-west-1",
    registrationFile: join(dir, "registration"),
  });

  it("passes -register -code -id -region -y and reads the file the agent wrote", async () => {
    const dir = tempDir();
    const agent = fakeAgent(
      dir,
      `echo "$@" > ${dir}/argv\nprintf '{"ManagedInstanceID":"${ID}","Region":"eu-west-1"}' > ${dir}/registration\necho "INFO Successfully registered the instance with AWS SSM using Managed instance-id: ${ID}"`,
    );
    const lines: string[] = [];
    expect(await registerAgent({ ...options(agent, dir), onLine: (_s, l) => lines.push(l) })).toBe(ID);
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(join(dir, "argv"), "utf8").trim()).toBe(
      "-register -code SECRETCODE0123456789 -id 3b1c2d4e-0000-4000-8000-000000000001 -region eu-west-1 -y",
    );
    expect(lines).toEqual([`INFO Successfully registered the instance with AWS SSM using Managed instance-id: ${ID}`]);
  });

  it("a failed registration carries the agent's reason", async () => {
    const dir = tempDir();
    const agent = fakeAgent(dir, `echo "2024-10-21 18:08:11.1234 ERROR Registration failed due to InvalidActivation: expired"; exit 1`);
    await expect(registerAgent(options(agent, dir))).rejects.toThrow(/exited 1: InvalidActivation: expired/);
  });

  it("a missing agent binary says what to install", async () => {
    const dir = tempDir();
    await expect(registerAgent(options(join(dir, "nope"), dir))).rejects.toThrow(/Could not run the SSM agent .*ENOENT.*Is amazon-ssm-agent installed/);
  });
});
