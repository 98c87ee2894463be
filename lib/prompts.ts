// Prompts only fill gaps: every prompt names the flag that answers it, a single
// choice is taken without asking, and without a terminal (or with --yes) nothing is asked.
// They draw on stderr, so that `make tunnel | tee out` still asks while stdout goes to the pipe.
import { search, confirm as confirmPrompt } from "@inquirer/prompts";
import { UsageError } from "./errors.ts";

export interface Choice<T> {
  value: T;
  /** The line shown in the list. */
  label: string;
  /** Shown under the list for the highlighted choice. */
  description?: string;
}

export interface PromptContext {
  /** false with --yes or without a terminal on stdin and stderr. */
  interactive: boolean;
  /** Where "using X" notes go when a single choice is taken. */
  note?: (line: string) => void;
  /** Aborts a prompt on screen (a closed terminal, SIGTERM): it rejects with AbortPromptError. */
  signal?: AbortSignal;
}

type Tty = { isTTY?: boolean };

/** A person can answer: stdin is a terminal and so is stderr, where prompts draw (stdout may be a pipe). */
export function canPrompt(yes: boolean, streams: { stdin: Tty; stderr: Tty } = process): boolean {
  return !yes && Boolean(streams.stdin.isTTY && streams.stderr.isTTY);
}

/**
 * The choices that `term` finds, best first: those whose label contains it (any case; `main` finds
 * stg-main), then those that hold its letters in order (`stgmn` finds stg-main). No term: all of them.
 */
export function matchChoices<T>(choices: Choice<T>[], term: string | undefined): Choice<T>[] {
  const wanted = (term ?? "").trim().toLowerCase();
  if (!wanted) return choices;
  const name = (c: Choice<T>) => c.label.toLowerCase();
  const containing = choices.filter((c) => name(c).includes(wanted));
  const letters = choices.filter((c) => !containing.includes(c) && isSubsequence(wanted.replace(/\s+/g, ""), name(c)));
  return [...containing, ...letters];
}

function isSubsequence(needle: string, haystack: string): boolean {
  let at = 0;
  for (const ch of haystack) if (ch === needle[at]) at++;
  return at === needle.length;
}

/**
 * Picks one of `choices`: the only one without asking, else a prompt one can type into to filter;
 * without a terminal, a usage error naming `flag`. `what` is the noun ("cluster"), used in every message.
 * The first choice is the one Enter takes: callers put production-like ones last.
 */
export async function selectOne<T>(context: PromptContext, what: string, flag: string, choices: Choice<T>[]): Promise<T> {
  if (choices.length === 0) throw new UsageError(`No ${what} to choose from.`);
  if (choices.length === 1) {
    context.note?.(`Using ${what} ${choices[0].label} (the only one).`);
    return choices[0].value;
  }
  if (!context.interactive) {
    const shown = choices
      .slice(0, 8)
      .map((c) => c.label.split(/\s{2,}/)[0])
      .join(", ");
    throw new UsageError(`Several ${what}s match (${shown}${choices.length > 8 ? ", …" : ""}): pass ${flag} to pick one.`);
  }
  return untilTerminalEnds(
    search(
      {
        message: `Pick ${/^[aeiou]/i.test(what) ? "an" : "a"} ${what} (type to filter)`,
        source: (term) => matchChoices(choices, term).map((c) => ({ value: c.value, name: c.label, ...(c.description ? { description: c.description } : {}) })),
        pageSize: 12,
      },
      promptStreams(context),
    ),
  );
}

/** A yes/no question; without a terminal the default answer is taken. */
export async function confirm(context: PromptContext, message: string, defaultAnswer: boolean): Promise<boolean> {
  if (!context.interactive) return defaultAnswer;
  return untilTerminalEnds(confirmPrompt({ message, default: defaultAnswer }, promptStreams(context)));
}

/**
 * A prompt whose terminal is closed: its input ends, the library stops reading, and its promise would
 * never settle — Node, with nothing left to wait for, would exit 0 in the middle of the run (before a
 * bastion is stopped). Here the prompt is cancelled instead (CancelPromptError) and the run goes on.
 */
function untilTerminalEnds<T>(prompt: Promise<T> & { cancel(): void }, stdin: NodeJS.ReadStream = process.stdin): Promise<T> {
  const keepAlive = setInterval(() => {}, 2 ** 30);
  const cancel = () => prompt.cancel();
  for (const event of ["end", "close", "error"] as const) stdin.once(event, cancel);
  return prompt.finally(() => {
    clearInterval(keepAlive);
    for (const event of ["end", "close", "error"] as const) stdin.off(event, cancel);
  });
}

function promptStreams(context: PromptContext): { output: NodeJS.WritableStream; signal?: AbortSignal } {
  return { output: process.stderr, ...(context.signal ? { signal: context.signal } : {}) };
}
