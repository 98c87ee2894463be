// `exec` as an operator uses it: a real terminal (tmux) running scripts/exec.mts against the local
// cloud. We type, read the screen, resize, Ctrl-C a remote command, `exit`, and compare `stty -a`
// before and after: the local terminal must come back as it was.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { eventually } from "../support/eventually.ts";
import { watchDenials } from "../support/iam.ts";
import { tmuxServer } from "../support/tmux.ts";
import { runningServiceTaskId } from "../support/world.ts";

const ROOT = join(import.meta.dirname, "../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");
const socket = `exec-tty-${process.pid}`;
const name = "exec";
let cloud: LocalCloud;
let dir: string;

// The tmux server, and so exec in it, gets the operator's credentials (holding exactly
// docker/iam/operator.json) from its environment, never from an argument.
const terminal = tmuxServer(socket, { env: () => ({ ...cloud.env, ...cloud.principalEnv("operator") }) });
const tmux = terminal.run;
const waitForScreen = (pattern: RegExp, timeoutMs?: number) => terminal.waitForScreen(name, pattern, timeoutMs);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "exec-tty-"));
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  await runningServiceTaskId(cloud);
}, 120_000);

// A call the local cloud refused fails the test, naming the action.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await terminal.kill();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("exec in a terminal", () => {
  it("an interactive shell takes input, shows output, resizes, passes Ctrl-C on, and `exit` restores the terminal", async () => {
    const before = join(dir, "stty-before");
    const after = join(dir, "stty-after");
    const script = [
      `stty -a > ${before}`,
      `XDG_STATE_HOME=${join(dir, "state")} ${TSX} ${join(ROOT, "scripts/exec.mts")} --env stg --yes --client native`,
      `echo "exec exit $?"`,
      `stty -a > ${after}`,
      "sleep 60",
    ].join("; ");
    await tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "30", "sh", "-c", script);
    await waitForScreen(/^# ?$/m); // the container shell's prompt (tmux trims the trailing space)

    await tmux("send-keys", "-t", name, "echo hello-$((6*7)); pwd", "Enter");
    const shown = await waitForScreen(/^hello-42$/m);
    const task = (await cloud.state()).tasks.find((t) => t.group === "service:stg-app")!;
    expect(shown).toContain(task.containers[0].dir); // the command ran in the container

    await tmux("send-keys", "-t", name, "stty size", "Enter");
    await waitForScreen(/^30 120$/m);
    await tmux("resize-window", "-t", name, "-x", "100", "-y", "40");
    await new Promise((r) => setTimeout(r, 500));
    await tmux("send-keys", "-t", name, "stty size", "Enter");
    await waitForScreen(/^40 100$/m);

    // Ctrl-C interrupts the remote sleep, not exec: the shell answers afterwards.
    await tmux("send-keys", "-t", name, "sleep 30; echo not-interrupted", "Enter");
    await new Promise((r) => setTimeout(r, 800));
    await tmux("send-keys", "-t", name, "C-c");
    await tmux("send-keys", "-t", name, "echo after-$((1+1))", "Enter");
    const interrupted = await waitForScreen(/^after-2$/m, 15_000);
    expect(interrupted).not.toMatch(/^not-interrupted$/m);

    await tmux("send-keys", "-t", name, "exit", "Enter");
    const final = await waitForScreen(/^exec exit \d+$/m);
    expect(final).toMatch(/Exiting session with sessionId: ecs-execute-command-[0-9a-f]{17}\./);
    expect(final).toMatch(/^exec exit 0$/m);
    await eventually(async () => (existsSync(after) && readFileSync(after, "utf8").length ? true : undefined), 10_000, "stty -a after exec");
    // Raw mode undone: same settings (the size line differs only by the resize).
    const settings = (path: string) => readFileSync(path, "utf8").split("\n").slice(1).join("\n");
    expect(settings(after)).toBe(settings(before));
    expect(readFileSync(after, "utf8")).toMatch(/\bicanon\b/);
    expect(readFileSync(after, "utf8")).toMatch(/\becho\b/);
  }, 120_000);
});
