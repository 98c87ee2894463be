import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import type { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import { WebSocket } from "ws";
import { decodeFrame, type Frame, parseChannelClosed, PortFlag } from "../../../lib/session/frames.ts";
import { echoRoundTrip, findClosedPort, type Harness, portSpec, readAll, startEchoServer, startHarness, startTcpService, type TcpService } from "./harness.ts";

/** Reads until its client's EOF, then answers and ends. */
function startTcpServiceForTest(): Promise<TcpService> {
  return startTcpService((socket) => {
    let question = "";
    socket.on("data", (d: Buffer) => (question += d.toString()));
    socket.on("end", () => socket.end(`answer to ${question}`));
  });
}
import { planPortMode } from "./versions.ts";

let harness: Harness;
let echo: TcpService;

beforeAll(async () => {
  harness = await startHarness();
  echo = await startEchoServer();
});

afterAll(async () => {
  await harness?.close();
  await echo?.close();
});

describe("port sessions, mux mode", () => {
  it("handshakes with SessionType Port, the document's properties and the agent version", async () => {
    const driver = await harness.connect(portSpec(echo.port, { localPortNumber: "15432" }));
    expect(await driver.ready).toBe("mux");
    expect(driver.handshakeRequest).toEqual({
      AgentVersion: "3.3.1142.0",
      RequestedClientActions: [
        {
          ActionType: "SessionType",
          ActionParameters: {
            SessionType: "Port",
            Properties: { portNumber: String(echo.port), type: "LocalPortForwarding", localPortNumber: "15432" },
          },
        },
      ],
    });
    const stream = driver.openStream();
    expect((await echoRoundTrip(stream, "hello through smux")).toString()).toBe("hello through smux");
    await driver.close();
  });

  it("passes host for ToRemoteHost and dials through resolveHost", async () => {
    const mapped = await startHarness({
      resolveHost: (host, port) => (host === "db.cluster-x.rds.amazonaws.com" && port === 5432 ? { host: "127.0.0.1", port: echo.port } : { host, port }),
    });
    try {
      const driver = await mapped.connect(
        portSpec(5432, { documentName: "AWS-StartPortForwardingSessionToRemoteHost", host: "db.cluster-x.rds.amazonaws.com" }),
      );
      await driver.ready;
      const action = driver.handshakeRequest!.RequestedClientActions[0];
      expect(action.ActionParameters).toMatchObject({ Properties: { portNumber: "5432", host: "db.cluster-x.rds.amazonaws.com" } });
      const stream = driver.openStream();
      expect((await echoRoundTrip(stream, "via the host map")).toString()).toBe("via the host map");
    } finally {
      await mapped.close();
    }
  });

  it("runs 50 concurrent connections through one session, each completing an echo", async () => {
    const spec = portSpec(echo.port);
    const driver = await harness.connect(spec);
    await driver.ready;
    const payloads = Array.from({ length: 50 }, (_, i) => randomBytes(10_000 + i * 997));
    const echoed = await Promise.all(
      payloads.map((payload) => {
        return echoRoundTrip(driver.openStream(), payload);
      }),
    );
    echoed.forEach((bytes, i) => expect(bytes.equals(payloads[i])).toBe(true));
    const state = harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)!;
    const total = payloads.reduce((n, p) => n + p.length, 0);
    expect(state).toMatchObject({ status: "Connected", mode: "mux", kind: "port" });
    expect(state.bytesIn).toBeGreaterThanOrEqual(total);
    expect(state.bytesOut).toBeGreaterThanOrEqual(total);
    await driver.close();
  });

  it("closes the target fully on the client's FIN, as the agent does: an echo's reply is lost; halfClose keeps the old way", async () => {
    // A target that answers only after its client's EOF: through a real agent the answer never comes.
    const lateAnswer = await startTcpServiceForTest();
    try {
      const driver = await harness.connect(portSpec(lateAnswer.port));
      await driver.ready;
      const stream = driver.openStream();
      stream.end("question");
      expect((await readAll(stream)).toString()).toBe("");
      await driver.close();
      harness.plane.setFaults({ halfClose: true });
      const kind = await harness.connect(portSpec(lateAnswer.port));
      await kind.ready;
      const asked = kind.openStream();
      asked.end("question");
      expect((await readAll(asked)).toString()).toBe("answer to question");
      await kind.close();
    } finally {
      harness.plane.setFaults({});
      await lateAnswer.close();
    }
  });

  it("answers a dial failure with ConnectToPortError on that stream only; the session stays up", async () => {
    const port = await findClosedPort();
    const driver = await harness.connect(portSpec(port));
    await driver.ready;
    const failed = driver.openStream();
    const [flag] = await once(driver, "flag");
    expect(flag).toBe(PortFlag.ConnectToPortError);
    expect((await readAll(failed)).length).toBe(0); // FIN on that stream
    const service = await startEchoServer(port);
    try {
      const next = driver.openStream();
      expect((await echoRoundTrip(next, "after the failure")).toString()).toBe("after the failure");
      expect(driver.flags).toEqual([PortFlag.ConnectToPortError]);
    } finally {
      await service.close();
      await driver.close();
    }
  });

  it("ends the session with channel_closed on the TerminateSession flag", async () => {
    const ended: string[] = [];
    const local = await startHarness({ onSessionEnded: (id, reason) => ended.push(`${id}: ${reason}`) });
    try {
      const spec = portSpec(echo.port);
      const driver = await local.connect(spec);
      await driver.ready;
      driver.sendFlag(PortFlag.TerminateSession);
      expect(await driver.closed).toBe("");
      expect(ended).toEqual([`${spec.sessionId}: TerminateSession flag from the client`]);
      expect(local.plane.sessions()[0].status).toBe("Terminated");
    } finally {
      await local.close();
    }
  });
});

