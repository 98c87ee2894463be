// Big transfers through a native port forward against the data plane: byte-identical (sha256)
// plain, under 1 % drop/duplicate/reorder, and across forced 1000 "Bye" closes; 200 concurrent
// connections; a reader that stops for 10 s while the target sends as fast as it can.
// TRANSFER_MIB sets the size (default 256, the figure). Resends are bounded too: a loss
// costs one resend, a reconnect at most one window.
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_SEND_WINDOW } from "../../../lib/session/channel.ts";
import { startNativePortForward } from "../../../lib/session/port.ts";
import { prngDigest, startNativeHarness, startTargetServer, type NativeHarness } from "./native-harness.ts";
import { echoOnce, receiveDown, sendUp } from "./client.ts";
import type { DataChannelFaults } from "../../localcloud/dataplane/types.ts";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { resolve } from "node:path";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../../..");
const TSX = resolve(ROOT, "node_modules/.bin/tsx");
const SLOW_READER = resolve(ROOT, "test/fixtures/slow-reader.mts");

const MiB = 1024 * 1024;
const SIZE = Number(process.env.TRANSFER_MIB ?? 256) * MiB;
const up = prngDigest(21, SIZE);
const down = prngDigest(22, SIZE);

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function forwardWith(faults: DataChannelFaults = {}) {
  const h: NativeHarness = await startNativeHarness({ faults });
  const target = await startTargetServer();
  const fwd = await startNativePortForward({ clients: h.clients, region: "eu-west-1", target: "mi-0123456789abcdef0", forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }] });
  cleanup.push(async () => {
    await fwd.stop();
    await target.close();
    await h.close();
  });
  await fwd.ready;
  return { h, port: fwd.ports[0], fwd };
}

/** Upstream then downstream, timed; both compared by sha256 and length. */
async function bothWays(port: number, what: string): Promise<void> {
  let t = performance.now();
  expect(await sendUp(port, 21, SIZE)).toBe(`${up} ${SIZE}`);
  const upS = (performance.now() - t) / 1000;
  t = performance.now();
  expect(await receiveDown(port, 22, SIZE)).toEqual({ sha256: down, bytes: SIZE });
  const downS = (performance.now() - t) / 1000;
  console.log(`${what}: ${SIZE / MiB} MiB up in ${upS.toFixed(1)} s (${(SIZE / 1e6 / upS).toFixed(1)} MB/s), down in ${downS.toFixed(1)} s`);
}

describe(`${SIZE / MiB} MiB each way through a native port forward`, () => {
  it("arrives byte-identical", async () => {
    const { port } = await forwardWith();
    await bothWays(port, "plain");
  }, 600_000);

  it("arrives byte-identical with 1 % of frames dropped, duplicated and reordered both ways", async () => {
    const one = { in: 0.01, out: 0.01 };
    const { port, fwd } = await forwardWith({ drop: one, duplicate: one, reorder: one });
    await bothWays(port, "1 % drop/dup/reorder");
    const channel = (await fwd.handles[0].live()!).channel;
    expect(channel.stats.duplicates).toBeGreaterThan(0);
    // About 1 % of our frames and 1 % of the agent's acks are lost: each costs one resend.
    const sent = channel.sendStats;
    console.log(`client resent ${sent.resent} of ${sent.sent} (${sent.fastResent} fast, ${sent.timeouts} on timeout)`);
    expect(sent.resent).toBeGreaterThan(0.01 * sent.sent);
    expect(sent.resent).toBeLessThan(0.05 * sent.sent);
  }, 900_000);

  it("arrives byte-identical through forced 1000 \"Bye\" closes (ResumeSession, no byte lost)", async () => {
    const { h, port, fwd } = await forwardWith({ closeAfterSeconds: 1 });
    await bothWays(port, "Bye every second");
    const channel = (await fwd.handles[0].live()!).channel;
    expect(channel.stats.reconnects).toBeGreaterThanOrEqual(1);
    // A reconnect resends what was unacknowledged, at most one window; nothing is queued beyond it.
    const sent = channel.sendStats;
    console.log(`client resent ${sent.resent} of ${sent.sent} across ${channel.stats.reconnects} reconnects`);
    expect(sent.resent).toBeLessThanOrEqual(channel.stats.reconnects * DEFAULT_SEND_WINDOW + 0.01 * sent.sent);
    expect(h.calls.resume).toBe(channel.stats.reconnects);
    expect(h.calls.start).toBe(1);
  }, 900_000);
});

describe("many connections and slow readers", () => {
  it("completes 200 concurrent connections through one forward", async () => {
    const { port, h } = await forwardWith();
    const texts = Array.from({ length: 200 }, (_, i) => `connection ${i} `.repeat(2000 + i));
    const answers = await Promise.all(texts.map((t) => echoOnce(port, t)));
    answers.forEach((a, i) => expect(a).toBe(`ECHO\n${texts[i]}`));
    expect(h.calls.start).toBe(1);
  }, 300_000);

  it("keeps RSS bounded while a reader stops for 10 s during a fast download, then delivers every byte", async () => {
    // In a process of its own: client, data plane and target together stay under the bound. Alone it
    // peaks at 160–195 MB; on a busy machine the GC runs later (214 MB seen). Buffering the stalled
    // download instead of pushing back would hold its 256 MiB on top of the ~100 MB baseline.
    const { stdout } = await run(TSX, [SLOW_READER], { env: { ...process.env, TRANSFER_MIB: String(SIZE / MiB) }, timeout: 300_000 });
    const result = JSON.parse(stdout.trim().split("\n").pop()!) as { sha256: string; bytes: number; expected: string; peakRss: number };
    console.log(`peak RSS ${(result.peakRss / 1e6).toFixed(0)} MB during a ${SIZE / MiB} MiB download with a 10 s stall`);
    expect(result.bytes).toBe(SIZE);
    expect(result.sha256).toBe(result.expected);
    expect(result.sha256).toBe(down);
    expect(result.peakRss).toBeLessThan(280e6);
  }, 600_000);
});
