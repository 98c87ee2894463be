// Backpressure both ways at once in one mux session: an echo target that stops reading while it
// cannot write, output held back by a lost message (the output window full), and input held back
// by the full target. Acks must still be read, or the session waits for itself for good.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeFrame, MessageType, PayloadType } from "../../../lib/session/frames.ts";
import { type Harness, portSpec, sha256, startEchoServer, startHarness, type TcpService } from "./harness.ts";
import { transfer } from "./transfer.ts";

const MiB = 1024 * 1024;
const upload = randomBytes(32 * MiB);
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

async function whenSteady(read: () => number, quietMs: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const now = read();
    if (now !== last) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= quietMs) return now;
  }
  throw new Error(`still moving after ${timeoutMs} ms (at ${last})`);
}

describe("backpressure", () => {
  it("reads the client's acks while a full target holds input back: an echo behind a lost output message completes", async () => {
    const spec = portSpec(echo.port);
    const driver = await harness.connect(spec);
    await driver.ready;
    // Every copy of the first Output message is lost until `losing` ends: the output window fills
    // behind it, the echo target stops reading while it cannot write, and client input waits.
    let lostSeq: number | undefined;
    let losing = true;
    const receive = driver.channel.receive.bind(driver.channel);
    driver.channel.receive = (raw: Buffer) => {
      const frame = decodeFrame(raw);
      if (frame.messageType === MessageType.OutputStreamData && frame.payloadType === PayloadType.Output) {
        lostSeq ??= frame.sequenceNumber;
        if (losing && frame.sequenceNumber === lostSeq) return;
      }
      receive(raw);
    };
    const echoed = transfer(driver.openStream(), upload);
    const bytesIn = () => harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)!.bytesIn;
    const stalledAt = await whenSteady(bytesIn, 500, 20_000);
    expect(stalledAt).toBeLessThan(upload.length);
    // The lost message's next resend arrives; its ack must be read although input is still held back.
    losing = false;
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      echoed,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the echo stalled at ${bytesIn()} bytes in`)), 10_000))),
    ]).finally(() => clearTimeout(timer));
    expect(result).toEqual({ sha256: sha256(upload), bytes: upload.length });
    await driver.close();
  }, 60_000);
});
