import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeFrame, encodeAck, encodeFrame, type Frame, MessageType, parseAckPayload, PayloadType } from "../../../lib/session/frames.ts";
import { ReliableChannel } from "./reliable.ts";

let wire: Buffer[];
let delivered: Frame[];
let clock: number;
let channel: ReliableChannel;

function input(seq: number, text = `m${seq}`): Buffer {
  return encodeFrame({ messageType: MessageType.InputStreamData, sequenceNumber: seq, payloadType: PayloadType.Output, payload: Buffer.from(text) });
}

function ackedSeqs(): number[] {
  return wire
    .map(decodeFrame)
    .filter((f) => f.messageType === "acknowledge")
    .map((f) => parseAckPayload(f.payload).AcknowledgedMessageSequenceNumber);
}

function ackFor(seq: number): Buffer {
  return encodeAck({ messageType: MessageType.OutputStreamData, messageId: "00000000-0000-0000-0000-000000000000", sequenceNumber: seq });
}

beforeEach(() => {
  vi.useFakeTimers();
  wire = [];
  delivered = [];
  clock = 1_000_000;
  channel = new ReliableChannel({
    outType: MessageType.OutputStreamData,
    transmit: (frame) => wire.push(frame),
    onMessage: (frame) => delivered.push(frame),
    now: () => clock,
  });
});

afterEach(() => {
  channel.close();
  vi.useRealTimers();
});

describe("receiving (the agent's rules, §2.5)", () => {
  it("delivers in order, buffers ahead-of-order messages, acks each, re-acks duplicates", () => {
    for (const seq of [0, 2, 3, 1, 1, 0, 4]) channel.receive(input(seq));
    expect(delivered.map((f) => f.payload.toString())).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(ackedSeqs()).toEqual([0, 2, 3, 1, 1, 0, 4]);
    expect(channel.stats).toMatchObject({ received: 5, duplicates: 2, reordered: 2 });
  });

  it("acks with the acknowledged message's id and type", () => {
    const frame = input(0);
    channel.receive(frame);
    const ack = parseAckPayload(decodeFrame(wire[0]).payload);
    expect(ack).toEqual({
      AcknowledgedMessageType: "input_stream_data",
      AcknowledgedMessageId: decodeFrame(frame).messageId,
      AcknowledgedMessageSequenceNumber: 0,
      IsSequentialMessage: true,
    });
  });

  it("while delivery is held: keeps data unacked and undelivered, ignores its copies, still applies acks", () => {
    channel.send(PayloadType.Output, Buffer.from("out"));
    channel.receive(input(0));
    wire = [];
    channel.holdDelivery(true);
    for (const seq of [1, 3, 1, 2]) channel.receive(input(seq));
    channel.receive(ackFor(0));
    expect(delivered.map((f) => f.payload.toString())).toEqual(["m0"]);
    expect(wire).toEqual([]);
    expect(channel.unackedCount).toBe(0);
    // A message delivered before the hold is re-acked as ever.
    channel.receive(input(0));
    expect(ackedSeqs()).toEqual([0]);
    wire = [];
    channel.holdDelivery(false);
    expect(delivered.map((f) => f.payload.toString())).toEqual(["m0", "m1", "m2", "m3"]);
    expect(ackedSeqs()).toEqual([1, 2, 3]);
  });

  it("stops delivering when a delivery holds it again; on release acks what is kept ahead of a gap", () => {
    channel.close();
    channel = new ReliableChannel({
      outType: MessageType.OutputStreamData,
      transmit: (frame) => wire.push(frame),
      onMessage: (frame) => {
        delivered.push(frame);
        if (frame.payload.toString() === "m1") channel.holdDelivery(true);
      },
      now: () => clock,
    });
    channel.holdDelivery(true);
    for (const seq of [0, 1, 2, 4]) channel.receive(input(seq));
    channel.holdDelivery(false);
    expect(delivered.map((f) => f.payload.toString())).toEqual(["m0", "m1"]);
    expect(ackedSeqs()).toEqual([0, 1]);
    wire = [];
    channel.holdDelivery(false);
    expect(delivered.map((f) => f.payload.toString())).toEqual(["m0", "m1", "m2"]);
    expect(ackedSeqs()).toEqual([2, 4]);
    wire = [];
    channel.receive(input(3));
    expect(delivered.map((f) => f.payload.toString())).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(ackedSeqs()).toEqual([3]);
  });

  it("keeps at most 16 MiB while held; what does not fit is left for the sender to resend", () => {
    const big = (seq: number) =>
      encodeFrame({
        messageType: MessageType.InputStreamData,
        sequenceNumber: seq,
        payloadType: PayloadType.Output,
        payload: Buffer.alloc(10 * 1024 * 1024, seq),
      });
    channel.holdDelivery(true);
    channel.receive(big(0));
    channel.receive(big(1));
    channel.holdDelivery(false);
    expect(delivered.map((f) => f.sequenceNumber)).toEqual([0]);
    expect(ackedSeqs()).toEqual([0]);
    channel.receive(big(1));
    expect(delivered.map((f) => f.sequenceNumber)).toEqual([0, 1]);
    expect(ackedSeqs()).toEqual([0, 1]);
  });

  it("treats a frame with a bad digest as lost: no ack, no delivery", () => {
    const bad = input(0);
    bad[bad.length - 1] ^= 1;
    channel.receive(bad);
    expect(wire).toEqual([]);
    expect(delivered).toEqual([]);
  });
});

