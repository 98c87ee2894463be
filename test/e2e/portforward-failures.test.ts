// portforward's failure paths: each ends with one clear line (the operation, the object, the fix), a
// meaningful exit code, and nothing left running in the local cloud.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import { CreateDBClusterCommand, DeleteDBClusterCommand, RDSClient } from "@aws-sdk/client-rds";
import { PLUGIN_INSTALL_URL } from "../../lib/session/plugin.ts";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { NOTHING_LEFT, eventually, leftovers, occupyPort, startPortforward, stateHome } from "./portforward-harness.ts";
import { ROOT_KEY } from "../support/iam.ts";
import { cloudConfig } from "../support/clients.ts";

let cloud: LocalCloud;
let ecs: ECSClient;
let rds: RDSClient;
const state = stateHome();
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

beforeAll(async () => {
  // PROVISIONING lasts 3 s so that a 1 s --timeout runs out while the task is still there.
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 3000, pendingMs: 200 }, stopTimeoutMs: 3000 });
  const config = cloudConfig(cloud, { maxAttempts: 3 });
  ecs = new ECSClient(config);
  rds = new RDSClient(config);
}, 120_000);
afterAll(async () => {
  ecs?.destroy();
  rds?.destroy();
  await cloud?.stop();
  state.remove();
});

/** Runs portforward to its end; returns the exit code and the last stderr line (the error). */
async function fails(args: string[], env: Record<string, string> = {}) {
  const run = startPortforward(cloud, args, { XDG_STATE_HOME: state.dir, ...env });
  const exit = await run.exited;
  const lines = run.stderr().trim().split("\n");
  expect(run.stdout()).toBe("");
  expect(lines.filter((l) => l.startsWith("portforward: "))).toHaveLength(1);
  return { code: exit.code, line: lines.at(-1)!, stderr: run.stderr() };
}

