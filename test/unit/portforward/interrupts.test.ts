import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { decideInterrupt, STOP_WARNING, watchInterrupts } from "../../../lib/portforward/interrupts.ts";

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

  it("takes SIGHUP as the end with no one to ask, at every phase, and a later Ctrl-C never gives the stop up", async () => {
    const source = new EventEmitter();
    const starting = watchInterrupts(() => {}, source as never);
    source.emit("SIGHUP");
    expect([starting.startAborted.aborted, starting.unattended.aborted, starting.unattended.reason]).toEqual([true, true, "SIGHUP"]);
    starting.dispose();
    const open = watchInterrupts(() => {}, source as never);
    open.phase = "open";
    source.emit("SIGTERM");
    await expect(open.closeRequested).resolves.toBe("SIGTERM");
    expect(open.unattended.aborted).toBe(true);
    open.phase = "stopping";
    source.emit("SIGINT");
    source.emit("SIGINT");
    expect(open.stopAbandoned.aborted).toBe(false);
    open.dispose();
    expect(["SIGINT", "SIGTERM", "SIGHUP"].map((s) => source.listenerCount(s))).toEqual([0, 0, 0]);
  });

  it("under make, takes the parent's death (we were reparented) as the end", async () => {
    let ppid = 100;
    const i = watchInterrupts(() => {}, new EventEmitter() as never, { ppid: () => ppid, everyMs: 5 });
    i.phase = "open";
    await new Promise((r) => setTimeout(r, 20));
    expect(i.unattended.aborted).toBe(false);
    ppid = 1;
    await expect(i.closeRequested).resolves.toBe("parent exited");
    expect(i.unattended.reason).toBe("parent exited");
    i.dispose();
  });
});
