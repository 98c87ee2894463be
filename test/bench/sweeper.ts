// Sweeper throughput: orphan instances removed per second through a 20 TPS throttle on
// DeregisterManagedInstance, against the floor that rate allows and a shell loop over AWS CLI v1.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { seedSweepWorld } from "../support/orphans.ts";
import { figure, repeat, round, series, type Figure } from "./stats.ts";

const ROOT = join(import.meta.dirname, "../..");
const TPS = 20;

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Both sweeps run as the sweeper, holding exactly docker/iam/sweeper.json (its keys change with each reset). */
function asSweeper(cloud: LocalCloud): Record<string, string> {
  return { ...cloud.env, ...cloud.principalEnv("sweeper") };
}

async function sweepOnce(cloud: LocalCloud, count: number): Promise<number> {
  await cloud.reset();
  const world = await seedSweepWorld(cloud, { orphans: count, healthy: 0, kinds: ["instances"] });
  world.stop();
  await cloud.setFaults({ "ssm:DeregisterManagedInstance": { throttle: { tps: TPS } } });
  const started = performance.now();
  const out = await run(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "scripts/cleanup-orphans.mts"), "--env", "stg", "--yes", "--json"], asSweeper(cloud));
  const seconds = (performance.now() - started) / 1000;
  await cloud.setFaults({});
  const counts = out.code === 0 ? JSON.parse(out.stdout).counts : undefined;
  if (!counts || counts.succeeded !== count || counts.failed !== 0) throw new Error(`sweep failed (exit ${out.code}): ${out.stderr.slice(-500)}`);
  return seconds;
}

async function cliLoopOnce(cloud: LocalCloud, count: number): Promise<number> {
  await cloud.reset();
  const world = await seedSweepWorld(cloud, { orphans: count, healthy: 0, kinds: ["instances"] });
  world.stop();
  await cloud.setFaults({ "ssm:DeregisterManagedInstance": { throttle: { tps: TPS } } });
  const ids = world.orphans.instances.join(" ");
  const started = performance.now();
  const out = await run(
    "bash",
    ["-c", `for id in ${ids}; do aws ssm deregister-managed-instance --instance-id "$id" >/dev/null || exit 1; done`],
    asSweeper(cloud),
  );
  const seconds = (performance.now() - started) / 1000;
  await cloud.setFaults({});
  if (out.code !== 0) throw new Error(`aws CLI loop failed: ${out.stderr.slice(-500)}`);
  return seconds;
}

export async function runSweeperBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const count = quick ? 200 : 400;
  const loopCount = quick ? 20 : 50;
  const runs = quick ? 1 : 5;
  if (spawnSync("aws", ["--version"]).status !== 0) throw new Error("the AWS CLI is not installed: python3 -m pip install awscli");
  const cloud = await startLocalCloud({ world: "demo", postgres: false });
  try {
    const sweep = await repeat(runs, () => sweepOnce(cloud, count));
    const loop = await repeat(runs, () => cliLoopOnce(cloud, loopCount));
    const floor = count / TPS;
    const rate = series(
      `cleanup-orphans, ${count} instances`,
      sweep.map((s) => round(count / s)),
    );
    return [
      figure({
        id: "sweeper.time",
        title: `Sweeper: ${count} orphan instances through a ${TPS} TPS throttle`,
        unit: "s",
        better: "lower",
        measured: series(
          `cleanup-orphans --yes (whole run)`,
          sweep.map((s) => round(s)),
        ),
        baselines: [series(`rate floor (${count} / ${TPS} TPS)`, [floor])],
        target: { text: "≤ 1.25 × the rate floor", met: series("", sweep).median <= 1.25 * floor },
      }),
      figure({
        id: "sweeper.rate",
        title: "Sweeper: instances removed per second",
        unit: "items/s",
        better: "higher",
        measured: rate,
        baselines: [
          series(
            `shell loop over aws ssm deregister-managed-instance (CLI v1), ${loopCount} instances`,
            loop.map((s) => round(loopCount / s)),
          ),
        ],
      }),
    ];
  } finally {
    await cloud.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runSweeperBench({ quick: process.argv.includes("--quick") });
  console.log(JSON.stringify(figures, null, 2));
}
