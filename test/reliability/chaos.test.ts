// Lifecycle chaos in CI size (RELIABILITY_LIFECYCLES, default 30; `make soak` runs 300): every
// lifecycle must leave nothing behind — by itself after a stop it could handle, and after one
// cleanup-orphans --yes whatever happened. A failure prints the seed and the leaked resources.
import { expect, it } from "vitest";
import { chaosSeeds, describePlan, runChaos, summarize } from "./chaos.ts";
import { writeReport } from "./report.ts";

const COUNT = Number(process.env.RELIABILITY_LIFECYCLES ?? 30);
const LANES = Number(process.env.RELIABILITY_LANES ?? 2);

it(
  `${COUNT} randomized lifecycles under faults and kills leave nothing behind`,
  async () => {
    const { seeds, base } = chaosSeeds(COUNT);
    console.log(
      `chaos: ${seeds.length} lifecycles in ${LANES} lanes, ${base === undefined ? `seeds ${seeds.join(",")}` : `seeds ${base}…${seeds.at(-1)} (CHAOS_SEED=${base})`}`,
    );
    const verbose = process.env.CHAOS_VERBOSE === "1";
    const run = await runChaos({
      seeds,
      lanes: LANES,
      onLifecycle: (life) =>
        verbose &&
        console.log(`seed ${life.plan.seed} ${(life.durationMs / 1000).toFixed(1)} s: ${describePlan(life.plan)} → ${life.hit}; ${life.notes.join(", ")}`),
    });
    const summary = summarize(run.lifecycles);
    writeReport("chaos", { ...summary, seeds });
    console.log(`chaos: ${JSON.stringify(summary)}`);
    expect(run.failures.join("\n\n"), run.failures.join("\n\n")).toBe("");
    expect(run.lifecycles).toHaveLength(seeds.length);
  },
  60 * 60_000,
);
