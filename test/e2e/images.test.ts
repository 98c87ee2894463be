// The real images, built with podman (docker/images.ts: debootstrap base, npm's Node, the stand-in
// agent .deb; cached in /var/tmp/bastionless-images) and run against the local cloud, which runs a
// task definition's localhost/… image as a real container. A machine where podman cannot run fails
// here, saying why: these tests are never skipped.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ContainerDefinition,
} from "@aws-sdk/client-ecs";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { buildImages, IMAGES, whyPodmanCannotRun } from "../../docker/images.ts";
import { podman } from "../../docker/podman.ts";
import { eventually, leftovers, NOTHING_LEFT, psql, REPO, seededRows, startPortforward, stateHome } from "./portforward-harness.ts";
import { ROOT_KEY, watchDenials } from "../support/iam.ts";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { runScript, type RunResult } from "../support/run.ts";
import { cloudConfig } from "../support/clients.ts";

const ARCH = "amd64" as const;
const BASTION = IMAGES.bastion(ARCH);
const APP = IMAGES.appExample(ARCH);
let cloud: LocalCloud;
let ecs: ECSClient;
let rows: string;
const state = stateHome();
const buildTimes: string[] = [];

beforeAll(async () => {
  const why = await whyPodmanCannotRun();
  if (why) throw new Error(`The image tests cannot run on this machine: ${why}`);
  const built = await buildImages({ arch: ARCH });
  buildTimes.push(...Object.entries(built.timings).map(([step, seconds]) => `${step} ${seconds}s`));
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 200, pendingMs: 200 }, stopTimeoutMs: 10_000 });
  rows = await seededRows(cloud);
  ecs = new ECSClient(cloudConfig(cloud, { maxAttempts: 3 }));
  // The demo's task definitions with the real images: the bastion run as root for --via instance
  // (docker/README.md), the app example as its Dockerfile leaves it.
  await registerWithImage("stg-bastion", "stg-bastion-image", { image: BASTION, user: "root" });
  await registerWithImage("stg-bastion", "stg-app-image", { image: APP, name: "app" });
  // An ECS-Exec-only bastion: the image's own user, no registration.
  await registerWithImage("stg-bastion", "stg-bastion-exec-image", { image: BASTION, environment: [{ name: "BASTION_DISABLED", value: "true" }] });
}, 20 * 60_000);

// exec and the instance shell run as the operator, the containers' entrypoints as their task role:
// a call the local cloud refused fails the test, naming the action.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  ecs?.destroy();
  await cloud?.stop();
  state.remove();
});

async function registerWithImage(from: string, family: string, change: Partial<ContainerDefinition>): Promise<void> {
  const td = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: from }))).taskDefinition!;
  await ecs.send(
    new RegisterTaskDefinitionCommand({
      family,
      requiresCompatibilities: td.requiresCompatibilities,
      networkMode: td.networkMode,
      cpu: td.cpu,
      memory: td.memory,
      taskRoleArn: td.taskRoleArn,
      executionRoleArn: td.executionRoleArn,
      containerDefinitions: [{ ...td.containerDefinitions![0], ...change }],
    }),
  );
}

