// Native port forwarding: one listener per forward (127.0.0.1 and [::1] unless bindAddress says
// otherwise, or the caller's: lib/session/listeners.ts) and a pool of port sessions behind it
// (lib/session/pool.ts: one session unless `sessions` asks for more). openPortSession() is one
// session: StartSession, its data channel, the handshake and its tunnel. A session that is gone
// (idle timeout, TerminateSession) is replaced for the next connection, and the user is told once;
// a lost WebSocket is resumed by the channel itself without losing bytes.
import { startSession, terminateSession } from "../aws/sessions.ts";
import type { DataChannel } from "./channel.ts";
import { openDataChannelOrTerminate } from "./connect.ts";
import { buildFlagPayload, PayloadType, PortFlag } from "./frames.ts";
import { createHandshake, type HandshakeResult } from "./handshake.ts";
import { listenLocal, type LocalListener } from "./listeners.ts";
import { createSessionPool, type SessionPool } from "./pool.ts";
import { createTunnel, type Tunnel } from "./tunnel.ts";
import { endsOnTerminateFlag } from "./versions.ts";
import { portForwardRequest } from "./documents.ts";
import type { Forward, PortForward, PortForwardOptions } from "./types.ts";

/** One port session, handshake done, carrying connections through its tunnel. */
export interface PortSession {
  readonly sessionId: string;
  readonly channel: DataChannel;
  readonly tunnel: Tunnel;
  readonly agentVersion: string;
  /** Resolves once, with the reason, when the session ends by itself (closed by the service, lost for good); never on stop(). */
  readonly ended: Promise<string>;
  /** Ends the session: the TerminateSession flag when the agent takes it, else (or when it is not acknowledged) the API; false when neither was confirmed. */
  stop(): Promise<boolean>;
}

export interface ForwardHandle {
  port: number;
  ready: Promise<void>;
  ended: Promise<string>;
  pool: SessionPool<PortSession>;
  stop(): Promise<void>;
  /** For tests and the benchmark: the session that would carry a new connection now. */
  live(): Promise<PortSession> | undefined;
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
    sessions: () => handles.map((h) => ({ open: h.pool.size, max: h.pool.max })),
    async stop() {
      await Promise.all(handles.map((h) => h.stop()));
    },
  };
}

/** The listener of one forward and the pool of sessions behind it. */
async function startForward(options: PortForwardOptions, forward: Forward, given: LocalListener | undefined): Promise<ForwardHandle> {
  const listener = given ?? (await listenLocal(forward.localPort, options.bindAddress));
  const port = listener.port;
  const pool = createSessionPool({
    max: options.sessions ?? 1,
    idleMs: options.sessionIdleMs,
    port,
    log: options.log,
    open: () => openPortSession(options, forward, port),
  });
  const ready = pool.start().then(() => {});
  ready.catch(() => {});
  // After the first session is under way: connections that waited on the caller's listener join it.
  listener.attach((socket) => pool.accept(socket));
  return {
    port,
    ready,
    ended: pool.ended,
    pool,
    live: () => pool.current(),
    async stop() {
      // The caller's listener stays open: connections wait there for the next sessions.
      if (given) listener.detach();
      else listener.close();
      await pool.stop();
    },
  };
}

/** StartSession for `forward`, its data channel and handshake; TerminateSession if any step fails. */
export async function openPortSession(options: PortForwardOptions, forward: Forward, port: number): Promise<PortSession> {
  const request = portForwardRequest(options.target, forward, port);
  const grant = await startSession(options.clients.ssm, { target: request.Target, documentName: request.DocumentName, parameters: request.Parameters });
  const channel = await openDataChannelOrTerminate(grant, {
    ssm: options.clients.ssm,
    region: options.region,
    log: options.log,
    clientVersion: options.clientVersion,
    sendWindow: options.sendWindow,
    messagesPerSecond: options.messagesPerSecond,
  });
  const starting = new StartingPortSession(options, grant.sessionId, channel, port);
  try {
    const result = await starting.handshakeResult(options.readyTimeoutMs ?? 30_000);
    return starting.open(result);
  } catch (error) {
    channel.close();
    await terminateSession(options.clients.ssm, grant.sessionId).catch(() => {});
    throw new Error(`Session ${grant.sessionId} for port ${port} did not start: ${explainRefusal((error as Error).message)}`, { cause: error });
  }
}

