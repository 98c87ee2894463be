// A person closes the terminal (a tab, a dropped SSH connection) while portforward or exec runs in
// it: under a real pty, at each phase, on both paths, through make and without it. Afterwards no
// process of the terminal is left, and GET /_localcloud/state shows nothing the program could have
// stopped: no bastion task, managed instance, parameter or open session.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { pidsRunning } from "../support/processes.ts";
import { eventually } from "../support/eventually.ts";
import { watchDenials } from "../support/iam.ts";
import { startPty, type Pty } from "../support/pty.ts";
import { run, startScript } from "../support/run.ts";
import { runningServiceTaskId } from "../support/world.ts";
import { NOTHING_LEFT, PORTFORWARD, REPO, leftovers, stateHome } from "./portforward-harness.ts";

let cloud: LocalCloud;
const state = stateHome();
const terminals: Pty[] = [];

beforeAll(async () => {
  // Slow enough to close the terminal while the task is PROVISIONING and then PENDING; ECS's own
  // stop timeout is 30 s: 10 s leaves a loaded machine's entrypoint the time to deregister.
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 800, pendingMs: 800 }, stopTimeoutMs: 10_000 });
}, 120_000);

// portforward and exec run as the operator, holding exactly docker/iam/operator.json: a refused call fails the test.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await Promise.all(terminals.map((t) => t.close()));
  await cloud?.stop();
  state.remove();
});

function terminal(user: string): Pty {
  const pty = startPty({
    cwd: REPO,
    env: {
      ...process.env,
      ...cloud.env,
      ...cloud.principalEnv("operator"),
      XDG_STATE_HOME: join(state.dir, user),
      USER: user,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  });
  terminals.push(pty);
  return pty;
}

const quote = (args: string[]) => args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
const tunnel = (args: string[]) => `node --import tsx ${quote([PORTFORWARD, ...args])}`;

async function ourTask(user: string) {
  return (await cloud.state()).tasks.find((t) => t.startedBy === `bastionless:${user}`);
}

/** PostgreSQL's SSLRequest through the tunnel: the server answers "N" (no SSL). */
function sslAnswer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => socket.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
    socket.once("data", (d) => (socket.destroy(), resolve(d.toString())));
    socket.once("error", reject);
  });
}

/** After the close: every process of the terminal ends on its own, and nothing is left in the cloud. */
async function nothingLeftAfterClose(pty: Pty): Promise<void> {
  await pty.close();
  await eventually(async () => (pty.processes().length === 0 ? true : undefined), 60_000, "the terminal's processes to exit").catch((error: Error) => {
    throw new Error(`${error.message}: ${pty.processes().join("; ")}`);
  });
  expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
}

/** The session log's events of `user`'s run. */
function events(user: string): string[] {
  const dir = join(state.dir, user, "bastionless");
  return readdirSync(dir)
    .filter((f) => f.startsWith("portforward-") && f.endsWith(".log"))
    .flatMap((f) => readFileSync(join(dir, f), "utf8").trim().split("\n"))
    .map((l) => (JSON.parse(l) as { event?: string }).event ?? "");
}

describe("portforward's prompts at a terminal", () => {
  it("draw on stderr with stdout piped, default to a non-production env, filter by substring, and Ctrl-C is a quiet 130", async () => {
    const pty = terminal("pty-prompts");
    // stdout a pipe (to a reader that ignores Ctrl-C), and $? portforward's own status.
    await pty.run(`${tunnel(["--local-port", "0"])} > >(trap '' INT; cat); echo "portforward status $?"`);
    const screen = await pty.waitFor(/Pick an env \(type to filter\)[\s\S]*❯ stg[\s\S]*prod/);
    expect(screen).not.toMatch(/❯ prod/);
    pty.type("rod");
    await pty.waitFor(/Pick an env \(type to filter\) rod[\s\S]*❯ prod/);
    pty.type("\x03");
    await pty.waitFor("portforward status 130");
    expect(pty.text()).not.toContain("User force closed");
    expect(pty.text()).not.toContain("portforward:");
    expect(await ourTask("pty-prompts")).toBeUndefined();
    await nothingLeftAfterClose(pty);
  }, 60_000);
});

