import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { otherBastionsLine, startedByUser } from "../../../lib/portforward/bastion.ts";
import { decideInterrupt, STOP_WARNING, watchInterrupts } from "../../../lib/portforward/interrupts.ts";
import { keptLines, reportLeftovers } from "../../../lib/portforward/leftovers.ts";
import { resolveSettings } from "../../../lib/portforward/options.ts";
import { createProgress } from "../../../lib/portforward/progress.ts";
import { openRunLog, pruneOldLogs, runLogName } from "../../../lib/portforward/state-log.ts";
import { stateDir } from "../../../lib/local.ts";
import { EventEmitter } from "node:events";

const flags = { reuse: false, keep: false, stop: false, yes: false, json: false };

describe("settings", () => {
  it("flags beat the env's config; defaults: auto, auto, 5 min", () => {
    const s = resolveSettings("stg", { ...flags, cluster: "flag-cluster" }, { cluster: "cfg-cluster", service: "cfg-svc", localPort: 15432, forwards: ["16379:cache:6379"], timeout: "90s" });
    expect(s).toMatchObject({ env: "stg", cluster: "flag-cluster", service: "cfg-svc", localPort: 15432, via: "auto", client: "auto", timeoutMs: 90_000, stopAnswer: undefined });
    expect(s.forwards.map((f) => f.label)).toEqual(["cache:6379"]);
    expect(resolveSettings("stg", flags, {}).timeoutMs).toBe(300_000);
  });

  it("the bastion task definition: --task-definition, else the config's, else <env>-bastion — never the service's own", () => {
    expect(resolveSettings("stg", flags, { service: "stg-app" })).toMatchObject({ taskDefinition: "stg-bastion", taskDefinitionDefaulted: true });
    expect(resolveSettings("prod", flags, {})).toMatchObject({ taskDefinition: "prod-bastion", taskDefinitionDefaulted: true });
    expect(resolveSettings("stg", flags, { taskDefinition: "stg-jump:3" })).toMatchObject({ taskDefinition: "stg-jump:3", taskDefinitionDefaulted: false });
    expect(resolveSettings("stg", { ...flags, "task-definition": "stg-app" }, { taskDefinition: "stg-jump:3" })).toMatchObject({ taskDefinition: "stg-app", taskDefinitionDefaulted: false });
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

describe("the user's other running bastions", () => {
  const task = (id: string) => ({ taskId: id }) as Parameters<typeof otherBastionsLine>[0][number];
  it("are named before another launch, and beside the one reused", () => {
    expect(otherBastionsLine([], "stg-main", false)).toBeUndefined();
    expect(otherBastionsLine([task("t1")], "stg-main", false)).toBe("You already have 1 bastion task running in stg-main: t1. Attach with --reuse instead of launching another.");
    expect(otherBastionsLine([task("t1"), task("t2")], "stg-main", false)).toBe("You already have 2 bastion tasks running in stg-main: t1, t2. Attach with --reuse instead of launching another.");
    expect(otherBastionsLine([task("t2")], "stg-main", true)).toBe("Also running in stg-main, started by you: 1 bastion task (t2); Ctrl-C here stops only the one reused.");
  });
});

describe("the user in startedBy", () => {
  it("keeps letters, digits, - and _ of the local user", () => {
    expect(startedByUser("jane.doe@corp")).toBe("jane-doe-corp");
    expect(startedByUser("ops")).toBe("ops");
    expect(startedByUser("")).toBe("unknown");
  });
});

describe("Ctrl-C by phase", () => {
  it("aborts the start, closes the tunnel, refuses once during the stop, then leaves", () => {
    expect(decideInterrupt("starting", 0)).toBe("abort-start");
    expect(decideInterrupt("open", 0)).toBe("close-tunnel");
    expect(decideInterrupt("stopping", 0)).toBe("warn");
    expect(decideInterrupt("stopping", 1)).toBe("leave-running");
  });

  it("drives the signals and promises it hands out", async () => {
    const source = new EventEmitter() as EventEmitter & { on(s: string, l: () => void): unknown; off(s: string, l: () => void): unknown };
    const warnings: string[] = [];
    const i = watchInterrupts((w) => warnings.push(w), source as never);
    source.emit("SIGINT");
    expect(i.startAborted.aborted).toBe(true);
    i.phase = "open";
    source.emit("SIGINT");
    await expect(i.closeRequested).resolves.toBe("Ctrl-C");
    i.phase = "stopping";
    source.emit("SIGINT");
    expect(warnings).toEqual([STOP_WARNING]);
    expect(i.stopAbandoned.aborted).toBe(false);
    source.emit("SIGINT");
    expect(i.stopAbandoned.aborted).toBe(true);
    i.dispose();
    expect(source.listenerCount("SIGINT")).toBe(0);
    expect(STOP_WARNING).toBe("stopping the bastion; press Ctrl-C again to leave it running");
  });
});

describe("what was left", () => {
  const scope = { env: "stg", region: "ap-northeast-1", profile: "stg-admin" };
  it("is nothing after a clean stop", () => {
    expect(reportLeftovers({ task: { taskId: "t1", cluster: "stg-main", lastStatus: "STOPPED", stopped: true }, parameter: { name: "/stg/portforward/instances/t1", present: false }, instance: { instanceId: "mi-0123456789abcdef0", registered: false } }, scope)).toEqual({ clean: true, lines: [] });
  });

  it("names each leftover with the command that removes it", () => {
    expect(reportLeftovers({ task: { taskId: "t1", cluster: "stg-main", lastStatus: "STOPPING", stopped: false }, parameter: { name: "/stg/portforward/instances/t1", present: true }, instance: { instanceId: "mi-0123456789abcdef0", registered: true } }, scope).lines).toEqual([
      "Bastion task t1 is still STOPPING: aws ecs stop-task --cluster stg-main --task t1 --profile stg-admin --region ap-northeast-1",
      "Managed instance mi-0123456789abcdef0 is still registered: aws ssm deregister-managed-instance --instance-id mi-0123456789abcdef0 --profile stg-admin --region ap-northeast-1",
      "Parameter /stg/portforward/instances/t1 is still there: aws ssm delete-parameter --name /stg/portforward/instances/t1 --profile stg-admin --region ap-northeast-1",
      "Or remove every orphan of stg at once: make cleanup ENV=stg ARGS=--yes",
    ]);
    expect(keptLines({ taskId: "t1", cluster: "stg-main" }, { env: "stg" })[1]).toBe("  aws ecs stop-task --cluster stg-main --task t1");
  });
});

describe("progress", () => {
  it("prints one plain line per status change without a terminal", () => {
    let out = "";
    const p = createProgress("Bastion task t1", { isTTY: false, write: (s: string) => (out += s) });
    p.update("PROVISIONING", 0);
    p.update("PROVISIONING", 500);
    p.update("PENDING", 2100);
    p.done("ready");
    expect(out).toBe("Bastion task t1: PROVISIONING (0.0s)\nBastion task t1: PENDING (2.1s)\nready\n");
  });

  it("repaints one spinner line on a terminal and clears it", () => {
    let out = "";
    const p = createProgress("Bastion task t1", { isTTY: true, columns: 80, write: (s: string) => (out += s) });
    p.update("PENDING", 1000);
    p.done("ready");
    expect(out).toMatch(/^\r\x1b\[2K⠋ Bastion task t1: PENDING \(1\.0s\)\r\x1b\[2Kready\n$/);
  });
});

describe("the session log", () => {
  it("is removed at close when the run wrote nothing to it (a failed run leaves no empty file)", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "pf-log-")), "bastionless");
    try {
      const silent = openRunLog({ dir, pid: 7 });
      silent.close();
      const spoken = openRunLog({ dir, pid: 8 });
      spoken.log.event("task_launched", { taskArn: "t" });
      spoken.close();
      expect(readdirSync(dir)).toEqual([basename(spoken.path)]);
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  });

  it("lives under $XDG_STATE_HOME/bastionless, else ~/.local/state/bastionless", () => {
    expect(stateDir({ XDG_STATE_HOME: "/x/state" }, "/home/u")).toBe("/x/state/bastionless");
    expect(stateDir({ XDG_STATE_HOME: "relative" }, "/home/u")).toBe("/home/u/.local/state/bastionless");
    expect(stateDir({}, "/home/u")).toBe("/home/u/.local/state/bastionless");
    expect(runLogName(new Date("2026-11-22T14:30:05.123Z"), 42)).toBe("portforward-20261122-143005-42.log");
  });

  it("is 0600, redacts secrets, and prunes only our files older than 7 days", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "pf-log-")), "bastionless");
    try {
      const now = new Date("2026-11-22T12:00:00Z");
      const old = openRunLog({ dir, now: new Date("2026-11-10T12:00:00Z"), pid: 1 });
      old.log.event("session", { sessionId: "s-0" });
      old.close();
      utimesSync(join(dir, runLogName(new Date("2026-11-10T12:00:00Z"), 1)), new Date("2026-11-10T12:00:00Z"), new Date("2026-11-10T12:00:00Z"));
      writeFileSync(join(dir, "notes.txt"), "mine");
      utimesSync(join(dir, "notes.txt"), new Date("2020-01-01"), new Date("2020-01-01"));
      const run = openRunLog({ dir, now, pid: 2 });
      run.log.event("session", { TokenValue: "AAAAsecret-token-valueBBBB", sessionId: "s-1" });
      run.close();
      // The file's age is what pruning reads: pin it to the run's own clock, never the machine's.
      utimesSync(run.path, now, now);
      expect(readdirSync(dir).sort()).toEqual(["notes.txt", "portforward-20261122-120000-2.log"]);
      expect(statSync(run.path).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const line = JSON.parse(readFileSync(run.path, "utf8"));
      expect(line).toMatchObject({ event: "session", TokenValue: "***", sessionId: "s-1" });
      expect(pruneOldLogs(dir, now.getTime() + 8 * 86_400_000)).toEqual(["portforward-20261122-120000-2.log"]);
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  });
});
