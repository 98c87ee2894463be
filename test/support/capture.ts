// Captures, for the secret scan (secret-scan.ts), what a test run prints: the stdout/stderr of every
// child process a test worker starts (directly, through a harness, or as a local-cloud container,
// tmux's capture-pane included), the log files our programs write under the child's
// $XDG_STATE_HOME/bastionless (else $HOME/.local/state/bastionless), and the worker's own output.
// vitest loads it as a setup file in every worker; it wraps node:child_process and publishes the
// wrappers to ESM importers with syncBuiltinESMExports(). Children in capture-allowlist.ts are
// recorded as excluded, with their reason, and not captured.
//
// Layout of a capture directory: <id>.json {argv, cwd, test, excluded?}, <id>.stdout, <id>.stderr,
// <id>.files/<URI-encoded path> (log files copied when the child exits, or when a test removes the
// temporary directory they live in).
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { format, promisify } from "node:util";
import { expect } from "vitest";
import { findExclusion } from "./capture-allowlist.ts";

export const CAPTURE_DIR_ENV = "SECRET_SCAN_CAPTURE_DIR";

const require = createRequire(import.meta.url);
const cp = require("node:child_process") as typeof import("node:child_process");
const fs = require("node:fs") as typeof import("node:fs");
const { appendFileSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } = fs;

export interface CaptureMeta {
  argv: string[];
  cwd?: string;
  /** "test/e2e/exec.test.ts > exec > runs a command" */
  test?: string;
  /** Why the child is not captured (capture-allowlist.ts). */
  excluded?: string;
}

let seq = 0;
const newId = () => `${process.pid}-${++seq}`;

function currentTest(): string | undefined {
  try {
    const { testPath, currentTestName } = expect.getState();
    const file = testPath?.replace(`${process.cwd()}/`, "");
    return [file, currentTestName].filter(Boolean).join(" > ") || undefined;
  } catch {
    return undefined;
  }
}

/** Appends everything the stream reads to `path`, without changing how the stream flows. */
function teeStream(stream: Readable | null | undefined, path: string): void {
  if (!stream) return;
  const push = stream.push;
  // A child's pipe hands each read to push() (internal/stream_base_commons onStreamRead); a 'data'
  // listener instead would switch the stream to flowing mode under the test's feet.
  stream.push = function (chunk: unknown, encoding?: BufferEncoding) {
    if (chunk !== null && chunk !== undefined) {
      try {
        appendFileSync(path, typeof chunk === "string" ? Buffer.from(chunk, encoding) : (chunk as Uint8Array));
      } catch {
        /* the capture directory is gone: the run is over */
      }
    }
    return push.call(this, chunk, encoding);
  };
}

/** Where our programs put their log files for a child with this env (lib/portforward/state-log.ts stateDir). */
function stateDirOf(env: NodeJS.ProcessEnv): string | undefined {
  const xdg = env.XDG_STATE_HOME;
  if (xdg && xdg.startsWith("/")) return join(xdg, "bastionless");
  return env.HOME ? join(env.HOME, ".local/state/bastionless") : undefined;
}

const copied = new Set<string>();

/** Copies the log files under `from` (written since `sinceMs`, not copied yet) into <dest>/<URI-encoded path>; returns how many. */
function copyLogs(from: string, dest: string, sinceMs = 0): number {
  let count = 0;
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const st = lstatSync(path);
        if (st.isDirectory() && depth < 3) walk(path, depth + 1);
        if (!st.isFile() || st.mtimeMs < sinceMs || st.size > 64 * 1024 * 1024) continue;
        const key = `${path}:${st.size}:${st.mtimeMs}`;
        if (copied.has(key)) continue;
        copied.add(key);
        mkdirSync(dest, { recursive: true });
        copyFileSync(path, join(dest, encodeURIComponent(path)));
        count++;
      } catch {
        /* written or removed while we looked */
      }
    }
  };
  walk(from, 0);
  return count;
}

/** Every `bastionless` state directory a test is about to remove with its temp dir. */
function findStateDirs(root: string): string[] {
  const found: string[] = [];
  let budget = 2000;
  const walk = (dir: string, depth: number) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() || --budget < 0) continue;
      if (e.name === "bastionless") found.push(join(dir, e.name));
      else if (depth < 5 && e.name !== "node_modules" && e.name !== ".git") walk(join(dir, e.name), depth + 1);
    }
  };
  walk(root, 0);
  return found;
}

function writeMeta(dir: string, id: string, meta: CaptureMeta): void {
  try {
    writeFileSync(join(dir, `${id}.json`), JSON.stringify(meta));
  } catch {
    /* the capture directory is gone */
  }
}

