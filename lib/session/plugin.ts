// AWS's session-manager-plugin, launched the way the AWS CLI launches it (docs/session-protocol.md §1):
// seven argv entries, the response in AWS_SSM_START_SESSION_RESPONSE for plugins > 1.2.497.0 (the ECS
// Exec form too, unlike awscli), Ctrl-C left to the plugin, SIGINT then SIGKILL on stop.
import { spawn, execFile, type ChildProcess, type StdioOptions } from "node:child_process";
import { promisify } from "node:util";
import type { SessionGrant } from "../aws/sessions.ts";
import { redactText } from "../log.ts";
import { exitStatus, signalProcess, waitOrKill } from "../process.ts";
import { isSupportedPlugin, MIN_PLUGIN_VERSION, readsResponseFromEnv } from "./versions.ts";

export const PLUGIN_INSTALL_URL = "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html";
export const RESPONSE_ENV = "AWS_SSM_START_SESSION_RESPONSE";
const STOP_GRACE_MS = 3000;

export class PluginNotInstalledError extends Error {
  override name = "PluginNotInstalledError";
  constructor(path: string, options?: { cause?: unknown }) {
    super(
      `session-manager-plugin is not installed${path === "session-manager-plugin" ? "" : ` at ${path}`}: ${PLUGIN_INSTALL_URL}, or use --client native`,
      options,
    );
  }
}

/** `session-manager-plugin --version`; throws PluginNotInstalledError when it is missing. */
export async function getPluginVersion(path = "session-manager-plugin"): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(path, ["--version"], { timeout: 10_000 });
    const version = stdout.trim().match(/\d+(?:\.\d+)+/)?.[0];
    if (!version) throw new Error(`${path} --version printed no version: ${JSON.stringify(stdout.trim().slice(0, 80))}`);
    return version;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES") throw new PluginNotInstalledError(path, { cause: error });
    throw error;
  }
}

export function assertPluginVersion(version: string, path = "session-manager-plugin"): void {
  if (!isSupportedPlugin(version)) {
    throw new Error(
      `${path} is version ${version}; bastionless needs ${MIN_PLUGIN_VERSION} or newer. Update it (${PLUGIN_INSTALL_URL}), or use --client native.`,
    );
  }
}

export interface PluginArgsInput {
  /** "ssm": aws ssm start-session; "ecs": aws ecs execute-command. */
  form: "ssm" | "ecs";
  grant: SessionGrant;
  region: string;
  /** Only an explicitly chosen profile; "" otherwise (awscli since 2024-05). */
  profile?: string;
  /** The StartSession request: Target always (the plugin panics without it), DocumentName and Parameters for ssm. */
  request: { Target: string; DocumentName?: string; Parameters?: Record<string, string[]> };
  /** Endpoint of the SSM client (ssm form) or of the ECS client (ecs form). */
  endpointUrl: string;
  pluginVersion: string;
}

/**
 * The plugin's argv[1..6] and the extra environment, as awscli builds them, except that the ECS form's
 * response also goes in the environment: argv is readable by every local user (/proc/<pid>/cmdline) and
 * the token drives the session. The plugin reads args[1] from the variable it names whenever it starts
 * with AWS_SSM_START_SESSION_RESPONSE, whatever the operation, then unsets it; Go's encoding/json
 * matches the ECS form's camelCase keys (session-manager-plugin session.go, ValidateInputAndStartSession).
 */
export function buildPluginArgs(input: PluginArgsInput): { args: string[]; env: Record<string, string> } {
  const { grant } = input;
  const env: Record<string, string> = {};
  // executecommand.py passes the camelCase `session` object; start-session the PascalCase response.
  const json =
    input.form === "ecs"
      ? JSON.stringify({ sessionId: grant.sessionId, streamUrl: grant.streamUrl, tokenValue: grant.tokenValue })
      : JSON.stringify({ SessionId: grant.sessionId, TokenValue: grant.tokenValue, StreamUrl: grant.streamUrl });
  let response = json;
  if (readsResponseFromEnv(input.pluginVersion)) {
    env[RESPONSE_ENV] = json;
    response = RESPONSE_ENV;
  }
  return {
    args: [response, input.region, "StartSession", input.profile ?? "", JSON.stringify(input.request), input.endpointUrl],
    env,
  };
}

export interface PluginProcessOptions {
  path?: string;
  args: string[];
  env: Record<string, string>;
  /**
   * "pipe" for port forwards (we read readiness from stdout); "inherit" for a shell on a terminal (the
   * plugin reads the terminal's size from its stdout, shellsession.go handleTerminalResize); "tee" for
   * a shell whose stdout is not a terminal: stdin and stderr inherited, stdout read and copied to ours.
   */
  stdio: "pipe" | "inherit" | "tee";
  onOutput?: (text: string) => void;
}

