// make bench: every benchmark against fresh local clouds, one report. Writes BENCHMARKS.md at the
// repository root and the raw figures beside this file (test/bench/results.json). `--quick` for CI-sized runs.
//   tsx test/bench/run.mts [--quick] [--only id,id]
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, release, platform } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { round, series, figure, type Figure, type Series } from "./stats.ts";

const ROOT = join(import.meta.dirname, "../..");
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values: args } = parseArgs({ options: { quick: { type: "boolean", default: false }, only: { type: "string" }, out: { type: "string" } } });
const quick = args.quick ?? false;
const only = args.only?.split(",");

interface Bench {
  id: string;
  title: string;
  run(): Promise<Figure[]>;
}

const benches: Bench[] = [
  { id: "tunnel", title: "Time to tunnel", run: async () => optional("./tunnel.ts", "runTunnelBench") },
  { id: "throughput", title: "Tunnel throughput", run: throughputFigures },
  { id: "pool", title: "Session pool throughput", run: async () => (await import("./pool.ts")).runPoolBench({ quick }) },
  { id: "pg-dump", title: "pg_dump through a session pool", run: async () => (await import("./pg-dump.ts")).runPgDumpBench({ quick }) },
  { id: "pool-fanout", title: "Fan-out over a session pool", run: async () => (await import("./pool-fanout.ts")).runPoolFanoutBench({ quick }) },
  { id: "latency", title: "Tunnel latency", run: async () => optional("./latency.ts", "runLatencyBench") },
  { id: "fanout", title: "Connection fan-out", run: async () => optional("./fanout.ts", "runFanoutBench") },
  { id: "entrypoint", title: "Entrypoint", run: entrypointFigures },
  { id: "sweeper", title: "Sweeper", run: async () => (await import("./sweeper.ts")).runSweeperBench({ quick }) },
  { id: "cli", title: "CLI start", run: async () => (await import("./cli-start.ts")).runCliStartBench({ quick }) },
];

/** A benchmark module that may not exist yet: its absence is reported, never papered over. */
async function optional(path: string, name: string): Promise<Figure[]> {
  const file = join(import.meta.dirname, path);
  if (!existsSync(file)) throw new Error(`not built yet (${path} does not exist)`);
  const mod = (await import(path)) as Record<string, (o: { quick: boolean }) => Promise<Figure[]>>;
  return mod[name]({ quick });
}

async function entrypointFigures(): Promise<Figure[]> {
  const { runEntrypointBench } = await import("./entrypoint.ts");
  const f = await runEntrypointBench({ quick });
  const s = (label: string, x: { values: number[] }) => series(label, x.values);
  const start = s("entrypoint bundle, CMD start", f.cmdStartMs.bundle);
  const stop300 = s("SIGTERM → exit, SSM latency 300 ms", f.stopMs.ssmLatency300);
  return [
    figure({
      id: "entrypoint.cmd-start",
      title: "Entrypoint: CMD start delay (CreateActivation at 500 ms latency)",
      unit: "ms",
      better: "lower",
      measured: start,
      baselines: [s("bare node running the same CMD", f.cmdStartMs.baseline), s("entrypoint via tsx", f.cmdStartMs.tsx)],
      target: { text: "≤ 100 ms added over bare node", met: start.median - series("", f.cmdStartMs.baseline.values).median <= 100 },
    }),
    figure({
      id: "entrypoint.stop-0",
      title: "Entrypoint: SIGTERM → exit with full cleanup, SSM latency 0 ms",
      unit: "ms",
      better: "lower",
      measured: s("SIGTERM → exit, SSM latency 0 ms", f.stopMs.ssmLatency0),
      baselines: [s("bare node exiting on SIGTERM", f.stopMs.baseline)],
    }),
    figure({
      id: "entrypoint.stop-300",
      title: "Entrypoint: SIGTERM → exit with full cleanup, SSM latency 300 ms",
      unit: "ms",
      better: "lower",
      measured: stop300,
      baselines: [s("bare node exiting on SIGTERM", f.stopMs.baseline)],
      target: { text: "≤ 3 s", met: stop300.median <= 3000 },
    }),
  ];
}

