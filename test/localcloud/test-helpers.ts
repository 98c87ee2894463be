// Shared by the local cloud's own tests: SDK config for a cloud, polling, the fake agent.
import { spawn, type ChildProcess } from "node:child_process";
import { AGENT_BIN, type LocalCloud } from "./index.ts";

export { AGENT_BIN };

export function sdkConfig(cloud: LocalCloud, extra: Record<string, unknown> = {}) {
  return {
    endpoint: cloud.endpoint,
    region: cloud.region,
    credentials: { accessKeyId: "localcloud", secretAccessKey: "localcloud" },
    maxAttempts: 1,
    ...extra,
  };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], env: Record<string, string | undefined>, input?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** The fake agent in agent mode (heartbeats) as a child we can kill. */
export function startAgent(env: Record<string, string>): ChildProcess {
  return spawn(AGENT_BIN, [], { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: "ignore" });
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
