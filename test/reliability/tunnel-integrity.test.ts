// Tunnel integrity under faults: several connections at once through one native port-forward session
// (mux), moving pseudo-random data up, down and both ways for a bounded time while the data channel
// drops, duplicates, reorders and delays frames, the WebSocket is closed with 1000 "Bye" every few
// seconds (the client must ResumeSession, itself slowed and failing with 5xx), and every stream is
// checked byte for byte (length and sha256). Then the session must be Terminated in the cloud.
// Once through an ECS Exec target, once through the managed instance the real entrypoint registers.
//
// CI size: about 20 s + 8 s of traffic. RELIABILITY_SOAK=1: 10 min + 2 min, twice the connections.
// TUNNEL_INTEGRITY_SECONDS overrides the first duration. The seed is printed; TUNNEL_INTEGRITY_SEED replays it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { ECSClient } from "@aws-sdk/client-ecs";
import { KMSClient } from "@aws-sdk/client-kms";
import { SSMClient } from "@aws-sdk/client-ssm";
import { clientConfig } from "../../lib/aws/clients.ts";
import type { DataChannel } from "../../lib/session/channel.ts";
import { startNativePortForward } from "../../lib/session/port.ts";
import { seededRandom, startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import type { DataChannelFaults } from "../localcloud/dataplane/types.ts";
import { receiveDown, sendUp } from "../unit/session/client.ts";
import { prngDigest, prngStream, startTargetServer } from "../unit/session/native-harness.ts";
import { NOTHING_LEFT, leftovers } from "../e2e/portforward-harness.ts";
import { startBastion, type Bastion } from "../support/bastion.ts";
import { eventually } from "../support/eventually.ts";
import { watchDenials } from "../support/iam.ts";
import { writeReport } from "./report.ts";

const SOAK = process.env.RELIABILITY_SOAK === "1";
const SECONDS = Number(process.env.TUNNEL_INTEGRITY_SECONDS ?? (SOAK ? 600 : 20));
const ENTRYPOINT_SECONDS = SOAK ? 120 : 8;
const CONNECTIONS = SOAK ? 12 : 6;
const SEED = Number(process.env.TUNNEL_INTEGRITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const KiB = 1024;
const MiB = 1024 * KiB;
/** One stream may take this long at worst (4 MiB through every fault); nothing is expected to come close. */
const STREAM_TIMEOUT_MS = 120_000;

const DATA_CHANNEL_FAULTS: DataChannelFaults = {
  drop: { in: 0.02, out: 0.02 },
  duplicate: { in: 0.02, out: 0.02 },
  reorder: { in: 0.02, out: 0.02 },
  delayMs: 5,
  closeAfterSeconds: 3,
};
const CONTROL_PLANE_FAULTS = {
  // Every reconnect goes through a slow, sometimes failing ResumeSession; the first one fails for sure.
  "ssm:ResumeSession": { latencyMs: 300, errorRate: 0.2, failNext: 1 },
};

let cloud: LocalCloud;
let clients: { ssm: SSMClient; ecs: ECSClient; kms: KMSClient };
let target: Awaited<ReturnType<typeof startTargetServer>>;
const calls: Record<string, { ok: number; failed: number }> = {};

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 }, stopTimeoutMs: 10_000 });
  // The product's retry settings (standard, 3 attempts) on the local cloud's endpoint, as the
  // operator (holding exactly docker/iam/operator.json): the session's calls are the operator's.
  const operator = cloud.principalEnv("operator");
  const credentials = { accessKeyId: operator.AWS_ACCESS_KEY_ID, secretAccessKey: operator.AWS_SECRET_ACCESS_KEY };
  const config = cloudConfig(cloud, { maxAttempts: clientConfig({}, {}).maxAttempts, retryMode: "standard", credentials });
  clients = { ssm: new SSMClient(config), ecs: new ECSClient(config), kms: new KMSClient(config) };
  clients.ssm.middlewareStack.add(
    (next, context) => async (args) => {
      const tally = (calls[context.commandName!.replace(/Command$/, "")] ??= { ok: 0, failed: 0 });
      try {
        const result = await next(args);
        tally.ok++;
        return result;
      } catch (error) {
        tally.failed++;
        throw error;
      }
    },
    { step: "initialize", name: "countCalls" },
  );
  target = await startTargetServer();
  console.log(`tunnel integrity: seed ${SEED} (replay with TUNNEL_INTEGRITY_SEED=${SEED}), ${SECONDS} s, ${CONNECTIONS} connections`);
}, 120_000);

// A call the local cloud refused fails the test, naming the action.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await target?.close();
  for (const c of Object.values(clients ?? {})) c.destroy();
  await cloud?.stop();
});

