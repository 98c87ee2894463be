// A real terminal: tmux runs the native shell driver; we type, read the screen, resize, Ctrl-C,
// exit, and compare `stty -a` before and after.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { tmuxServer } from "../../support/tmux.ts";

const ROOT = resolve(import.meta.dirname, "../../..");
const dir = mkdtempSync(join(tmpdir(), "shell-test-"));
const name = `bastionless-shell-${process.pid}`;
const terminal = tmuxServer(name);
const tmux = terminal.run;
const waitForScreen = (pattern: RegExp, timeoutMs = 20_000) => terminal.waitForScreen(name, pattern, timeoutMs);

afterAll(async () => {
  await terminal.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe("native shell in a terminal", () => {
  it("types, shows output, resizes, passes Ctrl-C to the remote side, exits and restores the terminal", async () => {
    const before = join(dir, "before");
    const after = join(dir, "after");
    const script = `cd ${ROOT}; stty -a > ${before}; ${join(ROOT, "node_modules/.bin/tsx")} test/fixtures/native-shell.mts; echo "status=$?"; stty -a > ${after}; sleep 60`;
    await tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "30", "sh", "-c", script);
    await waitForScreen(/[#$]$/m);

    await tmux("send-keys", "-t", name, "echo hello-$((6*7))", "Enter");
    await waitForScreen(/^hello-42$/m);

    await tmux("send-keys", "-t", name, "stty size", "Enter");
    await waitForScreen(/^30 100$/m);
    await tmux("resize-window", "-t", name, "-x", "120", "-y", "40");
    await new Promise((r) => setTimeout(r, 500));
    await tmux("send-keys", "-t", name, "stty size", "Enter");
    await waitForScreen(/^40 120$/m);

    // Ctrl-C interrupts the remote command, not us: the shell is still there afterwards.
    await tmux("send-keys", "-t", name, "sleep 30; echo not-interrupted", "Enter");
    await new Promise((r) => setTimeout(r, 700));
    await tmux("send-keys", "-t", name, "C-c");
    await tmux("send-keys", "-t", name, "echo after-$((1+1))", "Enter");
    const afterInterrupt = await waitForScreen(/^after-2$/m, 10_000);
    // Within 10 s of a 30 s sleep: the remote shell got the interrupt, and the command did not finish.
    expect(afterInterrupt).toMatch(/\^C/);
    expect(afterInterrupt).not.toMatch(/^not-interrupted$/m);
    expect(afterInterrupt).not.toContain("status=");

    await tmux("send-keys", "-t", name, "exit", "Enter");
    const final = await waitForScreen(/^status=\d+$/m);
    expect(final).toMatch(/Exiting session with sessionId: test-\d+-\d+\./);
    expect(final).toMatch(/^driver exit 0$/m);
    expect(final).toMatch(/^status=0$/m);
    await new Promise((r) => setTimeout(r, 300));
    // Every mode flag and control character as before; only the size changed (we resized).
    const modes = (file: string) => readFileSync(file, "utf8").replace(/rows \d+; columns \d+;/, "");
    expect(readFileSync(before, "utf8")).toMatch(/rows 30; columns 100;/);
    expect(readFileSync(before, "utf8")).toMatch(/ icanon /);
    expect(modes(after)).toBe(modes(before));
  });
});
