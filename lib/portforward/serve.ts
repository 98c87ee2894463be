// The bastion's life as a tunnel: wait until it is really ready, open the forwards, announce them
// (a line each, or one JSON line), and hold them until Ctrl-C, the task stopping, or sessions that
// cannot be reopened.
import type { TaskInfo } from "../aws/ecs.ts";
import { formatDuration } from "../duration.ts";
import { startPortForward, type PortForward } from "../session/index.ts";
import { describeBastion, observeBastion } from "./bastion.ts";
import { formatForwardLine, formatLocalEnd, formatSessionsLine, type PlannedForward } from "./forwards.ts";
import { holdTunnel, type HoldResult } from "./hold.ts";
import { openTunnel, type OpenedTunnel, type Ready } from "./open.ts";
import { createProgress } from "./progress.ts";
import { describeTimeout, WaitAborted, waitUntilReady } from "./readiness.ts";
import type { Run } from "./run.ts";

/** Ready → forwards open → announced → held until closed. */
export async function tunnelThrough(run: Run, task: TaskInfo, forwards: PlannedForward[]): Promise<HoldResult> {
  const ready = await waitForBastion(run, task);
  const tunnel = await openTunnel({
    clients: run.clients,
    region: run.region,
    profile: run.settings.profile,
    client: run.client,
    ready,
    forwards,
    address: run.address,
    sessions: run.settings.sessions,
    log: run.log,
    signal: run.interrupts.startAborted,
  });
  // A Ctrl-C while the session was opening abandons the start all the same: never a tunnel nobody wants.
  if (run.interrupts.startAborted.aborted) {
    await tunnel.forward.stop();
    tunnel.listeners.forEach((l) => l.close());
    throw new WaitAborted("interrupted while the tunnel opened");
  }
  announce(run, task, ready, tunnel);
  return holdUntilClosed(run, task, ready, tunnel);
}

/** Polls (200 ms → 500 ms) until the task is reachable the chosen way; a spinner on a terminal. */
async function waitForBastion(run: Run, task: TaskInfo): Promise<Ready> {
  const { settings, clients, interrupts } = run;
  const progress = createProgress(`Bastion task ${task.taskId}`, process.stderr);
  const result = await waitUntilReady({
    observe: () => observeBastion(clients, task, { env: settings.env, via: settings.via }),
    via: settings.via,
    timeoutMs: settings.timeoutMs,
    signal: interrupts.startAborted,
    onProgress: (status, elapsedMs) => progress.update(status, elapsedMs),
  }).finally(() => progress.clear());
  // The last observation (a whole task) stays out of the state log: its kind, status and time say enough.
  run.file.log.event("readiness", { ...result, last: undefined });
  if (result.kind === "stopped") throw new Error(`Bastion task ${task.taskId} stopped while starting: ${result.message}.`);
  if (result.kind === "timeout") throw new Error(describeTimeout(task, formatDuration(settings.timeoutMs), result));
  progress.done(`Bastion task ${task.taskId} is ready after ${formatDuration(result.elapsedMs)} (${result.via}: ${result.target}).`);
  return { via: result.via, target: result.target, deadline: Date.now() + Math.max(30_000, settings.timeoutMs - result.elapsedMs) };
}

/** One line per forward (stdout), or the one JSON line with --json. */
function announce(run: Run, task: TaskInfo, ready: Ready, tunnel: { forward: PortForward; forwards: PlannedForward[] }): void {
  const { forward, forwards } = tunnel;
  const sessions = forward.sessions();
  run.file.log.event("tunnel_open", { target: ready.target, client: forward.client, ports: forward.ports, sessions });
  if (run.settings.json) {
    const list = forwards.map((f, i) => ({
      ...(f.socketPath ? { localSocket: f.socketPath } : { localAddress: run.address, localPort: forward.ports[i] }),
      host: f.host,
      remotePort: f.remotePort,
      label: f.label,
    }));
    process.stdout.write(
      JSON.stringify({
        event: "ready",
        env: run.settings.env,
        cluster: task.cluster,
        task: task.taskId,
        taskArn: task.taskArn,
        via: ready.via,
        target: ready.target,
        client: forward.client,
        forwards: list,
        sessions,
        log: run.file.path,
      }) + "\n",
    );
    return;
  }
  for (const [i, f] of forwards.entries()) process.stdout.write(formatForwardLine(forward.ports[i], f, ready.target, run.address) + "\n");
  const line = formatSessionsLine(sessions);
  if (line) process.stdout.write(line + "\n");
  process.stdout.write(`Press Ctrl-C to close the tunnel${run.settings.stopAnswer === false ? "" : " and stop the bastion"}. Session log: ${run.file.path}\n`);
}

/** Until Ctrl-C, the task stopping, or sessions that cannot be reopened. */
async function holdUntilClosed(run: Run, task: TaskInfo, ready: Ready, tunnel: OpenedTunnel): Promise<HoldResult> {
  run.interrupts.phase = "open";
  const result = await holdTunnel({
    first: tunnel.forward,
    reopen: (ports) =>
      startPortForward({
        clients: run.clients,
        region: run.region,
        profile: run.settings.profile,
        client: run.client,
        target: ready.target,
        bindAddress: run.address,
        listeners: tunnel.listeners,
        sessions: run.settings.sessions,
        log: run.log,
        forwards: tunnel.forwards.map((f, i) => ({ localPort: ports[i], host: f.host, remotePort: f.remotePort })),
      }),
    closeRequested: run.interrupts.closeRequested,
    describeTask: () => describeBastion(run.clients.ecs, task),
    address: run.address,
    local: tunnel.forwards.map((f, i) => formatLocalEnd(f, tunnel.forward.ports[i], run.address)),
    log: run.log,
  }).finally(() => tunnel.listeners.forEach((l) => l.close()));
  run.file.log.event("tunnel_closed", { ...result });
  return result;
}
