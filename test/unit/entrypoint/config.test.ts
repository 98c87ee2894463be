import { describe, expect, it } from "vitest";
import { UsageError } from "../../../lib/errors.ts";
import { DEFAULTS, parseEntrypointConfig, parseTags } from "../../../lib/entrypoint/config.ts";
import { parseDuration as parseAnyDuration } from "../../../lib/duration.ts";

const parseDuration = (text: string) => parseAnyDuration(text, { bareUnit: "s" });

const valid = { BASTION_ENV: "stg", BASTION_IAM_ROLE: "SSMServiceRole", BASTION_REGION: "eu-west-1" };

function problemsOf(env: NodeJS.ProcessEnv, argv: string[] = ["app"]): string[] {
  try {
    parseEntrypointConfig(env, argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as { problems: string[] }).problems;
  }
  throw new Error("expected a UsageError");
}

describe("parseEntrypointConfig", () => {
  it("reads a full configuration", () => {
    const config = parseEntrypointConfig(
      {
        ...valid,
        BASTION_INSTANCE_NAME: "api stg",
        BASTION_PARAMETER_NAME: "/stg/portforward/ssminstanceid",
        BASTION_TAGS: "team=core, cost-center=42",
        BASTION_ACTIVATION_TTL: "30m",
        BASTION_SHUTDOWN_TIMEOUT: "5s",
        BASTION_REQUIRED: "true",
        SSM_AGENT_BIN: "/opt/agent",
        SSM_REGISTRATION_FILE: "/tmp/reg",
      },
      ["--", "node", "server.js"],
    );
    expect(config).toEqual({
      command: ["node", "server.js"],
      disabled: false,
      env: "stg",
      iamRole: "SSMServiceRole",
      region: "eu-west-1",
      instanceName: "api stg",
      parameterName: "/stg/portforward/ssminstanceid",
      tags: { team: "core", "cost-center": "42" },
      activationTtlMs: 30 * 60_000,
      shutdownTimeoutMs: 5_000,
      required: true,
      agentBin: "/opt/agent",
      registrationFile: "/tmp/reg",
    });
  });

  it("falls back to ENV and AWS_REGION, and applies the defaults", () => {
    const config = parseEntrypointConfig(
      { ENV: "prod", BASTION_IAM_ROLE: "service-role/AmazonEC2RunCommandRoleForManagedInstances", AWS_REGION: "ap-northeast-1" },
      ["app"],
    );
    expect(config).toMatchObject({
      env: "prod",
      region: "ap-northeast-1",
      activationTtlMs: DEFAULTS.activationTtlMs,
      shutdownTimeoutMs: 8_000,
      required: false,
      agentBin: "amazon-ssm-agent",
      registrationFile: "/var/lib/amazon/ssm/registration",
      tags: {},
    });
    expect(config.instanceName).toBeUndefined();
    expect(config.parameterName).toBeUndefined();
  });

  it("BASTION_* wins over ENV and AWS_REGION", () => {
    expect(parseEntrypointConfig({ ...valid, ENV: "other", AWS_REGION: "us-east-1" }, ["app"])).toMatchObject({ env: "stg", region: "eu-west-1" });
  });

  it("without a CMD registration is required (the agent is the workload)", () => {
    expect(parseEntrypointConfig(valid, []).required).toBe(true);
    expect(parseEntrypointConfig(valid, []).command).toEqual([]);
  });

  it("reports a missing role and malformed tags together, in one error", () => {
    const problems = problemsOf({ BASTION_ENV: "stg", BASTION_REGION: "eu-west-1", BASTION_TAGS: "team=core,oops" });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^BASTION_IAM_ROLE is missing/);
    expect(problems[1]).toBe('BASTION_TAGS is malformed (k=v,k=v): "oops" is not key=value');
    try {
      parseEntrypointConfig({ BASTION_ENV: "stg", BASTION_REGION: "eu-west-1", BASTION_TAGS: "team=core,oops" }, ["app"]);
    } catch (error) {
      expect((error as Error).message).toMatch(/2 problems; no CMD was started: \(1\) BASTION_IAM_ROLE is missing.*\(2\) BASTION_TAGS is malformed/);
    }
  });

  it("reports every problem of an empty environment at once", () => {
    expect(problemsOf({}).map((p) => p.split(" ")[0])).toEqual(["BASTION_ENV", "BASTION_IAM_ROLE", "BASTION_REGION"]);
  });

  it.each([
    [{ BASTION_ENV: "stg/x" }, /^BASTION_ENV=stg\/x must be/],
    [{ BASTION_IAM_ROLE: "a".repeat(65) }, /is not an IAM role name/],
    [{ BASTION_REGION: "Europe" }, /is not a region name/],
    [{ BASTION_INSTANCE_NAME: "bad#name" }, /^BASTION_INSTANCE_NAME=bad#name/],
    [{ BASTION_PARAMETER_NAME: "no-slash" }, /^BASTION_PARAMETER_NAME=no-slash must be a path/],
    [{ BASTION_ACTIVATION_TTL: "forever" }, /is not a duration/],
    [{ BASTION_ACTIVATION_TTL: "31d" }, /must be between 1m and 30d/],
    [{ BASTION_SHUTDOWN_TIMEOUT: "0" }, /must be between 100ms and 1h/],
    [{ BASTION_REQUIRED: "maybe" }, /^BASTION_REQUIRED=maybe is not a boolean/],
    [{ BASTION_TAGS: "bastionless:env=x" }, /bastionless: tags are set by the entrypoint itself/],
    [{ BASTION_TAGS: "aws:x=1" }, /aws: prefix is reserved/],
    [{ BASTION_TAGS: "a=1,a=2" }, /appears twice/],
  ])("%o is reported", (override, message) => {
    const problems = problemsOf({ ...valid, ...override });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("BASTION_DISABLED=true needs only a CMD", () => {
    expect(parseEntrypointConfig({ BASTION_DISABLED: "true" }, ["app", "--port", "80"])).toMatchObject({
      disabled: true,
      command: ["app", "--port", "80"],
      required: false,
    });
    expect(problemsOf({ BASTION_DISABLED: "true" }, [])).toEqual(["BASTION_DISABLED=true needs a CMD to run: there is nothing else to do"]);
  });
});

describe("parseDuration", () => {
  it.each([
    ["8s", 8_000],
    ["500ms", 500],
    ["1.5m", 90_000],
    ["1h", 3_600_000],
    ["2d", 172_800_000],
    ["10", 10_000],
    ["", undefined],
    ["1 hour", undefined],
    ["-1s", undefined],
  ])("%s → %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});

describe("parseTags", () => {
  it("parses k=v pairs, trims, allows = in values and empty values", () => {
    expect(parseTags(" team = core ,expr=a=b, empty=")).toEqual({ tags: { team: "core", expr: "a=b", empty: "" }, problems: [] });
  });
  it("names each bad pair", () => {
    expect(parseTags("=x,novalue,ok=1").problems).toEqual(['"=x" is not key=value', '"novalue" is not key=value']);
  });
});
