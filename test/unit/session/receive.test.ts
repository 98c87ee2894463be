// The receiving half of a data channel: each message is delivered once, in sequence order, and
// acknowledged; early ones wait within a byte budget (headers counted), beyond which they are
// neither kept nor acknowledged; duplicates are acknowledged again and dropped; once the channel has
// ended, what is held is not delivered.
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, MessageType, PAYLOAD_OFFSET, PayloadType, type Frame } from "../../../lib/session/frames.ts";
import { createReceiver } from "../../../lib/session/receive.ts";

const frame = (seq: number, bytes = 1): Frame =>
  decodeFrame(
    encodeFrame({ messageType: MessageType.OutputStreamData, sequenceNumber: seq, payloadType: PayloadType.Output, payload: Buffer.alloc(bytes, seq) }),
  );

function receiver(options: { limitBytes?: number } = {}) {
  const delivered: number[] = [];
  const acked: number[] = [];
  let open = true;
  const r = createReceiver({
    deliver: (f) => delivered.push(f.sequenceNumber),
    acknowledge: (f) => acked.push(f.sequenceNumber),
    isOpen: () => open,
    ...options,
  });
  return { r, delivered, acked, end: () => (open = false) };
}

describe("createReceiver", () => {
  it("delivers in sequence order whatever the arrival order, acking each message as it arrives", () => {
    const { r, delivered, acked } = receiver();
    for (const seq of [2, 0, 3, 1, 5, 4]) r.accept(frame(seq));
    expect(delivered).toEqual([0, 1, 2, 3, 4, 5]);
    expect(acked).toEqual([2, 0, 3, 1, 5, 4]);
    expect(r.stats).toEqual({ received: 6, duplicates: 0 });
    expect(r.heldBytes).toBe(0);
  });

  it("acks a message it already has again, counts it and does not deliver it twice (held or delivered)", () => {
    const { r, delivered, acked } = receiver();
    r.accept(frame(0));
    r.accept(frame(0));
    r.accept(frame(2));
    r.accept(frame(2));
    r.accept(frame(1));
    expect(delivered).toEqual([0, 1, 2]);
    expect(acked).toEqual([0, 0, 2, 2, 1]);
    expect(r.stats).toEqual({ received: 3, duplicates: 1 });
  });

  it("holds early messages within the budget, headers counted, so empty messages cost too; beyond it neither holds nor acks", () => {
    const { r, delivered, acked } = receiver({ limitBytes: 3 * PAYLOAD_OFFSET });
    for (const seq of [1, 2, 3, 4]) r.accept(frame(seq, 0));
    expect(acked).toEqual([1, 2, 3]);
    expect(r.heldBytes).toBe(3 * PAYLOAD_OFFSET);
    r.accept(frame(0, 0));
    expect(delivered).toEqual([0, 1, 2, 3]);
    expect(r.heldBytes).toBe(0);
    r.accept(frame(4, 0)); // sent again by the agent, since it was never acked
    expect(delivered).toEqual([0, 1, 2, 3, 4]);
    expect(acked).toEqual([1, 2, 3, 0, 4]);
  });

  it("delivers nothing it holds once the channel has ended", () => {
    const { r, delivered, end } = receiver();
    r.accept(frame(1));
    r.accept(frame(2));
    end();
    r.accept(frame(0));
    expect(delivered).toEqual([0]);
  });
});