/** The entrypoint's JSON events in a container's output (the app's own lines are not JSON events of it). */
function eventsIn(output: string): Array<Record<string, unknown>> {
  return output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function logsOf(taskId: string): Promise<Record<string, string>> {
  return (await fetch(`${cloud.endpoint}/_localcloud/logs/${taskId}`)).json() as Promise<Record<string, string>>;
}

/** The container's events once the entrypoint's last one (exit) is in: its output may trail the task's STOPPED. */
function exitedEvents(taskId: string, container: string): Promise<Array<Record<string, unknown>>> {
  return eventually(
    async () => {
      const events = eventsIn((await logsOf(taskId))[container]);
      return events.at(-1)?.event === "exit" ? events : undefined;
    },
    10_000,
    `the entrypoint's exit event in ${container}'s log`,
  );
}

async function containersNamed(prefix: string): Promise<string[]> {
  const out = await podman(["ps", "--all", "--format", "{{.Names}}", "--filter", `name=${prefix}`]);
  return out.stdout.trim().split("\n").filter(Boolean);
}

function runProgram(script: string, args: string[], credentials: Record<string, string> = cloud.principalEnv("operator")): Promise<RunResult> {
  // Outside the repository (no team config applies), as the operator (docker/iam/operator.json exactly) unless told.
  return runScript(script, args, {
    cwd: state.dir,
    env: { ...cloud.env, ...credentials, XDG_STATE_HOME: state.dir, BASTIONLESS_CONFIG: "" },
    timeoutMs: 180_000,
  });
}

/** podman run of an image with no cloud, as a laptop or a CI job runs it: `flags` before the image, `cmd` after. */
function runImage(image: string, flags: string[], cmd: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return podman(["run", "--rm", "--pull=never", "--network=host", ...flags, image, ...cmd]);
}

describe("the bastion image on the local cloud", () => {
  it("portforward --via instance: the containerized bastion registers through its entrypoint, psql goes through the tunnel, its shell is ssm-user without sudo, podman stop deregisters it and leaves nothing", async () => {
    console.log(`image builds (cached layers reused): ${buildTimes.join(", ")}`);
    // As root: the operator policy runs only the env's <env>-bastion family; the entrypoint in the
    // real container still runs as its task role, from the credentials endpoint.
    const run = startPortforward(
      cloud,
      ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--json", "--via", "instance", "--task-definition", "stg-bastion-image"],
      { XDG_STATE_HOME: state.dir, ...ROOT_KEY },
    );
    const ready = await run.ready;
    expect(ready.via).toBe("instance");
    expect(ready.target).toMatch(/^mi-[0-9a-f]{17}$/);

    const s = await cloud.state();
    const task = s.tasks.find((t) => t.taskId === ready.task)!;
    expect(task).toMatchObject({ family: "stg-bastion-image", lastStatus: "RUNNING" });
    expect(task.containers[0].argv!.slice(0, 1)).toEqual(["podman"]);
    expect(task.containers[0].argv).toContain(BASTION);
    // Env values never reach podman's argv (`-e NAME` takes each from podman's own environment).
    const argv = task.containers[0].argv!;
    // The task role's credentials come from the credentials endpoint, whose URI (its id a bearer secret) is passed by name too.
    const names = argv.filter((a, i) => argv[i - 1] === "-e");
    expect(names).toEqual(expect.arrayContaining(["AWS_CONTAINER_CREDENTIALS_FULL_URI", "BASTION_ENV", "ECS_CONTAINER_METADATA_URI_V4"]));
    expect(names).not.toContain("AWS_SECRET_ACCESS_KEY");
    expect(argv.some((a) => /^[A-Z_]+=/.test(a))).toBe(false);
    expect(argv).toEqual(expect.arrayContaining(["--user", "root", "--network=host"]));
    expect(await containersNamed(`localcloud-${ready.task}`)).toEqual([`localcloud-${ready.task}-bastion`]);
    expect(s.parameters).toEqual([expect.objectContaining({ name: `/stg/portforward/instances/${ready.task}`, value: ready.target })]);
    expect(s.instances.map((i) => [i.instanceId, i.pingStatus])).toEqual([[ready.target, "Online"]]);

    const query = await psql(ready.forwards[0].localPort, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
    expect(query.stderr).toBe("");
    expect(query.stdout).toBe(rows);

    // Inside the container: tini is PID 1, the entrypoint root, the CMD (sleep) the bastion user.
    const name = `localcloud-${ready.task}-bastion`;
    const ps = await podman([
      "exec",
      name,
      "sh",
      "-c",
      "cat /proc/1/cmdline | tr '\\0' ' '; echo; ps -eo user:12,args --no-headers 2>/dev/null || for p in /proc/[0-9]*; do echo \"$(stat -c %U $p) $(tr '\\0' ' ' < $p/cmdline)\"; done",
    ]);
    expect(ps.stdout.split("\n")[0]).toBe("/usr/bin/tini -- node /opt/bastionless/entrypoint.mjs sleep infinity ");
    expect(ps.stdout).toMatch(/^root +node \/opt\/bastionless\/entrypoint\.mjs/m);
    expect(ps.stdout).toMatch(/^bastion +sleep infinity/m);
    expect(ps.stdout).toMatch(/^root +node \/usr\/lib\/amazon-ssm-agent-standin\/amazon-ssm-agent\.mjs/m);
    // The agent's credentials stay out of root's shared credentials file (the stand-in writes none; the setting is what counts).
    const agentConfig = await podman(["exec", name, "cat", "/etc/amazon/ssm/amazon-ssm-agent.json"]);
    expect(JSON.parse(agentConfig.stdout)).toMatchObject({ Profile: { ShareCreds: false } });

    // A --via instance shell on it runs inside the container as ssm-user, who has no sudo.
    // As root: the fixture's one-command session is AWS-StartNonInteractiveCommand, a document the
    // operator policy does not grant (it grants the port forwarding documents and the default shell).
    const shell = await runProgram(
      "test/e2e/fixtures/instance-shell.mts",
      [ready.target, "id; echo cwd=$(pwd); sudo -n true 2>/dev/null || echo no-sudo"],
      ROOT_KEY,
    );
    const shellLines = shell.stdout.replace(/\r/g, "").split("\n");
    expect(shellLines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^uid=\d+\(ssm-user\) gid=\d+\(ssm-user\) groups=\d+\(ssm-user\)$/),
        "cwd=/tmp",
        "no-sudo",
        "fixture exit 0",
      ]),
    );

    // portforward's StopTask → the local cloud's `podman stop` → SIGTERM → the entrypoint deregisters.
    const stopping = Date.now();
    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(run.stderr()).toContain(`Stopped bastion task ${ready.task}; nothing is left running.`);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    const after = await cloud.state();
    expect(after.activations).toEqual([]);
    expect(after.instances).toEqual([]);
    expect(after.parameters).toEqual([]);
    expect(after.tasks.find((t) => t.taskId === ready.task)).toMatchObject({ lastStatus: "STOPPED", stopCode: "UserInitiated" });
    expect(Date.now() - stopping).toBeLessThan(10_000);
    await eventually(async () => (await containersNamed(`localcloud-${ready.task}`)).length === 0 || undefined, 10_000, "the container is removed");

    const events = await exitedEvents(ready.task, "bastion");
    expect(events.find((e) => e.event === "app_started")).toMatchObject({ command: "sleep", uid: 10001, gid: 10001, user: "bastion" });
    expect(events.find((e) => e.event === "signal_received")).toMatchObject({ signal: "SIGTERM" });
    expect(events.find((e) => e.event === "cleanup_done")).toMatchObject({ ok: true });
    expect(events.at(-1)).toMatchObject({ event: "exit", code: 143 });
  }, 120_000);
});

