// Runs the entrypoint as a real process against the local cloud: the .mts under tsx or the bundle
// under plain node, with a recording app as CMD and the fake agent behind a recording wrapper.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LocalCloud } from "../localcloud/index.ts";

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
  /** Another copy of scripts/entrypoint.mts to run under tsx (the reliability suite's mutants). */
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
  const proc = spawn(argv[0], argv.slice(1), { env, cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    proc.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  // stdout/stderr fully read before the exit is reported
  const closed = new Promise<void>((resolve) => proc.once("close", () => resolve()));

  const events = (): LogEvent[] =>
    err
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogEvent);

  const readLines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

  return {
    proc,
    dir,
    spawnedAt,
    stdout: () => out,
    stderr: () => err,
    events,
    async waitForEvent(name, timeoutMs = 30_000) {
      const started = Date.now();
      for (;;) {
        const found = events().find((e) => e.event === name);
        if (found) return found;
        if (proc.exitCode !== null || proc.signalCode !== null) {
          await closed;
          const late = events().find((e) => e.event === name);
          if (late) return late;
          throw new Error(`the entrypoint exited (${proc.exitCode ?? proc.signalCode}) without logging "${name}":\n${err}`);
        }
        if (Date.now() - started > timeoutMs) throw new Error(`no "${name}" event within ${timeoutMs} ms:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
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

export { eventually, sleep } from "../support/eventually.ts";
