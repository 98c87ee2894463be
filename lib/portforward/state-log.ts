// The session log of each run: a 0600 file under $XDG_STATE_HOME/bastionless/ (default
// ~/.local/state/bastionless/), one JSON object per event; files older than 7 days are pruned.
import { readdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { stateDir } from "../local.ts";
import { createLogger, openPrivateLog, type Logger } from "../log.ts";

export const LOG_RETENTION_MS = 7 * 86_400_000;
const LOG_FILE = /^portforward-\d{8}-\d{6}-\d+\.log$/;

/** portforward-20261122-143005-4242.log (UTC) */
export function runLogName(now: Date, pid: number): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `portforward-${stamp}-${pid}.log`;
}

/** Deletes our log files last written more than `maxAgeMs` ago; returns their names. Other files are left alone. */
export function pruneOldLogs(dir: string, now: number, maxAgeMs: number = LOG_RETENTION_MS): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!LOG_FILE.test(name)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > maxAgeMs) {
        unlinkSync(path);
        removed.push(name);
      }
    } catch {
      // Gone already, or not ours to delete: pruning is best effort.
    }
  }
  return removed.sort();
}

export interface RunLog {
  path: string;
  log: Logger;
  close(): void;
}

/** Opens this run's log (0600, in a 0700 dir of the user's own), then prunes old files. */
export function openRunLog(options: { dir?: string; now?: Date; pid?: number; base?: Record<string, unknown> } = {}): RunLog {
  const dir = options.dir ?? stateDir();
  const now = options.now ?? new Date();
  const path = join(dir, runLogName(now, options.pid ?? process.pid));
  // Opening checks the directory first: nothing is deleted in a directory that is not ours.
  const file = openPrivateLog(path);
  pruneOldLogs(dir, now.getTime());
  let written = false;
  const write = (line: string) => ((written = true), file.write(line));
  const close = () => {
    file.close();
    // A run that ended before it had anything to say (a usage error, a refusal) leaves no empty file behind.
    if (!written) rmSync(path, { force: true });
  };
  return { path, log: createLogger({ format: "json", write, debug: true, base: options.base }), close };
}

/** Both loggers at once: the operator's lines and the file's events. */
export function teeLogger(a: Logger, b: Logger): Logger {
  return {
    debug: (m, f) => (a.debug(m, f), b.debug(m, f)),
    info: (m, f) => (a.info(m, f), b.info(m, f)),
    warn: (m, f) => (a.warn(m, f), b.warn(m, f)),
    error: (m, f) => (a.error(m, f), b.error(m, f)),
    event: (n, f) => (a.event(n, f), b.event(n, f)),
    child: (fields) => teeLogger(a.child(fields), b.child(fields)),
  };
}