describe("portforward in a terminal that is closed", () => {
  it("at the env prompt: nothing was launched, nothing is left", async () => {
    const pty = terminal("pty-prompt");
    await pty.run(tunnel(["--local-port", "0"]));
    await pty.waitFor("Pick an env");
    await nothingLeftAfterClose(pty);
    expect(await ourTask("pty-prompt")).toBeUndefined();
  }, 60_000);

  it("while the task is PROVISIONING (ECS Exec path): the task is stopped", async () => {
    const pty = terminal("pty-provisioning");
    await pty.run(tunnel(["--env", "stg", "--target", "stg-db", "--local-port", "0"]));
    await eventually(
      async () => ((await ourTask("pty-provisioning"))?.lastStatus === "PROVISIONING" ? true : undefined),
      30_000,
      "the task to be PROVISIONING",
    );
    await nothingLeftAfterClose(pty);
    expect((await ourTask("pty-provisioning"))?.lastStatus).toBe("STOPPED");
    expect(events("pty-provisioning")).toContain("task_stopped");
  }, 90_000);

  it("while the task is PENDING (instance path): the task, its instance and its parameter go", async () => {
    const pty = terminal("pty-pending");
    await pty.run(tunnel(["--env", "stg", "--target", "stg-db", "--local-port", "0", "--via", "instance"]));
    await eventually(async () => ((await ourTask("pty-pending"))?.lastStatus === "PENDING" ? true : undefined), 30_000, "the task to be PENDING");
    await nothingLeftAfterClose(pty);
    expect(events("pty-pending")).toContain("task_stopped");
  }, 90_000);

  it("with the tunnel open, through make, on the instance path: everything goes", async () => {
    const pty = terminal("pty-make");
    await pty.run(`make tunnel ENV=stg ARGS=${quote(["--target stg-db --local-port 0 --via instance"])}`);
    await pty.waitFor("Press Ctrl-C to close the tunnel and stop the bastion.", 60_000);
    expect((await cloud.state()).instances).toHaveLength(1);
    await nothingLeftAfterClose(pty);
    expect(events("pty-make")).toEqual(expect.arrayContaining(["tunnel_open", "tunnel_closed", "task_stopped"]));
  }, 120_000);

  it("make SIGKILLed with the tunnel open: portforward, left without its parent, stops the bastion by itself", async () => {
    const pty = terminal("pty-make-killed");
    await pty.run(`make tunnel ENV=stg ARGS='--target stg-db --local-port 0'`);
    await pty.waitFor("Press Ctrl-C to close the tunnel and stop the bastion.", 60_000);
    const [make] = pty
      .processes()
      .filter((p) => / make tunnel /.test(` ${p.split(" ").slice(1).join(" ")} `))
      .map((p) => Number(p.split(" ")[0]));
    process.kill(make, "SIGKILL");
    await pty.waitFor(/Stopped bastion task \S+; nothing is left running\./, 30_000);
    await eventually(async () => (pty.processes().length === 0 ? true : undefined), 30_000, "portforward to exit");
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    await pty.close();
  }, 120_000);

  it("| head -1: the first line goes to head, the tunnel stays open after head exits, and Ctrl-C still stops the bastion", async () => {
    const pty = terminal("pty-head");
    await pty.run(`${tunnel(["--env", "stg", "--target", "stg-db", "--local-port", "0", "--stop"])} | head -1`);
    const line = await pty.waitFor(/127\.0\.0\.1:(\d+) → stg-db/, 60_000);
    const port = Number(/127\.0\.0\.1:(\d+) → stg-db/.exec(line)![1]);
    // head has exited: the "Press Ctrl-C" line went to a closed pipe, and the tunnel still answers.
    await eventually(async () => (pty.processes().some((p) => / head -1$/.test(p)) ? undefined : true), 10_000, "head to exit");
    expect(await sslAnswer(port)).toBe("N");
    pty.type("\x03");
    await pty.waitFor(/Stopped bastion task \S+; nothing is left running\./, 30_000);
    await nothingLeftAfterClose(pty);
  }, 120_000);

  it("SIGHUP with the tunnel open (the terminal still there): the task is stopped without the question", async () => {
    const pty = terminal("pty-sighup");
    await pty.run(tunnel(["--env", "stg", "--target", "stg-db", "--local-port", "0"]));
    await pty.waitFor("Press Ctrl-C to close the tunnel", 60_000);
    const [pid] = pty
      .processes()
      .filter((p) => p.includes("portforward.mts"))
      .map((p) => Number(p.split(" ")[0]));
    process.kill(pid, "SIGHUP");
    const task = (await ourTask("pty-sighup"))!;
    expect(await pty.exitStatus()).toBe(0);
    expect(pty.text()).toContain(`Stopped bastion task ${task.taskId}; nothing is left running.`);
    expect(pty.text()).not.toContain("Stop bastion task");
    await nothingLeftAfterClose(pty);
  }, 120_000);

  it("at the question Stop bastion task …? after Ctrl-C: the task is stopped, never left", async () => {
    const pty = terminal("pty-question");
    await pty.run(tunnel(["--env", "stg", "--target", "stg-db", "--local-port", "0"]));
    await pty.waitFor("Press Ctrl-C to close the tunnel", 60_000);
    pty.type("\x03");
    await pty.waitFor("Stop bastion task");
    await nothingLeftAfterClose(pty);
    expect(events("pty-question")).toContain("task_stopped");
  }, 120_000);

  it("during the stop: the stop goes on to the end although the terminal is gone", async () => {
    const pty = terminal("pty-stopping");
    await pty.run(tunnel(["--env", "stg", "--target", "stg-db", "--local-port", "0", "--stop"]));
    await pty.waitFor("Press Ctrl-C to close the tunnel", 60_000);
    pty.type("\x03");
    await pty.waitFor("Stopping bastion task");
    await nothingLeftAfterClose(pty);
    expect(events("pty-stopping")).toContain("task_stopped");
  }, 120_000);
});

