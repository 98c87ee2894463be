// The outcomes every layer may throw and the one error boundary (lib/cli.ts: runMain) maps to exit
// codes: a usage error is 2, a "no" at a prompt a quiet 0, Ctrl-C while waiting 130.

/** Bad flags, env or config: exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The user said no at a prompt: a quiet exit 0. */
export class Declined extends Error {
  override name = "Declined";
  constructor(message = "Cancelled.") {
    super(message);
  }
}

/** Ctrl-C while the program was waiting: exit 130. */
export class Interrupted extends Error {
  override name = "Interrupted";
  constructor(message = "Interrupted.") {
    super(message);
  }
}

/** An interruption: ours (an Interrupted) or the platform's (the AbortError of an aborted signal). */
export function isInterruption(error: unknown): boolean {
  return error instanceof Interrupted || (error as { name?: string } | undefined)?.name === "AbortError";
}