async function throughputFigures(): Promise<Figure[]> {
  const { runThroughputBench } = await import("./throughput.ts");
  const f = await runThroughputBench({ quick });
  if (f.strictCuts !== 0) throw new Error(`the strict model's rate limit cut the native client ${f.strictCuts} time(s)`);
  const mb = (xs: number[]) => xs.map((x) => round(x, 2));
  const plugin = series("AWS's plugin design on the strict model (1 KiB read + 1 ms sleep per message)", mb(f.pluginUp.runs));
  const unpacedUp = series("native client, unpaced emulator (our ceiling, not AWS's)", mb(f.unpacedUp.runs));
  const unpacedDown = series("native client, unpaced emulator (our ceiling, not AWS's)", mb(f.unpacedDown.runs));
  const directUp = series("direct loopback TCP to the same target", mb(f.directUp.runs));
  const directDown = series("direct loopback TCP from the same target", mb(f.directDown.runs));
  const up = series("native client, strict model (900 messages/s pacer, 1 KiB messages)", mb(f.strictUp.runs));
  const down = series("native client, strict model (the agent's 1 KiB + 1 ms)", mb(f.strictDown.runs));
  return [
    figure({
      id: "throughput.up",
      title: "Tunnel throughput upstream, one session, strict model (MGS ≤1000 messages/s)",
      unit: "MB/s",
      better: "higher",
      measured: up,
      baselines: [plugin, unpacedUp, directUp],
      target: { text: "≥ the plugin's design, never cut by the rate limit", met: up.median >= plugin.median && f.strictCuts === 0 },
    }),
    figure({
      id: "throughput.up.messages",
      title: "Messages per second upstream, one session, strict model (MGS cuts a session above ≈1000)",
      unit: "msg/s",
      better: "higher",
      measured: series(
        "native client, strict model",
        f.strictUpMessages.runs.map((x) => round(x, 0)),
      ),
      baselines: [series("MGS's limit", [1000])],
      target: { text: "≤ 1000", met: f.strictUpMessages.max <= 1000 },
    }),
    figure({
      id: "throughput.down",
      title: "Tunnel throughput downstream, one session, strict model (the agent's 1 KiB + 1 ms)",
      unit: "MB/s",
      better: "higher",
      measured: down,
      baselines: [unpacedDown, directDown],
    }),
    figure({
      id: "throughput.down.messages",
      title: "Messages per second downstream, one session, strict model",
      unit: "msg/s",
      better: "higher",
      measured: series(
        "native client, strict model",
        f.strictDownMessages.runs.map((x) => round(x, 0)),
      ),
      baselines: [series("MGS's limit", [1000])],
      target: { text: "≤ 1000", met: f.strictDownMessages.max <= 1000 },
    }),
  ];
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** Whole numbers from 100, two decimals from 1 (and 0), two significant digits below. */
function fmt(x: number): string {
  if (Math.abs(x) >= 100) return String(round(x, 0));
  if (Math.abs(x) >= 1 || x === 0) return String(round(x, 2));
  return x.toPrecision(2);
}
const cell = (s: Series) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}, n=${s.runs.length})`;

function render(report: Report): string {
  const lines = [
    "# Benchmarks",
    "",
    `Generated by \`make bench${report.quick ? " ARGS=--quick" : ""}\` on ${report.date} at commit ${report.commit}. Every figure is the median (min–max, number of runs) measured in this run, beside its baseline(s) measured in the same run; the ratio is measured ÷ first baseline. Regenerate with \`make bench\`; nothing here is typed by hand.`,
    "",
    `Machine: ${report.machine.cpu} × ${report.machine.cores} cores, ${report.machine.memoryGiB} GiB, ${report.machine.os}, Node ${report.machine.node}. Shared and noisy: compare figures within one report, not across reports.`,
    "",
  ];
  for (const section of report.sections) {
    lines.push(`## ${section.title}`, "");
    const quickNote = section.quick === undefined || section.quick === report.quick ? "" : ` ${section.quick ? "with" : "without"} --quick`;
    if (section.commit && section.commit !== report.commit)
      lines.push(`Measured on ${section.date} at commit ${section.commit}${quickNote} (re-run with --only ${section.id}).`, "");
    if (section.load)
      lines.push(
        `Load average (1 min) of the machine: ${section.load[0]} when this section started, ${section.load[1]} when it ended (${report.machine.cores} cores).`,
        "",
      );
    if (section.error) {
      lines.push(`Not measured: ${section.error}`, "");
      continue;
    }
    lines.push("| figure | measured | baseline | ratio | target |", "|---|---|---|---|---|");
    for (const f of section.figures) {
      const baselines = f.baselines.map((b) => `${b.label}: ${cell(b)}`).join("<br>");
      const target = f.target ? `${f.target.met ? "✓ met" : "✗ falls short"}: ${f.target.text}` : "—";
      lines.push(
        `| ${f.title} | ${f.measured.label}: **${cell(f.measured)}** ${f.unit} | ${baselines} | ${f.ratio === undefined ? "—" : `× ${fmt(f.ratio)}`} | ${target} |`,
      );
    }
    const notes = section.figures.flatMap((f) => f.notes ?? []);
    if (notes.length) lines.push("", ...notes.map((n) => `- ${n}`));
    lines.push("");
  }
  return lines.join("\n");
}

