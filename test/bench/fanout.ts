// Connection fan-out: 200 concurrent connections through one native forward, each echoing 64 KiB
// through the local cloud's bastion task; completion time and the forwarding process's peak RSS,
// beside the same 200 connections made directly.
import { createServer, connect, type Server } from "node:net";
import { randomBytes } from "node:crypto";
import { startLocalCloud } from "../localcloud/index.ts";
import { startBastion } from "../support/bastion.ts";
import { bundleForwardFixture, startForwardProcess } from "../support/forward-process.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { figure, round, series, type Figure } from "./stats.ts";

const CONNECTIONS = 200;
const mb = (bytes: number) => round(bytes / 1e6, 0);
const BYTES = 64 * 1024;

/** A TCP echo server on loopback. */
export function startEcho(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.pipe(socket));
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port })));
}

/** One connection: 64 KiB out, the same 64 KiB back, compared. */
export function echoOnce(port: number): Promise<void> {
  const payload = randomBytes(BYTES);
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      if (received >= BYTES) {
        socket.end();
        Buffer.concat(chunks).equals(payload) ? resolve() : reject(new Error("echo mismatch"));
      }
    });
    socket.on("error", reject);
    socket.write(payload);
  });
}

async function fanOut(port: number): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, () => echoOnce(port)));
  return performance.now() - started;
}

export async function runFanoutBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const runs = quick ? 3 : 5;
  const cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  const echo = await startEcho();
  const bastion = await startBastion(cloud);
  // Measured as shipped: one esbuild bundle run by plain node, like dist/*.mjs.
  const dir = mkdtempSync(join(tmpdir(), "fanout-"));
  const bundle = await bundleForwardFixture(dir);
  const forwardTo = [{ localPort: 0, host: "127.0.0.1", remotePort: echo.port }];
  try {
    const measure = async (nodeOptions?: string) => {
      const forward = await startForwardProcess(cloud, bastion.target, forwardTo, { bundle, nodeOptions });
      const idle = forward.peakRssMb();
      const times: number[] = [];
      let atPeak: NodeJS.MemoryUsage | undefined;
      let peak = 0;
      try {
        for (let i = 0; i < runs; i++) times.push(await fanOut(forward.ports[0]));
        peak = forward.peakRssMb();
      } finally {
        atPeak = await forward.stop();
      }
      return { idle, times, peak, atPeak };
    };
    const direct: number[] = [];
    for (let i = 0; i < runs; i++) direct.push(await fanOut(echo.port));
    const plain = await measure();
    // The same process with a 2 MB young generation: how much of the peak is short-lived garbage.
    const smallYoung = await measure("--max-semi-space-size=2");
    return [
      figure({
        id: "fanout.time",
        title: `Fan-out: ${CONNECTIONS} concurrent connections × 64 KiB echo through one forward`,
        unit: "ms",
        better: "lower",
        measured: series(
          "through the tunnel (every connection completed)",
          plain.times.map((x) => round(x, 0)),
        ),
        baselines: [
          series(
            "direct to the same echo server",
            direct.map((x) => round(x, 0)),
          ),
        ],
      }),
      figure({
        id: "fanout.rss",
        title: "Fan-out: peak RSS of the forwarding process",
        unit: "MB",
        better: "lower",
        measured: series(`peak RSS over ${runs} rounds`, [round(plain.peak, 0)]),
        baselines: [series("limit", [200]), series("same, node --max-semi-space-size=2", [round(smallYoung.peak, 0)])],
        target: { text: "all connections complete with RSS < 200 MB", met: plain.peak < 200 },
        notes: [
          `The forwarding process used ${round(plain.idle, 0)} MB once ready, before any connection.`,
          ...(plain.atPeak
            ? [
                `At its highest sampled RSS (${mb(plain.atPeak.rss)} MB): V8 heap ${mb(plain.atPeak.heapUsed)} MB used of ${mb(plain.atPeak.heapTotal)} MB, ArrayBuffers ${mb(plain.atPeak.arrayBuffers)} MB — ` +
                  `the data in flight is ${round((CONNECTIONS * BYTES * 2) / 1e6, 0)} MB (64 KiB each way × ${CONNECTIONS}), held as frames kept for retransmission, smux and socket buffers; the rest is code and runtime.`,
              ]
            : []),
          smallYoung.peak < plain.peak - 20
            ? `With a 2 MB young generation the peak is ${round(smallYoung.peak, 0)} MB: the difference is short-lived garbage from per-message allocations on the data channel's hot path, not retained data.`
            : `With a 2 MB young generation the peak is ${round(smallYoung.peak, 0)} MB: young-generation garbage does not explain the peak.`,
        ],
      }),
    ];
  } finally {
    await bastion.stop();
    echo.server.close();
    await cloud.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runFanoutBench({ quick: process.argv.includes("--quick") }), null, 2));
}
