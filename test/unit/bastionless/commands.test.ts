import { describe, expect, it } from "vitest";
import { usage } from "../../../lib/cli.ts";
import { UsageError } from "../../../lib/errors.ts";
import { COMMANDS, TUNNEL, VERSION, asSubcommand, routeCommand, topUsage } from "../../../lib/bastionless/commands.ts";
import { cli as tunnelCli } from "../../../lib/portforward/cli.ts";
import { cli as execCli } from "../../../lib/exec/cli.ts";
import { cli as cleanupCli } from "../../../lib/cleanup/cli.ts";
import pkg from "../../../package.json" with { type: "json" };

const run = (program: string, argv: string[], connection?: string, given: string[] = []) => ({ kind: "run", program, argv, connection, given: new Set(given) });

describe("routeCommand", () => {
  it.each([
    [
      ["tunnel", "--env", "stg", "--yes"],
      { kind: "run", program: "portforward", argv: ["--env", "stg", "--yes"], connection: undefined, given: new Set(["env", "yes"]) },
    ],
    [["tunnel", "stg-db", "--local-port", "0"], run("portforward", ["--local-port", "0"], "stg-db", ["local-port"])],
    [["tunnel", "--json", "stg-db"], run("portforward", ["--json"], "stg-db", ["json"])],
    [["exec", "--env", "stg", "--check"], { kind: "run", program: "exec", argv: ["--env", "stg", "--check"], given: new Set() }],
    [
      ["cleanup", "--env", "stg", "--env", "prod", "--yes"],
      { kind: "run", program: "cleanup-orphans", argv: ["--env", "stg", "--env", "prod", "--yes"], given: new Set() },
    ],
    // The entrypoint's argv is the app's CMD, flags and all.
    [
      ["entrypoint", "node", "server.js", "--port", "8080"],
      { kind: "run", program: "entrypoint", argv: ["node", "server.js", "--port", "8080"], given: new Set() },
    ],
    [["entrypoint", "--help"], { kind: "run", program: "entrypoint", argv: ["--help"], given: new Set() }],
    [["--version"], { kind: "version" }],
    [["tunnel", "--list"], { kind: "list" }],
    [["completion", "bash"], { kind: "completion", shell: "bash" }],
    [["completion", "zsh"], { kind: "completion", shell: "zsh" }],
    [["__complete", "--", "bastionless", "tunnel", "--e"], { kind: "complete", words: ["bastionless", "tunnel", "--e"] }],
  ])("%j routes to %j", (argv, route) => {
    expect(routeCommand(argv)).toEqual(route);
  });

  it("answers --help for the whole command and for each subcommand, with the subcommand's name", () => {
    expect(routeCommand(["--help"])).toEqual({ kind: "help", text: topUsage() });
    expect(routeCommand(["-h"])).toEqual({ kind: "help", text: topUsage() });
    expect(routeCommand(["help", "exec"])).toEqual({ kind: "help", text: usage(asSubcommand(execCli, "bastionless exec")) });
    expect(routeCommand(["tunnel", "--env", "stg", "--help"])).toEqual({ kind: "help", text: usage(TUNNEL) });
    expect(routeCommand(["cleanup", "-h"])).toEqual({ kind: "help", text: usage(asSubcommand(cleanupCli, "bastionless cleanup")) });
  });

  it.each([
    [[], "missing command: one of tunnel, exec, cleanup, entrypoint, completion. Run bastionless --help for usage."],
    [["tunnels"], "unknown command tunnels: use one of tunnel, exec, cleanup, entrypoint, completion. Run bastionless --help for usage."],
    [["tunnel", "--bogus"], "unknown option --bogus. Run bastionless tunnel --help for usage."],
    [["exec", "stray"], "unexpected argument stray. Run bastionless exec --help for usage."],
    [["tunnel", "a", "b"], "one connection at a time (got a, b). Run bastionless tunnel --help for usage."],
    [["completion", "fish"], "completion needs one shell, bash or zsh (got fish): bastionless completion bash"],
    [["completion"], "completion needs one shell, bash or zsh: bastionless completion bash"],
  ])("%j is a usage error: %s", (argv, message) => {
    expect(() => routeCommand(argv)).toThrow(new UsageError(message));
  });
});

describe("the subcommands' help", () => {
  it("is each program's own declaration under the subcommand's name: same flags, same summary", () => {
    expect(COMMANDS.map((c) => [c.name, c.program])).toEqual([
      ["tunnel", "portforward"],
      ["exec", "exec"],
      ["cleanup", "cleanup-orphans"],
      ["entrypoint", "entrypoint"],
    ]);
    expect(Object.keys(TUNNEL.flags)).toEqual([...Object.keys(tunnelCli.flags), "list"]);
    expect(usage(asSubcommand(execCli, "bastionless exec"))).toBe(
      usage(execCli).replace("Usage: exec ", "Usage: bastionless exec ").replace("\n  exec --env", "\n  bastionless exec --env"),
    );
  });

  it("spells the examples with the subcommand and keeps their comments in column", () => {
    const spec = asSubcommand(
      {
        name: "portforward",
        summary: "s",
        flags: {},
        details: "Examples:\n  make tunnel ENV=stg             # a\n  portforward --env stg           # b\n  portforward --env stg --json\n",
      },
      "bastionless tunnel",
    );
    expect(spec.details).toBe(
      "Examples:\n  make tunnel ENV=stg             # a\n  bastionless tunnel --env stg    # b\n  bastionless tunnel --env stg --json\n",
    );
  });

  it("--version is the package's version", () => {
    expect(VERSION).toBe(pkg.version);
  });
});
