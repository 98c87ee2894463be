// The Session Manager data plane of the local cloud: MGS (the WebSocket behind StreamUrl) and the
// agent in one process. Protocol facts: ../../../docs/session-protocol.md; what we
// follow and where we differ: ./README.md.
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { findAgentVersion, isTargetRefused, strictRules } from "./faults.ts";
import { DEFAULT_AGENT_VERSION, PortAgent } from "./port.ts";
import { DataSession, type Agent } from "./session.ts";
import { ShellAgent } from "./shell.ts";
import type { DataChannelFaults, DataChannelTally, DataPlane, DataPlaneOptions, SessionSpec } from "./types.ts";

export type { DataChannelFaults, DataPlane, DataPlaneOptions, SessionSpec, SessionState } from "./types.ts";
export { isTargetRefused, strictRules, UNPACED } from "./faults.ts";
export { MGS_MESSAGES_PER_SECOND } from "./mgs.ts";

const PATH_PREFIX = "/v1/data-channel/";
const OPEN_TIMEOUT_MS = 10_000;

/** Thrown by openSession for a target listed in faults.refuseTargets; the gateway maps it to the SSM error. */
export class TargetNotConnectedError extends Error {
  override readonly name = "TargetNotConnected";
}

interface OpenDataChannelInput {
  MessageSchemaVersion?: string;
  RequestId?: string;
  TokenValue?: string;
  ClientId?: string;
  ClientVersion?: string;
}

export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  const sessions = new Map<string, DataSession>();
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  let faults: DataChannelFaults = opts.faults ?? {};
  const tally: DataChannelTally = {
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    closed: 0,
    rateLimited: 0,
    handshakeDiscarded: 0,
    agentDuplicates: 0,
    deniedHosts: 0,
    newStreamUrls: 0,
  };
  /** Each session's current cell: StreamUrls with another (an earlier one) are refused. */
  const cells = new Map<string, string>();

  const newCell = () => randomBytes(8).toString("hex");
  const issue = (sessionId: string, cell: string) => ({
    streamUrl: `${opts.publicUrl.replace(/\/$/, "")}${PATH_PREFIX}${encodeURIComponent(sessionId)}?role=publish_subscribe&cell-number=${cell}`,
    tokenValue: randomBytes(32).toString("base64url"),
  });

  const makeAgent = (session: DataSession): Agent =>
    session.spec.kind === "port" ? new PortAgent(session, session.spec) : new ShellAgent(session, session.spec);

  const onEnd = (session: DataSession, end: { reason: string }) => opts.onSessionEnded?.(session.sessionId, end.reason);

  function accept(ws: WebSocket, session: DataSession, socket: Duplex): void {
    sockets.add(ws);
    ws.on("close", () => sockets.delete(ws));
    ws.on("error", () => {});
    const timer = setTimeout(() => ws.close(1008, "No OpenDataChannelInput"), OPEN_TIMEOUT_MS);
    // The first message is the text OpenDataChannelInput (§2.1); its TokenValue must be the latest issued.
    ws.once("message", (data, isBinary) => {
      clearTimeout(timer);
      let input: OpenDataChannelInput;
      try {
        input = isBinary ? {} : (JSON.parse(data.toString()) as OpenDataChannelInput);
      } catch {
        input = {};
      }
      if (input.TokenValue !== session.token) return ws.close(1008, "Invalid token");
      session.attach(ws, input.ClientVersion, socket);
    });
  }

  return {
    openSession(spec: SessionSpec) {
      const existing = sessions.get(spec.sessionId);
      if (existing && existing.status !== "Terminated") {
        throw new Error(`Session ${spec.sessionId} is already open`);
      }
      if (isTargetRefused(faults, spec.target)) throw new TargetNotConnectedError(`${spec.target} is not connected.`);
      const cell = newCell();
      cells.set(spec.sessionId, cell);
      const issued = issue(spec.sessionId, cell);
      const agentVersion = spec.agentVersion ?? findAgentVersion(faults, spec.target) ?? opts.agentVersion ?? DEFAULT_AGENT_VERSION;
      sessions.set(spec.sessionId, new DataSession({ ...spec, agentVersion }, issued.tokenValue, opts, () => faults, makeAgent, onEnd, tally));
      return issued;
    },

    resumeSession(sessionId) {
      const session = sessions.get(sessionId);
      if (!session || session.status === "Terminated") return undefined;
      // AWS may answer ResumeSession with another StreamUrl (session-manager-plugin 1.2.835.0 follows it).
      let cell = cells.get(sessionId)!;
      if (Math.random() < strictRules(faults).newStreamUrlOnResume) {
        cell = newCell();
        cells.set(sessionId, cell);
        tally.newStreamUrls++;
      }
      const issued = issue(sessionId, cell);
      session.token = issued.tokenValue;
      return issued;
    },

    terminateSession(sessionId, reason = "TerminateSession") {
      sessions.get(sessionId)?.terminate({ output: "", reason });
    },

    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const sessionId = url.pathname.startsWith(PATH_PREFIX) ? decodeURIComponent(url.pathname.slice(PATH_PREFIX.length)) : "";
      const session = sessions.get(sessionId);
      if (!session || session.status === "Terminated") {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      // A StreamUrl that a ResumeSession replaced no longer works.
      if (url.searchParams.get("cell-number") !== cells.get(sessionId)) {
        socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      // A SigV4 Authorization header (plugin ≥ 1.2.688.0) is accepted and not checked (§2.1).
      wss.handleUpgrade(req, socket, head, (ws) => accept(ws, session, socket));
    },

    setFaults(next) {
      faults = next;
    },

    sessions() {
      return [...sessions.values()].map((s) => s.state());
    },

    injected: () => ({ ...tally }),

    async close() {
      for (const session of sessions.values()) session.terminate({ output: "", reason: "data plane closed" });
      for (const ws of sockets) ws.terminate();
      sessions.clear();
      cells.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
