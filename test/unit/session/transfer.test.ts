// Big transfers through a native port forward against the strict data plane (the agent's 1 KiB +
// 1 ms output, MGS's 1000 messages/s per direction, duplicate resends, full close): byte-identical
// (sha256) both ways at once, never cut by the rate limit; a sender without the pacer is cut; under
// 1 % drop/duplicate/reorder; across forced 1000 "Bye" closes onto a new StreamUrl each time; 200
// concurrent connections; a reader that stops for 10 s. TRANSFER_MIB sets the size (default 16;
// the soak run uses 256): at ≈0.65 MB/s down per session, 16 MiB takes about 26 s.
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_MESSAGES_PER_SECOND, DEFAULT_SEND_WINDOW } from "../../../lib/session/channel.ts";
import { startNativePortForward } from "../../../lib/session/port.ts";
import { prngDigest, startNativeHarness, startTargetServer, type NativeHarness } from "./native-harness.ts";
import { echoOnce, receiveDown, sendUp } from "./client.ts";
import { MGS_MESSAGES_PER_SECOND } from "../../localcloud/dataplane/index.ts";
import type { DataChannelFaults } from "../../localcloud/dataplane/types.ts";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { resolve } from "node:path";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../../..");
const TSX = resolve(ROOT, "node_modules/.bin/tsx");
const SLOW_READER = resolve(ROOT, "test/fixtures/slow-reader.mts");

const MiB = 1024 * 1024;
const SIZE = Number(process.env.TRANSFER_MIB ?? 16) * MiB;
/** Faults and reconnects cost resends that wait their turn (oldest first, one per 100 ms): a smaller transfer. */
const FAULT_SIZE = Math.min(SIZE, 2 * MiB);
/** The stalled-reader download: unpaced, and big enough that buffering it would show. */
const SLOW_READER_MIB = 256;

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function forwardWith(faults: DataChannelFaults = {}, options: { messagesPerSecond?: number } = {}) {
  const h: NativeHarness = await startNativeHarness({ faults });
  const target = await startTargetServer();
  const fwd = await startNativePortForward({
    clients: h.clients,
    region: "eu-west-1",
    target: "mi-0123456789abcdef0",
    forwards: [{ localPort: 0, remotePort: target.port }],
    ...options,
  });
  cleanup.push(async () => {
    await fwd.stop();
    await target.close();
    await h.close();
  });
  await fwd.ready;
  return { h, port: fwd.ports[0], fwd };
}

/** Upstream and downstream at once, timed; both compared by sha256 and length. */
async function bothWays(port: number, size: number, what: string): Promise<{ upS: number; downS: number }> {
  const t = performance.now();
  let upS = 0;
  let downS = 0;
  await Promise.all([
    sendUp(port, 21, size).then((answer) => {
      upS = (performance.now() - t) / 1000;
      expect(answer).toBe(`${prngDigest(21, size)} ${size}`);
    }),
    receiveDown(port, 22, size).then((got) => {
      downS = (performance.now() - t) / 1000;
      expect(got).toEqual({ sha256: prngDigest(22, size), bytes: size });
    }),
  ]);
  console.log(
    `${what}: ${size / MiB} MiB up in ${upS.toFixed(1)} s (${(size / 1e6 / upS).toFixed(2)} MB/s), down in ${downS.toFixed(1)} s (${(size / 1e6 / downS).toFixed(2)} MB/s)`,
  );
  return { upS, downS };
}

