// portforward, non-interactive: `portforward --env stg --yes --target stg-db --local-port 0 --json` against
// the local cloud's demo world — a real query through the tunnel, SIGINT, exit 0, nothing left.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PLUGIN_TUNNEL_NOTE } from "../../lib/session/index.ts";
import { DescribeTasksCommand, ECSClient } from "@aws-sdk/client-ecs";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { watchDenials } from "../support/iam.ts";
import { NOTHING_LEFT, REPO, firstByteAt, freePort, leftovers, psql, seededRows, startPortforward, stateHome } from "./portforward-harness.ts";
import { cloudConfig } from "../support/clients.ts";

let cloud: LocalCloud;
let rows: string;
const state = stateHome();
const JSON_ARGS = ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--json"];

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 300, pendingMs: 300 }, stopTimeoutMs: 10_000 });
  rows = await seededRows(cloud);
}, 120_000);
// portforward runs as the operator, the bastion's entrypoint as its task role: any call refused fails the test, naming the action.
afterEach(watchDenials(() => cloud));
afterAll(async () => {
  await cloud?.stop();
  state.remove();
});

async function dbHost(): Promise<string> {
  const s = await cloud.state();
  expect(s).toBeDefined();
  const out = await psql(cloud.postgres!.port, cloud.postgres!.user, cloud.postgres!.database, "select 1");
  expect(out.code).toBe(0);
  // The demo Aurora endpoint, as RDS reports it.
  const { RDSClient, DescribeDBClustersCommand } = await import("@aws-sdk/client-rds");
  const rds = new RDSClient(cloudConfig(cloud, { maxAttempts: 3 }));
  try {
    return (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: "stg-db" }))).DBClusters![0].Endpoint!;
  } finally {
    rds.destroy();
  }
}

