// The agent's side of the session handshake (docs/session-protocol.md §3; amazon-ssm-agent
// agent/session/datachannel/datachannel.go PerformHandshake): HandshakeRequest, the client's
// HandshakeResponse within 15 s, the KMS challenge when asked for, HandshakeComplete.
import {
  ActionStatus,
  type HandshakeComplete,
  type HandshakeRequest,
  type HandshakeResponse,
  PayloadType,
  type RequestedClientAction,
} from "../../../lib/session/frames.ts";
import type { DataSession } from "./session.ts";

export const HANDSHAKE_TIMEOUT_MS = 15_000;
/**
 * How long after sending HandshakeComplete the agent still treats input as early (handshakeDiscard).
 * In the agent it is the time between its send and setting handshake.complete, a race it lost once
 * in six runs; widened here past a loopback round trip on a loaded machine (16 ms measured) so that
 * a client relying on luck fails every time. The native client waits HANDSHAKE_SETTLE_MS, longer.
 */
export const HANDSHAKE_RACE_MS = 100;

export class HandshakeError extends Error {
  /** channel_closed.Output as the agent words it. */
  get output(): string {
    return `----------ERROR-------\nEncountered error while initiating handshake. ${this.message}`;
  }
}

export interface HandshakeStep {
  /** Runs after a successful HandshakeResponse, before HandshakeComplete (the KMS challenge). */
  afterResponse?: (response: HandshakeResponse) => Promise<void>;
  customerMessage?: string;
}

export async function performHandshake(
  session: DataSession,
  agentVersion: string,
  actions: RequestedClientAction[],
  step: HandshakeStep = {},
): Promise<HandshakeResponse> {
  const startedAt = process.hrtime.bigint();
  const responseFrame = session.expectPayload(PayloadType.HandshakeResponse, HANDSHAKE_TIMEOUT_MS);
  const request: HandshakeRequest = { AgentVersion: agentVersion, RequestedClientActions: actions };
  session.send(PayloadType.HandshakeRequest, Buffer.from(JSON.stringify(request)));
  let response: HandshakeResponse;
  try {
    response = JSON.parse((await responseFrame).payload.toString("utf8")) as HandshakeResponse;
  } catch (err) {
    if (err instanceof SyntaxError) throw new HandshakeError(`HandshakeResponse is not JSON: ${err.message}`);
    throw new HandshakeError("Handshake timed out. Please ensure that you have the latest version of the session manager plugin.");
  }
  for (const action of response.ProcessedClientActions ?? []) {
    if (action.ActionStatus !== ActionStatus.Success) {
      throw new HandshakeError(`${action.ActionType} failed on client with status ${action.ActionStatus} error: ${action.Error}`);
    }
  }
  await step.afterResponse?.(response);
  const complete: HandshakeComplete = {
    HandshakeTimeToComplete: Number(process.hrtime.bigint() - startedAt),
    CustomerMessage: step.customerMessage ?? "",
  };
  session.send(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify(complete)));
  return response;
}