describe("portforward failure paths", () => {
  it("the task stops during startup: its stopCode and stoppedReason are shown, exit 1", async () => {
    const bastion = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: "stg-bastion" }))).taskDefinition!;
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: "stg-broken",
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "256",
        memory: "512",
        taskRoleArn: bastion.taskRoleArn,
        executionRoleArn: bastion.executionRoleArn,
        containerDefinitions: [{ name: "bastion", image: "localcloud/no-such-image", essential: true }],
      }),
    );
    // As root: the operator policy runs only the env's <env>-bastion family, and this case needs a broken one.
    const r = await fails(["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--task-definition", "stg-broken"], ROOT_KEY);
    expect(r.code).toBe(1);
    expect(r.line).toMatch(
      new RegExp(
        `^portforward: Bastion task ${UUID} stopped while starting: TaskFailedToStart: CannotPullContainerError: pull image manifest has been retried 5 time\\(s\\): failed to resolve ref docker\\.io/localcloud/no-such-image: not found\\.$`,
      ),
    );
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("readiness timeout: says what was last seen and stops the task, exit 1", async () => {
    const r = await fails(["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--timeout", "1s"]);
    expect(r.code).toBe(1);
    expect(r.line).toMatch(
      new RegExp(
        `^portforward: Bastion task (${UUID}) was not ready within 1s \\(last seen: PROVISIONING\\): raise --timeout, or see why it starts slowly with aws ecs describe-tasks --cluster stg-main --tasks \\1\\.$`,
      ),
    );
    const id = /Bastion task (\S+) was not ready/.exec(r.line)![1];
    expect(r.stderr).toContain(`Stopped bastion task ${id}; nothing is left running.`);
    const task = (await cloud.state()).tasks.find((t) => t.taskId === id)!;
    expect(task).toMatchObject({ lastStatus: "STOPPED", stopCode: "UserInitiated" });
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("no cluster matches the env: names the clusters and the flag, exit 2, nothing launched", async () => {
    const r = await fails(["--env", "dev", "--yes", "--target", "stg-db"]);
    expect(r.code).toBe(2);
    expect(r.line).toBe(
      "portforward: No ECS cluster matches env dev in ap-northeast-1 (clusters: prod-main, stg-main): pass --cluster, or check --env, --profile and --region.",
    );
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("the local port is busy: names the port and the flag before anything is launched, exit 2", async () => {
    const before = (await cloud.state()).tasks.length;
    const busy = await occupyPort();
    try {
      const r = await fails(["--env", "stg", "--yes", "--target", "stg-db", "--local-port", String(busy.port)]);
      expect(r.code).toBe(2);
      expect(r.line).toBe(
        `portforward: Local port ${busy.port} is busy (another program listens on 127.0.0.1:${busy.port}): pass --local-port with a free port, or 0 for any free port.`,
      );
    } finally {
      busy.server.close();
    }
    expect((await cloud.state()).tasks.length).toBe(before);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("--yes with a missing value names the flag: --env, and --target when several databases match", async () => {
    const noEnv = await fails(["--yes", "--target", "stg-db"]);
    expect(noEnv.code).toBe(2);
    expect(noEnv.line).toBe("portforward: Missing --env: pass --env <name> (or set BASTION_ENV).");

    await rds.send(
      new CreateDBClusterCommand({
        DBClusterIdentifier: "stg-analytics",
        Engine: "aurora-postgresql",
        Port: 5432,
        MasterUsername: "app",
        MasterUserPassword: "localcloud-not-a-secret",
        Tags: [{ Key: "bastionless:env", Value: "stg" }],
      }),
    );
    try {
      const before = (await cloud.state()).tasks.length;
      const noTarget = await fails(["--env", "stg", "--yes"]);
      expect(noTarget.code).toBe(2);
      expect(noTarget.line).toMatch(/^portforward: Several targets match \((stg-db, stg-analytics|stg-analytics, stg-db)\): pass --target to pick one\.$/);
      expect((await cloud.state()).tasks.length).toBe(before);
    } finally {
      await rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: "stg-analytics", SkipFinalSnapshot: true }));
    }
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("an env without its <env>-bastion task definition: refused in one line naming the fix, exit 2, the service's app never launched", async () => {
    const service = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0];
    await ecs.send(new CreateClusterCommand({ clusterName: "qa-main" }));
    await ecs.send(
      new CreateServiceCommand({
        cluster: "qa-main",
        serviceName: "qa-app",
        taskDefinition: "stg-app",
        desiredCount: 0,
        launchType: "FARGATE",
        networkConfiguration: service.networkConfiguration,
      }),
    );
    const before = (await cloud.state()).tasks.length;
    // As root: the operator holds the demo envs' policies (stg, prod), none for qa.
    const r = await fails(["--env", "qa", "--yes", "--target", "stg-db", "--local-port", "0"], ROOT_KEY);
    expect(r.code).toBe(2);
    expect(r.line).toBe(
      "portforward: Could not launch the bastion in cluster qa-main: task definition qa-bastion (the default bastion of env qa) was not found. " +
        "Register it (docker/bastion/), or pass --task-definition or set envs.qa.taskDefinition in bastionless.config.json; a service's own task definition is used only when named, since it starts another copy of the app.",
    );
    expect((await cloud.state()).tasks.length).toBe(before);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("AccessDenied on RunTask names ecs:RunTask, exit 1", async () => {
    await cloud.setFaults({
      "ecs:RunTask": {
        failNext: {
          count: 1,
          code: "AccessDeniedException",
          status: 400,
          message: "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: ecs:RunTask on resource: *",
        },
      },
    });
    try {
      const r = await fails(["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0"]);
      expect(r.code).toBe(1);
      expect(r.line).toBe(
        'portforward: ecs:RunTask on task definition stg-bastion in cluster stg-main was denied: allow "ecs:RunTask" for the caller\'s IAM identity (see docker/iam/). AWS said: User: arn:aws:iam::123456789012:user/dev is not authorized to perform: ecs:RunTask on resource: *',
      );
    } finally {
      await cloud.setFaults({});
    }
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("--client plugin without session-manager-plugin: says how to install it or use --client native, exit 1, nothing launched", async () => {
    const before = (await cloud.state()).tasks.length;
    const r = await fails(["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--client", "plugin"], { PATH: "/usr/bin:/bin" });
    expect(r.code).toBe(1);
    expect(r.line).toBe(`portforward: session-manager-plugin is not installed: ${PLUGIN_INSTALL_URL}, or use --client native`);
    expect((await cloud.state()).tasks.length).toBe(before);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);
});

describe("Ctrl-C while the session opens", () => {
  it("abandons the start like any Ctrl-C before the tunnel: no tunnel, the task stopped, exit 130", async () => {
    // StartSession answers after 3 s: the Ctrl-C lands after readiness, before the forward exists.
    await cloud.setFaults({ "ssm:StartSession": { latencyMs: 3000 } });
    try {
      const run = startPortforward(cloud, ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--json"], { XDG_STATE_HOME: state.dir });
      await eventually(async () => (/Bastion task \S+ is ready after/.test(run.stderr()) ? true : undefined), 30_000, "readiness");
      run.interrupt();
      const exit = await run.exited;
      expect(exit.code).toBe(130);
      expect(run.stdout()).toBe("");
      expect(
        run
          .stderr()
          .trim()
          .split("\n")
          .filter((l) => l.startsWith("portforward: ")),
      ).toEqual(["portforward: interrupted while the tunnel opened"]);
      expect(run.stderr()).toMatch(/Stopped bastion task \S+; nothing is left running\./);
      expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    } finally {
      await cloud.setFaults({});
    }
  }, 60_000);
});

describe("Ctrl-C during the stop", () => {
  async function stubbornTask(): Promise<void> {
    const bastion = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: "stg-bastion" }))).taskDefinition!;
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: "stg-stubborn",
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "256",
        memory: "512",
        taskRoleArn: bastion.taskRoleArn,
        executionRoleArn: bastion.executionRoleArn,
        // The app ignores SIGTERM, so the stop lasts the 3 s stopTimeout until SIGKILL.
        containerDefinitions: [
          { name: "app", image: "localcloud/app", essential: true, environment: [{ name: "LOCALCLOUD_APP_IGNORE_SIGTERM", value: "true" }] },
        ],
      }),
    );
  }
  // As root: the operator policy runs only the env's <env>-bastion family, and these need one that ignores SIGTERM.
  const ARGS = ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--json", "--task-definition", "stg-stubborn"];

  it("a second Ctrl-C is refused once with the warning; the stop completes, exit 0", async () => {
    await stubbornTask();
    const run = startPortforward(cloud, ARGS, { XDG_STATE_HOME: state.dir, ...ROOT_KEY });
    const ready = await run.ready;
    run.interrupt();
    await eventually(async () => (run.stderr().includes(`Stopping bastion task ${ready.task}`) ? true : undefined), 20_000, "the stop to begin");
    run.interrupt();
    const exit = await run.exited;
    expect(exit.code).toBe(0);
    expect(run.stderr()).toContain("\nstopping the bastion; press Ctrl-C again to leave it running\n");
    expect(run.stderr()).toContain(`Stopped bastion task ${ready.task}; nothing is left running.`);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("a third Ctrl-C stops waiting (exit 130) and says how to check; the task still stops", async () => {
    const run = startPortforward(cloud, ARGS, { XDG_STATE_HOME: state.dir, ...ROOT_KEY });
    const ready = await run.ready;
    run.interrupt();
    await eventually(async () => (run.stderr().includes(`Stopping bastion task ${ready.task}`) ? true : undefined), 20_000, "the stop to begin");
    run.interrupt();
    await eventually(async () => (run.stderr().includes("press Ctrl-C again") ? true : undefined), 10_000, "the warning");
    run.interrupt();
    const exit = await run.exited;
    expect(exit.code).toBe(130);
    expect(run.stderr().trim().split("\n").at(-1)).toBe(
      `Not waiting: bastion task ${ready.task} was asked to stop. See what is left with: make cleanup ENV=stg`,
    );
    await eventually(async () => ((await leftovers(cloud)).tasks.length === 0 ? true : undefined), 20_000, "the task to stop");
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 60_000);
});
