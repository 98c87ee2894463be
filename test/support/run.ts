// Running one of our programs (or make) as a user would, and collecting what it said and how it ended.
// Every child goes through node:child_process's spawn, which the secret scan wraps (capture.ts).
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to (a value of undefined: removed from) `baseEnv`. */
  env?: Record<string, string | undefined>;
  /** The environment `env` changes (default this process's). */
  baseEnv?: NodeJS.ProcessEnv | Record<string, string | undefined>;
  cwd?: string;
  /** SIGKILL after this long (default 60 s): a hung program fails its test instead of the suite. Infinity: never (the test stops it). */
  timeoutMs?: number;
  /** Run as another Unix user (the tests run as root). */
  uid?: number;
  gid?: number;
}

/** A program still running: what it printed so far, and its result once it has exited. */
export interface Running {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout(): string;
  stderr(): string;
  /** Resolves when it has exited and its pipes are drained; rejects if it could not be started. */
  result: Promise<RunResult>;
}

/** `command args…` with no shell and no terminal, started; the test may read its output or signal it meanwhile. */
export function start(command: string, args: string[], options: RunOptions = {}): Running {
  const env: NodeJS.ProcessEnv = { ...(options.baseEnv ?? process.env) };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const as = { ...(options.uid !== undefined ? { uid: options.uid } : {}), ...(options.gid !== undefined ? { gid: options.gid } : {}) };
  const child = spawn(command, args, { cwd: options.cwd ?? REPO, env, ...as, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const limitMs = options.timeoutMs ?? 60_000;
  const limit = Number.isFinite(limitMs) ? setTimeout(() => child.kill("SIGKILL"), limitMs) : undefined;
  const result = new Promise<RunResult>((resolve, reject) => {
    child.once("error", (error) => {
      clearTimeout(limit);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, result };
}

/** `command args…` to its end (see start). */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return start(command, args, options).result;
}

/** tsx's loader by absolute URL, so that a program also starts from a directory outside the repository. */
export const TSX_LOADER = pathToFileURL(join(REPO, "node_modules/tsx/dist/loader.mjs")).href;

/** One of scripts/*.mts (or any .mts of ours; relative to the repository), started the way the Makefile runs it: node --import tsx. */
export function startScript(file: string, args: string[], options: RunOptions = {}): Running {
  return start(process.execPath, ["--import", TSX_LOADER, resolve(REPO, file), ...args], options);
}

/** One of scripts/*.mts (or any .mts of ours) to its end (see startScript). */
export function runScript(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return startScript(file, args, options).result;
}
