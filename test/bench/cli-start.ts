// CLI start: wall time of `--help` for each program, through tsx (development) and through its
// bundle (`npm run build`, what images and operators run), and of `bastionless tunnel --help` as a
// team installs it (npm pack, npm install -g into an empty prefix), beside a bare `node -e 0` in the same run.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { packAndInstall } from "../support/package.ts";
import { figure, repeat, round, series, type Figure } from "./stats.ts";

const ROOT = join(import.meta.dirname, "../..");
const PROGRAMS = ["entrypoint", "portforward", "exec", "cleanup-orphans"];

function timeRun(argv: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, AWS_REGION: "ap-northeast-1" } });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`${argv.join(" ")} exited ${code}: ${stderr.slice(-300)}`)),
    );
  });
}

export async function runCliStartBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const runs = quick ? 5 : 10;
  const node = await repeat(runs, () => timeRun([process.execPath, "-e", "0"]));
  const figures: Figure[] = [];
  for (const program of PROGRAMS) {
    const source = join(ROOT, "scripts", `${program}.mts`);
    const bundle = join(ROOT, "dist", `${program}.mjs`);
    if (!existsSync(source)) continue;
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build first (make bench does)`);
    const viaBundle = await repeat(runs, () => timeRun([process.execPath, bundle, "--help"]));
    const viaTsx = await repeat(runs, () => timeRun([join(ROOT, "node_modules/.bin/tsx"), source, "--help"]));
    const measured = series(
      `node dist/${program}.mjs --help`,
      viaBundle.map((x) => round(x, 0)),
    );
    figures.push(
      figure({
        id: `cli.${program}`,
        title: `CLI start: ${program} --help`,
        unit: "ms",
        better: "lower",
        measured,
        baselines: [
          series(
            "node -e 0",
            node.map((x) => round(x, 0)),
          ),
          series(
            `tsx scripts/${program}.mts --help`,
            viaTsx.map((x) => round(x, 0)),
          ),
        ],
        target: { text: "≤ 400 ms via the bundle", met: measured.median <= 400 },
      }),
    );
  }
  figures.push(await installedStart(runs, node));
  return figures;
}

/** `bastionless tunnel --help` from the installed package: the bin's shebang finds node on PATH; the programs' chunks stay unread. */
async function installedStart(runs: number, node: number[]): Promise<Figure> {
  const installed = packAndInstall();
  try {
    const viaBin = await repeat(runs, () => timeRun([installed.bin, "tunnel", "--help"]));
    const measured = series(
      "bastionless tunnel --help (installed from npm pack)",
      viaBin.map((x) => round(x, 0)),
    );
    return figure({
      id: "cli.bastionless-tunnel",
      title: "CLI start: bastionless tunnel --help, installed",
      unit: "ms",
      better: "lower",
      measured,
      baselines: [
        series(
          "node -e 0",
          node.map((x) => round(x, 0)),
        ),
      ],
      target: { text: "≤ 400 ms", met: measured.median <= 400 },
    });
  } finally {
    installed.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runCliStartBench({ quick: process.argv.includes("--quick") }), null, 2));
}