interface Totals {
  streams: number;
  up: number;
  down: number;
  byKind: Record<string, number>;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end within ${STREAM_TIMEOUT_MS / 1000} s`)), STREAM_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer));
}

/** Both ways at once: PRNG bytes up while the target echoes them down; resolves with what came back. */
function echoBoth(port: number, seed: number, size: number): Promise<{ sent: string; received: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    const sent = createHash("sha256");
    const received = createHash("sha256");
    let bytes = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve({ sent: sent.digest("hex"), received: received.digest("hex"), bytes });
    };
    socket.on("data", (d: Buffer) => {
      received.update(d);
      bytes += d.length;
      // All of it came back: close now (a half-close would close the target, as a real agent does).
      if (bytes >= size + 5) {
        socket.end();
        finish();
      }
    });
    socket.on("end", finish);
    socket.on("error", reject);
    // The target echoes its first line too (test/unit/session/native-harness.ts).
    const head = Buffer.from("ECHO\n");
    sent.update(head);
    socket.write(head);
    const gen = prngStream(seed, size);
    const pump = () => {
      for (let r = gen.next(); !r.done; r = gen.next()) {
        sent.update(r.value);
        if (!socket.write(r.value)) return void socket.once("drain", pump);
      }
    };
    pump();
  });
}

/** One stream of a random kind and size (64 KiB – 4 MiB, log-uniform), checked to the byte. */
async function oneStream(port: number, random: () => number, totals: Totals, label: string): Promise<void> {
  const kind = (["echo", "up", "down"] as const)[Math.floor(random() * 3)];
  const size = Math.round(64 * KiB * 2 ** (random() * 6));
  const seed = Math.floor(random() * 2 ** 31);
  const what = `${label} stream ${totals.streams + 1} (${kind} ${size} bytes, seed ${seed}, run seed ${SEED})`;
  if (kind === "up") {
    const answer = await withTimeout(sendUp(port, seed, size), what);
    expect(answer, what).toBe(`${prngDigest(seed, size)} ${size}`);
    totals.up += size;
  } else if (kind === "down") {
    const got = await withTimeout(receiveDown(port, seed, size), what);
    expect(got, what).toEqual({ sha256: prngDigest(seed, size), bytes: size });
    totals.down += size;
  } else {
    const got = await withTimeout(echoBoth(port, seed, size), what);
    expect(got.bytes, what).toBe(size + 5);
    expect(got.received, what).toBe(got.sent);
    totals.up += size;
    totals.down += size;
  }
  totals.streams++;
  totals.byKind[kind] = (totals.byKind[kind] ?? 0) + 1;
}

/** CONNECTIONS workers, each opening stream after stream until the time is up; every stream verified. */
async function traffic(port: number, seconds: number, label: string): Promise<Totals & { seconds: number }> {
  const totals: Totals = { streams: 0, up: 0, down: 0, byKind: {} };
  const started = performance.now();
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, worker) => {
      const random = seededRandom(SEED + worker * 7919);
      while (Date.now() < until) await oneStream(port, random, totals, `${label} worker ${worker}`);
    }),
  );
  return { ...totals, seconds: (performance.now() - started) / 1000 };
}

async function injected(): Promise<{ controlPlane: Record<string, number>; dataChannel?: Record<string, number> }> {
  const res = await fetch(`${cloud.endpoint}/_localcloud/faults/injected`);
  return (await res.json()) as never;
}

/** Forward to the target server through `to`, under every fault; returns what the run moved and saw. */
async function transferUnderFaults(to: string, seconds: number, label: string) {
  for (const key of Object.keys(calls)) delete calls[key];
  const before = await injected();
  await cloud.setFaults({ ...CONTROL_PLANE_FAULTS, dataChannel: DATA_CHANNEL_FAULTS });
  const fwd = await startNativePortForward({
    clients,
    region: cloud.region,
    target: to,
    forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }],
  });
  let channel: DataChannel | undefined;
  let result: Awaited<ReturnType<typeof traffic>>;
  let sessionId: string;
  try {
    await fwd.ready;
    channel = (await fwd.handles[0].live()!).channel;
    sessionId = channel.sessionId;
    // The session must not end while the traffic runs: it would be reported here.
    const ended = fwd.ended.then((reason) => Promise.reject(new Error(`the forward ended during the transfer: ${reason}`)));
    result = await Promise.race([traffic(fwd.ports[0], seconds, label), ended]);
  } finally {
    await cloud.setFaults({});
    await fwd.stop();
  }
  const after = await injected();
  const delta = (a: Record<string, number> | undefined, b: Record<string, number> | undefined) =>
    Object.fromEntries(Object.entries(a ?? {}).map(([k, v]) => [k, v - (b?.[k] ?? 0)]));
  const faults = { controlPlane: delta(after.controlPlane, before.controlPlane), dataChannel: delta(after.dataChannel, before.dataChannel) };
  const mb = (n: number) => (n / 1e6).toFixed(1);
  console.log(
    `tunnel integrity (${label}): ${result.streams} streams (${Object.entries(result.byKind)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ")}) on ${CONNECTIONS} connections in ${result.seconds.toFixed(1)} s: ` +
      `${mb(result.up)} MB up, ${mb(result.down)} MB down, ${mb((result.up + result.down) / result.seconds)} MB/s together; ` +
      `${channel!.stats.reconnects} reconnects, ResumeSession ${calls.ResumeSession?.ok ?? 0} ok / ${calls.ResumeSession?.failed ?? 0} failed after the SDK's retries, ` +
      `client resent ${channel!.sendStats.resent} of ${channel!.sendStats.sent}, ${channel!.stats.duplicates} duplicates received; injected ${JSON.stringify(faults)}`,
  );
  writeReport(`tunnel-integrity-${label.replace(/[^a-z0-9]+/gi, "-")}`, {
    streams: result.streams,
    bytesUp: result.up,
    bytesDown: result.down,
    seconds: result.seconds,
    reconnects: channel!.stats.reconnects,
    injected: faults,
  });
  return { result, channel: channel!, sessionId: sessionId!, faults };
}

function expectIntactUnderFaults(run: Awaited<ReturnType<typeof transferUnderFaults>>, seconds: number): void {
  const { result, channel, faults } = run;
  // Every worker finished at least one verified stream (each was checked inside oneStream).
  expect(result.streams).toBeGreaterThanOrEqual(CONNECTIONS);
  expect(result.up).toBeGreaterThan(0);
  expect(result.down).toBeGreaterThan(0);
  // Generous: the last streams may run on past the deadline, never unboundedly.
  expect(result.seconds).toBeLessThan(seconds + STREAM_TIMEOUT_MS / 1000);
  // The faults really happened, and the client came through them in the one session it started.
  expect(faults.dataChannel.dropped).toBeGreaterThan(0);
  expect(faults.dataChannel.duplicated).toBeGreaterThan(0);
  expect(faults.dataChannel.reordered).toBeGreaterThan(0);
  expect(faults.dataChannel.closed).toBeGreaterThanOrEqual(1);
  expect(channel.stats.reconnects).toBeGreaterThanOrEqual(1);
  expect(calls.ResumeSession?.ok).toBeGreaterThanOrEqual(channel.stats.reconnects);
  expect(faults.controlPlane.latency).toBeGreaterThanOrEqual(channel.stats.reconnects);
  expect(faults.controlPlane.failNext).toBe(1);
  expect(calls.StartSession).toEqual({ ok: 1, failed: 0 });
}

async function expectTerminated(sessionId: string): Promise<void> {
  const session = await eventually(
    async () => {
      const found = (await cloud.state()).sessions.find((s) => s.sessionId === sessionId);
      return found?.status === "Terminated" ? found : undefined;
    },
    20_000,
    `session ${sessionId} Terminated`,
  );
  expect(session.status).toBe("Terminated");
}

describe("tunnel integrity under faults", () => {
  let bastion: Bastion | undefined;

  afterAll(async () => {
    await bastion?.stop();
  });

  it(
    `ECS Exec target: ${CONNECTIONS} connections for ${SECONDS} s through one mux session, every byte checked; Terminated after`,
    async () => {
      bastion = await startBastion(cloud);
      const run = await transferUnderFaults(bastion.target, SECONDS, "ecs-exec");
      expectIntactUnderFaults(run, SECONDS);
      const state = await cloud.state();
      expect(state.sessions.find((s) => s.sessionId === run.sessionId)).toMatchObject({ kind: "port", dataPlane: { mode: "mux" } });
      await expectTerminated(run.sessionId);
      await bastion.stop();
      bastion = undefined;
    },
    (SECONDS + 300) * 1000,
  );

  it(
    `managed instance of the real entrypoint: ${CONNECTIONS} connections for ${ENTRYPOINT_SECONDS} s, every byte checked; Terminated, nothing left after StopTask`,
    async () => {
      // The entrypoint registers beside its CMD; portforward finds the mi- id under this parameter.
      bastion = await startBastion(cloud, "stg", { command: ["sleep", "86400"] });
      const taskId = bastion.taskArn.split("/").at(-1)!;
      const instanceId = await eventually(
        async () => {
          const s = await cloud.state();
          const id = s.parameters.find((p) => p.name === `/stg/portforward/instances/${taskId}`)?.value;
          return id && s.instances.some((i) => i.instanceId === id && i.pingStatus === "Online") ? id : undefined;
        },
        60_000,
        "the bastion's managed instance Online",
      );
      const run = await transferUnderFaults(instanceId, ENTRYPOINT_SECONDS, "entrypoint mi-");
      expectIntactUnderFaults(run, ENTRYPOINT_SECONDS);
      await expectTerminated(run.sessionId);
      await bastion.stop();
      bastion = undefined;
      await eventually(
        async () => {
          const left = await leftovers(cloud);
          return JSON.stringify(left) === JSON.stringify(NOTHING_LEFT) ? left : undefined;
        },
        30_000,
        "nothing left after StopTask",
      );
    },
    (ENTRYPOINT_SECONDS + 300) * 1000,
  );
});
