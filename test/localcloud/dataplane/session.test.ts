// Input backpressure on a session: one wait per full sink however many frames still arrive, and
// a sink that closes instead of draining (a target dropped by DisconnectToPort) releases it too.
import { describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { DataSession } from "./session.ts";
import type { SessionSpec } from "./types.ts";

function sessionWithCounters() {
  const spec: SessionSpec = {
    kind: "port",
    sessionId: "s-1",
    target: "mi-0123456789abcdef0",
    documentName: "AWS-StartPortForwardingSession",
    host: "localhost",
    port: 1,
    agentVersion: "3.3.1142.0",
  };
  const agent = { start() {}, onPayload() {}, stop() {}, openStreams: () => 0 };
  const session = new DataSession(
    spec,
    "token",
    { publicUrl: "ws://127.0.0.1:1" },
    () => ({}),
    () => agent,
    () => {},
  );
  const calls = { pause: 0, resume: 0 };
  const pause = session.pauseInput.bind(session);
  const resume = session.resumeInput.bind(session);
  session.pauseInput = () => (calls.pause++, pause());
  session.resumeInput = () => (calls.resume++, resume());
  return { session, calls };
}

/** A sink that takes nothing until release() (its highWaterMark is one byte). */
function stuckSink() {
  let pending: (() => void)[] = [];
  const sink = new Writable({ highWaterMark: 1, write: (_c, _e, cb) => void pending.push(cb) });
  const release = () => {
    const callbacks = pending;
    pending = [];
    for (const cb of callbacks) cb();
  };
  return { sink, release };
}

describe("input backpressure", () => {
  it("pauses once per full sink and resumes when it drains, with no listener left behind", async () => {
    const { session, calls } = sessionWithCounters();
    const { sink, release } = stuckSink();
    for (let i = 0; i < 50; i++) session.writeInput(sink, Buffer.from("x"));
    expect(calls).toEqual({ pause: 1, resume: 0 });
    expect(sink.listenerCount("drain")).toBe(1);
    for (let i = 0; i < 50 && sink.writableLength > 0; i++) {
      release();
      await new Promise((r) => setImmediate(r));
    }
    expect(calls).toEqual({ pause: 1, resume: 1 });
    expect(sink.listenerCount("drain")).toBe(0);
    expect(sink.listenerCount("close")).toBe(0);
    session.terminate({ output: "", reason: "test" });
  });

  it("resumes when a full sink is destroyed instead of draining, and only when no other sink is full", async () => {
    const { session, calls } = sessionWithCounters();
    const a = stuckSink();
    const b = stuckSink();
    session.writeInput(a.sink, Buffer.from("a"));
    session.writeInput(a.sink, Buffer.from("a"));
    session.writeInput(b.sink, Buffer.from("b"));
    session.writeInput(b.sink, Buffer.from("b"));
    expect(calls.pause).toBe(2);
    a.sink.destroy();
    await new Promise((r) => setImmediate(r));
    expect(calls.resume).toBe(0);
    b.sink.destroy();
    await new Promise((r) => setImmediate(r));
    expect(calls.resume).toBe(1);
    session.terminate({ output: "", reason: "test" });
  });
});
