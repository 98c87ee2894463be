// Supervision of child processes, the init way (Yelp/dumb-init): spawn without a shell, forward
// signals, wait to a deadline then SIGKILL, and map the outcome to an exit code (128 + signal).
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import type { Readable } from "node:stream";

export type Signal = NodeJS.Signals;

/** The signals an init forwards and treats as "stop": docker stop, Ctrl-C, hang-up, quit. */
export const SHUTDOWN_SIGNALS: readonly Signal[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"];

export interface ChildExit {
  /** The exit code, or null when a signal ended the process. */
  code: number | null;
  signal: Signal | null;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  error?: Error;
}

export interface Child {
  readonly pid: number | undefined;
  readonly argv: readonly string[];
  /** Resolves once, when the process is gone (or failed to start). Never rejects. */
  readonly exited: Promise<ChildExit>;
  /** The outcome once the process is gone, else undefined. */
  exit(): ChildExit | undefined;
  /** Sends a signal if the process is still there; false when it is already gone. */
  signal(signal: Signal): boolean;
  /** Waits for the exit until `deadline` (epoch ms), then SIGKILLs and waits for the kill. */
  waitUntil(deadline: number): Promise<ChildExit & { killed: boolean }>;
  /** `signal` now, then `waitUntil(now + timeoutMs)`. */
  stop(timeoutMs: number, signal?: Signal): Promise<ChildExit & { killed: boolean }>;
}

export interface StartChildOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** "inherit": the app's own stdio (default); "pipe": lines go to `onLine`, stdin is closed. */
  stdio?: "inherit" | "pipe";
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
  /** Run as this uid/gid (the caller must be root); supplementary groups are dropped. */
  uid?: number;
  gid?: number;
}

/** Spawns `argv` as a direct child, no shell in between, so that signals reach the program itself. */
export function startChild(argv: readonly string[], options: StartChildOptions = {}): Child {
  if (argv.length === 0) throw new Error("startChild needs a command");
  const piped = options.stdio === "pipe";
  const child: ChildProcess = spawn(argv[0], argv.slice(1), {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: piped ? ["ignore", "pipe", "pipe"] : "inherit",
    shell: false,
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  if (piped) {
    const onLine = options.onLine ?? (() => {});
    readLines(child.stdout!, (line) => onLine("stdout", line));
    readLines(child.stderr!, (line) => onLine("stderr", line));
  }
  let outcome: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    // "close" waits for the piped streams too, so every line is delivered before the exit is seen.
    child.once(piped ? "close" : "exit", (code: number | null, signal: Signal | null) => {
      outcome ??= { code, signal };
      resolve(outcome);
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill() on a running child, not a failed start
      // The shell convention: 127 command not found, 126 found but not executable.
      outcome ??= { code: error.code === "ENOENT" ? 127 : 126, signal: null, error };
      resolve(outcome);
    });
  });

  const signal = (sig: Signal): boolean => !outcome && signalProcess(child, sig);

  const waitUntil = async (deadline: number) => {
    const { exit, killed } = await waitOrKill(exited, deadline, () => signal("SIGKILL"));
    return { ...exit, killed };
  };

  return {
    pid: child.pid,
    argv,
    exited,
    exit: () => outcome,
    signal,
    waitUntil,
    stop(timeoutMs, sig = "SIGTERM") {
      signal(sig);
      return waitUntil(Date.now() + timeoutMs);
    },
  };
}

/** Sends a signal to `child` if it is still there; false when it is already gone. */
export function signalProcess(child: ChildProcess, sig: Signal): boolean {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
  try {
    return child.kill(sig);
  } catch {
    return false;
  }
}

/** Waits for `exited` until `deadline` (epoch ms), then calls `kill` (a SIGKILL) and waits for the exit. */
export async function waitOrKill<T>(exited: Promise<T>, deadline: number, kill: () => void): Promise<{ exit: T; killed: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"deadline">((resolve) => {
    timer = setTimeout(() => resolve("deadline"), Math.max(0, deadline - Date.now()));
  });
  const first = await Promise.race([exited.then((exit) => ({ exit })), timedOut]);
  clearTimeout(timer);
  if (first !== "deadline") return { exit: first.exit, killed: false };
  kill();
  return { exit: await exited, killed: true };
}

/** The exit code an init reports for a child: its own code, or 128 + the number of the signal that ended it. */
export function exitStatus(exit: Pick<ChildExit, "code" | "signal">): number {
  if (exit.code !== null) return exit.code;
  if (exit.signal !== null) return 128 + signalNumber(exit.signal);
  return 1;
}

export function signalNumber(signal: Signal): number {
  const n = (constants.signals as Record<string, number>)[signal];
  if (n === undefined) throw new Error(`unknown signal ${signal}`);
  return n;
}

