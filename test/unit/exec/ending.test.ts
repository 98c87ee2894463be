import { describe, expect, it } from "vitest";
import { EventEmitter } from "node:events";
import { describeEnding, endingExitCode, watchEnding } from "../../../lib/exec/ending.ts";

describe("how an exec ends from outside", () => {
  it("maps each ending to 128 + its signal and says what it was", () => {
    expect([
      endingExitCode({ kind: "signal", signal: "SIGHUP" }),
      endingExitCode({ kind: "signal", signal: "SIGINT" }),
      endingExitCode({ kind: "signal", signal: "SIGTERM" }),
    ]).toEqual([129, 130, 143]);
    expect([endingExitCode({ kind: "output-gone", code: "EPIPE" }), endingExitCode({ kind: "output-gone", code: "EIO" })]).toEqual([141, 129]);
    expect(describeEnding({ kind: "output-gone", code: "EPIPE" })).toBe("stdout was closed");
    expect(describeEnding({ kind: "output-gone", code: "EIO" })).toBe("the terminal was closed");
  });

  it("keeps the first ending, and lets go of the signals when disposed", async () => {
    const source = new EventEmitter();
    const output = new AbortController();
    const watch = watchEnding(output.signal, source as never);
    expect(watch.current()).toBeUndefined();
    source.emit("SIGTERM");
    output.abort(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    source.emit("SIGINT");
    await expect(watch.ended).resolves.toEqual({ kind: "signal", signal: "SIGTERM" });
    watch.dispose();
    expect(["SIGINT", "SIGTERM", "SIGHUP"].map((s) => source.listenerCount(s))).toEqual([0, 0, 0]);
    const gone = new AbortController();
    gone.abort(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    expect(watchEnding(gone.signal, new EventEmitter() as never).current()).toEqual({ kind: "output-gone", code: "EPIPE" });
  });

  it("under make, ends when the parent is gone (we were reparented)", async () => {
    let ppid = 200;
    const watch = watchEnding(new AbortController().signal, new EventEmitter() as never, { ppid: () => ppid, everyMs: 5 });
    ppid = 1;
    await expect(watch.ended).resolves.toEqual({ kind: "parent-exited" });
    expect([endingExitCode({ kind: "parent-exited" }), describeEnding({ kind: "parent-exited" })]).toEqual([129, "make exited"]);
    watch.dispose();
  });
});
