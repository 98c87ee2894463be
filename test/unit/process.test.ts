import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exitStatus, makeParentWatch, runCommand, signalNumber, startChild, startRestarting } from "../../lib/process.ts";
import { eventually } from "../support/eventually.ts";

const node = process.execPath;
/** A tiny real child: prints "ready" once its handlers are installed. */
const script = (body: string) => [node, "-e", body];

async function waitForLine(lines: string[], text: string, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => lines.some((l) => l.includes(text)) || undefined, timeoutMs, `"${text}"`, 10).catch(() => {
    throw new Error(`no "${text}" in ${JSON.stringify(lines)}`);
  });
}

describe("exitStatus", () => {
  it.each([
    [{ code: 0, signal: null }, 0],
    [{ code: 7, signal: null }, 7],
    [{ code: null, signal: "SIGTERM" as const }, 143],
    [{ code: null, signal: "SIGKILL" as const }, 137],
    [{ code: null, signal: "SIGINT" as const }, 130],
    [{ code: null, signal: "SIGHUP" as const }, 129],
    [{ code: null, signal: "SIGQUIT" as const }, 131],
  ])("%o → %i", (exit, code) => {
    expect(exitStatus(exit)).toBe(code);
  });

  it("knows the signal numbers of Linux", () => {
    expect(signalNumber("SIGTERM")).toBe(15);
    expect(() => signalNumber("SIGNOPE" as NodeJS.Signals)).toThrow(/unknown signal/);
  });
});

describe("startChild", () => {
  it("runs argv without a shell: $HOME and ; reach the program verbatim", async () => {
    const result = await runCommand([node, "-e", "console.log(process.argv.slice(1).join('|'))", "$HOME", "a;b", "*"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("$HOME|a;b|*");
  });

  it("reports the exit code of a child that exits by itself", async () => {
    const child = startChild(script("process.exit(7)"), { stdio: "pipe" });
    expect(await child.exited).toEqual({ code: 7, signal: null });
    expect(child.exit()).toEqual({ code: 7, signal: null });
    expect(child.signal("SIGTERM")).toBe(false);
  });

  it("delivers a forwarded signal to the program itself (it sees SIGTERM and exits 0)", async () => {
    const lines: string[] = [];
    const child = startChild(
      script("process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0) }); console.log('ready'); setInterval(() => {}, 1000)"),
      {
        stdio: "pipe",
        onLine: (_s, l) => lines.push(l),
      },
    );
    await waitForLine(lines, "ready");
    expect(child.signal("SIGTERM")).toBe(true);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(lines).toContain("got SIGTERM");
  });

  it("a child killed by SIGTERM maps to 143", async () => {
    const lines: string[] = [];
    const child = startChild(script("console.log('ready'); setInterval(() => {}, 1000)"), { stdio: "pipe", onLine: (_s, l) => lines.push(l) });
    await waitForLine(lines, "ready");
    const exit = await child.stop(5_000);
    expect(exit).toMatchObject({ code: null, signal: "SIGTERM", killed: false });
    expect(exitStatus(exit)).toBe(143);
  });

  it("SIGKILLs a child that ignores SIGTERM at the deadline, not before", async () => {
    const lines: string[] = [];
    const child = startChild(script("process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); setInterval(() => {}, 1000)"), {
      stdio: "pipe",
      onLine: (_s, l) => lines.push(l),
    });
    await waitForLine(lines, "ready");
    const started = Date.now();
    const exit = await child.stop(400);
    const took = Date.now() - started;
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL", killed: true });
    expect(exitStatus(exit)).toBe(137);
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(5_000);
    expect(lines).toContain("ignored");
  });

  it("a command that does not exist exits 127, one that is not executable 126", async () => {
    const missing = startChild(["/nonexistent/definitely-not-here"], { stdio: "pipe" });
    expect(await missing.exited).toMatchObject({ code: 127, signal: null });
    expect((await missing.exited).error).toBeInstanceOf(Error);
    const dir = mkdtempSync(join(tmpdir(), "process-test-"));
    try {
      const notExecutable = startChild([dir], { stdio: "pipe" });
      expect(await notExecutable.exited).toMatchObject({ code: 126 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("delivers every output line, including a last one without a newline, before the exit", async () => {
    const result = await runCommand(script("process.stdout.write('a\\nb\\r\\nc'); process.stderr.write('e1\\n')"));
    expect(result).toMatchObject({ code: 0, stdout: "a\nb\nc", stderr: "e1" });
  });

  it("runCommand's abortSignal SIGKILLs the command", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const result = await runCommand(script("setInterval(() => {}, 1000)"), { abortSignal: controller.signal });
    expect(result.signal).toBe("SIGKILL");
  });
});

describe("startRestarting", () => {
  it("restarts a dying child with growing delays and stops for good on stop()", async () => {
    const starts: number[] = [];
    const exits: Array<{ code: number | null; restartInMs: number }> = [];
    const supervised = startRestarting(script("process.exit(3)"), {
      backoff: { initialMs: 50, maxMs: 200, resetAfterMs: 60_000 },
      onStart: () => starts.push(Date.now()),
      onExit: (exit, restartInMs) => exits.push({ code: exit.code, restartInMs }),
    });
    while (starts.length < 4) await new Promise((r) => setTimeout(r, 20));
    await supervised.stop(1_000);
    const count = starts.length;
    expect(exits.slice(0, 3).map((e) => e.restartInMs)).toEqual([50, 100, 200]);
    expect(exits.every((e) => e.code === 3)).toBe(true);
    expect(starts[1] - starts[0]).toBeGreaterThanOrEqual(45);
    expect(starts[3] - starts[2]).toBeGreaterThanOrEqual(190);
    expect(supervised.restarts()).toBe(count - 1);
    await new Promise((r) => setTimeout(r, 400));
    expect(starts.length).toBe(count);
  });

  it("stop() SIGTERMs the running child and SIGKILLs it after the timeout; twice is harmless", async () => {
    const lines: string[] = [];
    let pid: number | undefined;
    const supervised = startRestarting(script("process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)"), {
      backoff: { initialMs: 50, maxMs: 50, resetAfterMs: 1_000 },
      onLine: (_s, l) => lines.push(l),
      onStart: (p) => (pid = p),
    });
    await waitForLine(lines, "ready");
    expect(supervised.pid()).toBe(pid);
    const started = Date.now();
    await Promise.all([supervised.stop(300), supervised.stop(300)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(supervised.pid()).toBeUndefined();
    expect(() => process.kill(pid!, 0)).toThrow();
  });
});

describe("makeParentWatch", () => {
  it("watches only when the parent is the make that set BASTIONLESS_MAKE_PID, and takes the variable out of the environment", () => {
    const env: NodeJS.ProcessEnv = { BASTIONLESS_MAKE_PID: "4242", MAKELEVEL: "1" };
    const watch = makeParentWatch(env, () => 4242);
    expect(watch?.everyMs).toBe(500);
    expect(watch?.ppid()).toBe(4242);
    expect(env).toEqual({ MAKELEVEL: "1" });
    // Started by a recipe's shell or a script under make (MAKELEVEL inherited, another parent): not watched.
    expect(makeParentWatch({ BASTIONLESS_MAKE_PID: "4242", MAKELEVEL: "2" }, () => 5151)).toBeUndefined();
    expect(makeParentWatch({ MAKELEVEL: "1" }, () => 4242)).toBeUndefined();
  });
});
