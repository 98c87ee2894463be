// The native client's ECS Exec shell against the local cloud, in a real terminal: tmux runs
// fixtures/session-shell.mts (startShell over ecs:ExecuteCommand) in a stg-bastion task; we type,
// read the screen, resize, Ctrl-C a remote command, `exit`, and compare `stty -a` before and after.
// Once on a plain cluster, once on a cluster whose executeCommandConfiguration has a KMS key (the
// KMS handshake, AES-GCM both ways). Neither TokenValue nor data key shows up in any output.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateClusterCommand, ECSClient } from "@aws-sdk/client-ecs";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { SSMClient } from "@aws-sdk/client-ssm";
import { PassThrough } from "node:stream";
import { startShell } from "../../lib/session/index.ts";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { runBastionTask } from "../support/bastion.ts";
import { eventually } from "../support/eventually.ts";
import { watchDenials } from "../support/iam.ts";
import { tmuxServer } from "../support/tmux.ts";

const ROOT = join(import.meta.dirname, "../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");
const FIXTURE = join(import.meta.dirname, "fixtures/session-shell.mts");
const socket = `session-shell-${process.pid}`;
let cloud: LocalCloud;
let ecs: ECSClient;
let kms: KMSClient;
let dir: string;

// The tmux server, and so the fixture in it, gets the operator's key (docker/iam/operator.json exactly) from its environment.
const terminal = tmuxServer(socket, { env: () => ({ ...cloud.env, ...cloud.principalEnv("operator") }) });
const tmux = terminal.run;
/** Everything the pane ever showed, scrollback included. */
const history = (name: string) => terminal.screen(name, "-S", "-", "-E", "-");
const waitForScreen = (name: string, pattern: RegExp, timeoutMs?: number) => terminal.waitForScreen(name, pattern, timeoutMs);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "session-shell-"));
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  ecs = new ECSClient(cloudConfig(cloud));
  kms = new KMSClient(cloudConfig(cloud));
}, 120_000);

// The session's calls are the operator's: a call the local cloud refused fails the test, naming the action.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await terminal.kill();
  ecs?.destroy();
  kms?.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the fixture in a 100×30 tmux window; returns the files it and the shell around it write. */
async function openShell(name: string, cluster: string, taskId: string) {
  const files = {
    before: join(dir, `${name}-before`),
    after: join(dir, `${name}-after`),
    log: join(dir, `${name}-log`),
    secrets: join(dir, `${name}-secrets`),
  };
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
  // Waited for a while, then checked: the assertions below say what is missing.
  await eventually(async () => (existsSync(files.after) ? true : undefined), 5000).catch(() => undefined);
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
  for (const secret of secrets)
    for (let i = 0; i + 16 <= secret.length; i += 8)
      for (const text of outputs.map((t) => t.replace(/\s/g, ""))) expect(text.includes(secret.slice(i, i + 16))).toBe(false);
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
    await ecs.send(
      new CreateClusterCommand({
        clusterName: "stg-kms",
        configuration: { executeCommandConfiguration: { kmsKeyId: key.KeyMetadata!.Arn!, logging: "DEFAULT" } },
      }),
    );
    const task = await runBastionTask(ecs, "stg-kms");
    const files = await openShell("kms", "stg-kms", task.taskId);
    const first = await waitForScreen("kms", /^[#$] ?$/m);
    expect(first).toContain("This session is encrypted using AWS KMS.");
    await driveShell("kms", files);
    // The TokenValue, then the 64-byte data key as base64 and as hex.
    await expectNoSecrets("kms", files, 3);
  }, 180_000);

  it("a short command on a KMS cluster: its whole output and the session's end come while the handshake settles, and the output is shown", async () => {
    const key = await kms.send(new CreateKeyCommand({ Description: "stg-kms-fast exec sessions" }));
    await ecs.send(
      new CreateClusterCommand({
        clusterName: "stg-kms-fast",
        configuration: { executeCommandConfiguration: { kmsKeyId: key.KeyMetadata!.Arn!, logging: "DEFAULT" } },
      }),
    );
    const task = await runBastionTask(ecs, "stg-kms-fast");
    // The session as the operator; the cluster, key and task above were set up with the root key.
    const operator = cloud.principalEnv("operator");
    const as = cloudConfig(cloud, { credentials: { accessKeyId: operator.AWS_ACCESS_KEY_ID, secretAccessKey: operator.AWS_SECRET_ACCESS_KEY } });
    const clients = { ecs: new ECSClient(as), kms: new KMSClient(as), ssm: new SSMClient(as) };
    const stdout = new PassThrough();
    let printed = "";
    stdout.on("data", (d: Buffer) => (printed += d.toString("utf8")));
    try {
      const shell = await startShell({
        clients,
        region: cloud.region,
        client: "native",
        // Longer than the command takes: the agent sends its output and channel_closed before the client sends anything.
        handshakeSettleMs: 3_000,
        stdin: new PassThrough() as unknown as NodeJS.ReadStream,
        stdout: stdout as unknown as NodeJS.WriteStream,
        via: { kind: "ecs", cluster: "stg-kms-fast", task: task.taskId, command: "echo fast-$((2+3))", target: task.target },
      });
      expect(await shell.exit).toBe(0);
      expect(printed).toContain("This session is encrypted using AWS KMS.");
      expect(printed).toMatch(/^fast-5\r?$/m);
      expect(printed).toMatch(/Exiting session with sessionId: ecs-execute-command-/);
    } finally {
      for (const c of Object.values(clients)) c.destroy();
    }
  }, 120_000);
});
