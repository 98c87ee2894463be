// The emulated agent's pacing on its own clock (pump.ts): a fake clock whose sleeps end late by as
// much as the test says, as the shared event loop's do when other sessions keep it busy.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { AGENT_CATCH_UP_MS, AGENT_MESSAGE_INTERVAL_MS, AGENT_PAYLOAD_SIZE, pumpToChannel, type PumpClock } from "./pump.ts";

const KiB = 1024;
const INTERVAL = AGENT_MESSAGE_INTERVAL_MS;

/** A clock at 0 whose sleep(ms) ends after ms + lateness(call number). */
function fakeClock(lateness: (call: number) => number = () => 0): PumpClock & { t: number } {
  let calls = 0;
  const clock = {
    t: 0,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += ms + lateness(calls++);
    },
  };
  return clock;
}

/**
 * Pumps `chunks` (a number: that many KiB written to the source; a function: run once the pump has
 * sent all before it, e.g. to advance the clock while the source has nothing) and returns each
 * message's send time and size.
 */
async function pump(clock: PumpClock & { t: number }, chunks: Array<number | (() => void)>, writable: () => Promise<void> | undefined = () => undefined) {
  const sent: Array<{ at: number; bytes: number }> = [];
  const source = new PassThrough();
  const done = pumpToChannel(source, { send: (b) => sent.push({ at: clock.now(), bytes: b.length }), whenWritable: writable, paced: () => true }, clock);
  let written = 0;
  for (const c of chunks) {
    if (typeof c === "number") {
      source.write(Buffer.alloc(c * KiB));
      written += c * KiB;
      continue;
    }
    while (sent.reduce((n, m) => n + m.bytes, 0) < written) await new Promise((r) => setImmediate(r));
    c();
  }
  source.end();
  await done;
  return sent;
}

/** Message k of `sent` went at its time on the agent's clock (start + k intervals) or within a timer tick after. */
function onItsClock(sent: Array<{ at: number }>, start: number): void {
  sent.forEach((m, k) => {
    expect(m.at).toBeGreaterThanOrEqual(start + k * INTERVAL - 1e-9);
    expect(m.at).toBeLessThan(start + k * INTERVAL + 1);
  });
}

/** The most messages sent at one instant. */
function largestBurst(sent: Array<{ at: number }>): number {
  const counts = new Map<number, number>();
  for (const m of sent) counts.set(m.at, (counts.get(m.at) ?? 0) + 1);
  return Math.max(...counts.values());
}

describe("the agent's pacing, on its own clock", () => {
  it("sends ≤1 KiB messages one interval apart, the first at once", async () => {
    const clock = fakeClock();
    const sent = await pump(clock, [100]);
    expect(sent).toHaveLength(100);
    expect(sent.every((m) => m.bytes === AGENT_PAYLOAD_SIZE)).toBe(true);
    expect(sent[0].at).toBe(0);
    sent.forEach((m, k) => expect(m.at).toBeGreaterThanOrEqual(k * INTERVAL - 1e-9));
    expect(sent[99].at).toBeLessThan(99 * INTERVAL + 1);
  });

  it("catches up after late wake-ups (the loop busy with other sessions) and is never ahead of its clock", async () => {
    const clock = fakeClock(() => 3);
    const sent = await pump(clock, [200]);
    sent.forEach((m, k) => expect(m.at).toBeGreaterThanOrEqual(k * INTERVAL - 1e-9));
    // A bare sleep(1) after each message would have taken 200 × 4 ms.
    expect(sent[199].at).toBeLessThan(199 * INTERVAL + 4 + 1);
    // Late by 3 ms each time: the messages whose time passed go together.
    expect(largestBurst(sent)).toBeLessThanOrEqual(Math.ceil((3 + 2) / INTERVAL) + 1);
  });

  it("loses what a stall longer than AGENT_CATCH_UP_MS held back", async () => {
    const clock = fakeClock((call) => (call === 10 ? 200 : 0));
    const sent = await pump(clock, [200]);
    expect(largestBurst(sent)).toBeLessThanOrEqual(Math.floor(AGENT_CATCH_UP_MS / INTERVAL) + 2);
    expect(sent[199].at).toBeGreaterThanOrEqual(199 * INTERVAL + 200 - AGENT_CATCH_UP_MS - 2);
  });

  it("sends bytes that come after a pause at once, then one interval apart, with no burst for the time it waited", async () => {
    const clock = fakeClock();
    const sent = await pump(clock, [1, () => (clock.t += 100), 3]);
    expect(sent.map((m) => m.at)).toEqual([0, 100, expect.any(Number), expect.any(Number)]);
    onItsClock(sent.slice(1), 100);
  });

  it("after a write that blocked on a full connection, goes on from when it could write, with no burst", async () => {
    const clock = fakeClock();
    let writes = 0;
    const sent = await pump(clock, [5], () => (++writes === 3 ? Promise.resolve().then(() => void (clock.t += 50)) : undefined));
    expect(sent[2].at).toBe(sent[1].at + 50);
    onItsClock(sent.slice(2), sent[2].at);
  });
});