describe("the bastion image's users, modes and PATH (docker/README.md)", () => {
  it("an ECS Exec session into an ECS-Exec-only bastion is the bastion user, not root", async () => {
    const service = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0];
    const run = await ecs.send(
      new RunTaskCommand({
        cluster: "stg-main",
        taskDefinition: "stg-bastion-exec-image",
        launchType: "FARGATE",
        networkConfiguration: service.networkConfiguration,
        enableExecuteCommand: true,
        startedBy: "bastionless:images-test",
      }),
    );
    const taskArn = run.tasks![0].taskArn!;
    const taskId = taskArn.split("/").pop()!;
    await eventually(
      async () => (await cloud.state()).tasks.find((t) => t.taskId === taskId)?.lastStatus === "RUNNING" || undefined,
      30_000,
      "the task RUNNING",
    );
    const exec = await runProgram("scripts/exec.mts", ["--cluster", "stg-main", "--task", taskId, "--yes", "--command", "id; echo HOME=$HOME"]);
    expect(exec.code).toBe(0);
    const lines = exec.stdout.replace(/\r/g, "").split("\n");
    expect(lines).toContain("uid=10001(bastion) gid=10001(bastion) groups=10001(bastion)");
    expect(lines).toContain("HOME=/home/bastion");
    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: taskArn, reason: "images test" }));
    await eventually(
      async () => (await cloud.state()).tasks.find((t) => t.taskId === taskId)?.lastStatus === "STOPPED" || undefined,
      15_000,
      "the task is STOPPED",
    );
  }, 90_000);

  it("runs as bastion (uid 10001) by default, with tini, the entrypoint, the agent, psql and mysql where docker/README.md says", async () => {
    const inspect = JSON.parse((await podman(["image", "inspect", BASTION])).stdout)[0].Config as {
      User: string;
      Entrypoint: string[];
      Cmd: string[];
      StopSignal: string;
      Env: string[];
      WorkingDir: string;
    };
    expect(inspect).toMatchObject({
      User: "bastion",
      Entrypoint: ["/usr/bin/tini", "--", "node", "/opt/bastionless/entrypoint.mjs"],
      Cmd: ["sleep", "infinity"],
      StopSignal: "SIGTERM",
      WorkingDir: "/tmp",
    });
    expect(inspect.Env).toContain("BASTION_APP_USER=bastion");
    const script = [
      "id",
      "echo PATH=$PATH",
      "stat -c '%U:%G %a %n' /opt/bastionless/entrypoint.mjs /usr/bin/amazon-ssm-agent /usr/bin/tini /etc/amazon/ssm/amazon-ssm-agent.json /home/bastion /home/ssm-user",
      "for t in node psql mysql tini amazon-ssm-agent; do command -v $t; done",
      "id ssm-user",
      "test -e /usr/bin/sudo && echo sudo-present || echo no-sudo",
      "test -e /etc/sudoers.d/ssm-user && echo sudoers-present || echo no-sudoers",
      "touch /var/lib/amazon/ssm/x 2>/dev/null && echo agent-state-writable || echo agent-state-not-writable",
      "test -e /root/.aws && echo root-aws || echo no-root-aws",
      "node --version",
    ].join("; ");
    const out = await runImage(BASTION, ["--entrypoint", "sh"], ["-c", script]);
    expect(out.stderr).toBe("");
    expect(out.stdout.split("\n")).toEqual([
      "uid=10001(bastion) gid=10001(bastion) groups=10001(bastion)",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "root:root 644 /opt/bastionless/entrypoint.mjs",
      "root:root 755 /usr/bin/amazon-ssm-agent",
      "root:root 755 /usr/bin/tini",
      "root:root 644 /etc/amazon/ssm/amazon-ssm-agent.json",
      "bastion:bastion 755 /home/bastion",
      "ssm-user:ssm-user 755 /home/ssm-user",
      "/usr/local/bin/node",
      "/usr/bin/psql",
      "/usr/bin/mysql",
      "/usr/bin/tini",
      "/usr/bin/amazon-ssm-agent",
      expect.stringMatching(/^uid=\d+\(ssm-user\) gid=\d+\(ssm-user\) groups=\d+\(ssm-user\)$/),
      "no-sudo",
      "no-sudoers",
      "agent-state-not-writable",
      "no-root-aws",
      "v20.20.2",
      "",
    ]);
  }, 60_000);

  it("--help exits 0; missing env exits 2 naming the three variables; BASTION_DISABLED=true runs the CMD as bastion", async () => {
    const help = await runImage(BASTION, [], ["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("BASTION_APP_USER");
    const missing = await runImage(BASTION, []);
    expect(missing.code).toBe(2);
    const fatal = eventsIn(missing.stderr).find((e) => e.event === "fatal")!;
    expect(fatal.msg).toMatch(
      /^The entrypoint's configuration has 3 problems; no CMD was started: \(1\) BASTION_ENV .*\(2\) BASTION_IAM_ROLE .*\(3\) BASTION_REGION /,
    );
    const disabled = await runImage(BASTION, ["-e", "BASTION_DISABLED=true"], ["id", "-u"]);
    expect(disabled).toMatchObject({ code: 0, stdout: "10001\n" });
    // Run as root (as for --via instance), the CMD is still bastion's, with bastion's HOME.
    const asRoot = await runImage(BASTION, ["--user", "root", "-e", "BASTION_DISABLED=true"], ["sh", "-c", "echo $(id -u):$(id -g):$HOME"]);
    expect(asRoot).toMatchObject({ code: 0, stdout: "10001:10001:/home/bastion\n" });
  }, 60_000);
});

