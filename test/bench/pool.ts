// Throughput of a pool of sessions behind one forward: 8 concurrent connections each pulling (then
// pushing) SIZE bytes, every byte checked by sha256, through 1, 2, 4 and 8 sessions, beside the same
// workload through AWS's plugin design (one session, a 1 KiB read and a 1 ms sleep per message) — all
// in one run, on the local cloud's strict data plane (the agent's 1 KiB + 1 ms pacing per session,
// MGS's 1000 messages/s per session). The forward runs in its own process, bundled as shipped; the
// local cloud, the target and the 8 clients share this one. CPU time of both processes per phase
// says what limits a figure on a small machine.
//   tsx test/bench/pool.ts [--quick] [--size=MiB] [--sessions=1,8] [--directions=down] [--no-plugin]
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalCloud } from "../localcloud/index.ts";
import { startBastion } from "../support/bastion.ts";
import { bundleForwardFixture, startForwardProcess, type ForwardProcess } from "../support/forward-process.ts";
import { prngDigest, startTargetServer } from "../unit/session/native-harness.ts";
import { receiveDown, sendUp } from "../unit/session/client.ts";
import { figure, round, series, type Figure } from "./stats.ts";

const MiB = 1024 * 1024;
const CONNECTIONS = 8;
export const POOL_SIZES = [1, 2, 4, 8];

interface Phase {
  mbps: number;
  /** CPU seconds per wall second: the forwarding process, and this one (local cloud, target, clients). */
  forwardCpu: number;
  cloudCpu: number;
  /** Seconds per wall second the main thread was runnable but waited for a CPU (/proc/<pid>/schedstat): the machine's contention. */
  forwardWait: number;
  cloudWait: number;
  sessions: number;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Seconds the main thread has waited on a run queue so far. */
function waitSeconds(pid: number | "self"): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[1]) / 1e9;
}

async function phase(forward: ForwardProcess, run: () => Promise<unknown>, bytes: number, openSessions: () => Promise<number>): Promise<Phase> {
  const pid = forward.pid();
  const cpu0 = cpuSeconds(pid);
  const own0 = process.cpuUsage();
  const wait0 = [waitSeconds(pid), waitSeconds("self")];
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  const forwardWait = (waitSeconds(pid) - wait0[0]) / seconds;
  const cloudWait = (waitSeconds("self") - wait0[1]) / seconds;
  return {
    mbps: bytes / 1e6 / seconds,
    forwardCpu: (cpuSeconds(pid) - cpu0) / seconds,
    cloudCpu: (own.user + own.system) / 1e6 / seconds,
    forwardWait,
    cloudWait,
    sessions: await openSessions(),
  };
}

export interface PoolFigures {
  size: number;
  down: Record<string, Phase>;
  up: Record<string, Phase>;
  rateLimited: number;
}

