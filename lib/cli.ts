// Each script declares its CLI once (usage text + flag spec with env fallbacks) and ends in
// one error boundary that maps outcomes to exit codes: 0 ok, 1 failure, 2 usage, 130 Ctrl-C.
import { writeSync } from "node:fs";
import { isatty } from "node:tty";
import { parseArgs } from "node:util";
import { CLIENT_CHOICES } from "./config-schema.ts";
import { Declined, isInterruption, UsageError } from "./errors.ts";
import { redactText } from "./log.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export interface FlagDef {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Environment variables read, in order, when the flag is absent. */
  env?: string | readonly string[];
  default?: string | boolean;
  /** Shown in usage: `--env <name>`. */
  placeholder?: string;
  description: string;
}

export type FlagSpec = Record<string, FlagDef>;

type ValueOf<D extends FlagDef> = D["type"] extends "boolean" ? boolean : D["multiple"] extends true ? string[] : string;

// Booleans are always set (false when absent); strings are undefined unless given or defaulted.
export type Flags<S extends FlagSpec> = {
  [K in keyof S]: S[K] extends { default: unknown } ? ValueOf<S[K]> : S[K]["type"] extends "boolean" ? boolean : ValueOf<S[K]> | undefined;
} & {
  help: boolean;
  debug: boolean;
  positionals: string[];
};

export interface CliSpec<S extends FlagSpec> {
  name: string;
  summary: string;
  /** Lines after the synopsis: examples, notes. */
  details?: string;
  flags: S;
  positionals?: string;
}

/** Declares a script's CLI once; the flag types flow into parseFlags' result. */
export function defineCli<const S extends FlagSpec>(spec: CliSpec<S>): CliSpec<S> {
  return spec;
}

/**
 * The flags every program that calls AWS shares, declared once so that their names, environment
 * fallbacks and wording are the same everywhere. Spread them into a CLI's flags; a program may
 * override a field (`{ ...SHARED_FLAGS.region, multiple: true }`).
 */
export const SHARED_FLAGS = {
  env: {
    type: "string",
    env: "BASTION_ENV",
    placeholder: "name",
    description: "environment: picks the config's envs.<name> and the clusters whose names carry it as a word",
  },
  profile: { type: "string", env: "AWS_PROFILE", description: "AWS profile" },
  region: { type: "string", env: ["AWS_REGION", "AWS_DEFAULT_REGION"], description: "AWS region" },
  yes: { type: "boolean", short: "y", description: "never prompt: a choice with several answers needs its flag" },
  client: {
    type: "string",
    env: "BASTIONLESS_CLIENT",
    placeholder: CLIENT_CHOICES.join("|"),
    description:
      "Session Manager client: native (built in) or AWS's session-manager-plugin (default auto: the plugin when installed for a shell, the built-in client for a tunnel)",
  },
} as const satisfies FlagSpec;

/** Where a program's AWS calls go: the env (config section, cluster names), the profile and the region. */
export const AWS_FLAGS = { env: SHARED_FLAGS.env, profile: SHARED_FLAGS.profile, region: SHARED_FLAGS.region } as const;

/** The problem with a flag's value that must be one of `choices`, or undefined when it is one. */
export function choiceProblem(flag: string, value: string, choices: readonly string[]): string | undefined {
  return choices.includes(value) ? undefined : `${flag} ${value} must be one of ${choices.join(", ")}`;
}

/** `true/false/yes/no/1/0/on/off` (any case); undefined when it is none of them. */
export function parseBoolean(text: string): boolean | undefined {
  if (/^(1|true|yes|on)$/i.test(text.trim())) return true;
  if (/^(0|false|no|off)$/i.test(text.trim())) return false;
  return undefined;
}

/** The flags every program takes besides its own. */
export const COMMON: FlagSpec = {
  debug: { type: "boolean", env: "BASTIONLESS_DEBUG", description: "show stack traces and AWS request details" },
  help: { type: "boolean", short: "h", description: "show this help" },
};

