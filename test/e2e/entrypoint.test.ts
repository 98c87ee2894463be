// The entrypoint as a real process against the local cloud.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { parameterName } from "../../lib/constants.ts";
import { eventually } from "../support/eventually.ts";
import { buildBundle, startEntrypoint, type EntrypointRun, type Runner } from "./entrypoint-harness.ts";
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
const PARAMETER = parameterName("stg", hostname());

beforeAll(async () => {
  buildBundle();
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
  const state = await cloud.state();
  expect(state.activations).toEqual([]);
  expect(state.instances).toEqual([]);
  expect(state.parameters).toEqual([]);
}

/** The activation code never reaches the output: not in the JSON logs, not in the app's stdout. */
function expectNoActivationCode(run: EntrypointRun): void {
  const codes = run.activationCodes();
  expect(codes.length).toBeGreaterThan(0);
  for (const code of codes) {
    expect(code.length).toBeGreaterThanOrEqual(20);
    expect(run.stdout()).not.toContain(code);
    expect(run.stderr()).not.toContain(code);
  }
}

describe.each<Runner>(["tsx", "bundle"])("start and stop (%s)", (runner) => {
  it("starts the CMD at once, registers beside it, and on SIGTERM cleans up and exits 143", async () => {
    await cloud.setFaults({ "ssm:CreateActivation": { latencyMs: 500 } });
    const run = start({ runner });

    // The app first: it is running before the slow CreateActivation has even answered.
    const created = await run.waitForEvent("activation_created");
    const appStart = run.appRecord().find((r) => r.what === "start");
    expect(appStart, "the CMD started").toBeDefined();
    expect(appStart!.at).toBeLessThan(Date.parse(created.time) - 400);
    // Generous: includes node (and tsx) start-up on a loaded machine; test/bench/entrypoint.ts has the
    // figure. "At once" is proven above: the CMD ran before the (slowed) activation was created.
    expect(appStart!.at - run.spawnedAt).toBeLessThan(5_000);

    const done = await run.waitForEvent("registration_complete");
    const state = await cloud.state();
    expect(state.activations).toEqual([]);
    expect(state.instances).toHaveLength(1);
    const [instance] = state.instances;
    expect(instance.instanceId).toBe(done.instanceId);
    expect(instance.instanceId).toMatch(/^mi-[0-9a-f]{17}$/);
    expect(instance.pingStatus).toBe("Online");
    expect(instance.tags).toEqual({
      "bastionless:managed-by": "bastionless",
      "bastionless:env": "stg",
      "bastionless:source": `host:${hostname()}`,
      "bastionless:created-at": expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(instance.name).toBe(`bastionless-stg-${hostname()}`);
    expect(state.parameters).toEqual([expect.objectContaining({ name: PARAMETER, value: instance.instanceId, type: "String" })]);
    // The agent keeps the instance alive with heartbeats.
    await eventually(async () => ((await cloud.state()).instances[0]?.agentPid ? true : undefined), 10_000, "an agent heartbeat");
    expectNoActivationCode(run);

    await cloud.setFaults({ "ssm:*": { latencyMs: 300 } });
    const sentAt = Date.now();
    run.proc.kill("SIGTERM");
    const exit = await run.exited;
    expect(exit.code).toBe(143);
    expect(exit.at - sentAt).toBeLessThan(3_000);
    const signalled = run.appRecord().find((r) => r.what === "signal SIGTERM");
    expect(signalled, "the CMD got SIGTERM").toBeDefined();
    expect(signalled!.at - sentAt).toBeLessThan(1_000);
    await cloud.setFaults({});
    await expectNothingLeft();
    const steps = run.events().filter((e) => e.event === "cleanup_step");
    expect(steps.map((s) => [s.step, s.ok]).sort()).toEqual(
      [
        ["activation", true],
        ["agent", true],
        ["instance", true],
        ["parameter", true],
      ].filter(([s]) => s !== "activation"),
    );
    expect(run.events().at(-1)).toMatchObject({ event: "exit", code: 143 });
    expectNoActivationCode(run);
  });
});

describe("the init contract", () => {
  it("a CMD that ignores SIGTERM is SIGKILLed at the deadline: exit 137, and the cleanup is done", async () => {
    const run = start({ env: { APP_IGNORE_SIGNALS: "true", BASTION_SHUTDOWN_TIMEOUT: "2s" } });
    await run.waitForEvent("registration_complete");
    const sentAt = Date.now();
    run.proc.kill("SIGTERM");
    const exit = await run.exited;
    expect(exit.code).toBe(137);
    expect(exit.at - sentAt).toBeGreaterThanOrEqual(1_900);
    expect(exit.at - sentAt).toBeLessThan(6_000);
    expect(run.appRecord().map((r) => r.what)).toEqual(["start", "signal SIGTERM"]);
    expect(run.events().find((e) => e.event === "app_killed")).toBeDefined();
    await expectNothingLeft();
  });

  it("the CMD exiting 7 on its own → cleanup → exit 7", async () => {
    const run = start({ env: { APP_EXIT_CODE: "7", APP_EXIT_AFTER_MS: "0" } });
    // Registration is still under way when the app is gone: whatever it made is removed.
    const exit = await run.exited;
    expect(exit.code).toBe(7);
    expect(run.events().find((e) => e.event === "shutdown_started")?.reason).toBe("app exited 7");
    await expectNothingLeft();
  });

  it("the CMD exiting 7 after registration → cleanup → exit 7", async () => {
    // The app exits when told to, once the instance is there: not after a fixed time a loaded machine may overrun.
    const exitFile = join(mkdtempSync(join(tmpdir(), "app-exit-")), "exit");
    const run = start({ env: { APP_EXIT_CODE: "7", APP_EXIT_ON_FILE: exitFile } });
    await run.waitForEvent("registration_complete");
    expect((await cloud.state()).instances).toHaveLength(1);
    writeFileSync(exitFile, "");
    expect((await run.exited).code).toBe(7);
    await expectNothingLeft();
  });

  it.each(["SIGINT", "SIGHUP", "SIGQUIT"] as const)("%s is forwarded too and ends in 128 + n", async (signal) => {
    const run = start({});
    await run.waitForEvent("registration_complete");
    run.proc.kill(signal);
    const exit = await run.exited;
    expect(exit.code).toBe({ SIGINT: 130, SIGHUP: 129, SIGQUIT: 131 }[signal]);
    expect(run.appRecord().map((r) => r.what)).toEqual(["start", `signal ${signal}`]);
    await expectNothingLeft();
  });
});

describe("configuration and permissions", () => {
  it("a missing BASTION_IAM_ROLE and malformed BASTION_TAGS are reported in one message; exit 2; no CMD", async () => {
    const run = start({ env: { BASTION_IAM_ROLE: undefined, BASTION_TAGS: "team=core,broken" } });
    const exit = await run.exited;
    expect(exit.code).toBe(2);
    const fatal = run.events().filter((e) => e.level === "error");
    expect(fatal).toHaveLength(1);
    expect(fatal[0].msg).toMatch(/BASTION_IAM_ROLE is missing/);
    expect(fatal[0].msg).toMatch(/BASTION_TAGS is malformed .*"broken" is not key=value/);
    expect(run.appRecord()).toEqual([]);
    expect(run.events().some((e) => e.event === "app_started")).toBe(false);
    await expectNothingLeft();
  });

  it("AccessDenied on CreateActivation names ssm:CreateActivation, is not retried, and the app keeps running", async () => {
    await cloud.setFaults({
      "ssm:CreateActivation": {
        failNext: {
          count: 1000,
          code: "AccessDeniedException",
          status: 400,
          message: "User: arn:aws:iam::123456789012:user/app is not authorized to perform: ssm:CreateActivation",
        },
      },
    });
    const run = start({});
    const failed = await run.waitForEvent("registration_failed");
    expect(failed.step).toBe("create-activation");
    expect(failed.error).toMatch(/ssm:CreateActivation .*was denied: allow "ssm:CreateActivation"/);
    expect(run.events().filter((e) => e.event === "retry")).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(run.proc.exitCode).toBeNull();
    expect(run.appRecord().map((r) => r.what)).toEqual(["start"]);
    run.proc.kill("SIGTERM");
    expect((await run.exited).code).toBe(143);
    await expectNothingLeft();
  });

  it("with BASTION_REQUIRED=true a failed registration fails the container (exit 1, app stopped)", async () => {
    await cloud.setFaults({ "ssm:CreateActivation": { failNext: { count: 1000, code: "AccessDeniedException", status: 400 } } });
    const run = start({ env: { BASTION_REQUIRED: "true" } });
    const exit = await run.exited;
    expect(exit.code).toBe(1);
    expect(run.appRecord().map((r) => r.what)).toEqual(["start", "signal SIGTERM"]);
    await expectNothingLeft();
  });

  it("BASTION_DISABLED=true runs the CMD and nothing else", async () => {
    const run = start({ env: { BASTION_DISABLED: "true", BASTION_IAM_ROLE: undefined, APP_EXIT_CODE: "5", APP_EXIT_AFTER_MS: "300" } });
    expect((await run.exited).code).toBe(5);
    expect(run.activationCodes()).toEqual([]);
    await expectNothingLeft();
  });
});
