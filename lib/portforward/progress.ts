// Progress while the bastion starts: a spinner with the task's status and the elapsed time on a
// terminal; plain lines, one per change of status, anywhere else (CI logs, pipes).
import { formatDuration } from "../duration.ts";

export interface Progress {
  update(status: string, elapsedMs: number): void;
  /** Clears the spinner and prints a final line. */
  done(line: string): void;
  /** Clears the spinner, printing nothing. */
  clear(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** "12.3s" under a minute, else "1m30s": the spinner's elapsed time. */
export function formatElapsed(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(ms);
}

export function progressLine(what: string, status: string, elapsedMs: number): string {
  return `${what}: ${status} (${formatElapsed(elapsedMs)})`;
}

export function createProgress(
  what: string,
  stream: { isTTY?: boolean; write(text: string): unknown; columns?: number },
  options: { quiet?: boolean } = {},
): Progress {
  if (options.quiet) return { update() {}, done() {}, clear() {} };
  if (!stream.isTTY) {
    let last = "";
    return {
      update(status, elapsedMs) {
        if (status === last) return;
        last = status;
        stream.write(progressLine(what, status, elapsedMs) + "\n");
      },
      done: (line) => void stream.write(line + "\n"),
      clear() {},
    };
  }
  let status = "";
  let since = Date.now();
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const paint = () => {
    const text = `${FRAMES[frame++ % FRAMES.length]} ${progressLine(what, status, Date.now() - since)}`;
    stream.write(`\r\x1b[2K${text.slice(0, Math.max(20, (stream.columns ?? 120) - 1))}`);
  };
  const clear = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    stream.write("\r\x1b[2K");
  };
  return {
    update(next, elapsedMs) {
      status = next;
      since = Date.now() - elapsedMs;
      if (!timer) {
        timer = setInterval(paint, 100);
        timer.unref();
      }
      paint();
    },
    done(line) {
      clear();
      stream.write(line + "\n");
    },
    clear,
  };
}