describe("sending and retransmission (§2.6)", () => {
  it("numbers from 0, sets Flags=1 on the first agent message only", () => {
    channel.send(PayloadType.Output, Buffer.from("a"));
    channel.send(PayloadType.Output, Buffer.from("b"));
    expect(wire.map(decodeFrame).map((f) => [f.sequenceNumber, f.flags, f.messageType])).toEqual([
      [0, 1, "output_stream_data"],
      [1, 0, "output_stream_data"],
    ]);
  });

  it("resends only the oldest unacked message, once it is older than the RTO (200 ms initially)", () => {
    channel.send(PayloadType.Output, Buffer.from("a"));
    channel.send(PayloadType.Output, Buffer.from("b"));
    wire = [];
    clock += 150;
    vi.advanceTimersByTime(100);
    expect(wire).toEqual([]);
    clock += 100; // 250 ms > RTO 200 ms
    vi.advanceTimersByTime(100);
    expect(wire.map((f) => decodeFrame(f).sequenceNumber)).toEqual([0]);
    channel.receive(ackFor(0));
    clock += 300;
    vi.advanceTimersByTime(100);
    expect(wire.map((f) => decodeFrame(f).sequenceNumber)).toEqual([0, 1]);
    channel.receive(ackFor(1));
    expect(channel.unackedCount).toBe(0);
  });

  it("updates the RTO from acks: SRTT + max(10 ms, 4·RTTVAR), capped at 1 s", () => {
    channel.send(PayloadType.Output, Buffer.from("a"));
    clock += 20;
    channel.receive(ackFor(0));
    // RTTVAR = ¼|100−20| = 20; SRTT = ⅞·100 + ⅛·20 = 90; RTO = 90 + 80 = 170
    expect(channel.rtoMs).toBe(170);
    channel.send(PayloadType.Output, Buffer.from("b"));
    clock += 10_000;
    channel.receive(ackFor(1));
    expect(channel.rtoMs).toBe(1000);
  });

  it("resends everything unacked, in order, after a reconnect", () => {
    for (const text of ["a", "b", "c"]) channel.send(PayloadType.Output, Buffer.from(text));
    channel.receive(ackFor(1));
    wire = [];
    channel.resendAllUnacked();
    expect(wire.map((f) => decodeFrame(f).sequenceNumber)).toEqual([0, 2]);
  });

  it("does not resend while pause_publication is in force", () => {
    channel.send(PayloadType.Output, Buffer.from("a"));
    wire = [];
    channel.setPaused(true);
    clock += 5000;
    vi.advanceTimersByTime(500);
    expect(wire).toEqual([]);
    channel.setPaused(false);
    vi.advanceTimersByTime(100);
    expect(wire.length).toBe(1);
  });
});

describe("the agent's send buffer", () => {
  it("misses the first ack of a raced message: resent once after the RTO, confirmed all the same, removed by the second ack", () => {
    const raced = new ReliableChannel({
      outType: MessageType.OutputStreamData,
      transmit: (frame) => wire.push(frame),
      onMessage: () => {},
      now: () => clock,
      ackRaceFraction: () => 1,
      random: () => 0,
    });
    raced.send(PayloadType.Output, Buffer.from("a"));
    raced.receive(ackFor(0));
    expect(raced.unackedCount).toBe(1);
    expect(raced.unconfirmedCount).toBe(0);
    expect(raced.stats.ackRaced).toBe(1);
    wire = [];
    clock += 250;
    vi.advanceTimersByTime(100);
    expect(wire.map((f) => decodeFrame(f).sequenceNumber)).toEqual([0]);
    raced.receive(ackFor(0));
    expect(raced.unackedCount).toBe(0);
    raced.close();
  });

  it("keeps at most 64 MiB for resending: beyond, a message is sent once and not kept", () => {
    const MiB = 1024 * 1024;
    for (let i = 0; i < 65; i++) channel.send(PayloadType.Output, Buffer.alloc(MiB));
    expect(wire.length).toBe(65);
    expect(channel.unackedCount).toBe(64);
    expect(channel.stats.unkept).toBe(1);
  });
});
