// Native port forwarding: one listener per forward (127.0.0.1 and [::1] unless bindAddress says
// otherwise, or the caller's: lib/session/listeners.ts) and one session each. A session that is
// gone (idle timeout, TerminateSession) is replaced for the next connection, and the user is told
// once; a lost WebSocket is resumed by the channel itself without losing bytes.
import type { Socket } from "node:net";
import { startSession, terminateSession } from "../aws/sessions.ts";
import type { DataChannel } from "./channel.ts";
import { openDataChannel } from "./connect.ts";
import { buildFlagPayload, PayloadType, PortFlag } from "./frames.ts";
import { createHandshake } from "./handshake.ts";
import { listenLocal, type LocalListener } from "./listeners.ts";
import { createTunnel, type Tunnel } from "./tunnel.ts";
import { compareVersions } from "./versions.ts";
import { portForwardRequest } from "./via-plugin.ts";
import type { Forward, PortForward, PortForwardOptions } from "./types.ts";

interface Live {
  channel: DataChannel;
  tunnel: Tunnel;
  agentVersion: string;
}

interface ForwardHandle {
  port: number;
  ready: Promise<void>;
  ended: Promise<string>;
  stop(): Promise<void>;
  /** For tests and the benchmark: the session carrying new connections now. */
  live(): Promise<Live> | undefined;
}

export async function startNativePortForward(options: PortForwardOptions): Promise<PortForward & { handles: ForwardHandle[] }> {
  const handles: ForwardHandle[] = [];
  try {
    for (const [i, forward] of options.forwards.entries()) handles.push(await startForward(options, forward, options.listeners?.[i]));
  } catch (error) {
    await Promise.all(handles.map((h) => h.stop()));
    throw error;
  }
  return {
    client: "native",
    ports: handles.map((h) => h.port),
    ready: Promise.all(handles.map((h) => h.ready)).then(() => {}),
    ended: Promise.race(handles.map((h) => h.ended)),
    handles,
    async stop() {
      await Promise.all(handles.map((h) => h.stop()));
    },
  };
}

async function startForward(options: PortForwardOptions, forward: Forward, given: LocalListener | undefined): Promise<ForwardHandle> {
  const log = options.log;
  let current: Promise<Live> | undefined;
  let stopping = false;
  let reportEnded!: (reason: string) => void;
  const ended = new Promise<string>((resolve) => (reportEnded = resolve));

  const listener = given ?? (await listenLocal(forward.localPort, options.bindAddress));
  const port = listener.port;
  const onConnection = (socket: Socket) => {
    if (stopping) return void socket.destroy();
    const renewing = current === undefined;
    current ??= openLive(true);
    current.then(
      (live) => (stopping ? socket.destroy() : live.tunnel.accept(socket)),
      (error: Error) => {
        socket.destroy();
        if (renewing) {
          log?.error(`Could not open a new session for port ${port}: ${error.message}`);
          reportEnded(error.message);
        }
      },
    );
  };

  async function openLive(renewal: boolean): Promise<Live> {
    const request = portForwardRequest(options.target, forward, port);
    const grant = await startSession(options.clients.ssm, { target: request.Target, documentName: request.DocumentName, parameters: request.Parameters });
    if (renewal) log?.info(`Opened session ${grant.sessionId} for port ${port}.`);
    let channel: DataChannel;
    try {
      channel = await openDataChannel(grant, { ssm: options.clients.ssm, region: options.region, log, clientVersion: options.clientVersion, sendWindow: options.sendWindow });
    } catch (error) {
      await terminateSession(options.clients.ssm, grant.sessionId).catch(() => {});
      throw new Error(`Could not open the data channel of session ${grant.sessionId}: ${(error as Error).message}`, { cause: error });
    }
    const handshake = createHandshake({ channel, target: options.target, kms: options.clients.kms, log, clientVersion: options.clientVersion });
    let tunnel: Tunnel | undefined;
    channel.on("payload", (type: number, payload: Buffer) => {
      if (!handshake.handle(type, payload)) tunnel?.handle(type, payload);
    });
    const lost = new Promise<never>((_, reject) => {
      channel.once("closed", (output: string) => reject(new Error(output || `session ${grant.sessionId} was closed`)));
      channel.once("gone", (reason: string) => reject(new Error(reason)));
    });
    lost.catch(() => {});
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        handshake.result,
        lost,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no handshake from the agent within ${timeoutMs / 1000} s`)), timeoutMs))),
      ]);
      if (result.customerMessage) log?.info(result.customerMessage);
      tunnel = createTunnel({
        channel,
        agentVersion: result.agentVersion,
        properties: result.properties,
        payloadSize: options.payloadSize,
        paceMs: options.paceMs,
        log,
        onConnectError: (message) => log?.warn(`port ${port}: ${message}`),
      });
      const live: Live = { channel, tunnel, agentVersion: result.agentVersion };
      const promise = current;
      channel.once("closed", (output: string) => drop(promise, live, output ? `the session was closed: ${output.trim()}` : "the session was closed"));
      channel.once("gone", (reason: string) => drop(promise, live, reason));
      return live;
    } catch (error) {
      channel.close();
      await terminateSession(options.clients.ssm, grant.sessionId).catch(() => {});
      throw new Error(`Session ${grant.sessionId} for port ${port} did not start: ${(error as Error).message}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  function drop(promise: Promise<Live> | undefined, live: Live, reason: string): void {
    live.tunnel.close();
    live.channel.close();
    if (current !== promise || stopping) return;
    current = undefined;
    log?.warn(`Session ${live.channel.sessionId} for port ${port} ended (${reason}); the next connection opens a new session.`);
  }

  current = openLive(false);
  const ready = current.then(() => {});
  ready.catch(() => {});
  // After the first session is under way: connections that waited on the caller's listener join it.
  listener.attach(onConnection);

  return {
    port,
    ready,
    ended,
    live: () => current,
    async stop() {
      if (stopping) return;
      stopping = true;
      // The caller's listener stays open: connections wait there for the next session.
      if (given) listener.detach();
      else listener.close();
      const live = await current?.catch(() => undefined);
      current = undefined;
      if (!live) return;
      live.tunnel.close();
      // Agents newer than 2.3.722.0 end the session on the TerminateSession flag; older ones need the API.
      if (live.channel.connected && compareVersions(live.agentVersion, "2.3.722.0") > 0) {
        live.channel.send(PayloadType.Flag, buildFlagPayload(PortFlag.TerminateSession));
        await live.channel.flush(2000);
      } else {
        await terminateSession(options.clients.ssm, live.channel.sessionId).catch(() => {});
      }
      live.channel.close();
    },
  };
}
