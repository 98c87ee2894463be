import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, portSpec, sha256, startHarness } from "./harness.ts";
import { type SourceSink, startSourceSink, transfer } from "./transfer.ts";

const MiB = 1024 * 1024;
// At the agent's paced ≈0.65 MB/s down, 4 MiB takes about 6 s: several "Bye" closes and a break fit in it.
const upload = randomBytes(4 * MiB);
const download = randomBytes(4 * MiB);
let harness: Harness;
let service: SourceSink;

beforeAll(async () => {
  harness = await startHarness();
  service = await startSourceSink(download, upload.length);
});

afterAll(async () => {
  await harness?.close();
  await service?.close();
});

describe("resume", () => {
  it('survives close 1000 "Bye" in the middle of a transfer: ResumeSession, reconnect, intact', async () => {
    harness.plane.setFaults({ closeAfterSeconds: 0.5 });
    try {
      const spec = portSpec(service.port);
      const driver = await harness.connect(spec, { chunkSize: 8 * 1024 });
      await driver.ready;
      const got = await transfer(driver.openStream(), upload);
      expect(got).toEqual({ sha256: sha256(download), bytes: download.length });
      expect(await service.received[service.received.length - 1]).toEqual({ sha256: sha256(upload), bytes: upload.length });
      expect(driver.reconnects).toBeGreaterThanOrEqual(1);
      expect(driver.closes[0]).toEqual({ code: 1000, reason: "Bye" });
      console.log(`4 MiB each way across ${driver.reconnects} "Bye" reconnects`);
    } finally {
      harness.plane.setFaults({});
    }
  }, 300_000);

  it("retransmits what was in flight when the connection broke without a close handshake", async () => {
    const spec = portSpec(service.port);
    const driver = await harness.connect(spec);
    await driver.ready;
    const stream = driver.openStream();
    let seen = 0;
    let brokenAt: number | undefined;
    stream.on("data", (chunk: Buffer) => (seen += chunk.length));
    const result = transfer(stream, upload);
    // Break while upload messages are unacknowledged (the paced upload takes ≈150 ms) and the download runs.
    const breaker = setInterval(() => {
      if (brokenAt !== undefined || driver.channel.unackedCount < 10) return;
      brokenAt = seen;
      clearInterval(breaker);
      driver.breakConnection();
    }, 1);
    expect(await result).toEqual({ sha256: sha256(download), bytes: download.length });
    expect(await service.received[service.received.length - 1]).toEqual({ sha256: sha256(upload), bytes: upload.length });
    clearInterval(breaker);
    expect(brokenAt).toBeLessThan(download.length);
    expect(driver.reconnects).toBe(1);
    expect(driver.channel.stats.resent).toBeGreaterThan(0); // input was in flight at a break
    expect(harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)?.status).toBe("Connected");
  }, 300_000);

  it("reports Disconnected between connections, refuses the old token, and ends with the session", async () => {
    const spec = portSpec(service.port);
    const first = harness.plane.openSession(spec);
    const ws = new WebSocket(first.streamUrl);
    await once(ws, "open");
    ws.send(JSON.stringify({ TokenValue: first.tokenValue, ClientVersion: "1.2.677.0" }));
    await once(ws, "message");
    ws.terminate();
    await waitFor(() => harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)?.status === "Disconnected");
    const resumed = harness.plane.resumeSession(spec.sessionId)!;
    expect(resumed.tokenValue).not.toBe(first.tokenValue);
    const stale = new WebSocket(resumed.streamUrl);
    await once(stale, "open");
    stale.send(JSON.stringify({ TokenValue: first.tokenValue }));
    const [code] = (await once(stale, "close")) as [number];
    expect(code).toBe(1008);
    harness.plane.terminateSession(spec.sessionId);
    expect(harness.plane.resumeSession(spec.sessionId)).toBeUndefined();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
