// Runs the entrypoint as a real process against the local cloud: the .mts under tsx or the bundle
// under plain node, with a recording app as CMD and the fake agent behind a recording wrapper.
import { execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LocalCloud } from "../localcloud/index.ts";
import { eventually } from "../support/eventually.ts";
import { start } from "../support/run.ts";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const APP = join(REPO, "test/e2e/fixtures/app.mjs");
export const RECORDING_AGENT = join(REPO, "test/e2e/fixtures/recording-agent");
export const FAKE_AGENT = join(REPO, "test/localcloud/bin/amazon-ssm-agent");
export const BUNDLE = join(REPO, "dist/entrypoint.mjs");

export type Runner = "tsx" | "bundle";

/**
 * The .mts runs in-process with tsx's loader (`node --import tsx`, from the repository root): the
 * tsx CLI would be a parent in between that relays SIGINT and SIGTERM but not SIGHUP or SIGQUIT.
 */
export function entrypointArgv(runner: Runner, script = join(REPO, "scripts/entrypoint.mts")): string[] {
  return runner === "tsx" ? [process.execPath, "--import", "tsx", script] : [process.execPath, BUNDLE];
}

/** `npm run build:entrypoint`, the way an image build runs it. */
export function buildBundle(): void {
  execFileSync("npm", ["run", "-s", "build:entrypoint"], { cwd: REPO, stdio: "pipe" });
  if (!existsSync(BUNDLE)) throw new Error("npm run build:entrypoint did not write dist/entrypoint.mjs");
}

export interface LogEvent {
  time: string;
  level: string;
  event?: string;
  msg?: string;
  [key: string]: unknown;
}

export interface EntrypointRun {
  proc: ChildProcess;
  dir: string;
  /** Epoch ms just before spawn. */
  spawnedAt: number;
  stdout(): string;
  stderr(): string;
  events(): LogEvent[];
  waitForEvent(name: string, timeoutMs?: number): Promise<LogEvent>;
  /** Resolves with the exit and its epoch ms. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** The app's record: "start", "signal SIGTERM" … with epoch ms. */
  appRecord(): Array<{ what: string; at: number }>;
  /** The activation code the agent was given, once -register ran. */
  activationCodes(): string[];
  /** SIGKILLs what is left and removes the temp dir. */
  dispose(): Promise<void>;
}

export interface StartOptions {
  runner?: Runner;
  cloud: LocalCloud;
  /** The CMD; default the recording app. [] = a pure bastion. */
  cmd?: string[];
  env?: Record<string, string | undefined>;
  /** A script to run under tsx instead of scripts/entrypoint.mts (the reliability suite's mutant). */
  script?: string;
}

export function startEntrypoint(options: StartOptions): EntrypointRun {
  const dir = mkdtempSync(join(tmpdir(), "entrypoint-e2e-"));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    ...options.cloud.env,
    BASTION_ENV: "stg",
    BASTION_IAM_ROLE: "bastionless-ssm-managed-instance",
    BASTION_REGION: options.cloud.region,
    SSM_AGENT_BIN: RECORDING_AGENT,
    REAL_SSM_AGENT: FAKE_AGENT,
    SSM_REGISTRATION_FILE: join(dir, "var/lib/amazon/ssm/registration"),
    AGENT_ARGV_RECORD: join(dir, "agent-argv"),
    APP_RECORD: join(dir, "app-record"),
  };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const argv = [...entrypointArgv(options.runner ?? "tsx", options.script), ...(options.cmd ?? [process.execPath, APP])];
  const spawnedAt = Date.now();
  const running = start(argv[0], argv.slice(1), { baseEnv: env, timeoutMs: Number.POSITIVE_INFINITY });
  const proc = running.child;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    proc.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  // stdout/stderr fully read before the exit is reported
  const closed = running.result;

  const events = (): LogEvent[] =>
    running
      .stderr()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogEvent);

  const readLines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

  return {
    proc,
    dir,
    spawnedAt,
    stdout: running.stdout,
    stderr: running.stderr,
    events,
    async waitForEvent(name, timeoutMs = 30_000) {
      const find = () => events().find((e) => e.event === name);
      const gone = () => proc.exitCode !== null || proc.signalCode !== null;
      const found = await eventually(async () => find() ?? (gone() ? null : undefined), timeoutMs, `a "${name}" event`, 20).catch(() => {
        throw new Error(`no "${name}" event within ${timeoutMs} ms:\n${running.stderr()}`);
      });
      if (found) return found;
      await closed;
      const late = find();
      if (late) return late;
      throw new Error(`the entrypoint exited (${proc.exitCode ?? proc.signalCode}) without logging "${name}":\n${running.stderr()}`);
    },
    exited: exited.then(async (e) => {
      await closed;
      return e;
    }),
    appRecord: () =>
      readLines(env.APP_RECORD).map((l) => {
        const parts = l.split(" ");
        return { what: parts.slice(0, -1).join(" "), at: Number(parts.at(-1)) };
      }),
    activationCodes: () => {
      const lines = readLines(env.AGENT_ARGV_RECORD);
      return lines.flatMap((l, i) => (l === "-code" && lines[i + 1] ? [lines[i + 1]] : []));
    },
    async dispose() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await closed;
      }
      // The app and agent are the entrypoint's children; a SIGKILLed entrypoint cannot stop them.
      for (const pid of pidsUnder(dir)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Processes whose environment mentions `dir` (the app and the agent of one run). */
function pidsUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of existsSync("/proc") ? readdirSync("/proc") : []) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").includes(dir)) pids.push(Number(entry));
    } catch {
      /* gone or not ours */
    }
  }
  return pids;
}
