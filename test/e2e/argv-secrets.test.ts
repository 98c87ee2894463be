// No secret on any argv we build: every local user can read /proc/<pid>/cmdline. While an exec and a
// tunnel run through session-manager-plugin (the fake one, which records the session it was given),
// every process under the program is read from /proc, and none carries the session's token.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { runningServiceTaskId } from "../support/world.ts";
import { watchDenials } from "../support/iam.ts";
import { eventually } from "../support/eventually.ts";
import { startScript } from "../support/run.ts";
import { REPO, startPortforward } from "./portforward-harness.ts";

const FIXTURES = join(REPO, "test/fixtures");

let cloud: LocalCloud;
let dir: string;
let appTaskId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "argv-secrets-"));
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 }, stopTimeoutMs: 1000 });
  appTaskId = await runningServiceTaskId(cloud);
}, 120_000);

// exec and portforward run as the operator, holding exactly docker/iam/operator.json: a refused call fails the test.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The one token the plugin was given is on no command line seen, and (not vacuous) the plugin was seen with its seven arguments. */
function expectNoTokenOnArgv(record: string, cmdlines: string): void {
  const tokens = tokensGiven(record);
  expect(tokens).toHaveLength(1);
  expect(tokens[0]).toMatch(/^\S{20,}$/);
  expect(cmdlines).not.toContain(tokens[0]);
  expect(cmdlines).toMatch(/fake-plugin\.cjs AWS_SSM_START_SESSION_RESPONSE \S+ StartSession {2}\{"Target":"ecs:stg-main_/);
}

/** The command line of every process under `root` (itself included), sampled every 10 ms until stop(). */
function watchDescendants(root: number): { stop(): Map<number, string> } {
  const seen = new Map<number, string>();
  const sample = () => {
    const parents = new Map<number, number>();
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      } catch {
        // gone meanwhile
      }
    }
    for (const pid of parents.keys()) {
      let p: number | undefined = pid;
      for (let depth = 0; p && p !== root && depth < 20; depth++) p = parents.get(p);
      if (p !== root) continue;
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
        if (cmdline) seen.set(pid, `${seen.get(pid) ?? ""}\n${cmdline}`);
      } catch {
        // gone meanwhile
      }
    }
  };
  const timer = setInterval(sample, 10);
  sample();
  return { stop: () => (clearInterval(timer), seen) };
}

/** The token of each session the fake plugin was started with, wherever it was given (argv or environment). */
function tokensGiven(record: string): string[] {
  const starts = readFileSync(record, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((e) => e.event === "start");
  return starts.map((s) => {
    const response = JSON.parse(s.args[0].startsWith("AWS_SSM_START_SESSION_RESPONSE") ? s.env.AWS_SSM_START_SESSION_RESPONSE : s.args[0]);
    return response.tokenValue ?? response.TokenValue;
  });
}

const pluginEnv = (record: string) => ({
  PATH: `${FIXTURES}:${process.env.PATH}`,
  FAKE_PLUGIN_RECORD: record,
  FAKE_PLUGIN_VERSION: "1.2.764.0",
  BASTIONLESS_CONFIG: "",
});

describe("no session token on any child's command line", () => {
  it("exec --client plugin (ECS Exec's form)", async () => {
    const record = join(dir, "exec.jsonl");
    const running = startScript("scripts/exec.mts", ["--env", "stg", "--yes", "--task", appTaskId, "--client", "plugin", "--command", "echo x"], {
      cwd: dir,
      env: {
        ...cloud.env,
        ...cloud.principalEnv("operator"),
        ...pluginEnv(record),
        FAKE_PLUGIN_SHELL_HOLD_MS: "1500",
        XDG_STATE_HOME: join(dir, "exec-state"),
      },
      timeoutMs: 90_000,
    });
    const watch = watchDescendants(running.child.pid!);
    const { code, stderr } = await running.result;
    const cmdlines = [...watch.stop().values()].join("\n");
    expect(code, stderr).toBe(0);
    expectNoTokenOnArgv(record, cmdlines);
  }, 90_000);

  it("portforward --client plugin", async () => {
    const record = join(dir, "tunnel.jsonl");
    const run = startPortforward(cloud, ["--env", "stg", "--yes", "--json", "--client", "plugin", "--target", "db.internal:5432", "--local-port", "0"], {
      ...pluginEnv(record),
      XDG_STATE_HOME: join(dir, "tunnel-state"),
    });
    const watch = watchDescendants(run.child.pid!);
    await run.ready;
    await new Promise((r) => setTimeout(r, 300));
    run.interrupt();
    const { code } = await run.exited;
    const cmdlines = [...watch.stop().values()].join("\n");
    expect(code, run.stderr()).toBe(0);
    expectNoTokenOnArgv(record, cmdlines);
  }, 90_000);
});
