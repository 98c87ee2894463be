// The Session Manager data plane of the local cloud: message gateway + agent emulator behind StreamUrl.
// First version: sessions are registered and tokens issued; the WebSocket side is being built.
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { DataChannelFaults, DataPlane, DataPlaneOptions, SessionSpec, SessionState } from "./types.ts";

export type { DataChannelFaults, DataPlane, DataPlaneOptions, SessionSpec, SessionState } from "./types.ts";

export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  const sessions = new Map<string, { spec: SessionSpec; token: string; state: SessionState }>();
  let faults: DataChannelFaults = opts.faults ?? {};
  const issue = (sessionId: string) => {
    const tokenValue = randomBytes(24).toString("base64url");
    const streamUrl = `${opts.publicUrl.replace(/\/$/, "")}/v1/data-channel/${encodeURIComponent(sessionId)}?role=publish_subscribe`;
    return { streamUrl, tokenValue };
  };
  return {
    openSession(spec) {
      const issued = issue(spec.sessionId);
      sessions.set(spec.sessionId, {
        spec,
        token: issued.tokenValue,
        state: { sessionId: spec.sessionId, target: spec.target, kind: spec.kind, status: "Connecting", bytesIn: 0, bytesOut: 0, openStreams: 0 },
      });
      return issued;
    },
    resumeSession(sessionId) {
      const session = sessions.get(sessionId);
      if (!session || session.state.status === "Terminated") return undefined;
      const issued = issue(sessionId);
      session.token = issued.tokenValue;
      return issued;
    },
    terminateSession(sessionId) {
      const session = sessions.get(sessionId);
      if (session) session.state.status = "Terminated";
    },
    handleUpgrade(_req: IncomingMessage, socket: Duplex, _head: Buffer) {
      socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n");
    },
    setFaults(next) {
      faults = next;
      void faults;
    },
    sessions() {
      return [...sessions.values()].map((s) => ({ ...s.state }));
    },
    async close() {
      sessions.clear();
    },
  };
}
