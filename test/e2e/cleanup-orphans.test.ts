// cleanup-orphans against the local cloud: exactly the orphans go, everything else stays.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { watchDenials } from "../support/iam.ts";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import { ourTags } from "../../lib/constants.ts";
import { cloudClients } from "../support/clients.ts";
import { seedSweepWorld, type SeededWorld } from "../support/orphans.ts";
import { runScript } from "../support/run.ts";

/** No sooner than the longest test here gives up: a sweep of 200 orphans of each kind is slow by design. */
const SWEEP_LIMIT_MS = 240_000;

async function sweep(cloud: LocalCloud, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  // As the sweeper, holding exactly docker/iam/sweeper.json.
  const { code, stdout, stderr } = await runScript("scripts/cleanup-orphans.mts", args, {
    env: { ...cloud.env, ...cloud.principalEnv("sweeper") },
    timeoutMs: SWEEP_LIMIT_MS,
  });
  return { code, stdout, stderr, ms: Date.now() - started };
}

type Report = {
  dryRun: boolean;
  plan: { actions: Array<{ kind: string; id: string; action: string; reason: string }>; kept: Array<{ kind: string; id: string; reason: string }> };
  results: Array<{ id: string; ok: boolean; detail: string }>;
  counts: { planned: number; failed: number; succeeded: number };
};
const idsOf = (report: Report, kind: string) =>
  report.plan.actions
    .filter((a) => a.kind === kind)
    .map((a) => a.id)
    .sort();

async function inventory(cloud: LocalCloud) {
  const s = await cloud.state();
  return {
    activations: s.activations.map((a) => a.activationId).sort(),
    instances: s.instances.map((i) => i.instanceId).sort(),
    parameters: s.parameters.map((p) => p.name).sort(),
    runningTasks: s.tasks
      .filter((t) => t.desiredStatus === "RUNNING")
      .map((t) => t.taskArn)
      .sort(),
  };
}

describe("cleanup-orphans with 200 orphans of each kind and 50 healthy bastions", () => {
  let cloud: LocalCloud;
  let world: SeededWorld;
  const N = 200;
  beforeAll(async () => {
    cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 50, pendingMs: 50 }, stopTimeoutMs: 2000 });
    world = await seedSweepWorld(cloud, { orphans: N, healthy: 50 });
  }, 240_000);
  // The sweeper runs as itself: any call refused fails the test, naming the action.
  afterEach(watchDenials(() => cloud));
  afterAll(async () => {
    world?.stop();
    await cloud?.stop();
  });

  it("plans exactly the orphans in a dry run and changes nothing", async () => {
    const before = await inventory(cloud);
    const run = await sweep(cloud, ["--env", "stg", "--dry-run", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.dryRun).toBe(true);
    expect(idsOf(report, "task")).toEqual([...world.orphans.tasks].sort());
    expect(idsOf(report, "instance")).toEqual([...world.orphans.instances].sort());
    expect(idsOf(report, "parameter")).toEqual([...world.orphans.parameters].sort());
    expect(idsOf(report, "activation")).toEqual([...world.orphans.activations].sort());
    expect(report.counts.planned).toBe(4 * N);
    const kept = new Map(report.plan.kept.map((k) => [k.id, k.reason]));
    for (const t of world.healthy.tasks) expect(kept.get(t)).toMatch(/^running for \d+(s|ms|m\d*s?), under --task-ttl 12h$/);
    for (const i of world.healthy.instances) expect(kept.get(i)).toBe("online, its task is RUNNING");
    for (const p of world.healthy.parameters) expect(kept.get(p)).toMatch(/^its instance mi-[0-9a-f]{17} is registered$/);
    // The untagged look-alike task has no env tag either: with --env it is not even considered.
    expect(report.plan.actions.map((a) => a.id)).not.toContain(world.lookAlikes.tasks[0]);
    expect(kept.get(world.lookAlikes.parameters[0])).toBe("not ours: no bastionless:managed-by tag");
    expect(await inventory(cloud)).toEqual(before);
  }, 180_000);

  it("removes exactly the orphans with --yes, and a second run is a no-op", async () => {
    const before = await inventory(cloud);
    const run = await sweep(cloud, ["--env", "stg", "--yes", "--json"]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.counts).toMatchObject({ planned: 4 * N, succeeded: 4 * N, failed: 0 });
    // One JSON log line per item on stderr, none of them a failure.
    const events = run.stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events.filter((e) => e.event === "cleanup.item")).toHaveLength(4 * N);

    const after = await inventory(cloud);
    const gone = (list: string[], removed: string[]) => list.filter((x) => !removed.includes(x));
    expect(after.activations).toEqual(gone(before.activations, world.orphans.activations));
    expect(after.instances).toEqual(gone(before.instances, world.orphans.instances));
    expect(after.parameters).toEqual(gone(before.parameters, world.orphans.parameters));
    expect(after.runningTasks).toEqual(gone(before.runningTasks, world.orphans.tasks));
    for (const id of [...world.healthy.instances, ...world.lookAlikes.instances]) expect(after.instances).toContain(id);
    for (const id of [...world.healthy.parameters, ...world.lookAlikes.parameters]) expect(after.parameters).toContain(id);
    for (const id of [...world.healthy.tasks, ...world.lookAlikes.tasks]) expect(after.runningTasks).toContain(id);
    expect(after.activations).toEqual(world.lookAlikes.activations);

    const again = await sweep(cloud, ["--env", "stg", "--yes", "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).counts).toMatchObject({ planned: 0, succeeded: 0, failed: 0 });
  }, 240_000);
});