export function usage<S extends FlagSpec>(spec: CliSpec<S>): string {
  const all: FlagSpec = { ...spec.flags, ...COMMON };
  const rows = Object.entries(all).map(([name, def]) => {
    const left = `${def.short ? `-${def.short}, ` : "    "}--${name}${def.type === "string" ? ` <${def.placeholder ?? name}>` : ""}`;
    const envs = [def.env ?? []].flat();
    const notes = [
      def.multiple ? "repeatable" : "",
      envs.length ? `env ${envs.join(", ")}` : "",
      def.default !== undefined && def.default !== false ? `default ${def.default}` : "",
    ].filter(Boolean);
    return [left, def.description + (notes.length ? ` (${notes.join("; ")})` : "")];
  });
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  // A flag too long for the column gets its description on the next line, never run together.
  const lines = rows.map(([l, r]) => (l.length < width ? `  ${l.padEnd(width)}${r}` : `  ${l}\n  ${" ".repeat(width)}${r}`));
  return [
    `Usage: ${spec.name} [options]${spec.positionals ? ` ${spec.positionals}` : ""}`,
    "",
    spec.summary,
    "",
    "Options:",
    ...lines,
    ...(spec.details ? ["", spec.details.trimEnd()] : []),
    "",
  ].join("\n");
}

/** node:util parseArgs' options for a CLI's flags and the common ones. */
export function argOptions(spec: CliSpec<FlagSpec>): Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> {
  const all: FlagSpec = { ...spec.flags, ...COMMON };
  return Object.fromEntries(
    Object.entries(all).map(([name, def]) => [
      name,
      { type: def.type, ...(def.short ? { short: def.short } : {}), ...(def.multiple ? { multiple: true } : {}) },
    ]),
  );
}

/** Parses argv; a flag absent from argv is taken from its env variables, then its default. */
export function parseFlags<S extends FlagSpec>(spec: CliSpec<S>, argv: string[], env: NodeJS.ProcessEnv = process.env): Flags<S> {
  const all: FlagSpec = { ...spec.flags, ...COMMON };
  const options = argOptions(spec);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: Boolean(spec.positionals), strict: true }) as typeof parsed;
  } catch (error) {
    // runMain prefixes the program's name.
    throw new UsageError(`${cleanParseError((error as Error).message)}. Run ${spec.name} --help for usage.`);
  }
  const out: Record<string, unknown> = { positionals: parsed.positionals };
  for (const [name, def] of Object.entries(all)) {
    let value = parsed.values[name];
    if (value === undefined) value = fromEnv(name, def, env);
    if (value === undefined) value = def.default ?? (def.type === "boolean" ? false : undefined);
    if (def.multiple && typeof value === "string") value = [value];
    out[name] = value;
  }
  return out as Flags<S>;
}

function fromEnv(name: string, def: FlagDef, env: NodeJS.ProcessEnv): unknown {
  for (const key of [def.env ?? []].flat()) {
    const raw = env[key];
    if (raw === undefined || raw === "") continue;
    if (def.type === "boolean") {
      const value = parseBoolean(raw);
      if (value === undefined) throw new UsageError(`${key}=${raw} is not a boolean for --${name}: use true or false.`);
      return value;
    }
    return def.multiple
      ? raw
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : raw;
  }
  return undefined;
}

function cleanParseError(message: string): string {
  return message
    .replace(/^Unknown option '([^']+)'.*$/s, "unknown option $1")
    .replace(/^Option '([^']+)' argument missing$/s, "$1 needs a value")
    .replace(/\. To specify a positional argument starting with a '-'.*$/s, "")
    .replace(/^Unexpected argument '([^']+)'.*$/s, "unexpected argument $1");
}

/** --debug on the command line or BASTIONLESS_DEBUG set: known even when the flags do not parse. */
export function wantsDebug(argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): boolean {
  return argv.includes("--debug") || parseBoolean(env.BASTIONLESS_DEBUG ?? "") === true;
}

/** A stream whose writes may fail once its reader is gone: a terminal closed under us, a pipe whose reader exited. */
export interface GuardableStream {
  on(event: "error", listener: (error: NodeJS.ErrnoException) => void): unknown;
}

export interface OutputGuard {
  /** Aborted (with the error) when a write to the stream first failed. */
  readonly gone: AbortSignal;
}

const guards = new WeakMap<GuardableStream, OutputGuard>();

/**
 * Writes to a closed terminal fail with EIO and to a closed pipe with EPIPE; Node reports either as
 * an 'error' event, which without a listener kills the process — in the middle of a StopTask. The
 * guard keeps the failure from crashing anything (the line goes nowhere, as it would on a dead
 * terminal) and says it happened, for a program that should end when its output has no reader.
 */
