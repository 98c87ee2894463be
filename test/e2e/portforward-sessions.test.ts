// portforward --sessions against the local cloud, as real processes: a pool of 4 sessions behind a
// forward, one of them killed mid-transfer from outside (its WebSocket cut with no resume possible:
// the session is terminated behind it) — the other three connections finish byte-identical, new
// connections keep working, the pool opens its fourth session again, and Ctrl-C terminates every
// session (GET /_localcloud/state shows none open). --sessions 1 keeps one session for every
// connection and prints what it always printed; on the managed-instance path each of two forwards
// gets its own pool.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { request, createServer as createHttpServer, type IncomingMessage } from "node:http";
import { SSMClient, TerminateSessionCommand } from "@aws-sdk/client-ssm";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { prngDigest, startTargetServer } from "../unit/session/native-harness.ts";
import { echoOnce, receiveDown } from "../unit/session/client.ts";
import { NOTHING_LEFT, eventually, freePort, leftovers, startPortforward, stateHome } from "./portforward-harness.ts";
import { cloudConfig } from "../support/clients.ts";

let cloud: LocalCloud;
let target: Awaited<ReturnType<typeof startTargetServer>>;
const state = stateHome();
const KiB = 1024;

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 200, pendingMs: 200 }, stopTimeoutMs: 10_000 });
  target = await startTargetServer();
}, 120_000);
afterAll(async () => {
  await target?.close();
  await cloud?.stop();
  state.remove();
});

/** The sessions the local cloud holds open, per target. */
async function openSessions() {
  return (await cloud.state()).sessions.filter((s) => !["Terminated", "Failed"].includes(s.status));
}

