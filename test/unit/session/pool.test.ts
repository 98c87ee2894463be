// The session pool behind a forward: where a connection goes (a pure table), and against the strict
// data plane: concurrent connections spread over their own sessions, one session ending takes only
// its own connections, the pool grows again when new connections need it, idle extras close.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { createLogger, type Logger } from "../../../lib/log.ts";
import { pickSession, type SessionLoad } from "../../../lib/session/pool.ts";
import { startNativePortForward } from "../../../lib/session/port.ts";
import { prngDigest, startNativeHarness, startTargetServer, type NativeHarness } from "./native-harness.ts";
import { echoOnce, receiveDown } from "./client.ts";
import { eventually } from "../../support/eventually.ts";

const load = (connections: number, inFlight = 0, open = true): SessionLoad => ({ connections, inFlight, open });

describe("pickSession", () => {
  it.each<[string, SessionLoad[], number, number | "open"]>([
    ["no session: open one", [], 4, "open"],
    ["a free session is used", [load(1), load(0)], 4, 1],
    ["all busy, room left: open another", [load(1), load(2)], 4, "open"],
    ["all busy, pool full: the fewest connections", [load(2), load(1), load(3), load(1, 5)], 4, 1],
    ["a tie on connections: the fewest messages in flight", [load(1, 900), load(1, 12)], 2, 1],
    ["a tie: an open session before one still opening", [load(0, 0, false), load(0, 50)], 4, 1],
    ["one session at most: always the one", [load(7)], 1, 0],
    ["growing not allowed (max = size): the least loaded", [load(3), load(2)], 2, 1],
  ])("%s", (_name, loads, max, expected) => {
    expect(pickSession(loads, max)).toBe(expected);
  });
});

let h: NativeHarness;
let target: Awaited<ReturnType<typeof startTargetServer>>;
const lines: string[] = [];
const log: Logger = createLogger({ format: "human", debug: true, write: (l) => void lines.push(l) });
const KiB = 1024;

beforeAll(async () => {
  h = await startNativeHarness();
  target = await startTargetServer();
});
afterAll(async () => {
  await h?.close();
  await target?.close();
});

const live = () => h.dataPlane.sessions().filter((s) => s.status !== "Terminated");

describe("a pool of 4 sessions on the strict data plane", () => {
  it("spreads 4 concurrent downloads over 4 sessions; a session ending takes only its own; the pool reopens to 4; idle extras close", async () => {
    const fwd = await startNativePortForward({
      clients: h.clients,
      region: "eu-west-1",
      target: "mi-0123456789abcdef0",
      forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }],
      log,
      sessions: 4,
      sessionIdleMs: 1500,
    });
    try {
      await fwd.ready;
      const before = live().length;
      const starts = h.calls.start;
      expect(fwd.sessions()).toEqual([{ open: 1, max: 4 }]);
      const size = 768 * KiB;
      const downloads = [1, 2, 3, 4].map((seed) => receiveDown(fwd.ports[0], seed, size));
      await waitFor(() => fwd.sessions()[0].open === 4 && fwd.handles[0].pool.sessions().every((s) => s.tunnel.connections === 1));
      expect(live().length - before).toBe(3);
      // The second session dies mid-transfer: its own download breaks, the other three complete intact.
      const victim = fwd.handles[0].pool.sessions()[1].sessionId;
      h.dataPlane.terminateSession(victim, "killed by the test");
      const results = await Promise.all(downloads.map((d) => d.catch((e: Error) => e)));
      const intact = results.filter((r, i) => !(r instanceof Error) && r.bytes === size && r.sha256 === prngDigest(i + 1, size));
      expect(intact).toHaveLength(3);
      expect(lines.filter((l) => l.includes(`Session ${victim} for port ${fwd.ports[0]} ended`))).toHaveLength(1);
      expect(fwd.sessions()[0].open).toBe(3);
      // New connections keep working, and while the three others are busy a fourth session opens again.
      const busy = [5, 6, 7].map((seed) => receiveDown(fwd.ports[0], seed, size));
      const extra = receiveDown(fwd.ports[0], 8, size);
      await waitFor(() => fwd.sessions()[0].open === 4);
      expect(await extra).toEqual({ sha256: prngDigest(8, size), bytes: size });
      await Promise.all(busy);
      expect(fwd.handles[0].pool.sessions().map((s) => s.sessionId)).not.toContain(victim);
      expect(h.calls.start - starts).toBe(4);
      // Idle extras close; the last one stays and still answers.
      await waitFor(() => fwd.sessions()[0].open === 1, 10_000);
      expect(await echoOnce(fwd.ports[0], "still here")).toBe("ECHO\nstill here");
    } finally {
      await fwd.stop();
    }
    await waitFor(() => live().length === 0);
  }, 60_000);

  it("with sessions 1, concurrent connections share the one session", async () => {
    const fwd = await startNativePortForward({
      clients: h.clients,
      region: "eu-west-1",
      target: "mi-0123456789abcdef0",
      forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }],
      log,
      sessions: 1,
    });
    try {
      await fwd.ready;
      const starts = h.calls.start;
      const size = 256 * KiB;
      const got = await Promise.all([1, 2, 3].map((seed) => receiveDown(fwd.ports[0], seed, size)));
      expect(got).toEqual([1, 2, 3].map((seed) => ({ sha256: prngDigest(seed, size), bytes: size })));
      expect(h.calls.start).toBe(starts);
      expect(fwd.sessions()).toEqual([{ open: 1, max: 1 }]);
    } finally {
      await fwd.stop();
    }
  }, 30_000);

  it("stop() ends every session of the pool", async () => {
    const fwd = await startNativePortForward({
      clients: h.clients,
      region: "eu-west-1",
      target: "mi-0123456789abcdef0",
      forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }],
      log,
      sessions: 3,
    });
    await fwd.ready;
    const held = [0, 1, 2].map(() => connect({ port: fwd.ports[0], host: "127.0.0.1" }).on("error", () => {}));
    held.forEach((s) => s.write("ECHO\n"));
    await waitFor(() => fwd.sessions()[0].open === 3);
    const ids = fwd.handles[0].pool.sessions().map((s) => s.sessionId);
    await fwd.stop();
    await waitFor(() => ids.every((id) => h.dataPlane.sessions().find((s) => s.sessionId === id)?.status === "Terminated"));
    held.forEach((s) => s.destroy());
  }, 30_000);
});

async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  await eventually(async () => check() || undefined, timeoutMs, "condition", 20);
}
