// Fan-out over a pool: 200 concurrent connections × 64 KiB echo through one forward holding up to 8
// sessions, beside the same through one session, in one run on the strict model; completion time
// and the peak RSS of the forwarding process (bundled as shipped, in its own process).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalCloud } from "../localcloud/index.ts";
import { startBastion } from "../support/bastion.ts";
import { bundleForwardFixture, startForwardProcess } from "../support/forward-process.ts";
import { echoOnce, startEcho } from "./fanout.ts";
import { figure, round, series, type Figure } from "./stats.ts";

const CONNECTIONS = 200;
const POOL = 8;

export async function runPoolFanoutBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const rounds = quick ? 2 : 3;
  const cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  const echo = await startEcho();
  const bastion = await startBastion(cloud);
  const dir = mkdtempSync(join(tmpdir(), "pool-fanout-"));
  const bundle = await bundleForwardFixture(dir);
  const forwardTo = [{ localPort: 0, host: "127.0.0.1", remotePort: echo.port }];
  const measure = async (sessions: number) => {
    const forward = await startForwardProcess(cloud, bastion.target, forwardTo, { bundle, forwardOptions: { sessions } });
    const times: number[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        await Promise.all(Array.from({ length: CONNECTIONS }, () => echoOnce(forward.ports[0])));
        times.push(round(performance.now() - t0, 0));
      }
      return { times, peak: round(forward.peakRssMb(), 0) };
    } finally {
      await forward.stop();
    }
  };
  try {
    const one = await measure(1);
    const pool = await measure(POOL);
    return [
      figure({
        id: "pool.fanout.time",
        title: `Fan-out over a pool: ${CONNECTIONS} concurrent connections × 64 KiB echo through one forward of up to ${POOL} sessions`,
        unit: "ms",
        better: "lower",
        measured: series(`${POOL} sessions (every connection completed)`, pool.times),
        baselines: [series("1 session", one.times)],
      }),
      figure({
        id: "pool.fanout.rss",
        title: `Fan-out over a pool: peak RSS of the forwarding process, ${POOL} sessions`,
        unit: "MB",
        better: "lower",
        measured: series(`peak RSS over ${rounds} rounds, ${POOL} sessions`, [pool.peak]),
        baselines: [series("1 session, same rounds", [one.peak]), series("limit", [200])],
        target: { text: "RSS < 200 MB", met: pool.peak < 200 },
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
  console.log(JSON.stringify(await runPoolFanoutBench({ quick: process.argv.includes("--quick") }), null, 2));
}
