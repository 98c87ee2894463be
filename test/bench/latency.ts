// Tunnel latency: p50/p99 of SELECT 1 round trips through a native port forward to the local
// PostgreSQL (through the local cloud's bastion task), beside the same queries sent directly.
import pg from "pg";
import { startLocalCloud } from "../localcloud/index.ts";
import { databaseEndpoint, startBastion } from "../support/bastion.ts";
import { startForwardProcess, type ForwardProcess } from "../support/forward-process.ts";
import { figure, round, series, type Figure } from "./stats.ts";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function roundTrips(config: pg.ClientConfig, count: number): Promise<{ p50: number; p99: number }> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    for (let i = 0; i < 50; i++) await client.query("SELECT 1"); // warm-up
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await client.query("SELECT 1");
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  } finally {
    await client.end();
  }
}

export async function runLatencyBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const count = quick ? 500 : 2000;
  const runs = 5;
  const cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  let bastion: Awaited<ReturnType<typeof startBastion>> | undefined;
  let forward: ForwardProcess | undefined;
  try {
    bastion = await startBastion(cloud);
    const db = await databaseEndpoint(cloud);
    // The forward runs in its own process, as an operator's does; the cloud runs in this one.
    forward = await startForwardProcess(cloud, bastion.target, [{ localPort: 0, host: db.host, remotePort: db.port }]);
    const pgUser = { user: cloud.postgres!.user, database: cloud.postgres!.database };
    const viaTunnel: Array<{ p50: number; p99: number }> = [];
    const direct: Array<{ p50: number; p99: number }> = [];
    for (let i = 0; i < runs; i++) {
      direct.push(await roundTrips({ ...pgUser, host: cloud.postgres!.host, port: cloud.postgres!.port }, count));
      viaTunnel.push(await roundTrips({ ...pgUser, host: "127.0.0.1", port: forward.ports[0] }, count));
    }
    const ms = (xs: number[]) => xs.map((x) => round(x, 3));
    const p50 = series(`through the tunnel, p50 of ${count}`, ms(viaTunnel.map((r) => r.p50)));
    const directP50 = series(`direct to PostgreSQL, p50 of ${count}`, ms(direct.map((r) => r.p50)));
    return [
      figure({
        id: "latency.p50",
        title: "Tunnel latency: SELECT 1 round trip, p50",
        unit: "ms",
        better: "lower",
        measured: p50,
        baselines: [directP50],
        target: { text: "p50 overhead ≤ 1 ms over direct", met: p50.median - directP50.median <= 1 },
      }),
      figure({
        id: "latency.p99",
        title: "Tunnel latency: SELECT 1 round trip, p99",
        unit: "ms",
        better: "lower",
        measured: series(`through the tunnel, p99 of ${count}`, ms(viaTunnel.map((r) => r.p99))),
        baselines: [series(`direct to PostgreSQL, p99 of ${count}`, ms(direct.map((r) => r.p99)))],
      }),
    ];
  } finally {
    await forward?.stop();
    await bastion?.stop();
    await cloud.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runLatencyBench({ quick: process.argv.includes("--quick") }), null, 2));
}
