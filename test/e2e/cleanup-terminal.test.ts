// cleanup-orphans at a terminal, as a person runs it: under a real pty it shows the plan and asks
// before changing anything. Ctrl-C at the question is a quiet 130 and a closed terminal is a "no":
// nothing is removed either way and no process of the terminal is left; "y" applies the plan.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { eventually } from "../support/eventually.ts";
import { watchDenials } from "../support/iam.ts";
import { seedSweepWorld, type SeededWorld } from "../support/orphans.ts";
import { startPty, type Pty } from "../support/pty.ts";
import { REPO } from "./portforward-harness.ts";

let cloud: LocalCloud;
let world: SeededWorld;
const terminals: Pty[] = [];
const CLEANUP = `node --import tsx ${join(REPO, "scripts/cleanup-orphans.mts")} --env stg`;
const QUESTION = "Apply 8 action(s)?";

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 50, pendingMs: 50 }, stopTimeoutMs: 2000 });
  world = await seedSweepWorld(cloud, { orphans: 2, healthy: 1 });
}, 120_000);

// As the sweeper, holding exactly docker/iam/sweeper.json: any call refused fails the test.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await Promise.all(terminals.map((t) => t.close()));
  world?.stop();
  await cloud?.stop();
});

function terminal(): Pty {
  const pty = startPty({
    cwd: REPO,
    env: { ...process.env, ...cloud.env, ...cloud.principalEnv("sweeper"), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  });
  terminals.push(pty);
  return pty;
}

/** The orphans still in the cloud, by kind. */
async function orphansLeft(): Promise<Record<string, string[]>> {
  const s = await cloud.state();
  const running = new Set(s.tasks.filter((t) => t.desiredStatus === "RUNNING").map((t) => t.taskArn));
  const instances = new Set(s.instances.map((i) => i.instanceId));
  const parameters = new Set(s.parameters.map((p) => p.name));
  const activations = new Set(s.activations.map((a) => a.activationId));
  return {
    tasks: world.orphans.tasks.filter((t) => running.has(t)),
    instances: world.orphans.instances.filter((i) => instances.has(i)),
    parameters: world.orphans.parameters.filter((p) => parameters.has(p)),
    activations: world.orphans.activations.filter((a) => activations.has(a)),
  };
}

it("Ctrl-C at the question: a quiet 130, nothing removed", async () => {
  const before = await orphansLeft();
  expect(Object.values(before).flat()).toHaveLength(8);
  const pty = terminal();
  await pty.run(CLEANUP);
  await pty.waitFor(QUESTION);
  pty.type("\x03");
  expect(await pty.exitStatus()).toBe(130);
  expect(pty.text()).not.toMatch(/force closed|Error|at .*\.ts:\d+/);
  expect(await orphansLeft()).toEqual(before);
}, 60_000);

it("the terminal closed at the question: nothing removed, no process left", async () => {
  const before = await orphansLeft();
  const pty = terminal();
  await pty.run(CLEANUP);
  await pty.waitFor(QUESTION);
  await pty.close();
  await eventually(async () => (pty.processes().length === 0 ? true : undefined), 30_000, "the terminal's processes to exit").catch((error: Error) => {
    throw new Error(`${error.message}: ${pty.processes().join("; ")}`);
  });
  expect(await orphansLeft()).toEqual(before);
}, 60_000);

it("y at the question applies the plan: every orphan goes", async () => {
  const pty = terminal();
  await pty.run(CLEANUP);
  await pty.waitFor(QUESTION);
  pty.type("y\r");
  expect(await pty.exitStatus()).toBe(0);
  expect(await orphansLeft()).toEqual({ tasks: [], instances: [], parameters: [], activations: [] });
}, 60_000);
