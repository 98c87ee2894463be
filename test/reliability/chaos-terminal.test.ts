// Lifecycle chaos under a real terminal (RELIABILITY_TERMINAL_LIFECYCLES, default 3): portforward
// run at a pty, through make or not, on either path, under faults, ended by closing the terminal at
// a random phase. Each must leave nothing — by itself, since a closed terminal is a stop it can
// handle — and no process of the terminal may outlive it.
import { expect, it } from "vitest";
import { chaosSeeds, describePlan, planTerminalLifecycle, runChaos, summarize } from "./chaos.ts";

const COUNT = Number(process.env.RELIABILITY_TERMINAL_LIFECYCLES ?? 3);

it(
  `${COUNT} lifecycles in a terminal that is closed leave nothing behind`,
  async () => {
    const { seeds, base } = chaosSeeds(COUNT);
    console.log(
      `chaos-terminal: ${seeds.length} lifecycles, ${base === undefined ? `seeds ${seeds.join(",")}` : `seeds ${base}…${seeds.at(-1)} (CHAOS_SEED=${base})`}`,
    );
    const run = await runChaos({
      seeds,
      lanes: 1,
      plan: planTerminalLifecycle,
      onLifecycle: (life) =>
        process.env.CHAOS_VERBOSE === "1" &&
        console.log(`seed ${life.plan.seed} ${(life.durationMs / 1000).toFixed(1)} s: ${describePlan(life.plan)} → ${life.hit}; ${life.notes.join(", ")}`),
    });
    console.log(`chaos-terminal: ${JSON.stringify(summarize(run.lifecycles))}`);
    expect(run.failures.join("\n\n"), run.failures.join("\n\n")).toBe("");
    expect(run.lifecycles).toHaveLength(seeds.length);
  },
  20 * 60_000,
);
