// `bastionless <command>`: the one command on PATH. Its subcommands are the four programs themselves
// (same flags, same exit codes), read from their CLI declarations; this module only routes argv and
// says what to answer without running a program: --help, --version, completion, tunnel --list.
import { parseArgs } from "node:util";
import pkg from "../../package.json" with { type: "json" };
import { argOptions, parseFlags, usage, type CliSpec, type FlagSpec } from "../cli.ts";
import { UsageError } from "../errors.ts";
import { cli as cleanupCli } from "../cleanup/cli.ts";
import { cli as execCli } from "../exec/cli.ts";
import { cli as tunnelCli } from "../portforward/cli.ts";

export const VERSION: string = pkg.version;

export type Program = "portforward" | "exec" | "cleanup-orphans" | "entrypoint";

export interface Command {
  name: string;
  program: Program;
  /** The line in `bastionless --help`. */
  synopsis: string;
  summary: string;
  /** The program's CLI as this subcommand shows it; the entrypoint has none (env only, argv is the CMD). */
  spec?: CliSpec<FlagSpec>;
}

/** A program's CLI renamed to its subcommand, with its examples spelled the same way. */
export function asSubcommand<S extends FlagSpec>(spec: CliSpec<S>, name: string): CliSpec<S> {
  const example = new RegExp(`^(\\s+)${spec.name.replace(/[-]/g, "\\-")} (.*)$`, "gm");
  const longer = name.length - spec.name.length;
  // The comments of the examples stay in their column where the padding allows.
  const realign = (rest: string) => rest.replace(/ {3,}#/, (gap) => " ".repeat(Math.max(2, gap.length - 1 - longer)) + "#");
  return { ...spec, name, details: spec.details?.replace(example, (_, indent: string, rest: string) => `${indent}${name} ${realign(rest)}`) };
}

const TUNNEL_LIST = { type: "boolean", description: "list the named connections of bastionless.config.json and exit" } as const;

export const TUNNEL = (() => {
  const spec = asSubcommand(tunnelCli, "bastionless tunnel");
  return {
    ...spec,
    positionals: "[connection]",
    flags: { ...spec.flags, list: TUNNEL_LIST },
    details: `A connection is a name for a set of these flags in bastionless.config.json ("connections":
{"stg-db": {"env": "stg", "target": "stg-db", "localPort": 15432}}): bastionless tunnel stg-db
opens it, and flags given beside the name beat the connection's.

${spec.details}`,
  };
})();

export const COMMANDS: Command[] = [
  { name: "tunnel", program: "portforward", synopsis: "tunnel [connection]", summary: tunnelCli.summary, spec: TUNNEL },
  { name: "exec", program: "exec", synopsis: "exec", summary: execCli.summary, spec: asSubcommand(execCli, "bastionless exec") },
  { name: "cleanup", program: "cleanup-orphans", synopsis: "cleanup", summary: cleanupCli.summary, spec: asSubcommand(cleanupCli, "bastionless cleanup") },
  {
    name: "entrypoint",
    program: "entrypoint",
    synopsis: "entrypoint [CMD…]",
    summary: "A container's ENTRYPOINT: starts the CMD at once and makes the container an SSM managed instance until it stops (configured by env only).",
  },
];

export const SHELLS = ["bash", "zsh"] as const;
export type Shell = (typeof SHELLS)[number];

export type Route =
  | { kind: "help"; text: string }
  | { kind: "version" }
  | { kind: "completion"; shell: Shell }
  /** The hidden `__complete -- <words…>` the completion scripts call: the words up to the cursor. */
  | { kind: "complete"; words: string[] }
  | { kind: "list" }
  /** Run `program` with `argv`; `connection` (tunnel only) adds its flags except those in `given`. */
  | { kind: "run"; program: Program; argv: string[]; connection?: string; given: ReadonlySet<string> };

export function topUsage(): string {
  const rows: Array<[string, string]> = [
    ...COMMANDS.map((c): [string, string] => [c.synopsis, c.summary]),
    ["completion bash|zsh", "print the shell completion script: source <(bastionless completion bash)"],
  ];
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    "Usage: bastionless <command> [options]",
    "",
    pkg.description + ".",
    "",
    "Commands:",
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`),
    "",
    "Options:",
    "  -h, --help     show this help (bastionless <command> --help: that command's options)",
    "      --version  print the version",
    "",
    "Examples:",
    "  bastionless tunnel --env stg --target stg-db      # 127.0.0.1:15432 → stg-db through a throw-away bastion task",
    "  bastionless tunnel stg-db                         # a connection named in bastionless.config.json",
    "  bastionless exec --env stg                        # ECS Exec into a task of the env",
    "  bastionless cleanup --env stg --dry-run           # what crashed containers and forgotten tunnels left",
    "",
    "Each command reads bastionless.config.json (this directory up to the repository root or $HOME, or",
    "$BASTIONLESS_CONFIG) and the standard AWS credential chain (--profile, AWS_PROFILE, SSO, env).",
    "Exit: 0 ok, 1 failure, 2 usage, 130 Ctrl-C — the command's own.",
    "",
  ].join("\n");
}

const NAMES = [...COMMANDS.map((c) => c.name), "completion"];

/** What `bastionless argv…` does. Pure: a usage error throws, naming the command's --help. */
export function routeCommand(argv: string[]): Route {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError(`missing command: one of ${NAMES.join(", ")}. Run bastionless --help for usage.`);
  if (first === "--help" || first === "-h") return { kind: "help", text: topUsage() };
  if (first === "--version") return { kind: "version" };
  if (first === "help") return rest.length ? routeCommand([rest[0], "--help"]) : { kind: "help", text: topUsage() };
  if (first === "__complete") return { kind: "complete", words: rest[0] === "--" ? rest.slice(1) : rest };
  if (first === "completion") {
    if (rest[0] === "--help" || rest[0] === "-h")
      return {
        kind: "help",
        text: "Usage: bastionless completion bash|zsh\n\nPrints the completion script for the shell. Load it from your shell's rc file:\n  bash: source <(bastionless completion bash)\n  zsh:  source <(bastionless completion zsh)   (after compinit)\n",
      };
    const shell = SHELLS.find((s) => s === rest[0]);
    if (!shell || rest.length > 1)
      throw new UsageError(`completion needs one shell, bash or zsh${rest.length ? ` (got ${rest.join(" ")})` : ""}: bastionless completion bash`);
    return { kind: "completion", shell };
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) throw new UsageError(`unknown command ${first}: use one of ${NAMES.join(", ")}. Run bastionless --help for usage.`);
  // The entrypoint's argv is the app's CMD: it goes through untouched (the program answers --help itself).
  if (!command.spec) return { kind: "run", program: command.program, argv: rest, given: new Set() };
  const flags = parseFlags(command.spec, rest, {});
  if (flags.help) return { kind: "help", text: usage(command.spec) };
  if (command.name !== "tunnel") return { kind: "run", program: command.program, argv: rest, given: new Set() };
  if (flags.list) return { kind: "list" };
  // The connection's name is the one positional; everything else goes to portforward as given.
  const { tokens } = parseArgs({ args: rest, options: argOptions(command.spec), allowPositionals: true, strict: true, tokens: true });
  const positionals = tokens.filter((t) => t.kind === "positional");
  if (positionals.length > 1)
    throw new UsageError(`one connection at a time (got ${positionals.map((t) => t.value).join(", ")}). Run bastionless tunnel --help for usage.`);
  const given = new Set(tokens.flatMap((t) => (t.kind === "option" ? [t.name] : [])));
  const at = positionals[0]?.index;
  const forwarded = rest.filter((arg, i) => i !== at && !(arg === "--" && positionals.length));
  return { kind: "run", program: command.program, argv: forwarded, connection: positionals[0]?.value, given };
}
