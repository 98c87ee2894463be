// Opening the forwards on a bastion that was just judged ready: Session Manager may still answer
// TargetNotConnected for a moment (the agent's control channel lags the status), so that one error is
// retried with the readiness backoff until the deadline; anything else fails at once.
import type { AwsClients } from "../aws/clients.ts";
import { awsErrorName } from "../aws/errors.ts";
import type { Logger } from "../log.ts";
import { startPortForward, type ClientChoice, type PortForward } from "../session/index.ts";
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

export async function openTunnel(options: OpenTunnelOptions): Promise<{ forward: PortForward; forwards: PlannedForward[] }> {
  const start = options.start ?? startPortForward;
  const address = options.address ?? DEFAULT_ADDRESS;
  const client = clientForAddress(options.client, address);
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