describe(`${SIZE / MiB} MiB each way through a native port forward, strict data plane`, () => {
  it("arrives byte-identical both ways at once, below MGS's limit and never cut by it", async () => {
    const { h, port, fwd } = await forwardWith();
    const { upS, downS } = await bothWays(port, SIZE, "strict");
    const channel = (await fwd.handles[0].live()!).channel;
    const upRate = channel.sendStats.sent / upS;
    const downRate = channel.stats.received / downS;
    console.log(
      `messages/s: ${upRate.toFixed(0)} up (pacer ${DEFAULT_MESSAGES_PER_SECOND}), ${downRate.toFixed(0)} down (the agent's pace); limit ${MGS_MESSAGES_PER_SECOND}; ${channel.stats.duplicates} duplicates re-acked and dropped`,
    );
    expect(h.dataPlane.injected!().rateLimited).toBe(0);
    expect(channel.stats.reconnects).toBe(0);
    expect(channel.stats.pausedPublication).toBe(0);
    expect(upRate).toBeLessThanOrEqual(MGS_MESSAGES_PER_SECOND);
    // The agent's missed acks: its resends arrive as duplicates, acked again and dropped.
    expect(channel.stats.duplicates).toBeGreaterThan(0);
  }, 600_000);

  it("is cut by the same data plane when the pacer is off: pause_publication, then close 1011", async () => {
    const { h, port, fwd } = await forwardWith({}, { messagesPerSecond: Infinity });
    // Unpaced, 16 MiB can be done in 1.5 s, inside the 2 s MGS forgives: a longer upload, stopped once cut.
    const upload = sendUp(port, 21, 256 * MiB).catch(() => "");
    const deadline = Date.now() + 30_000;
    while (h.dataPlane.injected!().rateLimited === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const channel = (await fwd.handles[0].live()!).channel;
    expect(h.dataPlane.injected!().rateLimited).toBeGreaterThanOrEqual(1);
    // pause_publication is on its way when the cut is counted; the close follows 100 ms later.
    while ((channel.stats.pausedPublication === 0 || channel.stats.reconnects === 0) && Date.now() < deadline + 5000)
      await new Promise((r) => setTimeout(r, 20));
    expect(channel.stats.pausedPublication).toBeGreaterThanOrEqual(1);
    expect(channel.stats.reconnects).toBeGreaterThanOrEqual(1);
    await fwd.stop();
    await upload;
  }, 120_000);

  it(`arrives byte-identical (${FAULT_SIZE / MiB} MiB) with 1 % of frames dropped, duplicated and reordered both ways`, async () => {
    const one = { in: 0.01, out: 0.01 };
    const { port, fwd } = await forwardWith({ drop: one, duplicate: one, reorder: one });
    await bothWays(port, FAULT_SIZE, "1 % drop/dup/reorder");
    const channel = (await fwd.handles[0].live()!).channel;
    expect(channel.stats.duplicates).toBeGreaterThan(0);
    // About 1 % of our frames and 1 % of the agent's acks are lost: each costs one resend.
    const sent = channel.sendStats;
    console.log(`client resent ${sent.resent} of ${sent.sent} (${sent.fastResent} fast, ${sent.timeouts} on timeout)`);
    expect(sent.resent).toBeGreaterThan(0.01 * sent.sent);
    expect(sent.resent).toBeLessThan(0.05 * sent.sent);
  }, 900_000);

  it(`arrives byte-identical (${FAULT_SIZE / MiB} MiB) through forced 1000 "Bye" closes, resumed onto a new StreamUrl each time; an old one is refused`, async () => {
    const { h, port, fwd } = await forwardWith({ closeAfterSeconds: 1 });
    await bothWays(port, FAULT_SIZE, "Bye every second");
    const channel = (await fwd.handles[0].live()!).channel;
    expect(channel.stats.reconnects).toBeGreaterThanOrEqual(1);
    // A reconnect resends what was unacknowledged, at most one window; nothing is queued beyond it.
    const sent = channel.sendStats;
    console.log(`client resent ${sent.resent} of ${sent.sent} across ${channel.stats.reconnects} reconnects`);
    expect(sent.resent).toBeLessThanOrEqual(channel.stats.reconnects * DEFAULT_SEND_WINDOW + 0.01 * sent.sent);
    expect(h.calls.resume).toBe(channel.stats.reconnects);
    expect(h.calls.start).toBe(1);
    // Every resume moved the session to a new StreamUrl, and the client followed each one.
    expect(new Set(h.streamUrls).size).toBe(h.streamUrls.length);
    expect(h.streamUrls.length).toBe(1 + channel.stats.reconnects);
    const old = new WebSocket(h.streamUrls[0]!);
    const status = await new Promise<number>((done) => old.once("unexpected-response", (_req, res) => done(res.statusCode ?? 0)));
    expect(status).toBe(403);
  }, 900_000);
});

describe("many connections and slow readers", () => {
  it("completes 200 concurrent connections through one forward", async () => {
    const { port, h } = await forwardWith();
    const texts = Array.from({ length: 200 }, (_, i) => `connection ${i} `.repeat(200 + i));
    const answers = await Promise.all(texts.map((t) => echoOnce(port, t)));
    answers.forEach((a, i) => expect(a).toBe(`ECHO\n${texts[i]}`));
    expect(h.calls.start).toBe(1);
  }, 300_000);

  it("keeps RSS bounded while a reader stops for 10 s during a fast download, then delivers every byte", async () => {
    // In a process of its own, the agent unpaced: client, data plane and target together stay under
    // the bound. Alone it peaks at 160–195 MB; on a busy machine the GC runs later (214 MB seen).
    // Buffering the stalled download instead of pushing back would hold its 256 MiB on top of the ~100 MB baseline.
    const { stdout } = await run(TSX, [SLOW_READER], { env: { ...process.env, TRANSFER_MIB: String(SLOW_READER_MIB) }, timeout: 300_000 });
    const result = JSON.parse(stdout.trim().split("\n").pop()!) as { sha256: string; bytes: number; expected: string; peakRss: number };
    console.log(`peak RSS ${(result.peakRss / 1e6).toFixed(0)} MB during a ${SLOW_READER_MIB} MiB download with a 10 s stall`);
    expect(result.bytes).toBe(SLOW_READER_MIB * MiB);
    expect(result.sha256).toBe(result.expected);
    expect(result.sha256).toBe(prngDigest(22, SLOW_READER_MIB * MiB));
    expect(result.peakRss).toBeLessThan(280e6);
  }, 600_000);
});
