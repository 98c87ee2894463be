import { describe, expect, it } from "vitest";
import { UsageError } from "../../../lib/errors.ts";
import { parseConfig } from "../../../lib/config.ts";
import { connectionArgv, formatConnections } from "../../../lib/portforward/connections.ts";

const config = parseConfig(
  {
    envs: { stg: { cluster: "stg-main" } },
    connections: {
      "stg-db": { env: "stg", target: "stg-db", localPort: 15432 },
      "stg-cache": { env: "stg", forwards: ["16379:cache.internal:6379", "16380:cache2.internal:6379"], via: "ecs-exec" },
    },
  },
  "/repo/bastionless.config.json",
);

describe("connectionArgv", () => {
  it("turns a connection into portforward's flags", () => {
    expect(connectionArgv("stg-db", config, new Set())).toEqual(["--env", "stg", "--target", "stg-db", "--local-port", "15432"]);
    expect(connectionArgv("stg-cache", config, new Set())).toEqual([
      "--env",
      "stg",
      "--forward",
      "16379:cache.internal:6379",
      "--forward",
      "16380:cache2.internal:6379",
      "--via",
      "ecs-exec",
    ]);
    const dump = parseConfig({ connections: { "stg-dump": { env: "stg", target: "stg-db", sessions: 8 } } }, "/r/c.json");
    expect(connectionArgv("stg-dump", dump, new Set())).toEqual(["--env", "stg", "--target", "stg-db", "--sessions", "8"]);
  });

  it("leaves out every flag given on the command line", () => {
    expect(connectionArgv("stg-db", config, new Set(["local-port", "yes"]))).toEqual(["--env", "stg", "--target", "stg-db"]);
  });

  it("a name the config lacks is a usage error naming the file and its connections", () => {
    expect(() => connectionArgv("prod-db", config, new Set())).toThrow(
      new UsageError("No connection named prod-db in /repo/bastionless.config.json (connections: stg-db, stg-cache). See them with: bastionless tunnel --list"),
    );
    expect(() => connectionArgv("prod-db", parseConfig({}, "/r/c.json"), new Set())).toThrow(
      new UsageError("No connection named prod-db in /r/c.json (it declares none). See them with: bastionless tunnel --list"),
    );
    expect(() => connectionArgv("prod-db", undefined, new Set())).toThrow(
      new UsageError(
        'No connection named prod-db: no bastionless.config.json was found here (this directory, up to the repository root or $HOME). Declare "connections" in one, or pass --env and --target.',
      ),
    );
  });
});

describe("formatConnections", () => {
  it("lists them as a table", () => {
    expect(formatConnections(config)).toBe(
      [
        "Connections in /repo/bastionless.config.json (open one with: bastionless tunnel <name>):",
        "NAME       ENV  TARGET  LOCAL PORT  FORWARDS",
        "stg-db     stg  stg-db  15432       -",
        "stg-cache  stg  -       -           16379:cache.internal:6379 16380:cache2.internal:6379",
        "",
      ].join("\n"),
    );
  });

  it("says why there are none", () => {
    expect(formatConnections(parseConfig({}, "/r/c.json"))).toBe(
      'No connections in /r/c.json: add "connections": {"<name>": {"env": "<env>", "target": "<id|host:port>", "localPort": <port>}}.\n',
    );
    expect(formatConnections(undefined)).toBe(
      'No bastionless.config.json here (this directory, up to the repository root or $HOME): declare "connections" in one to name your tunnels.\n',
    );
  });
});
