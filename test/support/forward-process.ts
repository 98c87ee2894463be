// A native port forward running in its own process (test/fixtures/forward.mts), as an operator's
// would: what benchmarks measure, memory included.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalCloud } from "../localcloud/index.ts";
import type { Forward } from "../../lib/session/index.ts";

const ROOT = join(import.meta.dirname, "../..");

export interface ForwardProcess {
  ports: number[];
  child: ChildProcess;
  /** Peak resident set (VmHWM) of the forwarding process so far, in MB. */
  peakRssMb(): number;
  /** Stops it; resolves with its memory at its highest RSS (process.memoryUsage(), bytes). */
  stop(): Promise<NodeJS.MemoryUsage | undefined>;
}

export async function startForwardProcess(cloud: LocalCloud, target: string, forwards: Forward[], options: { bundle?: string; nodeOptions?: string } = {}): Promise<ForwardProcess> {
  const argv = options.bundle ? [process.execPath, options.bundle] : [join(ROOT, "node_modules/.bin/tsx"), join(ROOT, "test/fixtures/forward.mts")];
  const child = spawn(argv[0], [...argv.slice(1), target, JSON.stringify(forwards)], {
    env: { ...process.env, ...cloud.env, ...(options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
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
  const pid = (): number => {
    try {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      return kids.length ? Number(kids[0]) : child.pid!;
    } catch {
      return child.pid!;
    }
  };
  return {
    ports,
    child,
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
