// What every conformance case is given and returns, and the helpers more than one kind of case uses.
import type { LocalCloud } from "../localcloud/index.ts";
import type { ClientContext } from "./clients.ts";
import type { CaseResult } from "./report.ts";

export interface CaseContext extends ClientContext {
  cloud: LocalCloud;
  /** The conformance target service's port on the target (target.ts). */
  servicePort: number;
  /** An Aurora endpoint of the demo world: PostgreSQL seen from the target. */
  dbHost: string;
  /** A bastion task on a cluster whose ECS Exec sessions use a KMS key. */
  kmsTarget: string;
  /** HTTPS_PROXY and AWS_CA_BUNDLE that lead the plugin's KMS calls to the local cloud (kms-proxy.ts). */
  kmsProxyEnv: Record<string, string>;
  /** MiB each of the 8 parallel connections moves each way. */
  mib: number;
}

export type Outcome = Pick<CaseResult, "outcome" | "observed" | "downMBps" | "upMBps">;

export interface Case {
  name: string;
  run(ctx: CaseContext): Promise<Outcome>;
}

/**
 * A person connects a moment after the client says the port is open: the cases wait this long, all but
 * the one that connects at once. AWS's plugin opens its port on HandshakeComplete, and the emulated
 * agent discards input for HANDSHAKE_RACE_MS after sending it (dataplane/README.md, handshakeDiscard).
 */
export const USER_PAUSE_MS = 500;

/** The session this case opened on the target: the newest one not yet terminated. */
export async function liveSession(ctx: CaseContext) {
  const state = await ctx.cloud.state();
  return state.sessions.filter((s) => s.target === ctx.target && s.status !== "Terminated").sort((a, b) => b.startDate.localeCompare(a.startDate))[0];
}

/** Input messages the emulated agent has acked and thrown away as early (handshakeDiscard) since it started. */
export async function discardedSoFar(ctx: CaseContext): Promise<number> {
  const injected = (await (await fetch(`${ctx.cloud.endpoint}/_localcloud/faults/injected`)).json()) as { dataChannel?: { handshakeDiscarded?: number } };
  return injected.dataChannel?.handshakeDiscarded ?? 0;
}
