// A native port forward running in its own process (test/fixtures/forward.mts), as an operator's
// would (as the operator, holding exactly docker/iam/operator.json): what benchmarks measure, memory included.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { childrenOf } from "./processes.ts";
import type { LocalCloud } from "../localcloud/index.ts";
import type { Forward } from "../../lib/session/index.ts";

const ROOT = join(import.meta.dirname, "../..");

export interface ForwardProcess {
  ports: number[];
  child: ChildProcess;
  /** The pid of the process that holds the sockets (tsx's child, or the bundle's node). */
  pid(): number;
  /** Peak resident set (VmHWM) of the forwarding process so far, in MB. */
  peakRssMb(): number;
  /** Stops it; resolves with its memory at its highest RSS (process.memoryUsage(), bytes). */
  stop(): Promise<NodeJS.MemoryUsage | undefined>;
}

export async function startForwardProcess(
  cloud: LocalCloud,
  target: string,
  forwards: Forward[],
  options: { bundle?: string; nodeOptions?: string; forwardOptions?: Record<string, unknown> } = {},
): Promise<ForwardProcess> {
  const argv = options.bundle ? [process.execPath, options.bundle] : [join(ROOT, "node_modules/.bin/tsx"), join(ROOT, "test/fixtures/forward.mts")];
  const child = spawn(
    argv[0],
    [...argv.slice(1), target, JSON.stringify(forwards), ...(options.forwardOptions ? [JSON.stringify(options.forwardOptions)] : [])],
    {
      env: { ...process.env, ...cloud.env, ...cloud.principalEnv("operator"), ...(options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}) },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line).ports);
    });
    child.once("exit", (code) => reject(new Error(`forward exited ${code}: ${stderr.slice(-500)}`)));
  });
  // tsx runs the script in a child node process: measure the process that holds the sockets.
  const pid = (): number => childrenOf(child.pid!)[0] ?? child.pid!;
  return {
    ports,
    child,
    pid,
    peakRssMb() {
      const status = readFileSync(`/proc/${pid()}/status`, "utf8");
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    },
    async stop() {
      if (child.exitCode !== null) return undefined;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      const line = stderr.split("\n").find((l) => l.startsWith("MEMORY "));
      return line ? (JSON.parse(line.slice("MEMORY ".length)) as NodeJS.MemoryUsage) : undefined;
    },
  };
}

/**
 * test/fixtures/forward.mts bundled by esbuild into `dir`/forward.mjs, to be run by plain node as
 * dist/*.mjs are (startForwardProcess's `bundle`): what the benchmarks measure as shipped.
 */
export async function bundleForwardFixture(dir: string): Promise<string> {
  const { build } = await import("esbuild");
  const bundle = join(dir, "forward.mjs");
  await build({
    entryPoints: [join(ROOT, "test/fixtures/forward.mts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: bundle,
    logLevel: "warning",
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
  });
  return bundle;
}