describe("portforward --yes --json", () => {
  it("prints the forward, psql through it returns the seeded rows, SIGINT stops the task and exits 0, nothing is left", async () => {
    const host = await dbHost();
    const run = startPortforward(cloud, JSON_ARGS, { XDG_STATE_HOME: state.dir });
    const ready = await run.ready;
    expect(ready).toMatchObject({ event: "ready", env: "stg", cluster: "stg-main", via: "ecs-exec", client: "native" });
    expect(ready.target).toBe(`ecs:stg-main_${ready.task}_${ready.task}-${ready.target.split("-").at(-1)}`);
    expect(ready.forwards).toEqual([{ localAddress: "127.0.0.1", localPort: expect.any(Number), host, remotePort: 5432, label: "stg-db" }]);
    expect(ready.forwards[0].localPort).toBeGreaterThan(0);

    // The task runs the env's bastion task definition (not the service's app) in the service's network, started by this user, tagged.
    const s = await cloud.state();
    const task = s.tasks.find((t) => t.taskId === ready.task)!;
    expect(task).toMatchObject({
      family: "stg-bastion",
      lastStatus: "RUNNING",
      startedBy: `bastionless:${process.env.USER ?? "root"}`,
      enableExecuteCommand: true,
    });

    const query = await psql(ready.forwards[0].localPort, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
    expect(query.stderr).toBe("");
    expect(query.stdout).toBe(rows);
    expect(rows.trim().split("\n").length).toBeGreaterThanOrEqual(3);

    run.interrupt();
    const exit = await run.exited;
    expect(exit.code).toBe(0);
    expect(run.stderr()).toContain(`Stopped bastion task ${ready.task}; nothing is left running.`);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    const after = (await cloud.state()).tasks.find((t) => t.taskId === ready.task)!;
    expect(after).toMatchObject({ lastStatus: "STOPPED", stopCode: "UserInitiated" });
    expect(after.stoppedReason).toMatch(/^bastionless portforward: closed by /);

    // The session log: 0600 under $XDG_STATE_HOME/bastionless/, with the run's events and no token.
    expect(ready.log.startsWith(`${state.dir}/bastionless/portforward-`)).toBe(true);
    expect(statSync(ready.log).mode & 0o777).toBe(0o600);
    const events = readFileSync(ready.log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events.filter((e) => e.event).map((e) => e.event)).toEqual([
      "task_launched",
      "readiness",
      "session_opened",
      "tunnel_open",
      "tunnel_closed",
      "task_stopped",
    ]);
    expect(events.find((e) => e.event === "tunnel_open").sessions).toEqual([{ open: 1, max: 4 }]);
    expect(readFileSync(ready.log, "utf8")).not.toMatch(/TokenValue"?\s*:\s*"[^*]/);
  }, 90_000);

  it("with session-manager-plugin installed, --client auto tunnels through the built-in client and says why", async () => {
    const record = join(state.dir, "auto-plugin.jsonl");
    const run = startPortforward(cloud, JSON_ARGS, {
      XDG_STATE_HOME: state.dir,
      PATH: `${join(REPO, "test/fixtures")}:${process.env.PATH}`,
      FAKE_PLUGIN_RECORD: record,
      FAKE_PLUGIN_VERSION: "1.2.764.0",
      BASTIONLESS_CONFIG: "",
    });
    const ready = await run.ready;
    expect(ready.client).toBe("native");
    expect(run.stderr().split("\n")).toContain(PLUGIN_TUNNEL_NOTE);
    const query = await psql(ready.forwards[0].localPort, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
    expect(query.stdout).toBe(rows);
    run.interrupt();
    expect((await run.exited).code).toBe(0);
    // The plugin was asked its version and never launched for a session.
    expect(existsSync(record)).toBe(false);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 90_000);

  it("--via instance: the bastion runs the entrypoint and registers; the tunnel goes through its mi- id; deregistered after", async () => {
    const run = startPortforward(cloud, [...JSON_ARGS, "--via", "instance", "--task-definition", "stg-bastion"], { XDG_STATE_HOME: state.dir });
    const ready = await run.ready;
    expect(ready.via).toBe("instance");
    expect(ready.target).toMatch(/^mi-[0-9a-f]{17}$/);
    const s = await cloud.state();
    expect(s.parameters).toEqual([expect.objectContaining({ name: `/stg/portforward/instances/${ready.task}`, value: ready.target })]);
    expect(s.instances.map((i) => [i.instanceId, i.pingStatus])).toEqual([[ready.target, "Online"]]);
    expect(s.sessions.filter((x) => x.status === "Connected").map((x) => x.target)).toEqual([ready.target]);

    const query = await psql(ready.forwards[0].localPort, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
    expect(query.stdout).toBe(rows);

    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(run.stderr()).toContain(`Stopped bastion task ${ready.task}; nothing is left running.`);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 90_000);

  it("two --forward tunnels through one bastion, each answering", async () => {
    const host = await dbHost();
    const run = startPortforward(
      cloud,
      ["--env", "stg", "--yes", "--json", "--forward", `0:${host}:5432`, "--forward", `0:${host.replace(".cluster-", ".cluster-ro-")}:5432`],
      { XDG_STATE_HOME: state.dir },
    );
    const ready = await run.ready;
    expect(ready.forwards.map((f) => [f.host, f.remotePort])).toEqual([
      [host, 5432],
      [host.replace(".cluster-", ".cluster-ro-"), 5432],
    ]);
    expect(new Set(ready.forwards.map((f) => f.localPort)).size).toBe(2);
    for (const f of ready.forwards) {
      const query = await psql(f.localPort, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
      expect(query.stdout).toBe(rows);
    }
    // One bastion task for both.
    expect((await cloud.state()).tasks.filter((t) => t.startedBy?.startsWith("bastionless:") && t.lastStatus === "RUNNING").map((t) => t.taskId)).toEqual([
      ready.task,
    ]);
    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 90_000);

  it("prints one human line per forward without --json, and --reuse attaches to the user's running bastion", async () => {
    const port = await freePort();
    const first = startPortforward(cloud, ["--env", "stg", "--target", "stg-db", "--local-port", String(port), "--keep"], { XDG_STATE_HOME: state.dir });
    await firstByteAt(port, Date.now() + 60_000);
    const host = await dbHost();
    const [line, sessions, hint] = first.stdout().trim().split("\n");
    expect(line).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port} → ${host.replace(/\./g, "\\.")}:5432 via ecs:stg-main_[0-9a-f-]{36}_[0-9a-f-]{36}-\\d+$`));
    expect(sessions).toBe(
      "Up to 4 Session Manager sessions per forward (1 open now; another opens when every one carries a connection, each about 0.65 MB/s).",
    );
    expect(hint).toMatch(/^Press Ctrl-C to close the tunnel\. Session log: /);
    first.interrupt();
    expect((await first.exited).code).toBe(0);
    expect(first.stderr()).toMatch(/Bastion task ([0-9a-f-]{36}) is left running \(it costs money until stopped\)\. Attach again with --reuse/);
    const kept = /Bastion task ([0-9a-f-]{36}) is left running/.exec(first.stderr())![1];
    expect((await leftovers(cloud)).tasks).toEqual([`${kept} RUNNING`]);

    const second = startPortforward(cloud, [...JSON_ARGS, "--reuse"], { XDG_STATE_HOME: state.dir });
    const ready = await second.ready;
    expect(ready.task).toBe(kept);
    expect(second.stderr()).toContain(`Reusing bastion task ${kept} (RUNNING) in stg-main.`);
    second.interrupt();
    expect((await second.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 120_000);
});

describe("--reuse is per user and per AWS identity", () => {
  it("does not attach alice-smith to alice.smith's kept bastion (both read bastionless:alice-smith in startedBy)", async () => {
    const first = startPortforward(cloud, [...JSON_ARGS, "--keep"], { XDG_STATE_HOME: state.dir, USER: "alice.smith" });
    const kept = (await first.ready).task;
    first.interrupt();
    expect((await first.exited).code).toBe(0);
    const tags = (await cloud.state()).tasks.find((t) => t.taskId === kept);
    expect(tags?.startedBy).toBe("bastionless:alice-smith");

    // A new launch says that one is already running, and how to attach to it instead.
    const second = startPortforward(cloud, JSON_ARGS, { XDG_STATE_HOME: state.dir, USER: "alice.smith" });
    expect((await second.ready).task).not.toBe(kept);
    expect(second.stderr()).toContain(`You already have 1 bastion task running in stg-main: ${kept}. Attach with --reuse instead of launching another.\n`);
    second.interrupt();
    expect((await second.exited).code).toBe(0);

    const other = startPortforward(cloud, [...JSON_ARGS, "--reuse"], { XDG_STATE_HOME: state.dir, USER: "alice-smith" });
    const ready = await other.ready;
    expect(ready.task).not.toBe(kept);
    expect(other.stderr()).toContain("No running bastion task of alice-smith in stg-main: launching one.");
    other.interrupt();
    expect((await other.exited).code).toBe(0);

    const again = startPortforward(cloud, [...JSON_ARGS, "--reuse"], { XDG_STATE_HOME: state.dir, USER: "alice.smith" });
    expect((await again.ready).task).toBe(kept);
    again.interrupt();
    expect((await again.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 120_000);
});

describe("readiness", () => {
  it("with RUNNING delayed 4 s, the first byte comes through within 1 s of the task becoming reachable (generous bound here; the figure is in the benchmark)", async () => {
    await cloud.stop();
    cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 2000, pendingMs: 2000 }, stopTimeoutMs: 10_000 });
    const port = await freePort();
    const run = startPortforward(cloud, ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", String(port), "--json"], { XDG_STATE_HOME: state.dir });
    const byteAt = await firstByteAt(port, Date.now() + 60_000);
    const ready = await run.ready;
    const ecs = new ECSClient(cloudConfig(cloud, { maxAttempts: 3 }));
    const startedAt = (await ecs.send(new DescribeTasksCommand({ cluster: "stg-main", tasks: [ready.taskArn] }))).tasks![0].startedAt!.getTime();
    ecs.destroy();
    expect(startedAt - run.spawnedAt).toBeGreaterThanOrEqual(3900);
    expect(byteAt).toBeGreaterThan(startedAt);
    expect(byteAt - startedAt).toBeLessThan(3000);
    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    expect(existsSync(ready.log)).toBe(true);
  }, 90_000);
});
