// Ctrl-C, by phase: while the bastion starts it aborts the start (the task is stopped, exit 130);
// while the tunnel is open it closes the tunnel and goes to the stop; during the stop the first
// Ctrl-C is refused with a warning and the next one leaves the task running.

export type Phase = "starting" | "open" | "stopping";
export type InterruptAction = "abort-start" | "close-tunnel" | "warn" | "leave-running";

export const STOP_WARNING = "stopping the bastion; press Ctrl-C again to leave it running";

/** The pure rule: `refusedDuringStop` is how many Ctrl-Cs the stop has refused so far. */
export function decideInterrupt(phase: Phase, refusedDuringStop: number): InterruptAction {
  if (phase === "starting") return "abort-start";
  if (phase === "open") return "close-tunnel";
  return refusedDuringStop === 0 ? "warn" : "leave-running";
}

export interface Interrupts {
  phase: Phase;
  /** Aborted on Ctrl-C while starting. */
  readonly startAborted: AbortSignal;
  /** Resolves on the Ctrl-C (or SIGTERM) that closes the tunnel. */
  readonly closeRequested: Promise<string>;
  /** Aborted on the Ctrl-C that gives up the stop. */
  readonly stopAbandoned: AbortSignal;
  dispose(): void;
}

export interface InterruptSource {
  on(signal: "SIGINT" | "SIGTERM" | "SIGHUP", listener: () => void): unknown;
  off(signal: "SIGINT" | "SIGTERM" | "SIGHUP", listener: () => void): unknown;
}

export function watchInterrupts(warn: (line: string) => void, source: InterruptSource = process): Interrupts {
  const start = new AbortController();
  const stop = new AbortController();
  let requestClose!: (why: string) => void;
  const closeRequested = new Promise<string>((resolve) => (requestClose = resolve));
  let refused = 0;
  const state: Interrupts = {
    phase: "starting",
    startAborted: start.signal,
    closeRequested,
    stopAbandoned: stop.signal,
    dispose() {
      source.off("SIGINT", onInt);
      source.off("SIGTERM", onTerm);
      source.off("SIGHUP", onTerm);
    },
  };
  function onInt(): void {
    const action = decideInterrupt(state.phase, refused);
    if (action === "abort-start") start.abort();
    else if (action === "close-tunnel") requestClose("Ctrl-C");
    else if (action === "warn") {
      refused++;
      warn(STOP_WARNING);
    } else stop.abort();
  }
  // SIGTERM/SIGHUP (a closed terminal, a supervisor): stop without questions, never leave the task.
  function onTerm(): void {
    if (state.phase === "starting") start.abort();
    else requestClose("SIGTERM");
  }
  source.on("SIGINT", onInt);
  source.on("SIGTERM", onTerm);
  source.on("SIGHUP", onTerm);
  return state;
}
