// Creates the Session Manager data plane (test/localcloud/dataplane/, built separately). Until its
// index.ts exists, a stand-in hands out StreamUrls that refuse connections, so the control plane
// and DescribeSessions still work.
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { DataPlane, DataPlaneOptions } from "./dataplane/types.ts";

function streamUrl(publicUrl: string, sessionId: string): string {
  return `${publicUrl}/v1/data-channel/${sessionId}?role=publish_subscribe&cell-number=${randomBytes(8).toString("hex")}`;
}

function createRecordingOnlyPlane(opts: DataPlaneOptions): DataPlane {
  const live = new Set<string>();
  const token = () => randomBytes(96).toString("base64url");
  return {
    openSession(spec) {
      live.add(spec.sessionId);
      return { streamUrl: streamUrl(opts.publicUrl, spec.sessionId), tokenValue: token() };
    },
    resumeSession(sessionId) {
      return live.has(sessionId) ? { streamUrl: streamUrl(opts.publicUrl, sessionId), tokenValue: token() } : undefined;
    },
    terminateSession(sessionId) {
      live.delete(sessionId);
    },
    handleUpgrade(_req, socket) {
      socket.destroy();
    },
    setFaults() {},
    sessions: () => [],
    async close() {
      live.clear();
    },
  };
}

export async function createDataPlaneOrStandIn(opts: DataPlaneOptions): Promise<DataPlane> {
  const url = new URL("./dataplane/index.ts", import.meta.url);
  if (!existsSync(url)) return createRecordingOnlyPlane(opts);
  // A computed specifier keeps typecheck independent of when the other half lands.
  const mod: { createDataPlane(o: DataPlaneOptions): DataPlane } = await import(url.href);
  return mod.createDataPlane(opts);
}
