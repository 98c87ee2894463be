// The rules by which the emulator is as strict as AWS (README "Rules followed"), each shown on and
// switched off: MGS's message limit, the agent's handshake discard, its duplicate resends, its
// remote-host denylist, and a new StreamUrl after ResumeSession.
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOC_PORT_FORWARD_REMOTE } from "../../../lib/constants.ts";
import { isDeniedAddress } from "./denylist.ts";
import { echoRoundTrip, type Harness, portSpec, sha256, startEchoServer, startHarness, type TcpService } from "./harness.ts";
import { startSourceSink, transfer } from "./transfer.ts";

const MiB = 1024 * 1024;
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

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("mgsRateLimit", () => {
  it("cuts a sender that stays above 1000 messages/s for 2 s: pause_publication, then close 1011; a paced one is never cut", async () => {
    const before = harness.plane.injected!().rateLimited;
    const sink = await startSourceSink(Buffer.alloc(0));
    try {
      const flood = await harness.connect(portSpec(sink.port), { chunkSize: 1024, messagesPerSecond: Infinity });
      await flood.ready;
      const stream = flood.openStream();
      stream.on("data", () => {});
      const chunk = randomBytes(MiB);
      const deadline = Date.now() + 15_000;
      while (!flood.closes.some((c) => c.code === 1011) && Date.now() < deadline) {
        if (!stream.write(chunk)) await once(stream, "drain");
      }
      expect(flood.closes.find((c) => c.code === 1011)).toEqual({ code: 1011, reason: "Rate exceeded" });
      expect(flood.pausePublications).toBeGreaterThanOrEqual(1);
      expect(harness.plane.injected!().rateLimited).toBeGreaterThan(before);
      await flood.close();
      // The same volume at 900 messages/s of 1 KiB: never cut.
      const paced = await harness.connect(portSpec(sink.port), { chunkSize: 1024 });
      await paced.ready;
      const cutsBefore = harness.plane.injected!().rateLimited;
      const stream2 = paced.openStream();
      stream2.on("data", () => {});
      stream2.write(randomBytes(3 * MiB));
      await waitFor(() => paced.channel.unackedCount === 0 && paced.channel.stats.sent >= 3 * 1024, 15_000);
      expect(paced.closes).toEqual([]);
      expect(harness.plane.injected!().rateLimited).toBe(cutsBefore);
      await paced.close();
    } finally {
      await sink.close();
    }
  }, 60_000);

  it("is off with mgsRateLimit: false", async () => {
    const kind = await startHarness({ faults: { mgsRateLimit: false } });
    const sink = await startSourceSink(Buffer.alloc(0), 8 * MiB);
    try {
      const flood = await kind.connect(portSpec(sink.port), { chunkSize: 1024, messagesPerSecond: Infinity });
      await flood.ready;
      const upload = randomBytes(8 * MiB);
      flood.openStream().end(upload);
      await waitFor(() => sink.received.length > 0, 5000);
      expect(await sink.received[0]).toEqual({ sha256: sha256(upload), bytes: upload.length });
      expect(flood.closes).toEqual([]);
      expect(kind.plane.injected!().rateLimited).toBe(0);
      await flood.close();
    } finally {
      await kind.close();
      await sink.close();
    }
  }, 60_000);
});

describe("handshakeDiscard", () => {
  it("acks and throws away a SYN sent the instant HandshakeComplete arrives; held with handshakeDiscard: false", async () => {
    const before = harness.plane.injected!().handshakeDiscarded;
    const spec = portSpec(echo.port);
    const hasty = await harness.connect(spec, { settleMs: 0 });
    await hasty.ready;
    const lost = hasty.openStream();
    lost.write("are you there?");
    // The HandshakeResponse, the SYN and the data: all sent and acked.
    await waitFor(() => hasty.channel.stats.sent >= 3 && hasty.channel.unackedCount === 0, 5000);
    expect(harness.plane.injected!().handshakeDiscarded).toBeGreaterThan(before);
    expect(harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)!.openStreams).toBe(0);
    await hasty.close();
    // After the settle wait (the default), the same stream works.
    const patient = await harness.connect(portSpec(echo.port));
    await patient.ready;
    expect((await echoRoundTrip(patient.openStream(), "are you there?")).toString()).toBe("are you there?");
    await patient.close();
    harness.plane.setFaults({ handshakeDiscard: false });
    try {
      const held = await harness.connect(portSpec(echo.port), { settleMs: 0 });
      await held.ready;
      expect((await echoRoundTrip(held.openStream(), "held, not lost")).toString()).toBe("held, not lost");
      await held.close();
    } finally {
      harness.plane.setFaults({});
    }
  });
});

