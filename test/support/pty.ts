// A program under a real pseudo-terminal, as a person runs it: util-linux `script` allocates the pty
// and relays it, keys go in as bytes (Ctrl-C is "\x03", turned into SIGINT by the line discipline),
// and close() is a closed terminal tab — `script` is SIGKILLed, the pty's master closes, the kernel
// hangs up the shell, the shell sends SIGHUP to its jobs, and every later write to the terminal (or
// read from it) fails with EIO.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { eventually } from "./eventually.ts";
import { childrenOf } from "./processes.ts";

export interface Pty {
  /** Everything the terminal showed so far (escape sequences included). */
  screen(): string;
  /** The screen without escape sequences and carriage returns. */
  text(): string;
  /** Waits until the text shows `what` (after `from`, an index into text()); the error carries the screen. */
  waitFor(what: string | RegExp, timeoutMs?: number, from?: number): Promise<string>;
  type(bytes: string): void;
  /** Types a command line at the shell's prompt, once the shell shows its first one. */
  run(commandLine: string): Promise<void>;
  /** The exit status of the last command line, as the shell's prompt reports it (`[exit N]`). */
  exitStatus(timeoutMs?: number): Promise<number>;
  /** Closes the terminal: the tab is gone. */
  close(): Promise<void>;
  /** The processes started from this terminal that still exist (the shell itself aside), as "pid command". */
  processes(): string[];
}

// eslint-disable-next-line no-control-regex -- terminal escape sequences (ESC, BEL) are what this strips
const ESCAPES = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[()][0-9A-B]|\u001b[=>78]/g;

export function plainText(screen: string): string {
  return screen.replace(ESCAPES, "").replace(/\r/g, "");
}

/**
 * An interactive bash in a new 120×30 terminal, as a person opens a tab: command lines typed at its
 * prompt run as foreground jobs (Ctrl-C reaches them, not the shell); closing the terminal hangs up
 * bash, which sends SIGHUP to its jobs, as it does for a closed tab. Every process started from the
 * terminal carries a marker in its environment, so that processes() finds them wherever they went.
 */
export function startPty(options: { env: Record<string, string | undefined>; cwd: string }): Pty {
  const marker = `PTY_MARK=${process.pid}-${Math.random().toString(36).slice(2)}`;
  const child: ChildProcess = spawn("script", ["-qfec", "stty cols 120 rows 30; exec bash --norc --noprofile -i", "/dev/null"], {
    cwd: options.cwd,
    env: {
      ...options.env,
      [marker.split("=")[0]]: marker.split("=")[1],
      SHELL: "/bin/bash",
      TERM: options.env.TERM ?? "xterm-256color",
      PS1: "$ ",
      PROMPT_COMMAND: 'echo "[exit $?]"',
      HISTFILE: "/dev/null",
    },
    stdio: ["pipe", "pipe", "ignore"],
  });
  let screen = "";
  let commandAt = 0;
  child.stdout!.on("data", (d) => (screen += d));
  child.stdin!.on("error", () => {});
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const shellPid = eventually(async () => childrenOf(child.pid!)[0], 10_000, "the terminal's shell");
  const pty: Pty = {
    screen: () => screen,
    text: () => plainText(screen),
    waitFor: (what, timeoutMs = 30_000, from = 0) =>
      eventually(
        async () => {
          const text = plainText(screen).slice(from);
          return (typeof what === "string" ? text.includes(what) : what.test(text)) ? text : undefined;
        },
        timeoutMs,
        `the terminal to show ${what}`,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n--- terminal ---\n${plainText(screen).slice(-3000)}`);
      }),
    type: (bytes) => void child.stdin!.write(bytes),
    async run(commandLine) {
      await pty.waitFor("[exit 0]", 10_000);
      commandAt = plainText(screen).length;
      child.stdin!.write(commandLine + "\r");
    },
    exitStatus: async (timeoutMs = 60_000) => {
      const text = await pty.waitFor(/\n\[exit \d+\]/, timeoutMs, commandAt);
      return Number(/\n\[exit (\d+)\]/.exec(text)![1]);
    },
    async close() {
      child.kill("SIGKILL");
      await exited;
    },
    processes: () => {
      const shell = shellPidNow;
      return readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d) && Number(d) !== shell && Number(d) !== child.pid)
        .flatMap((d) => {
          try {
            if (!readFileSync(`/proc/${d}/environ`, "utf8").split("\0").includes(marker)) return [];
            return [`${d} ${readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ").trim()}`];
          } catch {
            return [];
          }
        });
    },
  };
  let shellPidNow: number | undefined;
  void shellPid.then(
    (p) => (shellPidNow = p),
    () => {},
  );
  return pty;
}

/** Waits until the process `pid` is gone (a closed terminal's program finishing its stop). */
export async function waitGone(pid: number, timeoutMs = 60_000): Promise<void> {
  await eventually(
    async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    },
    timeoutMs,
    `process ${pid} to exit`,
  );
}
