import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { chmodSync, chownSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigError, configSearchPath, describeScope, envConfig, findConfigFile, loadConfig, parseConfig, untrustedBecause } from "../../lib/config.ts";

const good = {
  defaults: { region: "ap-northeast-1", client: "native" },
  envs: {
    stg: {
      profile: "stg-admin",
      cluster: "stg-main",
      service: "app",
      target: "stg-db",
      localPort: 15432,
      forwards: ["16379:cache.internal:6379"],
      exec: { allow: ["/bin/sh"] },
    },
    prod: { profile: "prod-ro", region: "us-east-1", exec: { shell: "/bin/bash" } },
  },
};

describe("parseConfig", () => {
  it("accepts a full config and merges defaults under each env", () => {
    const config = parseConfig(good, "bastionless.config.json");
    expect(envConfig(config, "stg")).toEqual({ ...good.defaults, ...good.envs.stg });
    expect(envConfig(config, "prod")).toEqual({ region: "us-east-1", client: "native", profile: "prod-ro", exec: { shell: "/bin/bash" } });
    expect(envConfig(config, "dev")).toEqual({ region: "ap-northeast-1", client: "native", exec: {} });
    expect(envConfig(undefined, "stg")).toEqual({});
    expect(config.connections).toEqual({});
  });

  it("accepts named connections", () => {
    const connections = {
      "stg-db": { env: "stg", target: "stg-db", localPort: 15432 },
      "stg-cache": {
        env: "stg",
        forwards: ["16379:cache.internal:6379"],
        cluster: "stg-main",
        service: "app",
        taskDefinition: "stg-bastion:3",
        via: "ecs-exec",
      },
    };
    expect(parseConfig({ ...good, connections }, "f.json").connections).toEqual(connections);
  });

  it.each([
    [{ envs: { stg: { localPort: "15432" } } }, 'f.json: envs.stg.localPort must be an integer from 0 to 65535 (got "15432").'],
    [
      { envs: { stg: { clustr: "x" } } },
      "f.json: envs.stg.clustr must be one of profile, region, cluster, service, taskDefinition, target, localPort, forwards, via, client, timeout, sessions, exec (unknown key).",
    ],
    [{ envs: { stg: { sessions: 0 } } }, "f.json: envs.stg.sessions must be an integer from 1 to 16 (got 0)."],
    [{ connections: { "stg-dump": { env: "stg", sessions: 20 } } }, "f.json: connections.stg-dump.sessions must be an integer from 1 to 16 (got 20)."],
    [{ defaults: { sessions: "4" } }, 'f.json: defaults.sessions must be an integer from 1 to 16 (got "4").'],
    [{ envs: { stg: { via: "ssh" } } }, 'f.json: envs.stg.via must be one of "auto", "ecs-exec", "instance" (got "ssh").'],
    [
      { envs: { stg: { forwards: ["5432"] } } },
      'f.json: envs.stg.forwards must be an array of "LOCAL:HOST:REMOTE" strings, e.g. "15432:db.internal:5432" (got ["5432"]).',
    ],
    [{ envs: { stg: { exec: { allow: "/bin/sh" } } } }, 'f.json: envs.stg.exec.allow must be an array of non-empty strings (got "/bin/sh").'],
    [{ defaults: { region: "tokyo" } }, 'f.json: defaults.region must be an AWS region like "ap-northeast-1" (got "tokyo").'],
    [{ envs: { stg: { timeout: "90" } } }, 'f.json: envs.stg.timeout must be a duration like "90s", "5m" or "1h" (got "90").'],
    [{ envs: { stg: { timeout: "5 minutes" } } }, 'f.json: envs.stg.timeout must be a duration like "90s", "5m" or "1h" (got "5 minutes").'],
    [{ envs: [] }, "f.json: envs must be an object keyed by env name (got [])."],
    [{ env: {} }, 'f.json: "env" must be one of "defaults", "envs", "connections" (unknown key).'],
    [{ connections: [] }, "f.json: connections must be an object keyed by connection name (got [])."],
    [{ connections: { "stg db": { env: "stg" } } }, 'f.json: connections."stg db" must be named with letters, digits, - and _ only.'],
    [
      { connections: { "stg-db": "stg" } },
      'f.json: connections.stg-db must be an object like {"env": "stg", "target": "stg-db", "localPort": 15432} (got "stg").',
    ],
    [{ connections: { "stg-db": { target: "stg-db" } } }, 'f.json: connections.stg-db.env must be the name of the env it opens in, e.g. "stg" (missing).'],
    [{ connections: { "stg-db": { env: "st g" } } }, 'f.json: connections.stg-db.env must be the name of an env, e.g. "stg" (got "st g").'],
    [{ connections: { "stg-db": { env: "stg", localPort: 70000 } } }, "f.json: connections.stg-db.localPort must be an integer from 0 to 65535 (got 70000)."],
    [
      { connections: { "stg-db": { env: "stg", port: 5432 } } },
      "f.json: connections.stg-db.port must be one of env, target, localPort, forwards, cluster, service, taskDefinition, via, sessions (unknown key).",
    ],
    [
      { connections: { "stg-db": { env: "stg", forwards: ["x"] } } },
      'f.json: connections.stg-db.forwards must be an array of "LOCAL:HOST:REMOTE" strings, e.g. "15432:db.internal:5432" (got ["x"]).',
    ],
    [[1], 'f.json: the top level must be an object like {"envs": {"stg": {…}}}.'],
    [{ envs: { "st g": {} } }, 'f.json: envs."st g" must be named with letters, digits, - and _ only.'],
  ])("rejects %j with one line naming the key", (raw, message) => {
    expect(() => parseConfig(raw, "f.json")).toThrow(new ConfigError(message));
  });

  it.each([
    [
      { envs: { stg: { localPort: "x" }, prod: { clustr: "x" } }, foo: 1, defaults: { sessions: 0 } },
      'f.json: "foo" must be one of "defaults", "envs", "connections" (unknown key).',
    ],
    [{ envs: { stg: { localPort: "x" } }, defaults: { sessions: 0 } }, "f.json: defaults.sessions must be an integer from 1 to 16 (got 0)."],
    [{ envs: { stg: { via: "ssh", localPort: "x" } } }, 'f.json: envs.stg.via must be one of "auto", "ecs-exec", "instance" (got "ssh").'],
    [
      { connections: { "stg-db": { port: 1 } } },
      "f.json: connections.stg-db.port must be one of env, target, localPort, forwards, cluster, service, taskDefinition, via, sessions (unknown key).",
    ],
    [{ envs: { stg: { forwards: ["5432", 7] } } }, 'f.json: envs.stg.forwards must be an array of non-empty strings (got ["5432",7]).'],
  ])("names the first problem a reader meets in %j", (raw, message) => {
    expect(() => parseConfig(raw, "f.json")).toThrow(new ConfigError(message));
  });

  it.each([
    ['{"envs": {"__proto__": {}}}', 'f.json: envs."__proto__" must be named with letters, digits, - and _ only.'],
    ['{"connections": {"__proto__": {"env": "stg"}}}', 'f.json: connections."__proto__" must be named with letters, digits, - and _ only.'],
    [
      '{"envs": {"stg": {"constructor": 1}}}',
      "f.json: envs.stg.constructor must be one of profile, region, cluster, service, taskDefinition, target, localPort, forwards, via, client, timeout, sessions, exec (unknown key).",
    ],
    [
      '{"connections": {"stg-db": {"env": "stg", "hasOwnProperty": 1}}}',
      "f.json: connections.stg-db.hasOwnProperty must be one of env, target, localPort, forwards, cluster, service, taskDefinition, via, sessions (unknown key).",
    ],
  ])("refuses the key names of Object.prototype like any other: %s", (text, message) => {
    expect(() => parseConfig(JSON.parse(text), "f.json")).toThrow(new ConfigError(message));
  });
});

