import { describe, expect, it } from "vitest";
import { PassThrough, Writable } from "node:stream";
import { plainOutput } from "../../../lib/exec/output.ts";

async function through(chunks: string[], banner?: string): Promise<{ out: string; notes: string[] }> {
  const sink = new PassThrough();
  let out = "";
  sink.on("data", (d) => (out += d));
  const notes: string[] = [];
  const stream = plainOutput({ out: sink, note: (l) => notes.push(l), banner });
  for (const c of chunks) stream.write(c);
  await new Promise<void>((resolve) => stream.end(resolve));
  return { out, notes };
}

describe("plainOutput", () => {
  const banner = "# bastionless exec 0123456789ab: echo hi";
  it("sends the banner and the session's notes to stderr, the output with \\n endings to stdout", async () => {
    expect(await through([`${banner}\r\n`, "hi\r\nthere\r\n", "\r\n\r\nExiting session with sessionId: ecs-execute-command-0abc.\r\n\r\n"], banner)).toEqual({
      out: "hi\nthere\n",
      notes: [banner, "Exiting session with sessionId: ecs-execute-command-0abc."],
    });
  });

  it("holds a banner split across chunks, and a \\r\\n split between two", async () => {
    expect(await through(["# bastionless exec 0123", `456789ab: echo hi\r`, "\nhi\r", "\nend"], banner)).toEqual({ out: "hi\nend", notes: [banner] });
  });

  it("passes a first line that is not the banner, and lone \\r, untouched", async () => {
    expect(await through(["# bastionless exec 0123456789ab: something else\r\n", "50%\r100%\r\n"], banner)).toEqual({
      out: "# bastionless exec 0123456789ab: something else\n50%\r100%\n",
      notes: [],
    });
    expect(await through(["no banner expected\r\n"])).toEqual({ out: "no banner expected\n", notes: [] });
  });

  it("finishes when the reader goes away while output waits for it (EPIPE): nothing waits for a drain that never comes", async () => {
    // A pipe whose reader has stopped reading: every write is held, then the reader exits.
    const stalled = new Writable({ highWaterMark: 16, write: () => {} });
    stalled.on("error", () => {});
    const stream = plainOutput({ out: stalled, note: () => {} });
    stream.write("x".repeat(1024));
    stream.write("partial last line");
    const ended = new Promise<void>((resolve) => stream.end(resolve));
    setTimeout(() => stalled.destroy(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })), 20);
    await expect(Promise.race([ended.then(() => "ended"), new Promise((r) => setTimeout(() => r("still waiting"), 2000))])).resolves.toBe("ended");
    // And output after that is dropped at once.
    const late = plainOutput({ out: stalled, note: () => {} });
    await expect(new Promise((resolve) => late.end("more", (error?: Error | null) => resolve(error ?? "ended")))).resolves.toBe("ended");
  });
});
