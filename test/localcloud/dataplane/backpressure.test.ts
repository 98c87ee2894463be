// Backpressure both ways at once in one mux session: an echo target that stops reading while it
// cannot write (its replies leave at the agent's paced rate, its input arrives far faster), input
// held back by the full target, and output behind a lost message that the client holds out of
// order until the agent's oldest-first resend brings it. Acks must still be read throughout.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeFrame, MessageType, PayloadType } from "../../../lib/session/frames.ts";
import { type Harness, portSpec, sha256, startEchoServer, startHarness, type TcpService } from "./harness.ts";
import { transfer } from "./transfer.ts";
import { waitFor } from "../test-helpers.ts";

const MiB = 1024 * 1024;
const upload = randomBytes(4 * MiB);
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

describe("backpressure", () => {
  it("completes an echo whose replies wait behind a lost output message while its input outruns them (acks read throughout)", async () => {
    const spec = portSpec(echo.port);
    const driver = await harness.connect(spec);
    await driver.ready;
    // Every copy of the first Output message is lost until `losing` ends: output after it waits in
    // the client's reorder buffer, the echo target stops reading while it cannot write, and input waits.
    let lostSeq: number | undefined;
    let losing = true;
    /** Output that came after the lost message while it was being lost: held out of order. */
    const heldBehind = new Set<number>();
    const receive = driver.channel.receive.bind(driver.channel);
    driver.channel.receive = (raw: Buffer) => {
      const frame = decodeFrame(raw);
      if (frame.messageType === MessageType.OutputStreamData && frame.payloadType === PayloadType.Output) {
        lostSeq ??= frame.sequenceNumber;
        if (losing && frame.sequenceNumber === lostSeq) return;
        if (losing && frame.sequenceNumber > lostSeq) heldBehind.add(frame.sequenceNumber);
      }
      receive(raw);
    };
    const echoed = transfer(driver.openStream(), upload, upload.length);
    const bytesIn = () => harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)!.bytesIn;
    // The echo replies at the agent's pace (≈0.65 MB/s) while its input comes at the client's; for a
    // second every copy of the first reply is lost, and what follows waits out of order behind it.
    await waitFor("output held behind the lost reply", async () => heldBehind.size >= 200, 30_000);
    expect(lostSeq).toBeDefined();
    expect(bytesIn()).toBeGreaterThan(0);
    // The lost message's next resend arrives; its ack must be read although input may still be held back.
    losing = false;
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      echoed,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the echo stalled at ${bytesIn()} bytes in`)), 30_000))),
    ]).finally(() => clearTimeout(timer));
    expect(result).toEqual({ sha256: sha256(upload), bytes: upload.length });
    await driver.close();
  }, 60_000);
});