/**
 * Captures one child into `dir` (stdout, stderr, and on exit the log files our programs wrote
 * under its env's state dir). Also what the secret scan's own test uses on a directory of its own.
 */
export function captureChild(child: ChildProcess, dir: string, meta: CaptureMeta & { env?: NodeJS.ProcessEnv }): string {
  const id = newId();
  const { env, ...record } = meta;
  mkdirSync(dir, { recursive: true });
  writeMeta(dir, id, record);
  if (record.excluded) return id;
  teeStream(child.stdout, join(dir, `${id}.stdout`));
  teeStream(child.stderr, join(dir, `${id}.stderr`));
  const state = stateDirOf(env ?? process.env);
  const since = Date.now() - 1000;
  if (state) child.once("exit", () => copyLogs(state, join(dir, `${id}.files`), since));
  return id;
}

function captureSyncResult(
  dir: string,
  meta: CaptureMeta,
  env: NodeJS.ProcessEnv | undefined,
  since: number,
  out: { stdout?: unknown; stderr?: unknown },
): void {
  const id = newId();
  writeMeta(dir, id, meta);
  if (meta.excluded) return;
  for (const stream of ["stdout", "stderr"] as const) {
    const data = out[stream];
    if (data && (typeof data === "string" || data instanceof Uint8Array) && data.length) appendFileSync(join(dir, `${id}.${stream}`), data);
  }
  const state = stateDirOf(env ?? process.env);
  if (state) copyLogs(state, join(dir, `${id}.files`), since);
}

type Options = SpawnOptions & { env?: NodeJS.ProcessEnv };

/** Splits the (file, args?, options?, callback?) forms child_process accepts. */
function parseArgs(args: unknown[]): { argv: string[]; options: Options | undefined; optionsIndex: number } {
  const file = String(args[0]);
  const list = Array.isArray(args[1]) ? (args[1] as unknown[]).map(String) : [];
  const optionsIndex = Array.isArray(args[1]) ? 2 : 1;
  const options = args[optionsIndex] && typeof args[optionsIndex] === "object" ? (args[optionsIndex] as Options) : undefined;
  return { argv: [file, ...list], options, optionsIndex };
}

function metaFor(argv: string[], options: Options | undefined): CaptureMeta {
  const excluded = findExclusion(argv)?.reason;
  return { argv, cwd: options?.cwd?.toString(), test: currentTest(), ...(excluded ? { excluded } : {}) };
}

/**
 * stdio "inherit" for stdout/stderr becomes a pipe relayed to the worker's own stream, so the
 * child's output is captured too (the worker's stdout is a pipe to vitest either way). The caller
 * still sees child.stdout/stderr as null, as it asked.
 */
function pipeInherited(args: unknown[], optionsIndex: number, options: Options | undefined): Array<"stdout" | "stderr"> {
  const stdio = options?.stdio;
  const relayed: Array<"stdout" | "stderr"> = [];
  if (!options || stdio === undefined) return relayed;
  const list = stdioList(stdio);
  if (!list) return relayed;
  for (const [fd, name] of [
    [1, "stdout"],
    [2, "stderr"],
  ] as const) {
    if (list[fd] === "inherit") {
      list[fd] = "pipe";
      relayed.push(name);
    }
  }
  if (relayed.length) args[optionsIndex] = { ...options, stdio: list };
  return relayed;
}

const MARK = Symbol.for("bastionless.secretScan.capture");

