// Throughput of a native port forward against the local data plane without agent pacing:
// upstream and downstream MB/s, beside the plugin's design (1 KiB messages, 1 ms sleep after each)
// measured in the same run. Median and spread of ≥5 runs.
//   tsx test/bench/throughput.ts [--quick] [--payload-size N] [--mib N]
import { parseArgs } from "node:util";
import { startNativePortForward } from "../../lib/session/port.ts";
import { startNativeHarness, startTargetServer, prngDigest } from "../unit/session/native-harness.ts";
import { receiveDown, sendUp } from "../unit/session/client.ts";

export interface Figure {
  /** MB/s (10^6 bytes per second) of each run, then their median, min and max. */
  runs: number[];
  median: number;
  min: number;
  max: number;
  bytes: number;
}

export interface ThroughputFigures {
  payloadSize: number;
  upstream: Figure;
  downstream: Figure;
  /** Upstream with a 1 ms sleep after each 1 KiB message (the plugin's read loop). */
  pacedUpstream: Figure;
}

const MiB = 1024 * 1024;

function figure(runs: number[], bytes: number): Figure {
  const sorted = [...runs].sort((a, b) => a - b);
  return { runs, median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1], bytes };
}

export async function runThroughputBench(opts: { quick?: boolean; payloadSize?: number; mib?: number } = {}): Promise<ThroughputFigures> {
  const runs = 5;
  const size = (opts.mib ?? (opts.quick ? 16 : 64)) * MiB;
  const pacedSize = opts.quick ? MiB : 2 * MiB;
  const h = await startNativeHarness();
  const target = await startTargetServer();
  const forwardTo = [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }];
  const base = { clients: h.clients, region: "eu-west-1", target: "mi-0123456789abcdef0", forwards: forwardTo, payloadSize: opts.payloadSize };
  const fast = await startNativePortForward(base);
  const paced = await startNativePortForward({ ...base, payloadSize: 1024, paceMs: 1 });
  try {
    await Promise.all([fast.ready, paced.ready]);
    const up: number[] = [];
    const down: number[] = [];
    const slow: number[] = [];
    const upDigest = prngDigest(11, size);
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      const answer = await sendUp(fast.ports[0], 11, size);
      up.push(size / 1e6 / ((performance.now() - t) / 1000));
      if (answer !== `${upDigest} ${size}`) throw new Error(`upstream bytes differ in run ${i + 1}`);
      t = performance.now();
      const got = await receiveDown(fast.ports[0], 12, size);
      down.push(size / 1e6 / ((performance.now() - t) / 1000));
      if (got.bytes !== size) throw new Error(`downstream lost bytes in run ${i + 1}`);
      t = performance.now();
      await sendUp(paced.ports[0], 13, pacedSize);
      slow.push(pacedSize / 1e6 / ((performance.now() - t) / 1000));
    }
    return { payloadSize: opts.payloadSize ?? 1024, upstream: figure(up, size), downstream: figure(down, size), pacedUpstream: figure(slow, pacedSize) };
  } finally {
    await Promise.all([fast.stop(), paced.stop()]);
    await target.close();
    await h.close();
  }
}

export function formatThroughput(f: ThroughputFigures): string {
  const row = (name: string, x: Figure) =>
    `${name.padEnd(34)} ${x.median.toFixed(2).padStart(8)} MB/s  (min ${x.min.toFixed(2)}, max ${x.max.toFixed(2)}; ${x.runs.length} runs of ${x.bytes / MiB} MiB)`;
  return [
    `Native port forward against the local data plane (no agent pacing), ${f.payloadSize}-byte payloads:`,
    row("upstream, native", f.upstream),
    row("downstream, native", f.downstream),
    row("upstream, 1 KiB + 1 ms (plugin)", f.pacedUpstream),
    `upstream speed-up over the plugin's design: ×${(f.upstream.median / f.pacedUpstream.median).toFixed(1)}`,
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { quick: { type: "boolean" }, "payload-size": { type: "string" }, mib: { type: "string" } } });
  const figures = await runThroughputBench({
    quick: values.quick,
    payloadSize: values["payload-size"] ? Number(values["payload-size"]) : undefined,
    mib: values.mib ? Number(values.mib) : undefined,
  });
  console.log(formatThroughput(figures));
}