describe("port sessions, basic mode", () => {
  it("is chosen for an old client and carries raw bytes; DisconnectToPort re-dials", async () => {
    const spec = portSpec(echo.port, { agentVersion: "3.0.161.0" });
    const before = echo.connections;
    const driver = await harness.connect(spec, { clientVersion: "1.1.61.0" });
    expect(await driver.ready).toBe("basic");
    driver.bytes.write("first connection");
    expect((await readBytes(driver.bytes, 16)).toString()).toBe("first connection");
    driver.sendFlag(PortFlag.DisconnectToPort);
    driver.bytes.write("second connection");
    expect((await readBytes(driver.bytes, 17)).toString()).toBe("second connection");
    expect(echo.connections - before).toBe(2);
    expect(harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)).toMatchObject({ mode: "basic", openStreams: 1 });
    await driver.close();
  });

  it("follows the agent's rule on its side: ClientVersion 1.1.69 gets basic even from a new agent", async () => {
    // Agent: mux iff ClientVersion ≥ 1.1.70 (§4.2); the two sides decide independently.
    const spec = portSpec(echo.port);
    const driver = await harness.connect(spec, { clientVersion: "1.1.69" });
    expect(await driver.ready).toBe("mux"); // the client's own rule looks at AgentVersion 3.3.1142.0
    await waitFor(() => harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)?.mode !== undefined);
    expect(harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)?.mode).toBe("basic");
    await driver.close();
  });
});

describe("old agents", () => {
  it("an agent up to 3.0.196.0 has no mux: basic for a current client too", async () => {
    const spec = portSpec(echo.port, { agentVersion: "3.0.196.0" });
    const driver = await harness.connect(spec, { clientVersion: "1.2.764.0" });
    expect(await driver.ready).toBe("basic"); // the client's rule, from AgentVersion
    expect(driver.handshakeRequest?.AgentVersion).toBe("3.0.196.0");
    driver.bytes.write("old agent");
    expect((await readBytes(driver.bytes, 9)).toString()).toBe("old agent");
    expect(harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)).toMatchObject({
      mode: "basic",
      agentVersion: "3.0.196.0",
      clientVersion: "1.2.764.0",
    });
    await driver.close();
  });

  it("runs the agent version that faults.agentVersions names for a target, for sessions opened afterwards", async () => {
    const local = await startHarness();
    try {
      local.plane.setFaults({ agentVersions: { "mi-*": "3.0.1.0", "mi-0123456789abcdef0": "3.0.196.0", "mi-0aaa*": "3.1.1511.0" } });
      const versionOf = (target: string) => {
        const spec = portSpec(echo.port, { target });
        local.plane.openSession(spec);
        return local.plane.sessions().find((s) => s.sessionId === spec.sessionId)?.agentVersion;
      };
      expect(versionOf("mi-0123456789abcdef0")).toBe("3.0.196.0");
      expect(versionOf("mi-0aaa456789abcdef0")).toBe("3.1.1511.0");
      expect(versionOf("mi-0bbb456789abcdef0")).toBe("3.0.1.0");
      expect(versionOf("ecs:c_t_r")).toBe("3.3.1142.0");
      const spec = portSpec(echo.port, { target: "mi-0bbb456789abcdef0" });
      const driver = await local.connect(spec, { clientVersion: "1.2.764.0" });
      expect(await driver.ready).toBe("basic");
      await driver.close();
    } finally {
      await local.close();
    }
  });

  it("decides mux and keepalive from both versions", () => {
    const lpf = "LocalPortForwarding";
    expect(planPortMode(lpf, "1.2.764.0", "3.3.1142.0")).toEqual({ mode: "mux", keepAlive: false });
    expect(planPortMode(lpf, "1.2.331.0", "3.3.1142.0")).toEqual({ mode: "mux", keepAlive: true });
    expect(planPortMode(lpf, "1.2.764.0", "3.1.1511.0")).toEqual({ mode: "mux", keepAlive: true });
    expect(planPortMode(lpf, "1.2.764.0", "3.0.196.0")).toEqual({ mode: "basic", keepAlive: false });
    expect(planPortMode(lpf, "1.2.764.0", "3.0.196.1")).toEqual({ mode: "mux", keepAlive: true });
    expect(planPortMode(lpf, "1.1.69", "3.3.1142.0")).toEqual({ mode: "basic", keepAlive: false });
    expect(planPortMode(lpf, "1.1.70", "3.3.1142.0")).toEqual({ mode: "mux", keepAlive: true });
    expect(planPortMode(undefined, "1.2.764.0", "3.3.1142.0")).toEqual({ mode: "basic", keepAlive: false });
  });
});

