// The machine's process table, read from /proc in this process. Tests ask it "is anything still
// running X?" instead of running `ps -eo args=`: ps's output is a captured child's output, so the
// secret scan would read every other process's argv on the machine in it — including the fake
// agent's `-register -code …` from a test file running beside this one (the agent CLI takes the
// activation code only as a flag: README.md, "Security").
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessEntry {
  pid: number;
  /** argv as the kernel holds it (/proc/<pid>/cmdline). */
  argv: string[];
}

/** Every process this user can see, with its argv; processes that exit while being read are left out. */
export function processTable(): ProcessEntry[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const raw = readFileSync(`/proc/${d}/cmdline`, "utf8");
        return raw ? [{ pid: Number(d), argv: raw.replace(/\0$/, "").split("\0") }] : [];
      } catch {
        return [];
      }
    });
}

/** The pids whose command line, argv joined by spaces, satisfies `match` (a substring or a predicate). */
export function pidsRunning(match: string | ((line: string) => boolean)): number[] {
  const test = typeof match === "string" ? (line: string) => line.includes(match) : match;
  return processTable()
    .filter((p) => test(p.argv.join(" ")))
    .map((p) => p.pid);
}

/** The direct children of `pid` (/proc/<pid>/task/<pid>/children), or [] once it is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
