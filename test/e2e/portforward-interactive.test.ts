// portforward, interactive, driven through tmux like a person at a terminal: the prompts offer only the
// env's clusters, services and targets, the tunnel works, and "Stop bastion task …?" defaults to yes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CreateClusterCommand, CreateServiceCommand, DescribeServicesCommand, ECSClient } from "@aws-sdk/client-ecs";
import { CreateDBClusterCommand, RDSClient } from "@aws-sdk/client-rds";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { NOTHING_LEFT, PORTFORWARD, REPO, leftovers, psql, seededRows, stateHome } from "./portforward-harness.ts";
import { watchDenials } from "../support/iam.ts";
import { tmuxServer } from "../support/tmux.ts";
import { cloudConfig } from "../support/clients.ts";

const SOCKET = `pf-test-${process.pid}`;
const SESSION = "portforward";
// The server gets the operator's credentials from its environment, never from an argument.
const terminal = tmuxServer(SOCKET, { config: "/dev/null", env: () => cloud.principalEnv("operator") });
const tmux = terminal.run;

let cloud: LocalCloud;
const state = stateHome();

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 300, pendingMs: 300 }, stopTimeoutMs: 10_000 });
  // More than one of each for stg, so that every prompt is really asked (a single choice is taken silently).
  const config = cloudConfig(cloud, { maxAttempts: 3 });
  const ecs = new ECSClient(config);
  const rds = new RDSClient(config);
  try {
    const network = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0].networkConfiguration;
    await ecs.send(new CreateClusterCommand({ clusterName: "stg-batch" }));
    await ecs.send(
      new CreateServiceCommand({
        cluster: "stg-main",
        serviceName: "stg-worker",
        taskDefinition: "stg-app",
        desiredCount: 0,
        launchType: "FARGATE",
        networkConfiguration: network,
      }),
    );
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
  } finally {
    ecs.destroy();
    rds.destroy();
  }
}, 120_000);

// portforward runs as the operator, holding exactly docker/iam/operator.json: a refused call fails the test.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await terminal.kill();
  await cloud?.stop();
  state.remove();
});

/** Waits until the pane (wrapped lines joined) shows `text`; returns the pane. */
const waitFor = (text: string | RegExp, timeoutMs = 30_000) => terminal.waitForScreen(SESSION, text, timeoutMs, ["-J"]);

/** The choices of the prompt on screen (inquirer's list under "? Pick a …"), and the highlighted one. */
function choicesOf(screen: string, message: string): { choices: string[]; cursor: number } {
  const lines = screen.split("\n");
  const start = lines.findLastIndex((l) => l.includes(message));
  const list: string[] = [];
  let cursor = -1;
  for (const line of lines.slice(start + 1)) {
    const m = /^([❯>]?)\s+(\S+)/.exec(line);
    if (!m || !/^\s*[❯>]?\s/.test(line)) break;
    if (m[1]) cursor = list.length;
    list.push(m[2]);
  }
  return { choices: list, cursor };
}

async function choose(message: string, value: string, expected: string[]): Promise<void> {
  const screen = await waitFor(new RegExp(`${message}[\\s\\S]*\\n\\s*[❯>]?\\s+${expected.at(-1)}`));
  const { choices, cursor } = choicesOf(screen, message);
  expect([...choices].sort()).toEqual([...expected].sort());
  const steps = choices.indexOf(value) - cursor;
  for (let i = 0; i < Math.abs(steps); i++) await tmux("send-keys", "-t", SESSION, steps > 0 ? "Down" : "Up");
  await tmux("send-keys", "-t", SESSION, "Enter");
}

describe("portforward at a terminal", () => {
  it("asks for env, cluster, service and target (only stg's), opens the tunnel, and Ctrl-C + Enter stops the task", async () => {
    const { AWS_ACCESS_KEY_ID: _root, AWS_SECRET_ACCESS_KEY: _rootSecret, ...endpoint } = cloud.env;
    const env = Object.entries({ ...endpoint, XDG_STATE_HOME: state.dir, USER: "tmux-user", TERM: "xterm-256color" }).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    // tmux's own #{pane_dead_status} is sometimes never filled in (3.3a): a shell that ignores Ctrl-C
    // itself prints the exit code (node resets inherited signal dispositions, so portforward still gets it).
    const command = [
      "sh",
      "-c",
      'trap "" INT; "$@"; echo "portforward exited with $?"',
      "sh",
      process.execPath,
      "--import",
      "tsx",
      PORTFORWARD,
      "--local-port",
      "0",
    ];
    await tmux(
      "new-session",
      "-d",
      "-s",
      SESSION,
      "-x",
      "120",
      "-y",
      "30",
      "-c",
      REPO,
      ...env,
      ...command,
      ";",
      "set-option",
      "-t",
      SESSION,
      "remain-on-exit",
      "on",
    );

    await choose("Pick an env", "stg", ["prod", "stg"]);
    await choose("Pick a cluster", "stg-main", ["stg-batch", "stg-main"]);
    await choose("Pick a service", "stg-app", ["stg-app", "stg-worker"]);
    await choose("Pick a target", "stg-db", ["stg-db", "stg-analytics"]);

    const open = await waitFor(/127\.0\.0\.1:(\d+) → stg-db\.cluster-\S+:5432 via ecs:stg-main_/, 60_000);
    expect(open).toContain("Press Ctrl-C to close the tunnel and stop the bastion.");
    const port = Number(/127\.0\.0\.1:(\d+) →/.exec(open)![1]);
    const query = await psql(port, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
    expect(query.stdout).toBe(await seededRows(cloud));
    const task = (await cloud.state()).tasks.find((t) => t.startedBy === "bastionless:tmux-user" && t.lastStatus === "RUNNING")!;
    expect(task.family).toBe("stg-bastion"); // the env's bastion, not the picked service's own stg-app

    await tmux("send-keys", "-t", SESSION, "C-c");
    const question = await waitFor(`Stop bastion task ${task.taskId}?`);
    expect(question).toMatch(new RegExp(`\\? Stop bastion task ${task.taskId}\\? \\(Y/n\\)`));
    await tmux("send-keys", "-t", SESSION, "Enter");
    await waitFor(`Stopped bastion task ${task.taskId}; nothing is left running.`);
    await waitFor("portforward exited with 0", 20_000);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 120_000);
});