describe("describeScope", () => {
  it("names the config file (or its absence) and the account coordinates of the run", () => {
    expect(
      describeScope({ configPath: "/repo/bastionless.config.json", env: "prod", profile: "prod-admin", region: "ap-northeast-1", cluster: "prod-main" }),
    ).toBe("Using config /repo/bastionless.config.json, env prod, profile prod-admin, region ap-northeast-1, cluster prod-main.");
    expect(describeScope({})).toBe("Using no config file, profile default.");
  });
});

describe("loadConfig", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "bl-config-"));
    mkdirSync(join(root, ".git"));
    mkdirSync(join(root, "a", "b"), { recursive: true });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("finds the file up to the repository root", () => {
    expect(findConfigFile(join(root, "a", "b"))).toBeUndefined();
    writeFileSync(join(root, "bastionless.config.json"), JSON.stringify(good));
    expect(findConfigFile(join(root, "a", "b"))).toBe(join(root, "bastionless.config.json"));
    expect(loadConfig({ cwd: join(root, "a") })?.envs.stg.cluster).toBe("stg-main");
  });

  it("walks up only to the repository root or $HOME, and only cwd itself below neither", () => {
    expect(configSearchPath(join(root, "a", "b"), "/nonexistent-home")).toEqual([join(root, "a", "b"), join(root, "a"), root]);
    const home = join(root, "home");
    mkdirSync(join(home, "x", "y"), { recursive: true });
    expect(configSearchPath(join(home, "x", "y"), home)).toEqual([join(home, "x", "y"), join(home, "x"), home]);
    const loose = mkdtempSync(join(tmpdir(), "bl-loose-"));
    try {
      mkdirSync(join(loose, "deep"));
      // /tmp/bastionless.config.json, written by anyone, is never on the path of /tmp/…/deep.
      expect(configSearchPath(join(loose, "deep"), "/nonexistent-home")).toEqual([join(loose, "deep")]);
    } finally {
      rmSync(loose, { recursive: true, force: true });
    }
  });

  it.each([
    [{ uid: 1000, mode: 0o100644 }, 1000, undefined],
    [{ uid: 0, mode: 0o100644 }, 1000, undefined],
    [{ uid: 0, mode: 0o100600 }, 0, undefined],
    [{ uid: 4242, mode: 0o100644 }, 1000, "it is owned by uid 4242, not by you (uid 1000) or root"],
    [{ uid: 1000, mode: 0o100664 }, 1000, "it is writable by other users (mode 0664)"],
    [{ uid: 1000, mode: 0o100646 }, 1000, "it is writable by other users (mode 0646)"],
  ])("trusts %o for uid %s: %s", (stat, uid, why) => {
    expect(untrustedBecause(stat, uid)).toBe(why);
  });

  it("skips a file another user owns or others may write, with one warning line, and refuses it when named", () => {
    const repo = mkdtempSync(join(tmpdir(), "bl-hostile-"));
    try {
      mkdirSync(join(repo, ".git"));
      mkdirSync(join(repo, "sub"));
      const outer = join(repo, "bastionless.config.json");
      const inner = join(repo, "sub", "bastionless.config.json");
      writeFileSync(outer, JSON.stringify(good));
      writeFileSync(inner, JSON.stringify({ envs: { prod: { cluster: "prod-main" } } }));
      chownSync(inner, 4242, 4242); // the tests run as root: another user's file, made for real
      const warnings: string[] = [];
      expect(findConfigFile(join(repo, "sub"), { warn: (l) => warnings.push(l) })).toBe(outer);
      expect(warnings).toEqual([
        `Ignoring ${inner}: it is owned by uid 4242, not by you (uid ${process.getuid!()}) or root. Check who wrote it; if you trust it, chown it to yourself and chmod go-w it.`,
      ]);
      chmodSync(outer, 0o666);
      warnings.length = 0;
      expect(findConfigFile(join(repo, "sub"), { warn: (l) => warnings.push(l) })).toBeUndefined();
      expect(warnings).toHaveLength(2);
      expect(warnings[1]).toBe(
        `Ignoring ${outer}: it is writable by other users (mode 0666). Check who wrote it; if you trust it, chown it to yourself and chmod go-w it.`,
      );
      expect(() => loadConfig({ path: inner })).toThrow(`${inner}: not used, it is owned by uid 4242, not by you (uid ${process.getuid!()}) or root.`);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it("names the line and column of invalid JSON", () => {
    const path = join(root, "broken.json");
    writeFileSync(path, '{\n  "envs": {\n    "stg": { "cluster": "a", }\n  }\n}\n');
    expect(() => loadConfig({ path })).toThrow(/broken\.json: is not valid JSON at line 3 column 30: expected a JSON object/);
    expect(() => loadConfig({ path: join(root, "missing.json") })).toThrow(/missing\.json: cannot be read \(ENOENT\)/);
  });

  it("ends a program with one line and exit 2 when the file is malformed", () => {
    const dir = join(root, "a");
    writeFileSync(join(root, "bastionless.config.json"), JSON.stringify({ envs: { stg: { localPort: 70000 } } }));
    const program = join(process.cwd(), "test/fixtures/load-config.mts");
    const result = spawnSync(join(process.cwd(), "node_modules/.bin/tsx"), [program], { cwd: dir, encoding: "utf8" });
    expect(result.stderr).toBe(`portforward: ${join(root, "bastionless.config.json")}: envs.stg.localPort must be an integer from 0 to 65535 (got 70000).\n`);
    expect(result.status).toBe(2);
  });
});
