import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { stateDir } from "../../../lib/local.ts";
import { openRunLog, pruneOldLogs, runLogName } from "../../../lib/portforward/state-log.ts";

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
