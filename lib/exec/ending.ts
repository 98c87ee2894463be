// How an exec ends when it is not the remote command that ends it: a signal (Ctrl-C without a
// terminal, SIGTERM from a supervisor, SIGHUP from a closed terminal) or an output with no reader
// left (`exec … | head -1`). Either way the session is terminated — TerminateSession lands before we
// exit, so the remote command ends too — and the audit log gets its exec.end with the reason.

export type EndingSignal = "SIGINT" | "SIGTERM" | "SIGHUP";
export type Ending = { kind: "signal"; signal: EndingSignal } | { kind: "output-gone"; code: string } | { kind: "parent-exited" };

/** The exit code of an exec ended this way: 128 + the signal's number (SIGPIPE's for a closed pipe). */
export function endingExitCode(ending: Ending): number {
  if (ending.kind === "parent-exited") return 129;
  if (ending.kind === "output-gone") return ending.code === "EIO" ? 129 : 141;
  return { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }[ending.signal];
}

export function describeEnding(ending: Ending): string {
  if (ending.kind === "signal") return ending.signal;
  if (ending.kind === "parent-exited") return "make exited";
  return ending.code === "EIO" ? "the terminal was closed" : "stdout was closed";
}

export interface EndingSource {
  on(signal: EndingSignal, listener: () => void): unknown;
  off(signal: EndingSignal, listener: () => void): unknown;
}

export interface EndingWatch {
  /** Resolves with the first ending. */
  readonly ended: Promise<Ending>;
  /** The first ending, once there is one. */
  current(): Ending | undefined;
  dispose(): void;
}

/**
 * Watches the signals (which then no longer kill the process) and the output's failure; with
 * `parent` (under make), the parent's death too: a SIGKILLed make leaves us in a process group the
 * terminal no longer signals (see lib/portforward/interrupts.ts).
 */
export function watchEnding(outputGone: AbortSignal, source: EndingSource = process, parent?: { ppid: () => number; everyMs: number }): EndingWatch {
  let first: Ending | undefined;
  let resolve!: (ending: Ending) => void;
  const ended = new Promise<Ending>((r) => (resolve = r));
  const end = (ending: Ending) => {
    if (first) return;
    first = ending;
    resolve(ending);
  };
  const listeners = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((signal) => [signal, () => end({ kind: "signal", signal })] as const);
  for (const [signal, listener] of listeners) source.on(signal, listener);
  const onGone = () => end({ kind: "output-gone", code: (outputGone.reason as NodeJS.ErrnoException | undefined)?.code ?? "EPIPE" });
  if (outputGone.aborted) onGone();
  else outputGone.addEventListener("abort", onGone, { once: true });
  const firstParent = parent?.ppid();
  const timer = parent ? setInterval(() => parent.ppid() !== firstParent && end({ kind: "parent-exited" }), parent.everyMs) : undefined;
  timer?.unref();
  return {
    ended,
    current: () => first,
    dispose() {
      if (timer) clearInterval(timer);
      for (const [signal, listener] of listeners) source.off(signal, listener);
      outputGone.removeEventListener("abort", onGone);
    },
  };
}