describe("agentDuplicates", () => {
  it("resends a share of output once (the agent missed the ack); the client re-acks and drops them; none with agentDuplicates: 0", async () => {
    const down = randomBytes(MiB);
    const sink = await startSourceSink(down);
    try {
      const driver = await harness.connect(portSpec(sink.port));
      await driver.ready;
      expect(await transfer(driver.openStream(), Buffer.alloc(0))).toEqual({ sha256: sha256(down), bytes: down.length });
      // ≈3 % of ≈1000 messages, drained one per 100 ms once each is the oldest unacked.
      await waitFor(() => driver.channel.stats.duplicates >= 5, 15_000);
      await driver.close();
      harness.plane.setFaults({ agentDuplicates: 0 });
      const injectedBefore = harness.plane.injected!().agentDuplicates;
      const clean = await harness.connect(portSpec(sink.port));
      await clean.ready;
      await transfer(clean.openStream(), Buffer.alloc(0));
      await new Promise((r) => setTimeout(r, 1500));
      // The rule made none. (The client may still see a genuine timeout resend when an ack is late on
      // a loaded machine: those are not the rule's, so the client's own counter is not asserted here.)
      expect(harness.plane.injected!().agentDuplicates).toBe(injectedBefore);
      await clean.close();
    } finally {
      harness.plane.setFaults({});
      await sink.close();
    }
  }, 60_000);
});

describe("denyRemoteHosts", () => {
  const remote = (host: string) => portSpec(echo.port, { documentName: DOC_PORT_FORWARD_REMOTE, host });

  it("refuses loopback and the AWS link-local endpoints after the handshake, with the agent's words, however the address is written", async () => {
    for (const host of ["127.0.0.1", "localhost", "127.1", "::1", "::ffff:127.0.0.1", "169.254.169.254", "169.254.170.2"]) {
      const driver = await harness.connect(remote(host));
      expect(await driver.closed).toBe(`Forwarding to IP address ${host} is forbidden.`);
    }
  });

  it("lets a host through that the local cloud maps (it stands for a VPC address), and everything with denyRemoteHosts: false", async () => {
    const mapped = await startHarness({
      resolveHost: (host, port) => (host === "db.cluster-x.rds.amazonaws.com" ? { host: "127.0.0.1", port: echo.port } : { host, port }),
    });
    try {
      const driver = await mapped.connect(portSpec(5432, { documentName: DOC_PORT_FORWARD_REMOTE, host: "db.cluster-x.rds.amazonaws.com" }));
      await driver.ready;
      expect((await echoRoundTrip(driver.openStream(), "mapped")).toString()).toBe("mapped");
      await driver.close();
    } finally {
      await mapped.close();
    }
    harness.plane.setFaults({ denyRemoteHosts: false });
    try {
      const driver = await harness.connect(remote("127.0.0.1"));
      await driver.ready;
      expect((await echoRoundTrip(driver.openStream(), "kind")).toString()).toBe("kind");
      await driver.close();
    } finally {
      harness.plane.setFaults({});
    }
  });

  it("reads addresses as the agent's net.IP does", () => {
    expect(
      ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "169.254.170.2", "169.254.169.254", "fd00:ec2::254", "FD00:EC2::254", "fd00:ec2:0::254"].map(
        isDeniedAddress,
      ),
    ).toEqual(Array(9).fill(true));
    expect(["10.0.0.5", "169.254.170.3", "fd00:ec2::1", "2600:1f18::1", "not-an-ip"].map(isDeniedAddress)).toEqual(Array(5).fill(false));
  });
});

describe("newStreamUrlOnResume", () => {
  it("moves a resumed session to a new StreamUrl and refuses the old one with 403; the same URL with newStreamUrlOnResume: 0", async () => {
    const spec = portSpec(echo.port);
    const first = harness.plane.openSession(spec);
    const resumed = harness.plane.resumeSession(spec.sessionId)!;
    expect(resumed.streamUrl).not.toBe(first.streamUrl);
    const old = new WebSocket(first.streamUrl);
    const [, res] = (await once(old, "unexpected-response")) as [unknown, { statusCode: number }];
    expect(res.statusCode).toBe(403);
    const current = new WebSocket(resumed.streamUrl);
    await once(current, "open");
    current.send(JSON.stringify({ TokenValue: resumed.tokenValue, ClientVersion: "1.2.677.0" }));
    await once(current, "message");
    current.terminate();
    harness.plane.setFaults({ newStreamUrlOnResume: 0 });
    try {
      expect(harness.plane.resumeSession(spec.sessionId)!.streamUrl).toBe(resumed.streamUrl);
    } finally {
      harness.plane.setFaults({});
      harness.plane.terminateSession(spec.sessionId);
    }
  });
});
