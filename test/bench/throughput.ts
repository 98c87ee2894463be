// Throughput of one native port-forward session, upstream and downstream MB/s and messages/s, on
// the strict data plane (the default: the agent's 1 KiB + 1 ms output, MGS's 1000 messages/s per
// direction, duplicate resends) — the per-session ceiling AWS allows — beside, in the same run:
// AWS's plugin design (a 1 KiB read and a 1 ms sleep per message) on the same strict plane, the
// unpaced emulator (UNPACED: our own ceiling, not AWS's), and direct loopback TCP to the same
// target. Median and spread of 5 runs each.
//   tsx test/bench/throughput.ts [--quick]
import { parseArgs } from "node:util";
import { startNativePortForward } from "../../lib/session/port.ts";
import { UNPACED } from "../localcloud/dataplane/index.ts";
import { prngDigest, startNativeHarness, startTargetServer, type NativeHarness } from "../unit/session/native-harness.ts";
import { receiveDown, sendUp } from "../unit/session/client.ts";

export interface Figure {
  /** Per run, then their median, min and max. */
  runs: number[];
  median: number;
  min: number;
  max: number;
  bytes: number;
}

export interface ThroughputFigures {
  /** The strict model (the default): MB/s and messages/s. */
  strictUp: Figure;
  strictDown: Figure;
  strictUpMessages: Figure;
  strictDownMessages: Figure;
  /** WebSockets the rate limit cut during the strict runs (must be 0). */
  strictCuts: number;
  /** The plugin's design, 1 KiB + 1 ms, on the strict model. */
  pluginUp: Figure;
  /** The unpaced emulator: our own ceiling. */
  unpacedUp: Figure;
  unpacedDown: Figure;
  /** Direct loopback TCP to the same target. */
  directUp: Figure;
  directDown: Figure;
}

const MiB = 1024 * 1024;
const RUNS = 5;

function figure(runs: number[], bytes: number): Figure {
  const sorted = [...runs].sort((a, b) => a - b);
  return { runs, median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1], bytes };
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

async function timedUp(port: number, seed: number, size: number): Promise<number> {
  const t = performance.now();
  const answer = await sendUp(port, seed, size);
  const ms = performance.now() - t;
  if (answer !== `${prngDigest(seed, size)} ${size}`) throw new Error(`upstream bytes differ (port ${port})`);
  return ms;
}

async function timedDown(port: number, seed: number, size: number): Promise<number> {
  const t = performance.now();
  const got = await receiveDown(port, seed, size);
  const ms = performance.now() - t;
  if (got.bytes !== size || got.sha256 !== prngDigest(seed, size)) throw new Error(`downstream bytes differ (port ${port})`);
  return ms;
}

async function forward(h: NativeHarness, targetPort: number, extra: { paceMs?: number; messagesPerSecond?: number } = {}) {
  const fwd = await startNativePortForward({
    clients: h.clients,
    region: "eu-west-1",
    target: "mi-0123456789abcdef0",
    forwards: [{ localPort: 0, remotePort: targetPort }],
    ...extra,
  });
  await fwd.ready;
  return fwd;
}

export async function runThroughputBench(opts: { quick?: boolean } = {}): Promise<ThroughputFigures> {
  // At ≈0.9 MB/s up and ≈0.7 MB/s down per session, the strict runs dominate: keep them small.
  const strictSize = (opts.quick ? 2 : 8) * MiB;
  const pluginSize = (opts.quick ? 1 : 2) * MiB;
  const fastSize = (opts.quick ? 16 : 64) * MiB;
  const target = await startTargetServer();
  const strict = await startNativeHarness();
  const unpaced = await startNativeHarness({ faults: UNPACED });
  try {
    const native = await forward(strict, target.port);
    // The plugin has no pacer of its own: its 1 ms sleep is what keeps it under MGS's limit.
    const plugin = await forward(strict, target.port, { paceMs: 1, messagesPerSecond: Infinity });
    const fast = await forward(unpaced, target.port, { messagesPerSecond: Infinity });
    const r = {
      su: [] as number[],
      sd: [] as number[],
      sum: [] as number[],
      sdm: [] as number[],
      pu: [] as number[],
      uu: [] as number[],
      ud: [] as number[],
      du: [] as number[],
      dd: [] as number[],
    };
    const channel = async () => (await native.handles[0].live()!).channel;
    for (let i = 0; i < RUNS; i++) {
      const sent = (await channel()).sendStats.sent;
      let ms = await timedUp(native.ports[0], 11, strictSize);
      r.su.push(mbps(strictSize, ms));
      r.sum.push((((await channel()).sendStats.sent - sent) * 1000) / ms);
      const received = (await channel()).stats.received;
      ms = await timedDown(native.ports[0], 12, strictSize);
      r.sd.push(mbps(strictSize, ms));
      r.sdm.push((((await channel()).stats.received - received) * 1000) / ms);
      r.pu.push(mbps(pluginSize, await timedUp(plugin.ports[0], 13, pluginSize)));
      r.uu.push(mbps(fastSize, await timedUp(fast.ports[0], 14, fastSize)));
      r.ud.push(mbps(fastSize, await timedDown(fast.ports[0], 15, fastSize)));
      r.du.push(mbps(fastSize, await timedUp(target.port, 16, fastSize)));
      r.dd.push(mbps(fastSize, await timedDown(target.port, 17, fastSize)));
    }
    const strictCuts = strict.dataPlane.injected!().rateLimited;
    await Promise.all([native.stop(), plugin.stop(), fast.stop()]);
    return {
      strictUp: figure(r.su, strictSize),
      strictDown: figure(r.sd, strictSize),
      strictUpMessages: figure(r.sum, strictSize),
      strictDownMessages: figure(r.sdm, strictSize),
      strictCuts,
      pluginUp: figure(r.pu, pluginSize),
      unpacedUp: figure(r.uu, fastSize),
      unpacedDown: figure(r.ud, fastSize),
      directUp: figure(r.du, fastSize),
      directDown: figure(r.dd, fastSize),
    };
  } finally {
    await target.close();
    await strict.close();
    await unpaced.close();
  }
}

export function formatThroughput(f: ThroughputFigures): string {
  const row = (name: string, x: Figure, unit = "MB/s") =>
    `${name.padEnd(44)} ${x.median.toFixed(2).padStart(9)} ${unit}  (min ${x.min.toFixed(2)}, max ${x.max.toFixed(2)}; ${x.runs.length} runs of ${x.bytes / MiB} MiB)`;
  return [
    "One native port-forward session:",
    row("strict model, upstream", f.strictUp),
    row("strict model, upstream", f.strictUpMessages, "msg/s"),
    row("strict model, downstream", f.strictDown),
    row("strict model, downstream", f.strictDownMessages, "msg/s"),
    `strict model, WebSockets cut by the rate limit: ${f.strictCuts}`,
    row("strict model, upstream, 1 KiB + 1 ms (plugin)", f.pluginUp),
    row("unpaced emulator, upstream", f.unpacedUp),
    row("unpaced emulator, downstream", f.unpacedDown),
    row("direct loopback TCP, upstream", f.directUp),
    row("direct loopback TCP, downstream", f.directDown),
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { quick: { type: "boolean" } } });
  console.log(formatThroughput(await runThroughputBench({ quick: values.quick })));
}
