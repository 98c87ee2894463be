// Running one of our programs (or make) as a user would, and collecting what it said and how it ended.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to (a value of undefined: removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** SIGKILL after this long (default 60 s): a hung program fails its test instead of the suite. */
  timeoutMs?: number;
}

/** `command args…` with no shell and no terminal; resolves when it has exited and its pipes are drained. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(command, args, { cwd: options.cwd ?? REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const limit = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.once("close", (code, signal) => {
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** tsx's loader by absolute URL, so that a program also starts from a directory outside the repository. */
export const TSX_LOADER = pathToFileURL(join(REPO, "node_modules/tsx/dist/loader.mjs")).href;

/** One of scripts/*.mts (or any .mts of ours), run the way the Makefile runs it: node --import tsx. */
export function runScript(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, ["--import", TSX_LOADER, join(REPO, file), ...args], options);
}
