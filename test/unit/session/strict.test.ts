// The native client against the strict data plane's agent habits: a stream opened the instant the
// handshake completes (the agent throws early input away), and the agent's refusal of loopback
// and link-local remote hosts, explained in one line.
import { afterEach, describe, expect, it } from "vitest";
import { explainRefusal, startNativePortForward } from "../../../lib/session/port.ts";
import { startNativeHarness, startTargetServer, type NativeHarness } from "./native-harness.ts";
import { echoOnce } from "./client.ts";

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setUp(): Promise<{ h: NativeHarness; targetPort: number }> {
  const h = await startNativeHarness();
  const target = await startTargetServer();
  cleanup.push(async () => {
    await target.close();
    await h.close();
  });
  return { h, targetPort: target.port };
}

/** One forward whose first connection is already waiting when the session's handshake completes. */
async function instantStream(h: NativeHarness, targetPort: number, i: number, handshakeSettleMs?: number): Promise<string> {
  const fwd = await startNativePortForward({
    clients: h.clients,
    region: "eu-west-1",
    target: "mi-0123456789abcdef0",
    forwards: [{ localPort: 0, remotePort: targetPort }],
    handshakeSettleMs,
  });
  try {
    // Connected before `ready`: the tunnel opens its smux stream the moment the handshake is done.
    const text = `instant ${i}`;
    const answer = await Promise.race([echoOnce(fwd.ports[0], text), new Promise<string>((r) => setTimeout(() => r("(nothing came back)"), 3000))]);
    return answer === `ECHO\n${text}` ? "ok" : answer;
  } finally {
    await fwd.stop();
  }
}

describe("a stream opened the instant HandshakeComplete arrives", () => {
  it("carries data 200 times out of 200", async () => {
    const { h, targetPort } = await setUp();
    const results: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      results.push(...(await Promise.all(Array.from({ length: 20 }, (_, j) => instantStream(h, targetPort, batch * 20 + j)))));
    }
    expect(results.filter((r) => r !== "ok")).toEqual([]);
    expect(h.dataPlane.injected!().handshakeDiscarded).toBe(0);
  }, 120_000);

  it("is lost without the wait after HandshakeComplete: the agent acks it and throws it away", async () => {
    const { h, targetPort } = await setUp();
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => instantStream(h, targetPort, i, 0)));
    expect(results).toEqual(Array(5).fill("(nothing came back)"));
    expect(h.dataPlane.injected!().handshakeDiscarded).toBeGreaterThanOrEqual(5);
  }, 60_000);
});

describe("remote hosts the agent refuses", () => {
  it("reports the agent's refusal with what to do instead, in one line", async () => {
    const { h } = await setUp();
    const fwd = await startNativePortForward({
      clients: h.clients,
      region: "eu-west-1",
      target: "mi-0123456789abcdef0",
      forwards: [{ localPort: 0, host: "169.254.169.254", remotePort: 80 }],
    });
    cleanup.push(() => fwd.stop());
    const error = await fwd.ready.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(
      /^Session \S+ for port \d+ did not start: Forwarding to IP address 169\.254\.169\.254 is forbidden\. The agent does not forward to loopback or to AWS's link-local endpoints; for a port on the target itself, forward without a remote host \(AWS-StartPortForwardingSession\)\.$/,
    );
    expect(error?.message).not.toContain("\n");
    expect(explainRefusal("Forwarding to IP address 127.0.0.1 is forbidden.")).toMatch(
      /^Forwarding to IP address 127\.0\.0\.1 is forbidden\. The agent does not forward/,
    );
    expect(explainRefusal("some other failure")).toBe("some other failure");
  });
});