interface Report {
  date: string;
  commit: string;
  quick: boolean;
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string };
  sections: Section[];
}

interface Section {
  id: string;
  title: string;
  figures: Figure[];
  error?: string;
  seconds: number;
  /** When, at which commit and whether with --quick this section was measured (differs from the report's after --only). */
  date?: string;
  commit?: string;
  quick?: boolean;
  /** The machine's 1-minute load average when the section started and ended. */
  load?: [number, number];
}

const report: Report = {
  date: new Date().toISOString(),
  commit: git(["rev-parse", "--short", "HEAD"]) + (git(["status", "--porcelain", "--untracked-files=no"]) ? " (with uncommitted changes)" : ""),
  quick,
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
  },
  sections: [],
};

let failed = 0;
for (const bench of benches.filter((b) => !only || only.includes(b.id))) {
  const started = Date.now();
  const load0 = round(loadavg()[0], 1);
  const load = (): [number, number] => [load0, round(loadavg()[0], 1)];
  process.stderr.write(`bench: ${bench.title}…\n`);
  try {
    const figures = await bench.run();
    report.sections.push({ id: bench.id, title: bench.title, figures, seconds: round((Date.now() - started) / 1000, 1), load: load() });
    for (const f of figures)
      process.stderr.write(`  ${f.title}: ${fmt(f.measured.median)} ${f.unit}${f.target ? ` (${f.target.met ? "meets" : "misses"} ${f.target.text})` : ""}\n`);
  } catch (error) {
    failed++;
    report.sections.push({
      id: bench.id,
      title: bench.title,
      figures: [],
      error: (error as Error).message.split("\n")[0],
      seconds: round((Date.now() - started) / 1000, 1),
      load: load(),
    });
    process.stderr.write(`  failed: ${(error as Error).message.split("\n")[0]}\n`);
  }
}

const out = args.out ?? ROOT;
/** The raw figures: beside this file, or in --out with the report. */
const raw = args.out ? join(args.out, "results.json") : join(import.meta.dirname, "results.json");
// --only re-measures some sections: the others are kept from the last report, marked with their own date and commit.
if (only && existsSync(raw)) {
  const previous = JSON.parse(readFileSync(raw, "utf8")) as Report;
  const fresh = new Map(report.sections.map((x) => [x.id, { ...x, date: report.date, commit: report.commit, quick: report.quick }]));
  const kept = previous.sections.map(
    (x) => fresh.get(x.id) ?? { ...x, date: x.date ?? previous.date, commit: x.commit ?? previous.commit, quick: x.quick ?? previous.quick },
  );
  report.sections = [...kept, ...[...fresh.values()].filter((x) => !kept.some((k) => k.id === x.id))];
}
writeFileSync(join(out, "BENCHMARKS.md"), render(report));
writeFileSync(raw, JSON.stringify(report, null, 2) + "\n");
process.stderr.write(`bench: wrote ${join(out, "BENCHMARKS.md")} and ${raw}${failed ? `; ${failed} benchmark(s) could not run` : ""}\n`);
process.exit(failed ? 1 : 0);
