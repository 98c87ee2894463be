// One local process per simulated container: spawned in its own process group (so SIGKILL takes
// everything it started, like a container's cgroup), output kept for /_localcloud/logs.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import type { ContainerRecord } from "../state.ts";
import { podmanProcessEnv, removeRealContainer, stopRealContainer } from "./podman.ts";

const OUTPUT_CAP = 256 * 1024;

export type ExitListener = (exitCode: number | null, signal: NodeJS.Signals | null, error?: Error) => void;

/** Spawns the container's argv; throws nothing, reports a spawn failure through onExit's error. */
export function startContainerProcess(c: ContainerRecord, onExit: ExitListener): void {
  if (!c.argv?.length || !c.dir) return;
  mkdirSync(c.dir, { recursive: true });
  const [file, ...args] = c.argv;
  const env = c.real ? podmanProcessEnv(c) : c.env;
  const child = spawn(file, args, { cwd: c.dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  c.process = child;
  const keep = (chunk: Buffer) => {
    c.output = (c.output + chunk.toString()).slice(-OUTPUT_CAP);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  let reported = false;
  child.once("error", (err) => {
    if (reported) return;
    reported = true;
    onExit(null, null, err);
  });
  child.once("exit", (code, signal) => {
    if (reported) return;
    reported = true;
    onExit(code, signal);
  });
}

export function isAlive(c: ContainerRecord): boolean {
  return !!c.process && c.process.exitCode === null && c.process.signalCode === null && c.process.pid !== undefined;
}

function signalGroup(c: ContainerRecord, signal: NodeJS.Signals, wholeGroup: boolean): void {
  const pid = c.process?.pid;
  if (!pid) return;
  try {
    process.kill(wholeGroup ? -pid : pid, signal);
  } catch {
    /* already gone */
  }
}

/** SIGKILL to whatever is left in the container's process group (its main process has exited). */
export function killContainerGroup(c: ContainerRecord): void {
  signalGroup(c, "SIGKILL", true);
}

/** `docker stop`: SIGTERM to the main process, SIGKILL to the whole group after stopTimeout. */
export function stopContainerProcess(c: ContainerRecord): void {
  if (!isAlive(c)) return;
  if (c.real) {
    // podman stop does the SIGTERM, the wait and the SIGKILL to the container itself.
    stopRealContainer(c);
    c.process!.once("exit", () => signalGroup(c, "SIGKILL", true));
    return;
  }
  signalGroup(c, "SIGTERM", false);
  const timer = setTimeout(() => signalGroup(c, "SIGKILL", true), c.stopTimeoutMs);
  timer.unref();
  c.process!.once("exit", () => {
    clearTimeout(timer);
    // Whatever the main process left behind in its group goes with it, as with a container.
    signalGroup(c, "SIGKILL", true);
  });
}

/** Cloud shutdown: SIGKILL the group and wait for the main process to be reaped. */
export async function killContainerProcess(c: ContainerRecord): Promise<void> {
  const child = c.process;
  if (!child?.pid) return;
  await removeRealContainer(c);
  signalGroup(c, "SIGKILL", true);
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
}