const EXEC = join(REPO, "scripts/exec.mts");

/** The processes on this machine whose command line is `line` (a remote command: the local cloud runs it here). */
const processesRunning = (line: string) => pidsRunning((l) => l.trim() === line);

function auditRecords(user: string): Array<{ event: string; auditId: string; exitCode?: number; endedBy?: string }> {
  return readFileSync(join(state.dir, user, "bastionless", "audit.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

/** Every exec that started has its exec.end, with this exit code and reason. */
function expectEnded(user: string, exitCode: number, endedBy: string): void {
  const records = auditRecords(user);
  const started = records.filter((r) => r.event === "exec.start").map((r) => r.auditId);
  expect(started).toHaveLength(1);
  expect(records.filter((r) => r.event === "exec.end").map((r) => [r.auditId, r.exitCode, r.endedBy])).toEqual([[started[0], exitCode, endedBy]]);
}

/** exec without a terminal, its stdout and stderr piped to us. */
function execPiped(user: string, args: string[]) {
  const running = startScript("scripts/exec.mts", args, {
    env: { ...cloud.env, ...cloud.principalEnv("operator"), XDG_STATE_HOME: join(state.dir, user), USER: user },
  });
  return { child: running.child, exited: running.result.then((r) => r.code), stderr: running.stderr };
}

describe("exec ended from outside", () => {
  let appTask: string;
  beforeAll(async () => {
    appTask = await runningServiceTaskId(cloud);
  }, 60_000);

  it("closing the terminal of an interactive shell terminates the session and its remote command", async () => {
    const sleeper = `sleep 4242.${process.pid}`;
    const pty = terminal("pty-exec");
    await pty.run(`node --import tsx ${quote([EXEC, "--env", "stg", "--yes", "--task", appTask, "--client", "native"])}`);
    await pty.waitFor("The cluster", 30_000);
    pty.type(`${sleeper}\r`);
    await eventually(async () => (processesRunning(sleeper).length ? true : undefined), 30_000, "the remote sleep to run");
    await nothingLeftAfterClose(pty);
    await eventually(async () => (processesRunning(sleeper).length ? undefined : true), 15_000, "the remote sleep to end");
    expectEnded("pty-exec", 129, "SIGHUP");
  }, 90_000);

  it("make exec SIGKILLed: exec, left without its parent, terminates the session and writes exec.end", async () => {
    const sleeper = `sleep 4545.${process.pid}`;
    const pty = terminal("pty-make-exec");
    await pty.run(`make exec ENV=stg ARGS='--yes --task ${appTask} --client native'`);
    await pty.waitFor("The cluster", 30_000);
    pty.type(`${sleeper}\r`);
    await eventually(async () => (processesRunning(sleeper).length ? true : undefined), 30_000, "the remote sleep to run");
    const [make] = pty
      .processes()
      .filter((p) => / make exec /.test(` ${p.split(" ").slice(1).join(" ")} `))
      .map((p) => Number(p.split(" ")[0]));
    process.kill(make, "SIGKILL");
    await eventually(async () => (pty.processes().length === 0 ? true : undefined), 30_000, "exec to exit");
    expect((await leftovers(cloud)).sessions).toEqual([]);
    await eventually(async () => (processesRunning(sleeper).length ? undefined : true), 15_000, "the remote sleep to end");
    expectEnded("pty-make-exec", 129, "make exited");
    await pty.close();
  }, 90_000);

  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    it(`${signal} without a terminal: TerminateSession lands before the exit, the remote command ends, exec.end is written`, async () => {
      const sleeper = `sleep 4343.${code}${process.pid}`;
      const user = `exec-${signal.toLowerCase()}`;
      const run = execPiped(user, ["--env", "stg", "--yes", "--task", appTask, "--client", "native", "--command", sleeper]);
      await eventually(async () => (processesRunning(sleeper).length ? true : undefined), 30_000, "the remote sleep to run");
      run.child.kill(signal);
      expect(await run.exited).toBe(code);
      // Checked at the moment of the exit: the session was terminated before it, not after.
      expect((await leftovers(cloud)).sessions).toEqual([]);
      expect(run.stderr()).toContain(`exec: ${signal}: session `);
      await eventually(async () => (processesRunning(sleeper).length ? undefined : true), 15_000, "the remote sleep to end");
      expectEnded(user, code, signal);
    }, 60_000);
  }

  it("| head -1: the first line comes through, then the session ends (141, as for SIGPIPE) and nothing is left", async () => {
    const user = "exec-head";
    const loop = `i=0; while :; do i=$((i+1)); echo line-$i; sleep 0.05; done`;
    const { stdout: out } = await run(
      "bash",
      [
        "-c",
        `${quote(["node", "--import", "tsx", EXEC, "--env", "stg", "--yes", "--task", appTask, "--client", "native", "--command", loop])} | head -1; echo "status \${PIPESTATUS[0]}"`,
      ],
      {
        env: { ...cloud.env, ...cloud.principalEnv("operator"), XDG_STATE_HOME: join(state.dir, user), USER: user },
      },
    );
    expect(out).toMatch(/^line-1\nstatus 141\n$/);
    expect((await leftovers(cloud)).sessions).toEqual([]);
    expectEnded(user, 141, "stdout was closed");
  }, 60_000);
});
