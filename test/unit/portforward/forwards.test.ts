import { describe, expect, it } from "vitest";
import { UsageError } from "../../../lib/errors.ts";
import type { DatabaseTarget } from "../../../lib/aws/rds.ts";
import {
  applySocket,
  assertDistinctPorts,
  defaultLocalPort,
  findDatabase,
  formatForwardLine,
  isLoopbackAddress,
  networkWarning,
  parseBindAddress,
  parseForward,
  parseHostPort,
  targetForward,
} from "../../../lib/portforward/forwards.ts";
import { databasesOfEnv, envChoices } from "../../../lib/portforward/choices.ts";

const db = (id: string, kind: "cluster" | "instance", tags: Record<string, string> = {}): DatabaseTarget => ({
  kind,
  id,
  engine: "aurora-postgresql",
  host: `${id}.cluster-abc.ap-northeast-1.rds.amazonaws.com`,
  port: 5432,
  status: "available",
  tags,
});

describe("forwards", () => {
  it("defaults the local port to the remote + 10000, like the seed's 13306", () => {
    expect([3306, 5432, 6379, 55535, 55536].map(defaultLocalPort)).toEqual([13306, 15432, 16379, 65535, 0]);
  });

  it("parses L:HOST:R and refuses anything else with the fix", () => {
    expect(parseForward("16379:cache.internal:6379")).toEqual({
      localPort: 16379,
      host: "cache.internal",
      remotePort: 6379,
      label: "cache.internal:6379",
      flag: "--forward",
    });
    expect(() => parseForward("cache.internal:6379")).toThrow(
      new UsageError("--forward cache.internal:6379 is not LOCAL:HOST:REMOTE: write it like 16379:cache.internal:6379 (LOCAL 0 = any free port)."),
    );
    expect(() => parseForward("1:h:70000")).toThrow("--forward 1:h:70000: remote port 70000 is not a port: use a number from 0 to 65535.");
    expect(() => parseForward("1:h:0")).toThrow("--forward 1:h:0: the remote port cannot be 0.");
  });

  it("reads host:port and bare ElastiCache endpoints as targets", () => {
    expect(parseHostPort("db.internal:3306")).toEqual({ host: "db.internal", port: 3306 });
    expect(parseHostPort("my-cache.abc123.0001.apne1.cache.amazonaws.com")).toEqual({ host: "my-cache.abc123.0001.apne1.cache.amazonaws.com", port: 6379 });
    expect(parseHostPort("stg-db")).toBeUndefined();
  });

  it("finds a database by cluster id, instance id or endpoint", () => {
    const all = [db("stg-db", "cluster"), db("legacy", "instance")];
    expect(findDatabase(all, "STG-DB")?.id).toBe("stg-db");
    expect(findDatabase(all, "legacy")?.kind).toBe("instance");
    expect(findDatabase(all, "stg-db.cluster-abc.ap-northeast-1.rds.amazonaws.com")?.id).toBe("stg-db");
    expect(findDatabase(all, "nope")).toBeUndefined();
  });

  it("applies --local-port to the target, refuses two forwards on one port, prints the line", () => {
    expect(targetForward({ host: "h", port: 5432, label: "stg-db" }, undefined).localPort).toBe(15432);
    expect(targetForward({ host: "h", port: 5432, label: "stg-db" }, 0).localPort).toBe(0);
    expect(() => assertDistinctPorts([parseForward("15432:a:5432"), parseForward("15432:b:5432")])).toThrow("Local port 15432 is given to two forwards");
    expect(() => assertDistinctPorts([parseForward("0:a:5432"), parseForward("0:b:5432")])).not.toThrow();
    expect(formatForwardLine(13306, { host: "stg-db.cluster-x.rds.amazonaws.com", remotePort: 3306 }, "ecs:stg-main_5f2e_5f2e-1")).toBe(
      "127.0.0.1:13306 → stg-db.cluster-x.rds.amazonaws.com:3306 via ecs:stg-main_5f2e_5f2e-1",
    );
  });
});

