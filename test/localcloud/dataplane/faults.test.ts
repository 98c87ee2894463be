import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, portSpec, sha256, startHarness } from "./harness.ts";
import { type SourceSink, startSourceSink, transfer } from "./transfer.ts";

const MiB = 1024 * 1024;
// At the agent's paced ≈0.65 MB/s down, with the faults' resends one oldest message per 100 ms, 2 MiB takes about 10 s.
const upload = randomBytes(2 * MiB);
const download = randomBytes(2 * MiB);
let harness: Harness;
let service: SourceSink;

beforeAll(async () => {
  harness = await startHarness({
    faults: { drop: { in: 0.01, out: 0.01 }, duplicate: { in: 0.01, out: 0.01 }, reorder: { in: 0.01, out: 0.01 } },
  });
  service = await startSourceSink(download, upload.length);
});

afterAll(async () => {
  await harness?.close();
  await service?.close();
});

describe("faults", () => {
  it("moves 2 MiB each way byte-identical through 1 % drop, duplicate and reorder (mux)", async () => {
    const spec = portSpec(service.port);
    // 1 KiB input messages, as AWS's clients send: 2048 of them, so that 1 % drop certainly hits some
    // (with 64 messages of 32 KiB, half the runs would see none and resend nothing).
    const driver = await harness.connect(spec, { chunkSize: 1024 });
    await driver.ready;
    const started = Date.now();
    const got = await transfer(driver.openStream(), upload);
    const seconds = (Date.now() - started) / 1000;
    const sent = await service.received[service.received.length - 1];
    expect(got).toEqual({ sha256: sha256(download), bytes: download.length });
    expect(sent).toEqual({ sha256: sha256(upload), bytes: upload.length });
    const agent = harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)!;
    console.log(
      `2 MiB each way in ${seconds.toFixed(1)} s (${((4 * MiB) / 1e6 / seconds).toFixed(1)} MB/s total); ` +
        `driver resent ${driver.channel.stats.resent}, dup ${driver.channel.stats.duplicates}, reordered ${driver.channel.stats.reordered}`,
    );
    // The faults really happened on both ends.
    expect(driver.channel.stats.resent).toBeGreaterThan(0);
    expect(driver.channel.stats.duplicates).toBeGreaterThan(0);
    expect(driver.channel.stats.reordered).toBeGreaterThan(0);
    // Output payload bytes, smux headers included (8 bytes per ≤32 KiB frame), each counted once.
    expect(agent.bytesIn).toBeGreaterThanOrEqual(upload.length);
    expect(agent.bytesIn).toBeLessThan(upload.length * 1.001);
    expect(agent.bytesOut).toBeGreaterThanOrEqual(download.length);
    expect(agent.bytesOut).toBeLessThan(download.length * 1.001);
  }, 600_000);
});

describe("faults, basic mode and the other knobs", () => {
  it("moves 2 MiB each way intact through faults in basic mode", async () => {
    const up = upload.subarray(0, 2 * MiB);
    const down = download.subarray(0, 2 * MiB);
    const sink = await startSourceSink(down, up.length);
    try {
      const driver = await harness.connect(portSpec(sink.port, { agentVersion: "3.0.161.0" }), { clientVersion: "1.1.61.0" });
      expect(await driver.ready).toBe("basic");
      const got = await transfer(driver.bytes, up, down.length);
      expect(got).toEqual({ sha256: sha256(down), bytes: down.length });
      expect(await sink.received[0]).toEqual({ sha256: sha256(up), bytes: up.length });
    } finally {
      await sink.close();
    }
  }, 300_000);

  it("paces the agent like the real one by default: ≤1 KiB payloads and about 1 ms each", async () => {
    const down = download.subarray(0, MiB);
    const paced = await startHarness();
    const sink = await startSourceSink(down);
    try {
      const driver = await paced.connect(portSpec(sink.port));
      await driver.ready;
      const started = Date.now();
      const got = await transfer(driver.openStream(), Buffer.alloc(0));
      const seconds = (Date.now() - started) / 1000;
      console.log(`agentPacing: 1 MiB down in ${seconds.toFixed(2)} s = ${(MiB / 1e6 / seconds).toFixed(2)} MB/s`);
      expect(got.sha256).toBe(sha256(down));
      expect(driver.outputStats.maxPayload).toBe(1024);
      expect(driver.outputStats.payloads).toBeGreaterThanOrEqual(1024);
      expect(seconds).toBeGreaterThan(1.0); // ≥1024 sleeps of ≥1 ms
    } finally {
      await paced.close();
      await sink.close();
    }
  }, 120_000);

  it("delays every frame by delayMs", async () => {
    const slow = await startHarness({ faults: { delayMs: 150 } });
    const echo = await startSourceSink(Buffer.from("pong"));
    try {
      const started = Date.now();
      const driver = await slow.connect(portSpec(echo.port));
      await driver.ready; // HandshakeRequest out (+150) → response in (+150) → complete out (+150)
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    } finally {
      await slow.close();
      await echo.close();
    }
  });

  it("refuses new sessions for refused targets with TargetNotConnected, exact or by prefix", () => {
    harness.plane.setFaults({ refuseTargets: ["mi-00000000000000001", "ecs:prod_*"] });
    try {
      expect(() => harness.plane.openSession(portSpec(1, { target: "mi-00000000000000001" }))).toThrow(
        expect.objectContaining({ name: "TargetNotConnected", message: "mi-00000000000000001 is not connected." }),
      );
      expect(() => harness.plane.openSession(portSpec(1, { target: "ecs:prod_abc_def" }))).toThrow(/not connected/);
      expect(harness.plane.openSession(portSpec(1, { target: "ecs:stg_abc_def" })).tokenValue).toBeTruthy();
    } finally {
      harness.plane.setFaults({ drop: { in: 0.01, out: 0.01 }, duplicate: { in: 0.01, out: 0.01 }, reorder: { in: 0.01, out: 0.01 } });
    }
  });
});
