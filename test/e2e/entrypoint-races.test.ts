// The entrypoint: stops that arrive mid-registration, and a throttled SSM, leave nothing behind.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { startEntrypoint, type EntrypointRun } from "./entrypoint-harness.ts";
import { entrypointRoleEnv, watchDenials } from "../support/iam.ts";

let cloud: LocalCloud;
/** The entrypoint runs as its task role, holding exactly docker/iam/entrypoint-task-role.json. */
let roleEnv: Record<string, string> = {};
const runs: EntrypointRun[] = [];
const start = (options: Omit<Parameters<typeof startEntrypoint>[0], "cloud">) => {
  const run = startEntrypoint({ cloud, ...options, env: { ...roleEnv, ...options.env } });
  runs.push(run);
  return run;
};

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "empty" });
});
afterAll(async () => {
  await cloud?.stop();
});
beforeEach(async () => {
  await cloud.reset();
  await cloud.setFaults({});
  roleEnv = await entrypointRoleEnv(cloud);
});
const noDenials = watchDenials(() => cloud);
afterEach(async () => {
  for (const run of runs.splice(0)) await run.dispose();
  // A call the local cloud refused fails the test, naming the action.
  noDenials();
});

async function expectNothingLeft(): Promise<void> {
  await cloud.setFaults({});
  const state = await cloud.state();
  expect(state.activations).toEqual([]);
  expect(state.instances).toEqual([]);
  expect(state.parameters).toEqual([]);
}

describe("SIGTERM during registration", () => {
  it("between CreateActivation and the register call: the activation is deleted, no instance stays", async () => {
    // The agent's RegisterManagedInstance is slow: SIGTERM lands while -register runs (with room
    // for a loaded machine between the activation and the signal).
    await cloud.setFaults({ "ssm:RegisterManagedInstance": { latencyMs: 6_000 } });
    const run = start({});
    const created = await run.waitForEvent("activation_created");
    expect(run.events().some((e) => e.event === "registered")).toBe(false);
    const state = await cloud.state();
    expect(state.activations.map((a) => a.activationId)).toEqual([created.activationId]);
    run.proc.kill("SIGTERM");
    const exit = await run.exited;
    expect(exit.code).toBe(143);
    expect(run.events().some((e) => e.event === "parameter_written")).toBe(false);
    await expectNothingLeft();
  });

  it("between register and PutParameter: the instance is deregistered, no parameter stays", async () => {
    await cloud.setFaults({ "ssm:PutParameter": { latencyMs: 1_500 } });
    const run = start({});
    const registered = await run.waitForEvent("registered");
    expect((await cloud.state()).instances.map((i) => i.instanceId)).toEqual([registered.instanceId]);
    run.proc.kill("SIGTERM");
    const exit = await run.exited;
    expect(exit.code).toBe(143);
    await expectNothingLeft();
  });

  it("right at the start (before the activation exists) there is nothing to remove", async () => {
    await cloud.setFaults({ "ssm:CreateActivation": { latencyMs: 1_000 } });
    const run = start({});
    await run.waitForEvent("app_started");
    run.proc.kill("SIGTERM");
    expect((await run.exited).code).toBe(143);
    await expectNothingLeft();
  });
});

describe("throttling", () => {
  it("every SSM operation throttled on its first call (50 % of calls): clean registration, clean shutdown", async () => {
    const throttleOnce = { failNext: { count: 1, code: "ThrottlingException", status: 400, message: "Rate exceeded" } };
    const operations = ["CreateActivation", "RegisterManagedInstance", "DeleteActivation", "PutParameter", "DeregisterManagedInstance", "DeleteParameter"];
    await cloud.setFaults(Object.fromEntries(operations.map((op) => [`ssm:${op}`, throttleOnce])));
    const run = start({});
    const done = await run.waitForEvent("registration_complete", 60_000);
    const state = await cloud.state();
    expect(state.activations).toEqual([]);
    expect(state.instances.map((i) => i.instanceId)).toEqual([done.instanceId]);
    expect(state.parameters.map((p) => p.value)).toEqual([done.instanceId]);
    expect(run.activationCodes()).toHaveLength(1);
    run.proc.kill("SIGTERM");
    expect((await run.exited).code).toBe(143);
    expect(
      run
        .events()
        .filter((e) => e.event === "cleanup_step")
        .every((e) => e.ok),
    ).toBe(true);
    // Each throttled call was retried: three at start (the agent retries its own), two at shutdown.
    expect(
      run
        .events()
        .filter((e) => e.event === "retry")
        .map((e) => e.step)
        .sort(),
    ).toEqual(["cleanup-instance", "cleanup-parameter", "create-activation", "delete-activation", "put-parameter"]);
    await expectNothingLeft();
  });

  it("a token bucket that throttles about half of the calls, and 5xx on some: still clean", async () => {
    // tps 2 with bursts of 1 across all of SSM: calls closer than 500 ms apart are throttled.
    await cloud.setFaults({ "ssm:*": { throttle: { tps: 2, burst: 1 }, errorRate: 0.1 } });
    const run = start({});
    const done = await run.waitForEvent("registration_complete", 60_000);
    expect((await cloud.state()).instances.map((i) => i.instanceId)).toEqual([done.instanceId]);
    await cloud.setFaults({ "ssm:*": { throttle: { tps: 2, burst: 1 }, errorRate: 0.1 } });
    run.proc.kill("SIGTERM");
    expect((await run.exited).code).toBe(143);
    await expectNothingLeft();
  });
});