describe("the app example (docker/app/Dockerfile.example on a tiny app)", () => {
  it("starts its CMD first, as the app image's own user (uid 1000), while the root entrypoint registers; StopTask leaves nothing", async () => {
    const service = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0];
    const run = await ecs.send(
      new RunTaskCommand({
        cluster: "stg-main",
        taskDefinition: "stg-app-image",
        launchType: "FARGATE",
        networkConfiguration: service.networkConfiguration,
        startedBy: "bastionless:images-test",
      }),
    );
    const taskArn = run.tasks![0].taskArn!;
    const taskId = taskArn.split("/").pop()!;
    await eventually(
      async () => {
        const s = await cloud.state();
        expect(s.instances.map((i) => i.pingStatus)).toEqual(["Online"]);
        expect(s.parameters.map((p) => p.name)).toEqual([`/stg/portforward/instances/${taskId}`]);
        return true;
      },
      60_000,
      "the app example's container is a managed instance",
    );
    // The parameter is written before the activation is deleted and registration_complete logged.
    const lines = await eventually(
      async () => {
        const events = eventsIn((await logsOf(taskId)).app);
        return events.some((e) => e.event === "registration_complete") ? events : undefined;
      },
      30_000,
      "registration_complete in the container's log",
    );
    const appUp = lines.find((e) => e.event === "app_up")!;
    expect(appUp).toMatchObject({ uid: 1000, gid: 1000, home: "/home/app" });
    // The CMD is the first thing the entrypoint does: before any AWS call of the registration.
    const own = lines.filter((e) => e.component === "entrypoint");
    expect(own[0]).toMatchObject({ event: "app_started", command: "node", uid: 1000, gid: 1000, user: "app" });
    expect(own.findIndex((e) => e.event === "registration_complete")).toBeGreaterThan(0);

    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: taskArn, reason: "images test" }));
    await eventually(
      async () => (await cloud.state()).tasks.find((t) => t.taskId === taskId)?.lastStatus === "STOPPED" || undefined,
      15_000,
      "the task is STOPPED",
    );
    const s = await cloud.state();
    expect([s.activations, s.instances, s.parameters]).toEqual([[], [], []]);
    const end = await exitedEvents(taskId, "app");
    expect(end.find((e) => e.event === "app_stopped")).toMatchObject({ signal: "SIGTERM" });
    expect(end.at(-1)).toMatchObject({ event: "exit", code: 0 });
    await eventually(async () => (await containersNamed(`localcloud-${taskId}`)).length === 0 || undefined, 10_000, "the container is removed");
  }, 120_000);
});

describe("a real container and a SIGKILLed owner", () => {
  it("the local cloud's watchdog removes the container when the process that started the cloud is SIGKILLed", async () => {
    const child = spawn(join(REPO, "node_modules/.bin/tsx"), [join(REPO, "test/e2e/fixtures/real-container-and-wait.mts"), BASTION], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (c) => (out += c));
    const started = await eventually(
      async () => (out.includes("\n") ? (JSON.parse(out.split("\n")[0]) as { name: string; tmpDir: string }) : undefined),
      90_000,
      "the fixture's report",
    );
    await eventually(async () => (await containersNamed(started.name)).length === 1 || undefined, 30_000, "the container running");
    // Kill tsx and the node it runs, as a test runner's timeout would.
    const children = spawnSync("ps", ["-o", "pid=", "--ppid", String(child.pid)], { encoding: "utf8" })
      .stdout.trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    for (const pid of [child.pid!, ...children]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await eventually(async () => (await containersNamed(started.name)).length === 0 || undefined, 40_000, `the watchdog removing ${started.name}`);
  }, 150_000);
});
