// The chaos harness catches what it claims to catch: an entrypoint whose cleanup no longer
// deregisters the managed instance must fail it, with the seed and the leaked instance named.
// The mutant is scripts/entrypoint.mts itself, run with the cleanup's step list changed through its
// seam (CleanupDeps.steps: fixtures/mutant/), so it can never drift from the product it mutates.
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO } from "../e2e/entrypoint-harness.ts";
import { isGraceful, planLifecycle, runChaos } from "./chaos.ts";

const mutant = join(REPO, "test/reliability/fixtures/mutant/entrypoint-without-deregistration.mts");

/** Plans where an entrypoint process is stopped with SIGTERM during its session: it must clean up by itself. */
function gracefulEntrypointSeeds(count: number, from = 1): number[] {
  const seeds: number[] = [];
  for (let seed = from; seeds.length < count; seed++) {
    const plan = planLifecycle(seed);
    if (plan.kind === "entrypoint" && plan.moment === "session" && isGraceful(plan)) seeds.push(seed);
  }
  return seeds;
}

it("a mutant entrypoint that forgets to deregister fails the harness with a readable leak report", async () => {
  const seeds = gracefulEntrypointSeeds(3);
  const run = await runChaos({ seeds, lanes: 2, entrypoint: mutant });
  const registered = run.lifecycles.filter((l) => l.notes.includes("registered"));
  // Registration itself may fail under the injected faults; every lifecycle that registered must be caught.
  expect(registered.length).toBeGreaterThan(0);
  console.log(`the mutant's leak report:\n${run.failures.join("\n\n")}`);
  for (const life of registered) {
    const report = run.failures.find((f) => f.startsWith(`lifecycle seed ${life.plan.seed}:`));
    expect(report, `seed ${life.plan.seed} was not caught`).toBeDefined();
    const lines = report!.split("\n");
    expect(lines[0]).toMatch(new RegExp(`^lifecycle seed ${life.plan.seed}: entrypoint, SIGTERM during session; faults: `));
    expect(lines).toContain("  left behind by the program itself after a stop it could handle:");
    expect(lines.some((l) => /^ {4}- instance mi-[0-9a-f]{17} (Online|ConnectionLost) \(bastionless-chaos-.+, source host:.+\)$/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe(`  replay: CHAOS_SEEDS=${life.plan.seed} npx vitest run test/reliability/chaos.test.ts`);
    // The sweep is the safety net, not an excuse: the instance is gone after it.
    expect(life.leftAfterSweep).toEqual([]);
  }
}, 600_000);

it("the same plans against the real entrypoint leave nothing behind", async () => {
  const seeds = gracefulEntrypointSeeds(3);
  const run = await runChaos({ seeds, lanes: 2 });
  expect(run.failures.join("\n\n")).toBe("");
  expect(run.lifecycles.some((l) => l.notes.includes("registered"))).toBe(true);
}, 600_000);
