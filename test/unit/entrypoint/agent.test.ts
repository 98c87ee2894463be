import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
    expect(() => parseInstanceId('{"ManagedInstanceID":', "INFO nothing here")).toThrow("The agent reported success, but its registration file holds no managed instance id and its output names none.");
  });
});

describe("clearAgentState", () => {
  it("removes the stale ipc sockets and the old registration file, and says so", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "ipc"));
    writeFileSync(join(dir, "ipc", "health"), "");
    writeFileSync(join(dir, "registration"), `{"ManagedInstanceID":"${ID}"}`);
    expect(await clearAgentState(join(dir, "registration"))).toEqual([join(dir, "ipc"), join(dir, "registration")]);
    expect(existsSync(join(dir, "ipc"))).toBe(false);
    expect(existsSync(join(dir, "registration"))).toBe(false);
    expect(await clearAgentState(join(dir, "registration"))).toEqual([]);
  });
});

describe("registerAgent", () => {
  function fakeAgent(dir: string, body: string): string {
    const path = join(dir, "amazon-ssm-agent");
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }
  const options = (agentBin: string, dir: string) => ({ agentBin, activationId: "3b1c2d4e-0000-4000-8000-000000000001", activationCode: "SECRETCODE0123456789", region: "eu-west-1", registrationFile: join(dir, "registration") });

  it("passes -register -code -id -region -y and reads the file the agent wrote", async () => {
    const dir = tempDir();
    const agent = fakeAgent(dir, `echo "$@" > ${dir}/argv\nprintf '{"ManagedInstanceID":"${ID}","Region":"eu-west-1"}' > ${dir}/registration\necho "INFO Successfully registered the instance with AWS SSM using Managed instance-id: ${ID}"`);
    const lines: string[] = [];
    expect(await registerAgent({ ...options(agent, dir), onLine: (_s, l) => lines.push(l) })).toBe(ID);
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(join(dir, "argv"), "utf8").trim()).toBe("-register -code SECRETCODE0123456789 -id 3b1c2d4e-0000-4000-8000-000000000001 -region eu-west-1 -y");
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