/** A port session from its open data channel on: the handshake, then its tunnel, then its end. */
class StartingPortSession {
  private readonly handshake: ReturnType<typeof createHandshake>;
  private tunnel: Tunnel | undefined;
  /** Payloads after HandshakeComplete that come before the tunnel exists. */
  private readonly early: Array<[number, Buffer]> = [];
  /** How the session ended: `early` is what a failed start reports, `reason` what a running one does. */
  private readonly lost: Promise<{ early: string; reason: string }>;
  private closedByService = false;
  private stopping = false;

  constructor(
    private readonly options: PortForwardOptions,
    private readonly sessionId: string,
    private readonly channel: DataChannel,
    private readonly port: number,
  ) {
    const { log } = options;
    this.handshake = createHandshake({
      channel,
      target: options.target,
      kms: options.clients.kms,
      log,
      clientVersion: options.clientVersion,
      settleMs: options.handshakeSettleMs,
    });
    channel.on("payload", (type: number, payload: Buffer) => {
      if (this.handshake.handle(type, payload)) return;
      if (this.tunnel) this.tunnel.handle(type, payload);
      else this.early.push([type, payload]);
    });
    this.lost = new Promise((resolve) => {
      channel.once("closed", (output: string) => {
        this.closedByService = true;
        resolve({ early: output || `session ${sessionId} was closed`, reason: output ? `the session was closed: ${output.trim()}` : "the session was closed" });
      });
      channel.once("gone", (reason: string) => resolve({ early: reason, reason }));
    });
  }

  /** The handshake's result, unless the session ends or `timeoutMs` passes first. */
  async handshakeResult(timeoutMs: number): Promise<HandshakeResult> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.handshake.result,
        this.lost.then(({ early }) => Promise.reject(new Error(early))),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no handshake from the agent within ${timeoutMs / 1000} s`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The tunnel over the handshaken channel, fed first what came before it. */
  open(result: HandshakeResult): PortSession {
    const { channel, options } = this;
    const { log } = options;
    if (result.customerMessage) log?.info(result.customerMessage);
    const tunnel: Tunnel = createTunnel({
      channel,
      agentVersion: result.agentVersion,
      properties: result.properties,
      payloadSize: options.payloadSize,
      paceMs: options.paceMs,
      log,
      onConnectError: (message) => log?.warn(`port ${this.port}: ${message}`),
    });
    this.tunnel = tunnel;
    for (const [type, payload] of this.early.splice(0)) tunnel.handle(type, payload);
    const ended = this.lost.then(({ reason }) => {
      tunnel.close();
      channel.close();
      return this.stopping ? new Promise<string>(() => {}) : reason;
    });
    return { sessionId: this.sessionId, channel, tunnel, agentVersion: result.agentVersion, ended, stop: () => this.stop(tunnel, result.agentVersion) };
  }

  private async stop(tunnel: Tunnel, agentVersion: string): Promise<boolean> {
    if (this.stopping) return true;
    this.stopping = true;
    tunnel.close();
    const confirmed =
      (await this.sendTerminateFlag(agentVersion)) ||
      (await terminateSession(this.options.clients.ssm, this.sessionId).then(
        () => true,
        () => false,
      ));
    this.channel.close();
    return confirmed;
  }

  /** Agents newer than 2.3.722.0 end the session on the TerminateSession flag; older ones need the API. */
  private async sendTerminateFlag(agentVersion: string): Promise<boolean> {
    const { channel } = this;
    if (!channel.connected || !endsOnTerminateFlag(agentVersion)) return false;
    channel.send(PayloadType.Flag, buildFlagPayload(PortFlag.TerminateSession));
    // The agent acknowledges the flag, or ends the session (channel_closed) before it does.
    const flushed = await Promise.race([channel.flush(2000), this.lost.then(() => true)]);
    return flushed || this.closedByService;
  }
}

/**
 * The agent (3.3.4851.0 and newer) refuses a remote host that resolves to loopback or an AWS
 * link-local endpoint; its text alone does not say what to do instead.
 */
export function explainRefusal(message: string): string {
  const forbidden = /Forwarding to IP address (\S+) is forbidden\./.exec(message);
  if (!forbidden) return message;
  return `${forbidden[0]} The agent does not forward to loopback or to AWS's link-local endpoints; for a port on the target itself, forward without a remote host (AWS-StartPortForwardingSession).`;
}