describe("cleanup-orphans under throttling and failures", () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await startLocalCloud({ world: "demo", postgres: false });
  }, 120_000);
  afterEach(watchDenials(() => cloud));
  afterAll(async () => cloud?.stop());

  it("removes every instance through a 20 TPS throttle on DeregisterManagedInstance", async () => {
    const world = await seedSweepWorld(cloud, { orphans: 60, healthy: 0, kinds: ["instances"] });
    world.stop();
    await cloud.setFaults({ "ssm:DeregisterManagedInstance": { throttle: { tps: 20 } } });
    const run = await sweep(cloud, ["--env", "stg", "--yes", "--json"]);
    await cloud.setFaults({});
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).counts).toMatchObject({ planned: 60, succeeded: 60, failed: 0 });
    expect((await cloud.state()).instances.filter((i) => world.orphans.instances.includes(i.instanceId))).toEqual([]);
  }, 180_000);

  it("reports each failed item, exits 1, and a second run finishes the job", async () => {
    // A cloud on real time: with a skewed clock the SDK retries every error as a skew correction.
    await cloud.stop();
    cloud = await startLocalCloud({ world: "demo", postgres: false, connectionLostAfterMs: 300 });
    const world = await seedSweepWorld(cloud, { orphans: 20, healthy: 0, kinds: ["instances", "parameters", "activations"], ageHours: 0 });
    world.stop();
    await new Promise((r) => setTimeout(r, 1500));
    const denied = { failNext: { count: 6, code: "AccessDeniedException", status: 400, message: "not authorized (injected)" } };
    await cloud.setFaults({ "ssm:DeregisterManagedInstance": denied, "ssm:DeleteParameter": denied, "ssm:DeleteActivation": denied });
    const first = await sweep(cloud, ["--env", "stg", "--yes", "--stale-after", "1s"]);
    expect(first.code).toBe(1);
    const failedLines = first.stdout.split("\n").filter((l) => l.startsWith("  failed: "));
    expect(failedLines).toHaveLength(18);
    for (const kind of ["deregister instance mi-", "delete parameter /stg/portforward/instances/gone-", "delete activation "]) {
      expect(failedLines.filter((l) => l.startsWith(`  failed: ${kind}`))).toHaveLength(6);
    }
    expect(failedLines[0]).toMatch(/was denied: allow "ssm:DeregisterManagedInstance"/);
    expect(first.stdout).toContain("Done: 42 succeeded, 18 failed.");

    const second = await sweep(cloud, ["--env", "stg", "--yes", "--json", "--stale-after", "1s"]);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).counts).toMatchObject({ planned: 18, succeeded: 18, failed: 0 });
    const s = await cloud.state();
    expect(s.instances.filter((i) => world.orphans.instances.includes(i.instanceId))).toEqual([]);
    expect(s.parameters.filter((p) => world.orphans.parameters.includes(p.name))).toEqual([]);
    expect(s.activations.filter((a) => world.orphans.activations.includes(a.activationId))).toEqual([]);
  }, 180_000);

  it("without --env, finds a parameter whose instance and activation are already gone (a container killed mid-cleanup)", async () => {
    // prod: the sweeper holds the sweeper policy of the demo envs (stg, prod) and no other.
    const { ssm } = cloudClients(cloud);
    const tags = Object.entries(ourTags("prod", "host:killed")).map(([Key, Value]) => ({ Key, Value }));
    await ssm.send(new PutParameterCommand({ Name: "/prod/portforward/instances/killed", Value: "mi-0123456789abcdef0", Type: "String", Tags: tags }));
    await ssm.send(new PutParameterCommand({ Name: "/prod/portforward/instances/by-hand", Value: "mi-0123456789abcdef1", Type: "String" }));
    ssm.destroy();
    const run = await sweep(cloud, ["--yes", "--json"]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.plan.actions.filter((a) => a.kind === "parameter")).toEqual([
      expect.objectContaining({ id: "/prod/portforward/instances/killed", action: "delete", reason: "its instance mi-0123456789abcdef0 is gone" }),
    ]);
    expect((await cloud.state()).parameters.map((p) => p.name).filter((n) => n.startsWith("/prod/"))).toEqual(["/prod/portforward/instances/by-hand"]);
  }, 120_000);
});
