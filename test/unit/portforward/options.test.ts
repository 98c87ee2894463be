// portforward's sessions per forward: --sessions beats the config's `sessions`, the default is
// DEFAULT_SESSIONS, and the plugin gets one (more than one is refused with the reason).
import { describe, expect, it } from "vitest";
import { UsageError } from "../../../lib/errors.ts";
import { DEFAULT_SESSIONS, resolveSettings } from "../../../lib/portforward/options.ts";
import { formatSessionsLine } from "../../../lib/portforward/forwards.ts";

const flags = { reuse: false, keep: false, stop: false, yes: false, json: false };

describe("sessions per forward", () => {
  it.each<[string, { sessions?: string; client?: string }, { sessions?: number; client?: "native" | "plugin" }, number]>([
    ["the default", {}, {}, DEFAULT_SESSIONS],
    ["the config's", {}, { sessions: 8 }, 8],
    ["--sessions beats the config", { sessions: "2" }, { sessions: 8 }, 2],
    ["--sessions 1: one session", { sessions: "1" }, {}, 1],
    ["the plugin: one, whatever the default", { client: "plugin" }, {}, 1],
    ["the plugin with --sessions 1", { client: "plugin", sessions: "1" }, {}, 1],
    ["the config's plugin, --client native: the default", { client: "native" }, { client: "plugin" }, DEFAULT_SESSIONS],
  ])("%s", (_name, given, config, expected) => {
    expect(resolveSettings("stg", { ...flags, ...given }, config).sessions).toBe(expected);
  });

  it.each<[{ sessions?: string; client?: string }, { sessions?: number }, string]>([
    [{ sessions: "0" }, {}, "--sessions 0 is not a number of sessions: use 1 to 16."],
    [{ sessions: "17" }, {}, "--sessions 17 is not a number of sessions: use 1 to 16."],
    [{ sessions: "four" }, {}, "--sessions four is not a number of sessions: use 1 to 16."],
    [
      { sessions: "4", client: "plugin" },
      {},
      "--sessions 4 needs --client native: a session-manager-plugin whose tunnel stopped carrying data keeps running, so a pool of plugins cannot tell a dead session from a live one. Pass --client native, or --sessions 1.",
    ],
    [
      { client: "plugin" },
      { sessions: 8 },
      "--sessions 8 (from the config) needs --client native: a session-manager-plugin whose tunnel stopped carrying data keeps running, so a pool of plugins cannot tell a dead session from a live one. Pass --client native, or --sessions 1.",
    ],
  ])("refuses %j with config %j", (given, config, message) => {
    expect(() => resolveSettings("stg", { ...flags, ...given }, config)).toThrow(new UsageError(message));
  });
});

describe("formatSessionsLine", () => {
  it("says nothing for one session per forward (the output of a single session), else how many carry each", () => {
    expect(
      formatSessionsLine([
        { open: 1, max: 1 },
        { open: 1, max: 1 },
      ]),
    ).toBeUndefined();
    expect(formatSessionsLine([{ open: 1, max: 4 }])).toBe(
      "Up to 4 Session Manager sessions per forward (1 open now; another opens when every one carries a connection, each about 0.65 MB/s).",
    );
    expect(
      formatSessionsLine([
        { open: 3, max: 8 },
        { open: 1, max: 8 },
      ]),
    ).toBe("Up to 8 Session Manager sessions per forward (3, 1 open now; another opens when every one carries a connection, each about 0.65 MB/s).");
  });
});

describe("settings", () => {
  it("flags beat the env's config; defaults: auto, auto, 5 min", () => {
    const s = resolveSettings(
      "stg",
      { ...flags, cluster: "flag-cluster" },
      { cluster: "cfg-cluster", service: "cfg-svc", localPort: 15432, forwards: ["16379:cache:6379"], timeout: "90s" },
    );
    expect(s).toMatchObject({
      env: "stg",
      cluster: "flag-cluster",
      service: "cfg-svc",
      localPort: 15432,
      via: "auto",
      client: "auto",
      timeoutMs: 90_000,
      stopAnswer: undefined,
    });
    expect(s.forwards.map((f) => f.label)).toEqual(["cache:6379"]);
    expect(resolveSettings("stg", flags, {}).timeoutMs).toBe(300_000);
  });

  it("the bastion task definition: --task-definition, else the config's, else <env>-bastion — never the service's own", () => {
    expect(resolveSettings("stg", flags, { service: "stg-app" })).toMatchObject({ taskDefinition: "stg-bastion", taskDefinitionDefaulted: true });
    expect(resolveSettings("prod", flags, {})).toMatchObject({ taskDefinition: "prod-bastion", taskDefinitionDefaulted: true });
    expect(resolveSettings("stg", flags, { taskDefinition: "stg-jump:3" })).toMatchObject({ taskDefinition: "stg-jump:3", taskDefinitionDefaulted: false });
    expect(resolveSettings("stg", { ...flags, "task-definition": "stg-app" }, { taskDefinition: "stg-jump:3" })).toMatchObject({
      taskDefinition: "stg-app",
      taskDefinitionDefaulted: false,
    });
  });

  it("--keep/--stop/--yes answer the stop question; --forward alone drops the config's target", () => {
    expect(resolveSettings("stg", { ...flags, keep: true }, {}).stopAnswer).toBe(false);
    expect(resolveSettings("stg", { ...flags, stop: true }, {}).stopAnswer).toBe(true);
    expect(resolveSettings("stg", { ...flags, yes: true }, {}).stopAnswer).toBe(true);
    expect(resolveSettings("stg", { ...flags, forward: ["0:h:1"] }, { target: "stg-db" }).target).toBeUndefined();
  });

  it("reports every bad value at once (exit 2)", () => {
    expect(() => resolveSettings("stg", { ...flags, via: "ssh", client: "go", timeout: "soon", keep: true, stop: true }, {})).toThrow(
      "--via ssh must be one of auto, ecs-exec, instance; --client go must be one of auto, native, plugin; --timeout soon is not a duration (e.g. 90s, 5m); --keep and --stop contradict each other: pick one.",
    );
  });
});