export async function measurePool(
  opts: { quick?: boolean; sizeMiB?: number; sizes?: number[]; directions?: Array<"down" | "up">; plugin?: boolean } = {},
): Promise<PoolFigures> {
  const directions = opts.directions ?? ["down", "up"];
  const size = (opts.sizeMiB ?? (opts.quick ? 4 : 32)) * MiB;
  const sizes = opts.sizes ?? POOL_SIZES;
  const cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  const target = await startTargetServer();
  const bastion = await startBastion(cloud);
  const dir = mkdtempSync(join(tmpdir(), "pool-bench-"));
  const bundle = await bundleForwardFixture(dir);
  const forwardTo = [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }];
  const openSessions = async () => (await cloud.state()).sessions.filter((s) => s.target === bastion.target && s.status !== "Terminated").length;
  const result: PoolFigures = { size, down: {}, up: {}, rateLimited: 0 };
  const injected0 = await rateLimitCuts(cloud.endpoint);
  try {
    const cases: Array<[string, Record<string, unknown>]> = [
      ...sizes.map((n): [string, Record<string, unknown>] => [`native, ${n} session${n === 1 ? "" : "s"}`, { sessions: n }]),
      ...(opts.plugin === false
        ? []
        : [
            ["AWS's plugin design, 1 session (1 KiB read + 1 ms sleep per message)", { sessions: 1, paceMs: 1, messagesPerSecond: 1e9 }] as [
              string,
              Record<string, unknown>,
            ],
          ]),
    ];
    for (const [label, options] of cases) {
      const forward = await startForwardProcess(cloud, bastion.target, forwardTo, { bundle, forwardOptions: options });
      try {
        const port = forward.ports[0];
        const seeds = Array.from({ length: CONNECTIONS }, (_, i) => i + 1);
        for (const dir of directions) {
          // The expected digests are computed before the clock starts: only the transfer is timed.
          const offset = dir === "down" ? 0 : 100;
          const expected = seeds.map((seed) => `${prngDigest(seed + offset, size)} ${size}`);
          let got: string[] = [];
          result[dir][label] = await phase(
            forward,
            async () => {
              got = await Promise.all(
                seeds.map((seed) => (dir === "down" ? receiveDown(port, seed, size).then((g) => `${g.sha256} ${g.bytes}`) : sendUp(port, seed + offset, size))),
              );
            },
            CONNECTIONS * size,
            openSessions,
          );
          got.forEach((g, i) => {
            if (g !== expected[i]) throw new Error(`${label}: ${dir === "down" ? "downstream" : "upstream"} connection ${i + 1} differs (${g})`);
          });
          const p = result[dir][label];
          process.stderr.write(
            `  pool: ${label}, ${dir === "down" ? "downstream" : "upstream"} ${round(p.mbps, 2)} MB/s (CPU s/s: forward ${round(p.forwardCpu, 2)}, cloud ${round(p.cloudCpu, 2)})\n`,
          );
        }
      } finally {
        await forward.stop();
      }
    }
    result.rateLimited = (await rateLimitCuts(cloud.endpoint)) - injected0;
    return result;
  } finally {
    await bastion.stop();
    await target.close();
    await cloud.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rateLimitCuts(endpoint: string): Promise<number> {
  const res = await fetch(`${endpoint}/_localcloud/faults/injected`);
  const body = (await res.json()) as { dataChannel?: { rateLimited: number } };
  return body.dataChannel?.rateLimited ?? 0;
}

export async function runPoolBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const f = await measurePool({ quick });
  if (f.rateLimited !== 0) throw new Error(`MGS's rate limit cut ${f.rateLimited} WebSocket(s) during the pool runs`);
  const mib = f.size / MiB;
  const labels = Object.keys(f.down);
  const one = labels[0];
  const plugin = labels.at(-1)!;
  const cpuNote = (dir: "down" | "up") =>
    `${dir === "down" ? "Downstream" : "Upstream"} CPU (CPU s per wall s; forwarding process / local cloud + target + clients): ` +
    labels
      .map(
        (l) =>
          `${l.replace(/ \(.*\)$/, "")}: ${round(f[dir][l].forwardCpu, 2)} / ${round(f[dir][l].cloudCpu, 2)} (waiting for a CPU: ${round(f[dir][l].forwardWait, 2)} / ${round(f[dir][l].cloudWait, 2)})`,
      )
      .join("; ") +
    ".";
  const figures: Figure[] = [];
  for (const dir of ["down", "up"] as const) {
    for (const label of labels.slice(1, -1)) {
      const n = Number(/(\d+) sessions/.exec(label)![1]);
      const measured = series(`${label} (${f[dir][label].sessions} open at the end)`, [round(f[dir][label].mbps, 2)]);
      const ratio = f[dir][label].mbps / f[dir][one].mbps;
      figures.push(
        figure({
          id: `pool.${dir}.${n}`,
          title: `Pool throughput ${dir === "down" ? "downstream" : "upstream"}: ${CONNECTIONS} connections × ${mib} MiB through ${n} sessions, strict model, sha256-checked`,
          unit: "MB/s",
          better: "higher",
          measured,
          baselines: [series(one, [round(f[dir][one].mbps, 2)]), series(plugin, [round(f[dir][plugin].mbps, 2)])],
          ...(n === 8 && dir === "down" ? { target: { text: "≥ 6 × one session", met: ratio >= 6 } } : {}),
          ...(label === labels.at(-2) ? { notes: [cpuNote(dir)] } : {}),
        }),
      );
    }
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes("--quick");
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const f = await measurePool({
    quick,
    sizeMiB: arg("size") ? Number(arg("size")) : undefined,
    sizes: arg("sessions")?.split(",").map(Number),
    directions: arg("directions")?.split(",") as Array<"down" | "up"> | undefined,
    plugin: !process.argv.includes("--no-plugin"),
  });
  console.log(JSON.stringify(f, null, 2));
}
