import { describe, expect, it } from "vitest";
import { planCleanup, type Inventory, type Decision } from "../../../lib/cleanup/plan.ts";
import { formatDuration, parseDuration } from "../../../lib/duration.ts";

const NOW = new Date("2026-11-22T12:00:00Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const MIN = 60_000;
const HOUR = 60 * MIN;
const ours = { "bastionless:managed-by": "bastionless", "bastionless:env": "stg" };
const TASK = (id: string) => `arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/${id}`;
const opts = { now: NOW, staleAfterMs: 30 * MIN, taskTtlMs: 12 * HOUR };

function empty(): Inventory {
  return { instances: [], activations: [], parameters: [], tasks: [], sourceTasks: {}, liveInstanceIds: [] };
}
const inst = (id: string, extra: Partial<Inventory["instances"][number]> = {}) => ({
  instanceId: id,
  region: "ap-northeast-1",
  env: "stg",
  pingStatus: "Online",
  lastPingAt: ago(MIN),
  tags: ours,
  ...extra,
});
const decision = (d: Partial<Decision>) => ({ region: "ap-northeast-1", env: "stg", ...d });

describe("planCleanup: instances", () => {
  it.each([
    [
      "source task STOPPED, connection lost",
      inst("mi-00000000000000001", { source: TASK("a"), pingStatus: "ConnectionLost" }),
      { [TASK("a")]: "STOPPED" },
      "deregister",
      "its ECS task is STOPPED, and the instance is ConnectionLost",
    ],
    [
      "source task MISSING, connection lost",
      inst("mi-00000000000000002", { source: TASK("b"), pingStatus: "ConnectionLost" }),
      { [TASK("b")]: "MISSING" },
      "deregister",
      "its ECS task no longer exists, and the instance is ConnectionLost",
    ],
    [
      "source task STOPPED but still online",
      inst("mi-00000000000000011", { source: TASK("a") }),
      { [TASK("a")]: "STOPPED" },
      "keep",
      "online although its ECS task is STOPPED: its agent still runs somewhere; kept until it stops pinging",
    ],
    [
      "source task MISSING but still online",
      inst("mi-00000000000000012", { source: TASK("b") }),
      { [TASK("b")]: "MISSING" },
      "keep",
      "online although its ECS task no longer exists: its agent still runs somewhere; kept until it stops pinging",
    ],
    [
      "online, its task in another region",
      inst("mi-00000000000000013", { source: TASK("e") }),
      { [TASK("e")]: "unseen: it runs in region eu-west-1, and this sweep is of ap-northeast-1" },
      "keep",
      "online; its task is not judged: it runs in region eu-west-1, and this sweep is of ap-northeast-1",
    ],
    [
      "connection lost recently, its task unseen",
      inst("mi-00000000000000014", { source: TASK("f"), pingStatus: "ConnectionLost", lastPingAt: ago(10 * MIN) }),
      { [TASK("f")]: "unseen: DescribeTasks answered ACCESS_DENIED" },
      "keep",
      "ConnectionLost 10m ago, under --stale-after 30m",
    ],
    [
      "connection lost long ago",
      inst("mi-00000000000000003", { source: "host:h1", pingStatus: "ConnectionLost", lastPingAt: ago(45 * MIN) }),
      {},
      "deregister",
      "ConnectionLost for 45m, past --stale-after 30m",
    ],
    [
      "connection lost, no ping on record",
      inst("mi-00000000000000004", { pingStatus: "ConnectionLost", lastPingAt: undefined }),
      {},
      "deregister",
      "ConnectionLost with no ping on record, past --stale-after 30m",
    ],
    [
      "connection lost recently",
      inst("mi-00000000000000005", { source: "host:h1", pingStatus: "ConnectionLost", lastPingAt: ago(10 * MIN) }),
      {},
      "keep",
      "ConnectionLost 10m ago, under --stale-after 30m",
    ],
    ["online, task running", inst("mi-00000000000000006", { source: TASK("c") }), { [TASK("c")]: "RUNNING" }, "keep", "online, its task is RUNNING"],
    ["online Cloud Run instance", inst("mi-00000000000000007", { source: "cloudrun:app/00abc" }), {}, "keep", "online"],
    [
      "not ours",
      inst("mi-00000000000000008", { tags: { team: "x" }, pingStatus: "ConnectionLost", lastPingAt: ago(HOUR) }),
      {},
      "keep",
      "not ours: no bastionless:managed-by tag",
    ],
  ])("%s", (_name, instance, sourceTasks, action, reason) => {
    const plan = planCleanup({ ...empty(), instances: [instance], sourceTasks }, opts);
    expect([...plan.actions, ...plan.kept]).toEqual([decision({ kind: "instance", id: instance.instanceId, action: action as Decision["action"], reason })]);
  });
});

describe("planCleanup: activations", () => {
  const act = (id: string, extra: object) => ({
    activationId: id,
    region: "ap-northeast-1",
    env: "stg",
    expired: false,
    registrationLimit: 1,
    registrationsCount: 0,
    createdAt: ago(MIN),
    tags: ours,
    ...extra,
  });
  it.each([
    ["expired", act("a1", { expired: true }), "delete", "expired"],
    ["used up", act("a2", { registrationsCount: 1 }), "delete", "used up (1/1 registrations)"],
    ["old and unused", act("a3", { createdAt: ago(2 * HOUR) }), "delete", "unused for 2h, past --stale-after 30m"],
    ["fresh", act("a4", { createdAt: ago(5 * MIN) }), "keep", "created 5m ago, under --stale-after 30m"],
    ["not ours", act("a5", { tags: {}, expired: true }), "keep", "not ours: no bastionless:managed-by tag"],
  ])("%s", (_name, activation, action, reason) => {
    const plan = planCleanup({ ...empty(), activations: [activation] }, opts);
    expect([...plan.actions, ...plan.kept]).toEqual([
      decision({ kind: "activation", id: activation.activationId, action: action as Decision["action"], reason }),
    ]);
  });
});

describe("planCleanup: parameters", () => {
  const param = (name: string, value: string, tags: Record<string, string> = ours) => ({
    name: `/stg/portforward/instances/${name}`,
    region: "ap-northeast-1",
    env: "stg",
    value,
    tags,
  });
  it("deletes parameters of gone or leaving instances and keeps the rest", () => {
    const plan = planCleanup(
      {
        ...empty(),
        instances: [inst("mi-0000000000000000a", { source: TASK("x"), pingStatus: "ConnectionLost" }), inst("mi-0000000000000000b", { source: TASK("y") })],
        sourceTasks: { [TASK("x")]: "STOPPED", [TASK("y")]: "RUNNING" },
        liveInstanceIds: ["mi-0000000000000000c"],
        parameters: [
          param("x", "mi-0000000000000000a"),
          param("y", "mi-0000000000000000b"),
          param("z", "mi-0000000000000000d"),
          param("w", "mi-0000000000000000c"),
          param("manual", "mi-0000000000000000e", {}),
        ],
      },
      opts,
    );
    expect(plan.actions.filter((d) => d.kind === "parameter")).toEqual([
      decision({ kind: "parameter", id: "/stg/portforward/instances/x", action: "delete", reason: "its instance mi-0000000000000000a is being deregistered" }),
      decision({ kind: "parameter", id: "/stg/portforward/instances/z", action: "delete", reason: "its instance mi-0000000000000000d is gone" }),
    ]);
    expect(plan.kept.filter((d) => d.kind === "parameter")).toEqual([
      decision({ kind: "parameter", id: "/stg/portforward/instances/y", action: "keep", reason: "its instance mi-0000000000000000b is registered" }),
      decision({ kind: "parameter", id: "/stg/portforward/instances/w", action: "keep", reason: "its instance mi-0000000000000000c is registered" }),
      decision({ kind: "parameter", id: "/stg/portforward/instances/manual", action: "keep", reason: "not ours: no bastionless:managed-by tag" }),
    ]);
  });
});

describe("planCleanup: bastion tasks", () => {
  const task = (id: string, extra: object) => ({
    taskArn: TASK(id),
    region: "ap-northeast-1",
    cluster: "stg-main",
    env: "stg",
    startedBy: "bastionless:alice",
    lastStatus: "RUNNING",
    startedAt: ago(HOUR),
    tags: ours,
    ...extra,
  });
  it.each([
    ["past the TTL", task("t1", { startedAt: ago(13 * HOUR) }), "stop", "running for 13h, past --task-ttl 12h"],
    ["under the TTL", task("t2", { startedAt: ago(2 * HOUR) }), "keep", "running for 2h, under --task-ttl 12h"],
    ["still provisioning", task("t3", { startedAt: undefined, lastStatus: "PROVISIONING" }), "keep", "starting"],
    ["already stopped", task("t4", { lastStatus: "STOPPED", startedAt: ago(20 * HOUR) }), "keep", "already stopped"],
    ["not ours", task("t5", { tags: {}, startedAt: ago(20 * HOUR) }), "keep", "not ours: no bastionless:managed-by tag"],
  ])("%s", (_name, t, action, reason) => {
    const plan = planCleanup({ ...empty(), tasks: [t] }, opts);
    expect([...plan.actions, ...plan.kept]).toEqual([decision({ kind: "task", id: t.taskArn, action: action as Decision["action"], reason })]);
  });

  it("deregisters the instance and deletes the parameter of a task it stops, in a safe order", () => {
    const plan = planCleanup(
      {
        ...empty(),
        activations: [
          {
            activationId: "a9",
            region: "ap-northeast-1",
            env: "stg",
            expired: true,
            registrationLimit: 1,
            registrationsCount: 1,
            createdAt: ago(HOUR),
            tags: ours,
          },
        ],
        parameters: [{ name: "/stg/portforward/instances/t9", region: "ap-northeast-1", env: "stg", value: "mi-0000000000000009f", tags: ours }],
        instances: [inst("mi-0000000000000009f", { source: TASK("t9") })],
        sourceTasks: { [TASK("t9")]: "RUNNING" },
        tasks: [task("t9", { startedAt: ago(24 * HOUR) })],
      },
      opts,
    );
    expect(plan.actions.map((d) => [d.kind, d.action, d.reason])).toEqual([
      ["task", "stop", "running for 1d, past --task-ttl 12h"],
      ["instance", "deregister", "its bastion task is being stopped"],
      ["parameter", "delete", "its instance mi-0000000000000009f is being deregistered"],
      ["activation", "delete", "expired"],
    ]);
    expect(plan.kept).toEqual([]);
  });
});

describe("durations", () => {
  it.each([
    ["30m", 1_800_000],
    ["90s", 90_000],
    ["12h", 43_200_000],
    ["250ms", 250],
    ["1.5h", 5_400_000],
    ["2d", 172_800_000],
  ])("parses %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it("rejects what is not a duration", () => {
    expect(parseDuration("30")).toBeUndefined();
    expect(parseDuration("5 minutes")).toBeUndefined();
  });
  it.each([
    [90_000, "1m30s"],
    [45 * MIN, "45m"],
    [26 * HOUR, "1d2h"],
    [500, "500ms"],
  ])("formats %d", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
