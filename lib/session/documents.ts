// The Session Manager documents a session is started with, and their parameters: what both clients
// (the native one and session-manager-plugin) ask StartSession for.
import { isLoopbackHost } from "../address.ts";
import { DOC_PORT_FORWARD, DOC_PORT_FORWARD_REMOTE } from "../constants.ts";
import type { Forward } from "./types.ts";

/**
 * The StartSession request for one forward. A loopback host means a port on the target itself:
 * that is AWS-StartPortForwardingSession, because agents from 3.3.4851.0 refuse loopback as the
 * remote-host document's host ("Forwarding to IP address 127.0.0.1 is forbidden.").
 */
export function portForwardRequest(target: string, forward: Forward, localPort: number) {
  const parameters: Record<string, string[]> = { portNumber: [String(forward.remotePort)], localPortNumber: [String(localPort)] };
  const remote = forward.host !== undefined && forward.host !== "" && !isLoopbackHost(forward.host);
  if (remote) parameters.host = [forward.host!];
  return { Target: target, DocumentName: remote ? DOC_PORT_FORWARD_REMOTE : DOC_PORT_FORWARD, Parameters: parameters };
}