export interface PluginProcess {
  child: ChildProcess;
  /** Resolves with the exit code (128 + n for a signal); rejects when the binary cannot be spawned. */
  exited: Promise<number>;
  /** Everything the plugin printed so far (redacted), for error messages. */
  output(): string;
  /** SIGINT (the plugin sends TerminateSession and exits), SIGKILL after 3 s. */
  stop(): Promise<number>;
}

/** The plugin's stdio for each mode: "tee" shows its output and reads it too, "pipe" only reads it. */
const CHILD_STDIO: Record<PluginProcessOptions["stdio"], StdioOptions> = {
  inherit: "inherit",
  tee: ["inherit", "pipe", "inherit"],
  pipe: ["ignore", "pipe", "pipe"],
};

export function spawnPlugin(options: PluginProcessOptions): PluginProcess {
  const path = options.path ?? "session-manager-plugin";
  const child = spawn(path, options.args, {
    env: { ...process.env, ...options.env },
    stdio: CHILD_STDIO[options.stdio],
  });
  if (options.stdio === "tee") {
    child.stdout!.pipe(process.stdout, { end: false });
    // Once our stdout is gone (`| head -1`), the plugin's output is still read, so that it can exit and close.
    const drain = () => child.stdout!.unpipe(process.stdout).resume();
    process.stdout.once("close", drain);
    child.once("close", () => process.stdout.off("close", drain));
  }
  let printed = "";
  const collect = (chunk: Buffer) => {
    const text = redactText(chunk.toString("utf8"));
    printed = (printed + text).slice(-8192);
    options.onOutput?.(text);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      reject(code === "ENOENT" || code === "EACCES" ? new PluginNotInstalledError(path, { cause: error }) : error);
    });
    // "close" comes after the last of stdout: a tee's copy holds everything the plugin printed by then.
    child.once(options.stdio === "tee" ? "close" : "exit", (code: number | null, signal: NodeJS.Signals | null) => resolve(exitStatus({ code, signal })));
  });
  exited.catch(() => {});
  let stopping: Promise<number> | undefined;
  return {
    child,
    exited,
    output: () => printed,
    stop() {
      stopping ??= (async () => {
        signalProcess(child, "SIGINT");
        const { exit } = await waitOrKill(
          exited.catch(() => 1),
          Date.now() + STOP_GRACE_MS,
          () => signalProcess(child, "SIGKILL"),
        );
        return exit;
      })();
      return stopping;
    },
  };
}

/** Resolves with the local port once the plugin prints "Port N opened" (or "Waiting for connections..."). */
export function waitForPluginPort(plugin: PluginProcess, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let port: number | undefined;
    const check = () => {
      const text = plugin.output();
      const opened = text.match(/Port (\d+) opened for sessionId/);
      if (opened) port = Number(opened[1]);
      if (port !== undefined && (/Waiting for connections/.test(text) || /opened for sessionId \S+\.\n/.test(text))) done(() => resolve(port!));
    };
    const onData = () => check();
    const timer = setTimeout(
      () =>
        done(() =>
          reject(new Error(`session-manager-plugin did not open its port within ${Math.round(timeoutMs / 1000)} s. It printed: ${tail(plugin.output())}`)),
        ),
      timeoutMs,
    );
    const done = (settle: () => void) => {
      clearTimeout(timer);
      plugin.child.stdout?.off("data", onData);
      settle();
    };
    plugin.child.stdout?.on("data", onData);
    plugin.exited.then(
      (code) => done(() => reject(new Error(`session-manager-plugin exited (code ${code}) before opening its port. It printed: ${tail(plugin.output())}`))),
      (error) => done(() => reject(error)),
    );
    check();
  });
}

/**
 * Whether the plugin's output ends the way it reports a failed session. The plugin exits 0 after every
 * channel_closed, printing "\n\nSessionId: <id> : <Output>\n\n" when Output is not empty
 * (session-manager-plugin streaming.go:786-792 HandleChannelClosedMessage, then Stop = os.Exit(0) at
 * sessionhandler.go:90-91), and the agent words a failed session's Output "----------ERROR-------\n…"
 * (a failed KMS handshake: "Encountered error while initiating handshake. KMSEncryption failed on client …").
 */
export function isFailedSessionEnd(output: string, sessionId: string): boolean {
  const end = output.lastIndexOf(`\n\nSessionId: ${sessionId} : `);
  return end >= 0 && /^-+ERROR-+\r?\n/.test(output.slice(end + `\n\nSessionId: ${sessionId} : `.length));
}

/** While a plugin shell runs, Ctrl-C, Ctrl-\ and Ctrl-Z belong to it (awscli ignore_user_entered_signals). */
export function ignoreUserSignals(): () => void {
  const ignore = () => {};
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGQUIT", "SIGTSTP"];
  for (const s of signals) process.on(s, ignore);
  return () => {
    for (const s of signals) process.off(s, ignore);
  };
}

function tail(text: string): string {
  const t = text.trim().split("\n").slice(-5).join(" | ");
  return t ? JSON.stringify(t) : "(nothing)";
}
