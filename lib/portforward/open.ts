// Opening the forwards on a bastion that was just judged ready: Session Manager may still answer
// TargetNotConnected for a moment (the agent's control channel lags the status), so that one error is
// retried with the readiness backoff until the deadline; anything else fails at once. The local
// listeners are opened first and held for the life of the tunnel: sessions come and go behind them.
import type { AwsClients } from "../aws/clients.ts";
import { awsErrorName } from "../aws/errors.ts";
import type { Logger } from "../log.ts";
import { startPortForward, type ClientChoice, type PortForward } from "../session/index.ts";
import { listenLocal, listenLocalSocket, PortBusyError, type LocalListener } from "../session/listeners.ts";
import { DEFAULT_ADDRESS, type PlannedForward } from "./forwards.ts";
import { clientForAddress } from "./preflight.ts";
import { abortableSleep, pollDelay } from "./readiness.ts";

export interface Ready {
  via: "ecs-exec" | "instance";
  /** `ecs:<cluster>_<taskId>_<runtimeId>` or `mi-…`. */
  target: string;
  /** Until when TargetNotConnected is retried (epoch ms). */
  deadline: number;
}

export interface OpenTunnelOptions {
  clients: Pick<AwsClients, "ssm" | "ecs" | "kms">;
  region: string;
  profile?: string;
  client: ClientChoice;
  ready: Ready;
  forwards: PlannedForward[];
  /** Where the local ports listen (--address); default 127.0.0.1. */
  address?: string;
  /** Sessions per forward (native client); default 1. */
  sessions?: number;
  log: Logger;
  signal?: AbortSignal;
  /** Injected by tests; default lib/session's. */
  start?: typeof startPortForward;
}

export function isTargetNotConnected(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const name = awsErrorName(e);
    if (name === "TargetNotConnected" || name === "TargetNotConnectedException") return true;
  }
  return false;
}

export interface OpenedTunnel {
  forward: PortForward;
  forwards: PlannedForward[];
  /** One per forward, open until the caller closes them (after the last session). */
  listeners: LocalListener[];
}

/** Listens on every forward's local port (127.0.0.1 and [::1] for the default address) or socket; all or none. */
export async function listenForwards(forwards: PlannedForward[], address: string): Promise<LocalListener[]> {
  const listeners: LocalListener[] = [];
  try {
    for (const f of forwards) listeners.push(await (f.socketPath ? listenLocalSocket(f.socketPath) : listenLocal(f.localPort, address)));
    return listeners;
  } catch (error) {
    for (const l of listeners) l.close();
    const flag = forwards[listeners.length]?.flag ?? "--local-port";
    if (error instanceof PortBusyError)
      throw new Error(`${error.message}: another program listens there. Pass ${flag} with a free port, or 0 for any free port.`, { cause: error });
    throw error;
  }
}

export async function openTunnel(options: OpenTunnelOptions): Promise<OpenedTunnel> {
  const address = options.address ?? DEFAULT_ADDRESS;
  const client = clientForAddress(options.client, address);
  const listeners = await listenForwards(options.forwards, address);
  try {
    return { ...(await openSessions(options, client, address, listeners)), listeners };
  } catch (error) {
    for (const l of listeners) l.close();
    throw error;
  }
}

async function openSessions(
  options: OpenTunnelOptions,
  client: ClientChoice,
  address: string,
  listeners: LocalListener[],
): Promise<{ forward: PortForward; forwards: PlannedForward[] }> {
  const start = options.start ?? startPortForward;
  for (let attempt = 0; ; attempt++) {
    let forward: PortForward | undefined;
    try {
      forward = await start({
        clients: options.clients,
        region: options.region,
        profile: options.profile,
        client,
        target: options.ready.target,
        forwards: options.forwards.map((f) => ({ localPort: f.localPort, host: f.host, remotePort: f.remotePort })),
        bindAddress: address,
        listeners,
        sessions: options.sessions,
        log: options.log,
      });
      await forward.ready;
      return { forward, forwards: options.forwards };
    } catch (error) {
      await forward?.stop().catch(() => {});
      if (!isTargetNotConnected(error) || Date.now() >= options.ready.deadline) throw error;
      options.log.debug(`${options.ready.target} is not connected yet; trying again`);
      await abortableSleep(pollDelay(attempt), options.signal);
    }
  }
}
