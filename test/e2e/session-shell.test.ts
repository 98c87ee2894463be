// The native client's ECS Exec shell against the local cloud, in a real terminal: tmux runs
// fixtures/session-shell.mts (startShell over ecs:ExecuteCommand) in a stg-bastion task; we type,
// read the screen, resize, Ctrl-C a remote command, `exit`, and compare `stty -a` before and after.
// Once on a plain cluster, once on a cluster whose executeCommandConfiguration has a KMS key (the
// KMS handshake, AES-GCM both ways). Neither TokenValue nor data key shows up in any output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateClusterCommand, ECSClient } from "@aws-sdk/client-ecs";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { sdkConfig } from "../localcloud/test-helpers.ts";
import { runBastionTask } from "./session-harness.ts";

const ROOT = join(import.meta.dirname, "../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");
const FIXTURE = join(import.meta.dirname, "fixtures/session-shell.mts");
const socket = `session-shell-${process.pid}`;
let cloud: LocalCloud;
let ecs: ECSClient;
let kms: KMSClient;
let dir: string;

// Async, never execFileSync: the local cloud in this process must keep answering.
const tmux = async (...args: string[]) => (await promisify(execFile)("tmux", ["-L", socket, ...args], { encoding: "utf8", env: { ...process.env, ...cloud.env } })).stdout;
const screen = (name: string) => tmux("capture-pane", "-p", "-t", name);
/** Everything the pane ever showed, scrollback included. */
const history = (name: string) => tmux("capture-pane", "-p", "-S", "-", "-E", "-", "-t", name);

async function waitForScreen(name: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    last = await screen(name);
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`the screen never matched ${pattern}; it shows:\n${last}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "session-shell-"));
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  ecs = new ECSClient(sdkConfig(cloud));
  kms = new KMSClient(sdkConfig(cloud));
}, 120_000);

afterAll(async () => {
  await tmux("kill-server").catch(() => {});
  rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid!()}`, socket), { force: true });
  ecs?.destroy();
  kms?.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the fixture in a 100×30 tmux window; returns the files it and the shell around it write. */
async function openShell(name: string, cluster: string, taskId: string) {
  const files = { before: join(dir, `${name}-before`), after: join(dir, `${name}-after`), log: join(dir, `${name}-log`), secrets: join(dir, `${name}-secrets`) };
  const script = [
    `stty -a > ${files.before}`,
    `${TSX} ${FIXTURE} ${cluster} ${taskId} /bin/sh ${files.secrets} 2> ${files.log}`,
    `echo "status=$?"`,
    `stty -a > ${files.after}`,
    "sleep 120",
  ].join("; ");
  await tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "30", "sh", "-c", script);
  return files;
}

/** Types, reads, resizes, interrupts and exits; the terminal must come back as it was. */
async function driveShell(name: string, files: { before: string; after: string }) {
  await tmux("send-keys", "-t", name, "echo hello-$((6*7)) in $BASTION_ENV", "Enter");
  await waitForScreen(name, /^hello-42 in stg$/m);

  await tmux("send-keys", "-t", name, "stty size", "Enter");
  await waitForScreen(name, /^30 100$/m);
  await tmux("resize-window", "-t", name, "-x", "120", "-y", "40");
  await new Promise((r) => setTimeout(r, 300));
  await tmux("send-keys", "-t", name, "stty size", "Enter");
  await waitForScreen(name, /^40 120$/m);

  // Ctrl-C interrupts the remote command, not the client: the shell answers afterwards.
  await tmux("send-keys", "-t", name, "sleep 30; echo not-interrupted", "Enter");
  await new Promise((r) => setTimeout(r, 700));
  await tmux("send-keys", "-t", name, "C-c");
  // The shell's fresh prompt first: typed ahead, the line would be echoed before the prompt and
  // its output land on the prompt's line.
  await waitForScreen(name, /^\^C\s*\n#\s*$/m, 10_000);
  await tmux("send-keys", "-t", name, "echo after-$((1+1))", "Enter");
  const afterInterrupt = await waitForScreen(name, /^after-2$/m, 10_000);
  expect(afterInterrupt).not.toMatch(/^not-interrupted$/m);
  expect(afterInterrupt).not.toMatch(/status=/);

  await tmux("send-keys", "-t", name, "exit", "Enter");
  const final = await waitForScreen(name, /^status=\d+$/m);
  expect(final).toMatch(/Exiting session with sessionId: ecs-execute-command-[0-9a-f]{17}\./);
  expect(final).toMatch(/^fixture exit 0$/m);
  expect(final).toMatch(/^status=0$/m);
  await eventuallyExists(files.after);
  const modes = (file: string) => readFileSync(file, "utf8").replace(/rows \d+; columns \d+;/, "");
  expect(readFileSync(files.before, "utf8")).toMatch(/rows 30; columns 100;/);
  expect(readFileSync(files.before, "utf8")).toMatch(/ icanon /);
  expect(modes(files.after)).toBe(modes(files.before));
}

/** The run's secrets are known (the fixture recorded them) and appear nowhere it wrote. */
async function expectNoSecrets(name: string, files: { log: string; secrets: string }, kinds: number) {
  const secrets = readFileSync(files.secrets, "utf8").split("\n").filter(Boolean);
  expect(secrets.length).toBe(kinds);
  const outputs = [await history(name), readFileSync(files.log, "utf8")];
  expect(outputs[1]).toMatch(/debug: /); // the debug log was on
  for (const secret of secrets) for (const text of outputs) expect(text.includes(secret)).toBe(false);
  // Nor any 16+ character piece of them (a token split across lines would still leak).
  for (const secret of secrets) for (let i = 0; i + 16 <= secret.length; i += 8) for (const text of outputs.map((t) => t.replace(/\s/g, ""))) expect(text.includes(secret.slice(i, i + 16))).toBe(false);
}

async function eventuallyExists(file: string) {
  const until = Date.now() + 5000;
  while (!existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

describe("a native ECS Exec shell in a terminal", () => {
  it("types, shows output, resizes, passes Ctrl-C on, exits and restores the terminal; no token in any output", async () => {
    const task = await runBastionTask(ecs, "stg-main");
    const files = await openShell("plain", "stg-main", task.taskId);
    await waitForScreen("plain", /^[#$] ?$/m); // the container shell's prompt (tmux trims the trailing space)
    await driveShell("plain", files);
    await expectNoSecrets("plain", files, 1); // the ExecuteCommand TokenValue
  }, 180_000);

  it("does the same on a cluster with a KMS key: the session is encrypted, and no token or data key leaks", async () => {
    const key = await kms.send(new CreateKeyCommand({ Description: "stg-kms exec sessions" }));
    await ecs.send(new CreateClusterCommand({ clusterName: "stg-kms", configuration: { executeCommandConfiguration: { kmsKeyId: key.KeyMetadata!.Arn!, logging: "DEFAULT" } } }));
    const task = await runBastionTask(ecs, "stg-kms");
    const files = await openShell("kms", "stg-kms", task.taskId);
    const first = await waitForScreen("kms", /^[#$] ?$/m);
    expect(first).toContain("This session is encrypted using AWS KMS.");
    await driveShell("kms", files);
    // The TokenValue, then the 64-byte data key as base64 and as hex.
    await expectNoSecrets("kms", files, 3);
  }, 180_000);
});
