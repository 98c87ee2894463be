import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { createLogger, type Logger } from "../../../lib/log.ts";
import { startNativePortForward } from "../../../lib/session/port.ts";
import { prngDigest, startNativeHarness, startTargetServer, type NativeHarness } from "./native-harness.ts";
import { echoBytes, echoOnce, receiveDown, sendUp } from "./client.ts";
import { eventually } from "../../support/eventually.ts";

let h: NativeHarness;
let target: Awaited<ReturnType<typeof startTargetServer>>;
const lines: string[] = [];
const log: Logger = createLogger({ format: "human", debug: true, write: (l) => void lines.push(l) });

beforeAll(async () => {
  h = await startNativeHarness();
  target = await startTargetServer();
});
afterAll(async () => {
  await h?.close();
  await target?.close();
  // No TokenValue ever reached a log line (debug included).
  const all = lines.join("");
  for (const token of h.tokens) expect(all).not.toContain(token);
});

const start = (extra: Partial<Parameters<typeof startNativePortForward>[0]> = {}) =>
  startNativePortForward({
    clients: h.clients,
    region: "eu-west-1",
    target: "mi-0123456789abcdef0",
    forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }],
    log,
    ...extra,
  });

const MiB = 1024 * 1024;

describe("native port forwarding (mux)", () => {
  it("forwards bytes both ways intact and ends the session with the TerminateSession flag", async () => {
    const fwd = await start();
    await fwd.ready;
    expect(fwd.handles[0].port).toBe(fwd.ports[0]);
    expect((await fwd.handles[0].live()!).tunnel.mode).toBe("mux");
    expect(await echoOnce(fwd.ports[0], "hello")).toBe("ECHO\nhello");
    expect(await sendUp(fwd.ports[0], 1, MiB)).toBe(`${prngDigest(1, MiB)} ${MiB}`);
    expect(await receiveDown(fwd.ports[0], 2, MiB)).toEqual({ sha256: prngDigest(2, MiB), bytes: MiB });
    const sessionId = (await fwd.handles[0].live()!).channel.sessionId;
    await fwd.stop();
    await waitFor(() => h.dataPlane.sessions().find((s) => s.sessionId === sessionId)?.status === "Terminated");
    expect(h.calls.terminate).not.toContain(sessionId);
  });

  it("runs two forwards in one call, one session each", async () => {
    const other = await startTargetServer();
    const before = h.calls.start;
    const fwd = await start({
      forwards: [
        { localPort: 0, host: "127.0.0.1", remotePort: target.port },
        { localPort: 0, host: "127.0.0.1", remotePort: other.port },
      ],
    });
    try {
      await fwd.ready;
      expect(fwd.ports).toHaveLength(2);
      expect(fwd.ports[0]).not.toBe(fwd.ports[1]);
      expect(h.calls.start - before).toBe(2);
      expect(await Promise.all([echoOnce(fwd.ports[0], "one"), echoOnce(fwd.ports[1], "two")])).toEqual(["ECHO\none", "ECHO\ntwo"]);
    } finally {
      await fwd.stop();
      await other.close();
    }
  });

  it("binds the requested local port on 127.0.0.1", async () => {
    const free = await freePort();
    const fwd = await start({ forwards: [{ localPort: free, host: "127.0.0.1", remotePort: target.port }] });
    try {
      expect(fwd.ports).toEqual([free]);
      await fwd.ready;
      expect(await echoOnce(free, "fixed")).toBe("ECHO\nfixed");
    } finally {
      await fwd.stop();
    }
  });

  it("reports ConnectToPortError per connection when the target refuses", async () => {
    const closed = await freePort();
    const fwd = await start({ forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: closed }] });
    try {
      await fwd.ready;
      const before = lines.filter((l) => l.includes("ConnectToPortError")).length;
      expect(await echoOnce(fwd.ports[0], "x")).toBe("");
      expect(await echoOnce(fwd.ports[0], "y")).toBe("");
      await waitFor(() => lines.filter((l) => l.includes("ConnectToPortError")).length === before + 2);
      expect(lines.find((l) => l.includes("ConnectToPortError"))).toBe(
        `warning: port ${fwd.ports[0]}: Connection to localhost:${closed} failed on the target (ConnectToPortError): is it listening, and does the target's security group allow it?\n`,
      );
    } finally {
      await fwd.stop();
    }
  });
});

describe("native port forwarding (basic, agents up to 3.0.196.0)", () => {
  it("carries one connection at a time and sends DisconnectToPort between them", async () => {
    // A current ClientVersion: basic because the agent is too old for mux, on both sides.
    h.setAgentVersion("3.0.196.0");
    const fwd = await start();
    try {
      await fwd.ready;
      const live = await fwd.handles[0].live()!;
      expect(live.tunnel.mode).toBe("basic");
      expect(h.dataPlane.sessions().find((s) => s.sessionId === live.channel.sessionId)).toMatchObject({
        mode: "basic",
        agentVersion: "3.0.196.0",
        clientVersion: "1.2.764.0",
      });
      expect(await echoBytes(fwd.ports[0], 3, MiB / 2)).toBe(prngDigest(3, MiB / 2));
      expect(await echoBytes(fwd.ports[0], 4, 64 * 1024)).toBe(prngDigest(4, 64 * 1024));
    } finally {
      h.setAgentVersion(undefined);
      await fwd.stop();
    }
  });
});

describe("sessions that end", () => {
  it("opens a new session for the next connection when the old one is gone, and says so once", async () => {
    const fwd = await start();
    try {
      await fwd.ready;
      const first = (await fwd.handles[0].live()!).channel.sessionId;
      h.dataPlane.terminateSession(first, "idle timeout");
      await waitFor(() => fwd.handles[0].live() === undefined);
      expect(await echoOnce(fwd.ports[0], "again")).toBe("ECHO\nagain");
      expect(await echoOnce(fwd.ports[0], "and again")).toBe("ECHO\nand again");
      const second = (await fwd.handles[0].live()!).channel.sessionId;
      expect(second).not.toBe(first);
      expect(lines.filter((l) => l.includes(`Session ${first} for port ${fwd.ports[0]} ended`))).toHaveLength(1);
    } finally {
      await fwd.stop();
    }
  });
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => check() || undefined, timeoutMs, "condition", 20);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
