// The client's resend rules with a fake clock: what is resent, when, and how often — a loss costs
// one resend, not a window's worth.
import { afterEach, describe, expect, it } from "vitest";
import { createRetransmitter, DUP_THRESH, PACED_QUEUE_LIMIT, type Retransmitter } from "../../../lib/session/retransmit.ts";

let clock = 0;
let wire: number[] = [];
let connected = true;
let drains = 0;
let out: Retransmitter;

function make(window = 100): Retransmitter {
  clock = 1_000;
  wire = [];
  connected = true;
  drains = 0;
  out = createRetransmitter({
    window,
    now: () => clock,
    tickMs: 3_600_000,
    transmit: (frame) => (connected ? (wire.push(frame.readUInt32BE(0)), true) : false),
    onDrain: () => drains++,
  });
  return out;
}
const seqFrame = (seq: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(seq);
  return b;
};
const sendN = (n: number) => {
  for (let i = 0; i < n; i++) out.send(seqFrame);
};

afterEach(() => out?.stop());

describe("client retransmission", () => {
  it("resends a message once as soon as DUP_THRESH later ones are acked, and nothing else", () => {
    make();
    sendN(10);
    expect(wire).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    clock += 5;
    out.acknowledge(0);
    for (let seq = 2; seq < 2 + DUP_THRESH - 1; seq++) out.acknowledge(seq);
    expect(wire).toHaveLength(10);
    out.acknowledge(2 + DUP_THRESH - 1);
    expect(wire.slice(10)).toEqual([1]);
    // More acks of later messages do not resend it again: its new copy is newer than them.
    for (let seq = 2 + DUP_THRESH; seq < 10; seq++) out.acknowledge(seq);
    expect(wire.slice(10)).toEqual([1]);
    expect(out.stats).toMatchObject({ sent: 10, resent: 1, fastResent: 1, timeouts: 0 });
    out.acknowledge(1);
    expect(out.size).toBe(0);
  });

  it("on a timeout resends only the oldest message and doubles the timeout until a fresh ack", () => {
    make();
    sendN(5);
    clock += 10;
    out.acknowledge(0); // an RTT sample of 10 ms
    const rto = out.rto;
    expect(rto).toBeGreaterThan(10);
    clock += rto + 1;
    out.tick();
    expect(wire.slice(5)).toEqual([1]);
    clock += rto + 1;
    out.tick();
    expect(wire.slice(5)).toEqual([1]); // now waiting 2 × RTO
    clock += rto;
    out.tick();
    expect(wire.slice(5)).toEqual([1, 2]);
    expect(out.rto).toBe(Math.min(4000, rto * 4));
    // A first-copy ack restores the estimate; 3 and 4, transmitted DUP_THRESH or more before it, count as lost.
    out.send(seqFrame);
    clock += 1;
    out.acknowledge(5);
    expect(out.rto).toBeLessThan(rto * 2);
    expect(wire.slice(8)).toEqual([3, 4]);
    expect(out.stats).toMatchObject({ timeouts: 2, fastResent: 2 });
  });

  it("after a reconnect sends every unacknowledged message again, in sequence order, then new ones", () => {
    make();
    sendN(6);
    out.acknowledge(0);
    out.acknowledge(3);
    connected = false;
    sendN(2);
    out.tick();
    expect(wire).toEqual([0, 1, 2, 3, 4, 5]);
    connected = true;
    out.retransmitAll();
    expect(wire.slice(6)).toEqual([1, 2, 4, 5, 6, 7]);
    out.send(seqFrame);
    expect(wire.slice(12)).toEqual([8]);
    expect(out.stats).toMatchObject({ sent: 9, resent: 4 });
  });

  it("keeps order behind messages still waiting for a connection", () => {
    make();
    connected = false;
    sendN(3);
    connected = true;
    out.send(seqFrame);
    expect(wire).toEqual([]);
    out.tick();
    expect(wire).toEqual([0, 1, 2, 3]);
  });

  it("counts the window from the oldest unacknowledged message: only its ack makes room", () => {
    make(4);
    sendN(3);
    expect(out.hasRoom()).toBe(true);
    expect(out.send(seqFrame)).toBe(false);
    expect(out.hasRoom()).toBe(false);
    // 0 is missing: the agent holds 1–3 in its reorder buffer, so acks of them open nothing.
    out.acknowledge(2);
    out.acknowledge(3);
    expect(drains).toBe(0);
    expect(out.hasRoom()).toBe(false);
    out.acknowledge(0);
    expect(drains).toBe(1);
    expect(out.hasRoom()).toBe(true);
  });

  it("sends nothing while the agent paused publication", () => {
    make();
    out.pause();
    sendN(2);
    expect(wire).toEqual([]);
    out.resume();
    expect(wire).toEqual([0, 1]);
  });
});

describe("the pacer", () => {
  it("sends a tenth of a second's burst at once, then one message per token in order, resends included; hasRoom says no behind a short queue", async () => {
    clock = 1_000;
    wire = [];
    connected = true;
    drains = 0;
    out = createRetransmitter({
      window: 1000,
      now: () => clock,
      tickMs: 3_600_000,
      transmit: (frame) => (wire.push(frame.readUInt32BE(0)), true),
      onDrain: () => drains++,
      messagesPerSecond: 100,
    });
    for (let i = 0; i < 80; i++) out.send(seqFrame);
    // A burst of 10 (0.1 s at 100/s), the rest queued in order: 70 waiting is past PACED_QUEUE_LIMIT.
    expect(wire).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(70).toBeGreaterThanOrEqual(PACED_QUEUE_LIMIT);
    expect(out.hasRoom()).toBe(false);
    clock += 50; // five more tokens
    await new Promise((r) => setTimeout(r, 30));
    expect(wire).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(out.stats.paced).toBeGreaterThan(0);
    // A resend takes a token too: after a reconnect everything unacked waits its turn, in order.
    wire = [];
    clock += 20;
    out.retransmitAll();
    expect(wire).toEqual([0, 1]);
  });

  it("after a reconnect, what the burst could not resend goes as tokens come, in order: nothing stays counted as on the old wire", async () => {
    clock = 1_000;
    wire = [];
    out = createRetransmitter({
      window: 1000,
      now: () => clock,
      tickMs: 3_600_000,
      transmit: (frame) => (wire.push(frame.readUInt32BE(0)), true),
      onDrain: () => {},
      messagesPerSecond: 100,
    });
    const tokensAndWake = async () => {
      clock += 100; // ten tokens
      await new Promise((r) => setTimeout(r, 40));
    };
    for (let i = 0; i < 30; i++) out.send(seqFrame);
    for (let i = 0; i < 3; i++) await tokensAndWake();
    expect(wire).toEqual([...Array(30).keys()]);
    // The connection drops with all 30 unacknowledged; a new one takes the burst, the pacer the rest.
    wire = [];
    clock += 100;
    out.retransmitAll();
    expect(wire).toEqual([...Array(10).keys()]);
    await tokensAndWake();
    await tokensAndWake();
    expect(wire).toEqual([...Array(30).keys()]);
    expect(out.stats.resent).toBe(30);
  });
});