export function guardOutput(stream: GuardableStream): OutputGuard {
  const known = guards.get(stream);
  if (known) return known;
  const gone = new AbortController();
  stream.on("error", (error) => {
    if (!gone.signal.aborted) gone.abort(error);
  });
  const guard = { gone: gone.signal };
  guards.set(stream, guard);
  return guard;
}

/**
 * The terminal on stdin, closed under us: reads end or fail with EIO, and the prompt library's
 * restore of the cooked mode (setRawMode) throws EIO from inside readline, where no caller can catch
 * it. There is no mode left to restore on a terminal that is gone, so that one failure is ignored.
 */
export function guardTerminalInput(stdin: NodeJS.ReadStream): void {
  guardOutput(stdin);
  if (typeof stdin.setRawMode !== "function" || guards.has(stdin.setRawMode as never)) return;
  const setRawMode = stdin.setRawMode.bind(stdin);
  const guarded = (mode: boolean) => {
    try {
      return setRawMode(mode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EIO") throw error;
      return stdin;
    }
  };
  guards.set(guarded as never, guards.get(stdin)!);
  stdin.setRawMode = guarded;
}

export interface RunOptions {
  name: string;
  /** Whether to print stacks; default: wantsDebug(). */
  debug?: () => boolean;
  write?: (line: string) => void;
  exit?: (code: number) => void | Promise<void>;
}

/**
 * The one error boundary of a script: runs `main`, prints one redacted line for a failure
 * (the stack and causes only with --debug) and exits with the outcome's code.
 */
export async function runMain(main: () => Promise<number | void>, options: RunOptions): Promise<void> {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  if (!options.write) {
    [process.stdout, process.stderr].forEach(guardOutput);
    // A prompt reading a terminal that was closed gets EIO too (the SIGHUP that ends us may come after it).
    if (isatty(0)) guardTerminalInput(process.stdin);
  }
  const terminals = [0, 1, 2].filter((fd) => isatty(fd));
  // process.exit drops what is still queued for a pipe: flush stdout and stderr first.
  const exit =
    options.exit ??
    (async (code: number) => {
      await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write("", () => resolve()))));
      if (hungUp(terminals)) dieOfHangup();
      process.exit(code);
    });
  let code: number;
  try {
    code = (await main()) ?? EXIT_OK;
  } catch (error) {
    code = exitCodeOf(error);
    // Ctrl-C at a prompt: the terminal already shows ^C; the library's "User force closed the prompt" is noise.
    const quiet = ["ExitPromptError", "AbortPromptError", "CancelPromptError"].includes((error as { name?: string } | undefined)?.name ?? "");
    if (code !== EXIT_OK && !quiet) {
      write(redactText(`${options.name}: ${describeError(error)}`) + "\n");
      if ((options.debug ?? wantsDebug)()) write(redactText(stackOf(error)) + "\n");
    }
  }
  await exit(code);
}

/** Whether one of these terminal fds was hung up (closed under us): every write to it then fails with EIO. */
export function hungUp(fds: number[]): boolean {
  return fds.some((fd) => {
    try {
      writeSync(fd, "");
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EIO";
    }
  });
}

/**
 * Node's exit restores the terminal modes it saw at start and aborts (SIGABRT, a core) when the
 * terminal is gone; a program whose terminal hung up ends as such a program does, of SIGHUP.
 */
function dieOfHangup(): void {
  process.removeAllListeners("SIGHUP");
  process.kill(process.pid, "SIGHUP");
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE;
  if (error instanceof Declined) return EXIT_OK;
  const name = (error as { name?: string } | undefined)?.name;
  // @inquirer/prompts rejects with ExitPromptError on Ctrl-C, AbortPromptError when its signal aborts
  // and CancelPromptError when its terminal ends (both: a closed terminal); aborts reject with AbortError.
  if (isInterruption(error) || name === "ExitPromptError" || name === "AbortPromptError" || name === "CancelPromptError") return EXIT_INTERRUPTED;
  return EXIT_FAILURE;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function stackOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 8; depth++) {
    parts.push(depth === 0 ? String((current as Error).stack ?? current) : `caused by: ${String((current as Error).stack ?? current)}`);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}