describe("session state", () => {
  it("reports open streams while connections are open", async () => {
    const spec = portSpec(echo.port);
    const driver = await harness.connect(spec);
    await driver.ready;
    const streams = [driver.openStream(), driver.openStream(), driver.openStream()];
    for (const stream of streams) stream.write("x");
    await Promise.all(streams.map((s) => once(s, "data")));
    expect(harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)).toMatchObject({ openStreams: 3, status: "Connected" });
    for (const stream of streams) stream.end();
    await Promise.all(streams.map((s) => readAll(s)));
    await waitFor(() => harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)?.openStreams === 0);
    await driver.close();
  });
});

describe("the WebSocket endpoint", () => {
  it("closes the channel when no HandshakeResponse arrives within 15 s", async () => {
    const spec = portSpec(echo.port);
    const { streamUrl, tokenValue } = harness.plane.openSession(spec);
    const ws = new WebSocket(streamUrl);
    await once(ws, "open");
    const started = Date.now();
    ws.send(JSON.stringify({ MessageSchemaVersion: "1.0", RequestId: "r", TokenValue: tokenValue, ClientId: "c", ClientVersion: "1.2.677.0" }));
    const closed = await new Promise<Frame>((resolve) => {
      ws.on("message", (data: Buffer) => {
        const frame = decodeFrame(data);
        if (frame.messageType === "channel_closed") resolve(frame);
      });
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(14_900);
    expect(parseChannelClosed(closed.payload)).toEqual({
      sessionId: spec.sessionId,
      output:
        "----------ERROR-------\nEncountered error while initiating handshake. Handshake timed out. Please ensure that you have the latest version of the session manager plugin.",
    });
    ws.terminate();
  }, 60_000);

  it("closes a connection whose token is wrong and accepts a SigV4 Authorization header", async () => {
    const spec = portSpec(echo.port);
    const { streamUrl, tokenValue } = harness.plane.openSession(spec);
    const bad = new WebSocket(streamUrl);
    await once(bad, "open");
    bad.send(JSON.stringify({ MessageSchemaVersion: "1.0", RequestId: "r", TokenValue: "wrong", ClientId: "c" }));
    const [code, reason] = (await once(bad, "close")) as [number, Buffer];
    expect([code, reason.toString()]).toEqual([1008, "Invalid token"]);
    const signed = new WebSocket(streamUrl, {
      headers: { Authorization: "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/ssmmessages/aws4_request, SignedHeaders=host, Signature=00" },
    });
    await once(signed, "open");
    signed.send(JSON.stringify({ MessageSchemaVersion: "1.0", RequestId: "r", TokenValue: tokenValue, ClientId: "c", ClientVersion: "1.2.677.0" }));
    const [first] = (await once(signed, "message")) as [Buffer];
    expect(first.toString("latin1", 4, 36).trim()).toBe("output_stream_data");
    expect(first.readUInt32BE(112)).toBe(5); // HandshakeRequest
    expect(first.toString("hex", 48, 64)).toBe("0000000000000000" + "0000000000000001"); // seq 0, Flags 1
    signed.terminate();
    harness.plane.terminateSession(spec.sessionId);
  });

  it("refuses an unknown session id with 404", async () => {
    const ws = new WebSocket(`${harness.url}/v1/data-channel/nope?role=publish_subscribe`);
    const [err] = (await once(ws, "error")) as [Error];
    expect(err.message).toMatch(/404/);
  });
});

async function readBytes(stream: Readable, n: number): Promise<Buffer> {
  for (;;) {
    const chunk = stream.read(n) as Buffer | null;
    if (chunk) return chunk;
    await once(stream, "readable");
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