describe("portforward --sessions 4", () => {
  it("one session of four killed mid-transfer: the other three finish intact, new connections work, the pool reopens to 4, Ctrl-C terminates all", async () => {
    const proxy = await startStreamProxy(cloud.endpoint);
    try {
      const run = startPortforward(cloud, ["--env", "stg", "--yes", "--json", "--forward", `0:127.0.0.1:${target.port}`, "--sessions", "4"], {
        XDG_STATE_HOME: state.dir,
        AWS_ENDPOINT_URL: proxy.endpoint,
      });
      const ready = await run.ready;
      expect((ready as unknown as { sessions: unknown }).sessions).toEqual([{ open: 1, max: 4 }]);
      const port = ready.forwards[0].localPort;
      const size = 1024 * KiB;
      // Long enough (≈5 s at one session's ≈0.85 MB/s) that the first is still running when the fourth session has opened.
      const long = 4 * size;
      const downloads = [1, 2, 3, 4].map((seed) => receiveDown(port, seed, long).catch((e: Error) => e));
      // Every session carries one of them.
      const four = await eventually(
        async () => {
          const open = await openSessions();
          return open.length === 4 && open.every((s) => s.dataPlane?.openStreams === 1) ? open : undefined;
        },
        30_000,
        "4 sessions with one connection each",
      );
      const victim = four[1].sessionId;
      await proxy.kill(victim, () => terminate(victim));
      const results = await Promise.all(downloads);
      const intact = results.filter((r, i) => !(r instanceof Error) && r.bytes === long && r.sha256 === prngDigest(i + 1, long));
      expect(intact).toHaveLength(3);
      await eventually(async () => ((await openSessions()).length === 3 ? true : undefined), 20_000, "the pool to drop the killed session");
      expect(run.stderr()).toContain(`Session ${victim} for port ${port} ended`);
      // New connections work; with three busy, the pool opens a fourth session again.
      expect(await echoOnce(port, "after the kill")).toBe("ECHO\nafter the kill");
      const more = [5, 6, 7, 8].map((seed) => receiveDown(port, seed, size));
      await eventually(async () => ((await openSessions()).length === 4 ? true : undefined), 30_000, "the pool to reopen to 4");
      expect(await Promise.all(more)).toEqual([5, 6, 7, 8].map((seed) => ({ sha256: prngDigest(seed, size), bytes: size })));
      expect((await openSessions()).map((s) => s.sessionId)).not.toContain(victim);

      run.interrupt();
      expect((await run.exited).code).toBe(0);
      expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
      // Asked the way an operator would: every session of this run is Terminated, none is open.
      const viaApi = (await (await fetch(`${cloud.endpoint}/_localcloud/state`)).json()) as { sessions: Array<{ sessionId: string; status: string }> };
      const ours = viaApi.sessions.filter((s) => four.some((f) => f.sessionId === s.sessionId));
      expect(ours.map((s) => s.status)).toEqual(["Terminated", "Terminated", "Terminated", "Terminated"]);
      expect(viaApi.sessions.filter((s) => s.status !== "Terminated")).toEqual([]);
      // The session log says how many sessions were open as each opened and when one ended.
      const events = readFileSync(ready.log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(events.filter((e) => e.event === "session_opened").map((e) => e.open)).toEqual([1, 2, 3, 4, 4]);
      expect(events.filter((e) => e.event === "session_closed")).toEqual([expect.objectContaining({ sessionId: victim, open: 3, max: 4 })]);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});

describe("portforward --sessions 1", () => {
  it("carries concurrent connections on its one session and prints what it always did", async () => {
    const local = await freePort();
    const run = startPortforward(cloud, ["--env", "stg", "--yes", "--forward", `${local}:127.0.0.1:${target.port}`, "--sessions", "1"], {
      XDG_STATE_HOME: state.dir,
    });
    await eventually(async () => (run.stdout().includes("Press Ctrl-C") ? true : undefined), 60_000, "the ready lines");
    const [line, hint, ...rest] = run.stdout().trim().split("\n");
    expect(line).toMatch(new RegExp(`^127\\.0\\.0\\.1:${local} → 127\\.0\\.0\\.1:${target.port} via ecs:stg-main_\\S+$`));
    expect(hint).toMatch(/^Press Ctrl-C to close the tunnel and stop the bastion\. Session log: /);
    expect(rest).toEqual([]);
    const size = 256 * KiB;
    expect(await Promise.all([1, 2, 3].map((seed) => receiveDown(local, seed, size)))).toEqual(
      [1, 2, 3].map((seed) => ({ sha256: prngDigest(seed, size), bytes: size })),
    );
    expect(await openSessions()).toHaveLength(1);
    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 90_000);
});

describe("portforward --via instance --sessions 2 with two forwards", () => {
  it("gives each forward its own pool on the managed instance; Ctrl-C terminates all four sessions", async () => {
    const other = await startTargetServer();
    try {
      const run = startPortforward(
        cloud,
        [
          "--env",
          "stg",
          "--yes",
          "--json",
          "--via",
          "instance",
          "--task-definition",
          "stg-bastion",
          "--forward",
          `0:127.0.0.1:${target.port}`,
          "--forward",
          `0:127.0.0.1:${other.port}`,
          "--sessions",
          "2",
        ],
        { XDG_STATE_HOME: state.dir },
      );
      const ready = await run.ready;
      expect(ready.target).toMatch(/^mi-[0-9a-f]{17}$/);
      expect((ready as unknown as { sessions: unknown }).sessions).toEqual([
        { open: 1, max: 2 },
        { open: 1, max: 2 },
      ]);
      const size = 256 * KiB;
      const [a, b] = ready.forwards.map((f) => f.localPort);
      const got = await Promise.all([receiveDown(a, 1, size), receiveDown(a, 2, size), receiveDown(b, 3, size), receiveDown(b, 4, size)]);
      expect(got).toEqual([1, 2, 3, 4].map((seed) => ({ sha256: prngDigest(seed, size), bytes: size })));
      const open = await openSessions();
      expect(open.map((s) => s.target)).toEqual([ready.target, ready.target, ready.target, ready.target]);
      run.interrupt();
      expect((await run.exited).code).toBe(0);
      expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    } finally {
      await other.close();
    }
  }, 120_000);
});

async function terminate(sessionId: string): Promise<void> {
  const ssm = new SSMClient(cloudConfig(cloud, { maxAttempts: 3 }));
  try {
    await ssm.send(new TerminateSessionCommand({ SessionId: sessionId }));
  } finally {
    ssm.destroy();
  }
}

/**
 * A proxy in front of the local cloud's gateway that carries the data channels too (it rewrites the
 * StreamUrls in the answers to point at itself), so a test can cut one session's WebSocket from
 * outside the forwarding process: kill() first stops relaying the cloud's side (so the channel_closed
 * of the TerminateSession that follows never arrives), then drops the client's connection. Its
 * ResumeSession then finds the session terminated.
 */
async function startStreamProxy(
  upstream: string,
): Promise<{ endpoint: string; kill(sessionId: string, terminate: () => Promise<void>): Promise<void>; close(): Promise<void> }> {
  const up = new URL(upstream);
  const channels = new Map<string, { client: Socket; cloud: Socket }>();
  const sockets = new Set<Socket>();
  let self = "";
  const server = createHttpServer((req, res) => {
    void readAll(req).then((body) => {
      const forward = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        void readAll(answer).then((raw) => {
          const text = Buffer.from(raw.toString("utf8").split(`ws://${up.host}`).join(`ws://${self}`));
          const headers = { ...answer.headers, "content-length": String(text.length) };
          res.writeHead(answer.statusCode ?? 502, headers).end(text);
        });
      });
      forward.on("error", () => res.destroy());
      forward.end(body);
    });
  });
  server.on("connection", (s) => (sockets.add(s), s.on("close", () => sockets.delete(s))));
  server.on("upgrade", (req, client: Socket, head) => {
    const sessionId = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname.split("/").pop() ?? "");
    const cloudSide = connect({ host: up.hostname, port: Number(up.port) }, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      cloudSide.write(lines.join("\r\n") + "\r\n\r\n");
      if (head.length) cloudSide.write(head);
      client.pipe(cloudSide);
      cloudSide.pipe(client);
    });
    sockets.add(cloudSide);
    channels.set(sessionId, { client, cloud: cloudSide });
    const end = () => (client.destroy(), cloudSide.destroy());
    client.on("error", end);
    cloudSide.on("error", end);
    client.on("close", end);
    cloudSide.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  self = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    endpoint: `http://${self}`,
    async kill(sessionId, terminate) {
      const channel = channels.get(sessionId);
      if (!channel) throw new Error(`no data channel of ${sessionId} went through the proxy`);
      channel.cloud.unpipe(channel.client);
      channel.cloud.pause();
      await terminate();
      channel.client.destroy();
      channel.cloud.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}
