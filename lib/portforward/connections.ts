// Named connections (`bastionless tunnel stg-db`): a connection of bastionless.config.json is a set of
// portforward's flags under a name, as basti users expect. It becomes those flags, each one only when
// the command line does not give it: flags given beat the connection, which beats the env's section.
import { UsageError } from "../errors.ts";
import type { Config, ConnectionConfig } from "../config.ts";
import { CONFIG_FILE } from "../constants.ts";
import type { cli } from "./cli.ts";

/** Each key of a connection and the portforward flag it stands for. */
export const CONNECTION_FLAGS = {
  env: "env",
  target: "target",
  localPort: "local-port",
  forwards: "forward",
  cluster: "cluster",
  service: "service",
  taskDefinition: "task-definition",
  via: "via",
  sessions: "sessions",
} as const satisfies Record<keyof ConnectionConfig, keyof typeof cli.flags>;

/** The connections a config declares, by name (none without a config). */
export function connectionsOf(config: Config | undefined): Record<string, ConnectionConfig> {
  return config?.connections ?? {};
}

/** The portforward flags for connection `name`, leaving out every flag in `given`; a name the config lacks is a usage error. */
export function connectionArgv(name: string, config: Config | undefined, given: ReadonlySet<string>): string[] {
  const connection = connectionsOf(config)[name];
  if (!connection) {
    const names = Object.keys(connectionsOf(config));
    if (!config)
      throw new UsageError(
        `No connection named ${name}: no ${CONFIG_FILE} was found here (this directory, up to the repository root or $HOME). Declare "connections" in one, or pass --env and --target.`,
      );
    throw new UsageError(
      `No connection named ${name} in ${config.path} (${names.length ? `connections: ${names.join(", ")}` : "it declares none"}). See them with: bastionless tunnel --list`,
    );
  }
  const argv: string[] = [];
  for (const [key, flag] of Object.entries(CONNECTION_FLAGS) as Array<[keyof ConnectionConfig, string]>) {
    const value = connection[key];
    if (value === undefined || given.has(flag)) continue;
    for (const one of [value].flat()) argv.push(`--${flag}`, String(one));
  }
  return argv;
}

/** `bastionless tunnel --list`: the connections as a table, or why there are none. */
export function formatConnections(config: Config | undefined): string {
  if (!config) return `No ${CONFIG_FILE} here (this directory, up to the repository root or $HOME): declare "connections" in one to name your tunnels.\n`;
  const entries = Object.entries(connectionsOf(config));
  if (!entries.length)
    return `No connections in ${config.path}: add "connections": {"<name>": {"env": "<env>", "target": "<id|host:port>", "localPort": <port>}}.\n`;
  const rows = entries.map(([name, c]) => [name, c.env, c.target ?? "-", c.localPort === undefined ? "-" : String(c.localPort), c.forwards?.join(" ") ?? "-"]);
  const header = ["NAME", "ENV", "TARGET", "LOCAL PORT", "FORWARDS"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ") + "\n";
  return `Connections in ${config.path} (open one with: bastionless tunnel <name>):\n` + [header, ...rows].map(line).join("");
}