/**
 * Calls `handler` for every arrival of one of `signals` (not only the first: a second Ctrl-C is
 * forwarded too). While installed, the signals no longer kill this process. Returns the uninstaller.
 */
export function onSignals(signals: readonly Signal[], handler: (signal: Signal) => void): () => void {
  const listeners = signals.map((sig) => {
    const listener = () => handler(sig);
    process.on(sig, listener);
    return [sig, listener] as const;
  });
  return () => {
    for (const [sig, listener] of listeners) process.off(sig, listener);
  };
}

/** Splits a stream into lines (without the newline); a last unterminated line is delivered at the end. */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, newline).replace(/\r$/, ""));
      buffered = buffered.slice(newline + 1);
    }
  });
  stream.on("end", () => {
    if (buffered) onLine(buffered);
    buffered = "";
  });
}

export interface RunResult extends ChildExit {
  stdout: string;
  stderr: string;
}

/** Runs a one-shot command without a shell and collects its output; `abortSignal` SIGKILLs it. */
export async function runCommand(
  argv: readonly string[],
  options: { env?: NodeJS.ProcessEnv; abortSignal?: AbortSignal; onLine?: StartChildOptions["onLine"] } = {},
): Promise<RunResult> {
  const out: Record<"stdout" | "stderr", string[]> = { stdout: [], stderr: [] };
  const child = startChild(argv, {
    env: options.env,
    stdio: "pipe",
    onLine: (stream, line) => {
      out[stream].push(line);
      options.onLine?.(stream, line);
    },
  });
  const abort = () => child.signal("SIGKILL");
  options.abortSignal?.addEventListener("abort", abort, { once: true });
  if (options.abortSignal?.aborted) abort();
  try {
    const exit = await child.exited;
    return { ...exit, stdout: out.stdout.join("\n"), stderr: out.stderr.join("\n") };
  } finally {
    options.abortSignal?.removeEventListener("abort", abort);
  }
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
  /** A run at least this long resets the delay to `initialMs`. */
  resetAfterMs: number;
}

export interface RestartingChild {
  /** The pid of the current run, if one is running. */
  pid(): number | undefined;
  /** How many times the process was restarted. */
  restarts(): number;
  /** Stops restarting, then SIGTERMs the current run and SIGKILLs it after `timeoutMs`. Idempotent. */
  stop(timeoutMs: number): Promise<void>;
}

export interface StartRestartingOptions extends Omit<StartChildOptions, "stdio"> {
  backoff: Backoff;
  /** Called after each exit with the delay before the next run. */
  onExit?: (exit: ChildExit, restartInMs: number, runMs: number) => void;
  onStart?: (pid: number | undefined, run: number) => void;
}

/** Keeps `argv` running (output piped to `onLine`), restarting it with exponential backoff when it dies. */
export function startRestarting(argv: readonly string[], options: StartRestartingOptions): RestartingChild {
  let current: Child | undefined;
  let stopped = false;
  let runs = 0;
  let delay = options.backoff.initialMs;
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  const run = () => {
    if (stopped) return;
    const startedAt = Date.now();
    const child = startChild(argv, { env: options.env, cwd: options.cwd, stdio: "pipe", onLine: options.onLine });
    current = child;
    options.onStart?.(child.pid, runs++);
    void child.exited.then((exit) => {
      if (stopped) return;
      const ranMs = Date.now() - startedAt;
      if (ranMs >= options.backoff.resetAfterMs) delay = options.backoff.initialMs;
      const wait = delay;
      delay = Math.min(options.backoff.maxMs, delay * 2);
      options.onExit?.(exit, wait, ranMs);
      timer = setTimeout(run, wait);
    });
  };
  run();

  return {
    pid: () => (current && !current.exit() ? current.pid : undefined),
    restarts: () => Math.max(0, runs - 1),
    stop(timeoutMs) {
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(timer);
        if (current) await current.stop(timeoutMs);
      })();
      return stopping;
    },
  };
}

/** Set by the Makefile's program macro to make's pid, which is then our parent's. */
export const MAKE_PID_ENV = "BASTIONLESS_MAKE_PID";

/**
 * The parent watch for a program that make started itself (`make tunnel`, `make exec`): make's pid
 * in BASTIONLESS_MAKE_PID is our parent's, so a change of parent means make died. Anything else —
 * a program started in the background by a recipe, or by a script under make — is not watched. The
 * variable is taken out of our environment, so nothing we start inherits it.
 */
export function makeParentWatch(
  env: NodeJS.ProcessEnv = process.env,
  ppid: () => number = () => process.ppid,
): { ppid: () => number; everyMs: number } | undefined {
  const makePid = env[MAKE_PID_ENV];
  delete env[MAKE_PID_ENV];
  return makePid !== undefined && makePid === String(ppid()) ? { ppid, everyMs: 500 } : undefined;
}
