// A tmux server of the test's own (tmux -L <socket>): a real terminal whose screen the test reads
// and types into. Async only: the local cloud answers from this process, so nothing may block it.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "./eventually.ts";
import { run } from "./run.ts";

export interface Tmux {
  /** `tmux -L <socket> … args`; resolves with its stdout, rejects with its stderr when tmux fails. */
  run(...args: string[]): Promise<string>;
  /** What the pane `target` shows now (capture-pane -p with `flags`, e.g. "-J", or "-S", "-", "-E", "-" for the scrollback). */
  screen(target: string, ...flags: string[]): Promise<string>;
  /** Waits until the pane shows `what`; returns the screen, or fails with the screen in the error. */
  waitForScreen(target: string, what: string | RegExp, timeoutMs?: number, flags?: string[]): Promise<string>;
  /** Stops the server (if it runs) and removes its socket. */
  kill(): Promise<void>;
}

export interface TmuxOptions {
  /**
   * The environment of every tmux command (default this process's): the server, and so what runs
   * in it, gets its credentials from it, never from an argument.
   */
  env?: () => Record<string, string | undefined>;
  /** tmux's -f (e.g. /dev/null: no user configuration). */
  config?: string;
}

export function tmuxServer(socket: string, options: TmuxOptions = {}): Tmux {
  const tmux: Tmux = {
    async run(...args) {
      const r = await run("tmux", ["-L", socket, ...(options.config ? ["-f", options.config] : []), ...args], { env: options.env?.() });
      if (r.code !== 0) throw new Error(`tmux ${args[0]} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`);
      return r.stdout;
    },
    screen: (target, ...flags) => tmux.run("capture-pane", "-p", ...flags, "-t", target),
    async waitForScreen(target, what, timeoutMs = 30_000, flags = []) {
      let last = "";
      const shows = (text: string) => (typeof what === "string" ? text.includes(what) : what.test(text));
      return eventually(
        async () => {
          last = await tmux.screen(target, ...flags);
          return shows(last) ? last : undefined;
        },
        timeoutMs,
        `the screen to show ${what}`,
        100,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; it shows:\n${last}`);
      });
    },
    async kill() {
      await tmux.run("kill-server").catch(() => {});
      rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid!()}`, socket), { force: true });
    },
  };
  return tmux;
}
