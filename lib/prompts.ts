// Prompts only fill gaps (STYLE.md §10): every prompt names the flag that answers it, a single
// choice is taken without asking, and without a terminal (or with --yes) nothing is asked.
import { select, confirm as confirmPrompt } from "@inquirer/prompts";
import { UsageError } from "./cli.ts";

export interface Choice<T> {
  value: T;
  /** The line shown in the list. */
  label: string;
  /** Shown under the list for the highlighted choice. */
  description?: string;
}

export interface PromptContext {
  /** false with --yes or without a TTY on stdin and stdout. */
  interactive: boolean;
  /** Where "using X" notes go when a single choice is taken. */
  note?: (line: string) => void;
}

export function canPrompt(yes: boolean, streams: { stdin: { isTTY?: boolean }; stdout: { isTTY?: boolean } } = process): boolean {
  return !yes && Boolean(streams.stdin.isTTY && streams.stdout.isTTY);
}

/**
 * Picks one of `choices`: the only one without asking, else a prompt; without a terminal, a usage
 * error naming `flag`. `what` is the noun ("cluster"), used in every message.
 */
export async function selectOne<T>(context: PromptContext, what: string, flag: string, choices: Choice<T>[]): Promise<T> {
  if (choices.length === 0) throw new UsageError(`No ${what} to choose from.`);
  if (choices.length === 1) {
    context.note?.(`Using ${what} ${choices[0].label} (the only one).`);
    return choices[0].value;
  }
  if (!context.interactive) {
    const shown = choices.slice(0, 8).map((c) => c.label.split(/\s{2,}/)[0]).join(", ");
    throw new UsageError(`Several ${what}s match (${shown}${choices.length > 8 ? ", …" : ""}): pass ${flag} to pick one.`);
  }
  return select({
    message: `Pick ${/^[aeiou]/i.test(what) ? "an" : "a"} ${what}`,
    choices: choices.map((c) => ({ value: c.value, name: c.label, ...(c.description ? { description: c.description } : {}) })),
    pageSize: 12,
  });
}

/** A yes/no question; without a terminal the default answer is taken. */
export async function confirm(context: PromptContext, message: string, defaultAnswer: boolean): Promise<boolean> {
  if (!context.interactive) return defaultAnswer;
  return confirmPrompt({ message, default: defaultAnswer });
}
