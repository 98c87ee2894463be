import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigError, envConfig, findConfigFile, loadConfig, parseConfig } from "../../lib/config.ts";

const good = {
  defaults: { region: "ap-northeast-1", client: "native" },
  envs: {
    stg: { profile: "stg-admin", cluster: "stg-main", service: "app", target: "stg-db", localPort: 15432, forwards: ["16379:cache.internal:6379"], exec: { allow: ["/bin/sh"] } },
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
  });

  it.each([
    [{ envs: { stg: { localPort: "15432" } } }, 'f.json: envs.stg.localPort must be an integer from 0 to 65535 (got "15432").'],
    [{ envs: { stg: { clustr: "x" } } }, "f.json: envs.stg.clustr must be one of profile, region, cluster, service, taskDefinition, target, localPort, forwards, via, client, timeout, exec (unknown key)."],
    [{ envs: { stg: { via: "ssh" } } }, 'f.json: envs.stg.via must be one of "auto", "ecs-exec", "instance" (got "ssh").'],
    [{ envs: { stg: { forwards: ["5432"] } } }, 'f.json: envs.stg.forwards must be an array of "LOCAL:HOST:REMOTE" strings, e.g. "15432:db.internal:5432" (got ["5432"]).'],
    [{ envs: { stg: { exec: { allow: "/bin/sh" } } } }, 'f.json: envs.stg.exec.allow must be an array of non-empty strings (got "/bin/sh").'],
    [{ defaults: { region: "tokyo" } }, 'f.json: defaults.region must be an AWS region like "ap-northeast-1" (got "tokyo").'],
    [{ envs: [] }, "f.json: envs must be an object keyed by env name (got [])."],
    [{ env: {} }, 'f.json: "env" must be one of "defaults", "envs" (unknown key).'],
    [[1], 'f.json: the top level must be an object like {"envs": {"stg": {…}}}.'],
    [{ envs: { "st g": {} } }, 'f.json: envs."st g" must be named with letters, digits, - and _ only.'],
  ])("rejects %j with one line naming the key", (raw, message) => {
    expect(() => parseConfig(raw, "f.json")).toThrow(new ConfigError(message));
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
