// Ctrl-C, by phase: while the bastion starts it aborts the start (the task is stopped, exit 130);
// while the tunnel is open it closes the tunnel and goes to the stop; during the stop the first
// Ctrl-C is refused with a warning and the next one leaves the task running.
//
// SIGTERM and SIGHUP (a closed terminal, a dropped SSH connection, a supervisor), and the death of
// the make that ran us: no one is there to answer, so the start is aborted or the tunnel closed and
// the bastion stopped without a question — never left running — and a later Ctrl-C cannot give the
// stop up.

export type Phase = "starting" | "open" | "stopping";
export type InterruptAction = "abort-start" | "close-tunnel" | "warn" | "leave-running";

export const STOP_WARNING = "stopping the bastion; press Ctrl-C again to leave it running";

/** The pure rule: `refusedDuringStop` is how many Ctrl-Cs the stop has refused so far. */
export function decideInterrupt(phase: Phase, refusedDuringStop: number): InterruptAction {
  if (phase === "starting") return "abort-start";
  if (phase === "open") return "close-tunnel";
  return refusedDuringStop === 0 ? "warn" : "leave-running";
}

export type Ending = "Ctrl-C" | "SIGTERM" | "SIGHUP" | "parent exited";

export interface Interrupts {
  phase: Phase;
  /** Aborted on Ctrl-C while starting, and on any ending that leaves no one to ask. */
  readonly startAborted: AbortSignal;
  /** Resolves on the Ctrl-C (or SIGTERM, SIGHUP…) that closes the tunnel, with what it was. */
  readonly closeRequested: Promise<Ending>;
  /** Aborted on the Ctrl-C that gives up the stop. */
  readonly stopAbandoned: AbortSignal;
  /** Aborted on SIGTERM, SIGHUP or the parent's death: no question may be asked any more. */
  readonly unattended: AbortSignal;
  dispose(): void;
}

export type WatchedSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

export interface InterruptSource {
  on(signal: WatchedSignal, listener: () => void): unknown;
  off(signal: WatchedSignal, listener: () => void): unknown;
}

export interface ParentWatch {
  /** The parent's pid now (process.ppid is read afresh each time). */
  ppid: () => number;
  everyMs: number;
}

/**
 * Under make, a SIGKILLed make leaves us in a process group no terminal signals: `parent` polls the
 * parent pid and takes a change (we were reparented) as the end. Only where a parent's death means
 * no one is left — a script that starts a tunnel in the background and exits may mean it to stay.
 */
export function watchInterrupts(warn: (line: string) => void, source: InterruptSource = process, parent?: ParentWatch): Interrupts {
  const start = new AbortController();
  const stop = new AbortController();
  const unattended = new AbortController();
  let requestClose!: (why: Ending) => void;
  const closeRequested = new Promise<Ending>((resolve) => (requestClose = resolve));
  let refused = 0;
  const firstParent = parent?.ppid();
  const timer = parent ? setInterval(() => parent.ppid() !== firstParent && end("parent exited"), parent.everyMs) : undefined;
  timer?.unref();
  const onTerm = () => end("SIGTERM");
  const onHup = () => end("SIGHUP");
  const state: Interrupts = {
    phase: "starting",
    startAborted: start.signal,
    closeRequested,
    stopAbandoned: stop.signal,
    unattended: unattended.signal,
    dispose() {
      source.off("SIGINT", onInt);
      source.off("SIGTERM", onTerm);
      source.off("SIGHUP", onHup);
      if (timer) clearInterval(timer);
    },
  };
  function onInt(): void {
    // A stop no one can watch is never given up by a stray signal.
    if (unattended.signal.aborted) return;
    const action = decideInterrupt(state.phase, refused);
    if (action === "abort-start") start.abort();
    else if (action === "close-tunnel") requestClose("Ctrl-C");
    else if (action === "warn") {
      refused++;
      warn(STOP_WARNING);
    } else stop.abort();
  }
  function end(why: Exclude<Ending, "Ctrl-C">): void {
    if (!unattended.signal.aborted) unattended.abort(why);
    if (state.phase === "starting") start.abort();
    else requestClose(why);
  }
  source.on("SIGINT", onInt);
  source.on("SIGTERM", onTerm);
  source.on("SIGHUP", onHup);
  return state;
}
