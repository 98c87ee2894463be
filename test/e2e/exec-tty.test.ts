// `exec` as an operator uses it: a real terminal (tmux) running scripts/exec.mts against the local
// cloud. We type, read the screen, resize, Ctrl-C a remote command, `exit`, and compare `stty -a`
// before and after: the local terminal must come back as it was.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { eventually } from "./entrypoint-harness.ts";

const ROOT = join(import.meta.dirname, "../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");
const socket = `exec-tty-${process.pid}`;
const name = "exec";
let cloud: LocalCloud;
let dir: string;

// Async, never execFileSync: the local cloud in this process must keep answering.
const tmux = async (...args: string[]) => (await promisify(execFile)("tmux", ["-L", socket, ...args], { encoding: "utf8", env: { ...process.env, ...cloud.env } })).stdout;
const screen = () => tmux("capture-pane", "-p", "-t", name);

async function waitForScreen(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    last = await screen();
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`the screen never matched ${pattern}; it shows:\n${last}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "exec-tty-"));
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  await eventually(async () => ((await cloud.state()).tasks.some((t) => t.group === "service:stg-app" && t.lastStatus === "RUNNING") ? true : undefined), 60_000, "stg-app's task RUNNING");
}, 120_000);

afterAll(async () => {
  await tmux("kill-server").catch(() => {});
  rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid!()}`, socket), { force: true });
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