describe("--socket", () => {
  const target = targetForward({ host: "db.internal", port: 5432, label: "stg-db" }, undefined);
  const extra = parseForward("16379:cache.internal:6379");

  it("puts --target's forward on the socket (an absolute path), leaves each --forward on its port, and prints unix:<path>", () => {
    expect(applySocket([target, extra], undefined, undefined)).toEqual([target, extra]);
    const [onSocket, other] = applySocket([target, extra], "run/db.sock", undefined);
    expect(onSocket).toEqual({ ...target, localPort: 0, socketPath: `${process.cwd()}/run/db.sock`, flag: "--socket" });
    expect(other).toEqual(extra);
    expect(formatForwardLine(0, onSocket, "mi-0abc")).toBe(`unix:${process.cwd()}/run/db.sock → db.internal:5432 via mi-0abc`);
  });

  it("refuses --socket with --local-port, without --target, or empty (exit 2)", () => {
    expect(() => applySocket([target], "/tmp/x.sock", "15432")).toThrow(
      new UsageError("--socket and --local-port both say where --target's forward listens: pass only one of them."),
    );
    expect(() => applySocket([extra], "/tmp/x.sock", undefined)).toThrow(
      new UsageError("--socket is for --target's forward: pass --target as well (each --forward keeps its TCP port)."),
    );
    expect(() => applySocket([target], " ", undefined)).toThrow(new UsageError("--socket needs a path: --socket ~/.bastionless/db.sock, for example."));
  });
});

describe("--address", () => {
  it("defaults to 127.0.0.1, takes IP literals and localhost, refuses anything else with the fix (exit 2)", () => {
    expect(parseBindAddress(undefined)).toBe("127.0.0.1");
    expect(["localhost", "LOCALHOST", "0.0.0.0", "192.0.2.2", " 10.1.2.3 ", "::", "::1", "fd00::2"].map(parseBindAddress)).toEqual([
      "127.0.0.1",
      "127.0.0.1",
      "0.0.0.0",
      "192.0.2.2",
      "10.1.2.3",
      "::",
      "::1",
      "fd00::2",
    ]);
    for (const bad of ["1.2.3", "256.1.1.1", "0.0.0.0:80", "example.com", "", "127.0.0.1 ; rm -rf /"]) {
      expect(() => parseBindAddress(bad)).toThrow(
        new UsageError(
          `--address ${JSON.stringify(bad)} is not an IP address: use 127.0.0.1 (the default, this machine only), 0.0.0.0 (every interface) or one of this machine's addresses.`,
        ),
      );
    }
  });

  it("knows loopback (127.0.0.0/8, ::1, ::ffff:127.x) from addresses the network reaches", () => {
    const loopback = ["127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"];
    const network = ["0.0.0.0", "192.0.2.2", "::", "fd00::2", "::ffff:10.0.0.1", "fe80::1%eth0", "128.0.0.1"];
    expect(loopback.filter(isLoopbackAddress)).toEqual(loopback);
    expect(network.filter(isLoopbackAddress)).toEqual([]);
  });

  it("warns in one line when the ports are reachable from the network, and prints where they listen", () => {
    expect(networkWarning("127.0.0.1")).toBeUndefined();
    expect(networkWarning("0.0.0.0")).toBe("--address 0.0.0.0: the forwarded ports accept connections from the network, not only from this machine.");
    const f = { host: "db.internal", remotePort: 5432 };
    expect(formatForwardLine(15432, f, "mi-0abc", "0.0.0.0")).toBe("0.0.0.0:15432 → db.internal:5432 via mi-0abc");
    expect(formatForwardLine(15432, f, "mi-0abc", "::")).toBe("[::]:15432 → db.internal:5432 via mi-0abc");
    expect(formatForwardLine(15432, f, "mi-0abc", "127.0.0.1")).toBe("127.0.0.1:15432 → db.internal:5432 via mi-0abc");
  });
});

describe("choices by env", () => {
  it("offers the config's envs, else the first word of each cluster", () => {
    expect(envChoices(["stg", "dev"], ["x"])).toEqual(["dev", "stg"]);
    // Production-like envs come last: the prompt's first choice, what Enter picks, is never production.
    expect(envChoices([], ["stg-main", "prod-main", "stg-batch", "STG.eu"])).toEqual(["stg", "prod"]);
    expect(envChoices(["prod", "production", "dev", "live", "prd-eu", "qa", "products"], [])).toEqual([
      "dev",
      "products",
      "qa",
      "live",
      "prd-eu",
      "prod",
      "production",
    ]);
  });

  it("keeps the env's databases: by tag when tagged, else by name", () => {
    const all = [
      db("stg-db", "cluster", { "bastionless:env": "stg" }),
      db("prod-db", "cluster", { "bastionless:env": "prod" }),
      db("stg-legacy", "instance"),
      db("shared-stg-looking", "cluster", { Environment: "prod" }),
    ];
    expect(databasesOfEnv(all, "stg").map((d) => d.id)).toEqual(["stg-db", "stg-legacy"]);
  });
});
