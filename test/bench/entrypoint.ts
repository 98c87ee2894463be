// Benchmark of the entrypoint: how long the CMD waits to start while CreateActivation is
// slow (500 ms), and how long SIGTERM → exit takes at 0 and 300 ms of SSM latency. Every figure
// has its baseline from the same run: a bare `node` running the same CMD.
//
//   npx tsx test/bench/entrypoint.ts [--quick] [--json]
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { APP, buildBundle, startEntrypoint, type Runner } from "../e2e/entrypoint-harness.ts";
import { entrypointRoleEnv } from "../support/iam.ts";

export interface Stats {
  /** Every run's figure, in run order. */
  values: number[];
  runs: number;
  median: number;
  min: number;
  max: number;
}

export interface EntrypointBenchFigures {
  runs: number;
  /** Spawn → the CMD's first line of code, CreateActivation at 500 ms latency. */
  cmdStartMs: { baseline: Stats; bundle: Stats; tsx: Stats; addedByBundleMs: number; addedByTsxMs: number };
  /** SIGTERM → exit of the entrypoint (bundle), after registration, the CMD exiting on SIGTERM. */
  stopMs: { baseline: Stats; ssmLatency0: Stats; ssmLatency300: Stats };
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { values: values.map(Math.round), runs: sorted.length, median: Math.round(median), min: Math.round(sorted[0]), max: Math.round(sorted.at(-1)!) };
}

/** A bare `node app.mjs`: its start delay, then its SIGTERM → exit time. */
async function baselineRun(): Promise<{ startMs: number; stopMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "entrypoint-bench-"));
  const record = join(dir, "app-record");
  try {
    const spawnedAt = Date.now();
    const proc = spawn(process.execPath, [APP], { env: { ...process.env, APP_RECORD: record }, stdio: "ignore" });
    const exited = new Promise<number>((resolve) => proc.once("exit", () => resolve(Date.now())));
    // The file may exist before its line is complete: only a whole number counts.
    const startedAt = await waitFor(() => {
      const at = existsSync(record) ? Number(readFileSync(record, "utf8").split(" ")[1]) : NaN;
      return Number.isFinite(at) ? at : undefined;
    });
    const sentAt = Date.now();
    proc.kill("SIGTERM");
    const exitAt = await exited;
    return { startMs: startedAt - spawnedAt, stopMs: exitAt - sentAt };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function entrypointRun(cloud: LocalCloud, runner: Runner, stopLatencyMs: number | undefined): Promise<{ startMs: number; stopMs?: number }> {
  await cloud.reset();
  // As its task role, holding exactly docker/iam/entrypoint-task-role.json (a reset forgets IAM).
  const roleEnv = await entrypointRoleEnv(cloud);
  await cloud.setFaults({ "ssm:CreateActivation": { latencyMs: 500 } });
  const run = startEntrypoint({ cloud, runner, env: roleEnv });
  try {
    const startedAt = await waitFor(() => run.appRecord().find((r) => r.what === "start")?.at);
    const startMs = startedAt - run.spawnedAt;
    await run.waitForEvent("registration_complete");
    if (stopLatencyMs === undefined) {
      run.proc.kill("SIGTERM");
      await run.exited;
      return { startMs };
    }
    await cloud.setFaults(stopLatencyMs ? { "ssm:*": { latencyMs: stopLatencyMs } } : {});
    const sentAt = Date.now();
    run.proc.kill("SIGTERM");
    const exit = await run.exited;
    if (exit.code !== 143) throw new Error(`the entrypoint exited ${exit.code}, not 143:\n${run.stderr()}`);
    const state = await cloud.state();
    if (state.instances.length || state.parameters.length || state.activations.length) throw new Error("the entrypoint left something behind");
    return { startMs, stopMs: exit.at - sentAt };
  } finally {
    await run.dispose();
  }
}

export async function runEntrypointBench(options: { quick?: boolean } = {}): Promise<EntrypointBenchFigures> {
  const runs = options.quick ? 5 : 10;
  buildBundle();
  const cloud = await startLocalCloud({ world: "empty" });
  try {
    const baseline: Array<{ startMs: number; stopMs: number }> = [];
    const bundleStart: number[] = [];
    const tsxStart: number[] = [];
    const stop0: number[] = [];
    const stop300: number[] = [];
    // Interleaved, so that the machine's noise falls on every series alike.
    for (let i = 0; i < runs; i++) {
      baseline.push(await baselineRun());
      const a = await entrypointRun(cloud, "bundle", 0);
      bundleStart.push(a.startMs);
      stop0.push(a.stopMs!);
      const b = await entrypointRun(cloud, "bundle", 300);
      bundleStart.push(b.startMs);
      stop300.push(b.stopMs!);
      tsxStart.push((await entrypointRun(cloud, "tsx", undefined)).startMs);
    }
    const baseStart = stats(baseline.map((b) => b.startMs));
    const bundle = stats(bundleStart);
    const tsx = stats(tsxStart);
    return {
      runs,
      cmdStartMs: { baseline: baseStart, bundle, tsx, addedByBundleMs: bundle.median - baseStart.median, addedByTsxMs: tsx.median - baseStart.median },
      stopMs: { baseline: stats(baseline.map((b) => b.stopMs)), ssmLatency0: stats(stop0), ssmLatency300: stats(stop300) },
    };
  } finally {
    await cloud.stop();
  }
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 2));
  }
}

function report(f: EntrypointBenchFigures): string {
  const s = (x: Stats) => `median ${x.median} ms (min ${x.min}, max ${x.max}, n=${x.runs})`;
  return [
    `CMD start, CreateActivation at 500 ms latency:`,
    `  bare node (baseline)   ${s(f.cmdStartMs.baseline)}`,
    `  dist/entrypoint.mjs    ${s(f.cmdStartMs.bundle)}  → +${f.cmdStartMs.addedByBundleMs} ms over the baseline (target ≤ 100)`,
    `  tsx entrypoint.mts     ${s(f.cmdStartMs.tsx)}  → +${f.cmdStartMs.addedByTsxMs} ms (development only)`,
    `SIGTERM → exit (dist/entrypoint.mjs, cleanup included):`,
    `  bare node (baseline)   ${s(f.stopMs.baseline)}`,
    `  SSM latency 0 ms       ${s(f.stopMs.ssmLatency0)}`,
    `  SSM latency 300 ms     ${s(f.stopMs.ssmLatency300)}  (target < 3000)`,
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await runEntrypointBench({ quick: process.argv.includes("--quick") });
  process.stdout.write((process.argv.includes("--json") ? JSON.stringify(figures, null, 2) : report(figures)) + "\n");
}