/** Wraps node:child_process (and rmSync) in this process so every child is captured into `dir`. */
export function installCapture(dir: string): void {
  const g = globalThis as { [MARK]?: true };
  if (g[MARK]) return;
  g[MARK] = true;
  const real = { spawn: cp.spawn, execFile: cp.execFile, fork: cp.fork, spawnSync: cp.spawnSync, execFileSync: cp.execFileSync, execSync: cp.execSync };
  const relayTo = { stdout: process.stdout.write.bind(process.stdout), stderr: process.stderr.write.bind(process.stderr) };

  const track = (child: ChildProcess, argv: string[], options: Options | undefined, relayed: Array<"stdout" | "stderr">) => {
    captureChild(child, dir, { ...metaFor(argv, options), env: options?.env });
    for (const name of relayed) {
      child[name]?.on("data", (chunk: Buffer) => relayTo[name](chunk));
      Object.assign(child, { [name]: null });
      child.stdio[name === "stdout" ? 1 : 2] = null;
    }
    return child;
  };

  const spawn = function (this: unknown, ...args: unknown[]) {
    const { argv, options, optionsIndex } = parseArgs(args);
    const relayed = pipeInherited(args, optionsIndex, options);
    return track((real.spawn as (...a: unknown[]) => ChildProcess).apply(this, args), argv, options, relayed);
  };
  // exec() goes through module.exports.execFile, so it is captured here too.
  const execFile = function (this: unknown, ...args: unknown[]) {
    const { argv, options } = parseArgs(args);
    return track((real.execFile as (...a: unknown[]) => ChildProcess).apply(this, args), argv, options, []);
  };
  // Node's own promisified execFile bypasses module.exports; keep `await promisify(execFile)(…)` → {stdout, stderr}.
  Object.defineProperty(execFile, promisify.custom, {
    value: (...args: unknown[]) => {
      let child!: ChildProcess;
      const done = new Promise((resolve, reject) => {
        child = execFile(...args, (error: (Error & Record<string, unknown>) | null, stdout: unknown, stderr: unknown) =>
          error ? reject(Object.assign(error, { stdout, stderr })) : resolve({ stdout, stderr }),
        );
      });
      return Object.assign(done, { child });
    },
  });
  const fork = function (this: unknown, ...args: unknown[]) {
    const { options } = parseArgs(args);
    const argv = [process.execPath, ...parseArgs(args).argv];
    return track((real.fork as (...a: unknown[]) => ChildProcess).apply(this, args), argv, options, []);
  };
  const syncWrapper = (name: "spawnSync" | "execFileSync" | "execSync", argvOf: (args: unknown[]) => string[]) =>
    function (this: unknown, ...args: unknown[]) {
      const options = (name === "execSync" ? args[1] : parseArgs(args).options) as Options | undefined;
      const meta = metaFor(argvOf(args), options);
      const since = Date.now() - 1000;
      try {
        const result = (real[name] as (...a: unknown[]) => unknown).apply(this, args);
        captureSyncResult(dir, meta, options?.env, since, name === "spawnSync" ? (result as { stdout?: unknown; stderr?: unknown }) : { stdout: result });
        return result;
      } catch (error) {
        captureSyncResult(dir, meta, options?.env, since, error as { stdout?: unknown; stderr?: unknown });
        throw error;
      }
    };

  Object.assign(cp, {
    spawn,
    execFile,
    fork,
    spawnSync: syncWrapper("spawnSync", (a) => parseArgs(a).argv),
    execFileSync: syncWrapper("execFileSync", (a) => parseArgs(a).argv),
    execSync: syncWrapper("execSync", (a) => ["/bin/sh", "-c", String(a[0])]),
  });

  // Log files written by a child after it exited (a tmux pane's program) are copied when the test
  // removes the temporary directory they live in.
  const realRmSync = fs.rmSync;
  const realRm = fs.promises.rm;
  const beforeRemove = (path: unknown, options: { recursive?: boolean } | undefined) => {
    if (!options?.recursive || typeof path !== "string" || !existsSync(path)) return;
    const found = findStateDirs(path);
    if (!found.length) return;
    const id = `${newId()}-removed`;
    const count = found.reduce((n, state) => n + copyLogs(state, join(dir, `${id}.files`)), 0);
    if (count) writeMeta(dir, id, { argv: [`(log files under ${path}, removed by the test)`], test: currentTest() });
  };
  fs.rmSync = function (path, options) {
    beforeRemove(path, options);
    return realRmSync.call(this, path, options);
  };
  fs.promises.rm = async function (path, options) {
    beforeRemove(path, options);
    return realRm.call(this, path, options);
  };

  // The worker's own output: direct writes, and console.* (which vitest reports over RPC).
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    const write = stream.write;
    const path = join(dir, `worker-${process.pid}.${name}`);
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      try {
        appendFileSync(path, typeof chunk === "string" ? chunk : (chunk as Uint8Array));
      } catch {
        /* the capture directory is gone */
      }
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
  }
  writeMeta(dir, `worker-${process.pid}`, { argv: [`(vitest worker ${process.pid}: its own stdout/stderr and console)`] });
  for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    const original = console[method];
    const path = join(dir, `worker-${process.pid}.${method === "log" || method === "info" || method === "debug" ? "stdout" : "stderr"}`);
    console[method] = function (this: Console, ...args: unknown[]) {
      try {
        appendFileSync(path, format(...args) + "\n");
      } catch {
        /* the capture directory is gone */
      }
      return original.apply(this, args);
    };
  }
  syncBuiltinESMExports();
}

const fromEnv = process.env[CAPTURE_DIR_ENV];
if (fromEnv && existsSync(fromEnv)) installCapture(fromEnv);

/** A child's stdio as one entry per fd ("inherit" for all three), or undefined for a form left alone. */
function stdioList(stdio: unknown): unknown[] | undefined {
  if (Array.isArray(stdio)) return [...stdio];
  if (stdio === "inherit") return ["inherit", "inherit", "inherit"];
  return undefined;
}
