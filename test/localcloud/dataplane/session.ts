// One Session Manager session as MGS and the agent see it together: the reliable channel that
// outlives WebSocket connections (resume), the current WebSocket with its fault pipes, and the
// agent half (port or shell) that produces and consumes payloads.
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { buildChannelClosedPayload, encodeFrame, type Frame, isStreamDataFrame, MessageType, PayloadType } from "../../../lib/session/frames.ts";
import { FaultyPipe, strictRules } from "./faults.ts";
import { MessageRateLimit } from "./mgs.ts";
import { type PumpTarget, SOCKET_HIGH_WATER_BYTES } from "./pump.ts";
import { ReliableChannel } from "./reliable.ts";
import type { DataChannelFaults, DataChannelTally, DataPlaneOptions, SessionSpec, SessionState } from "./types.ts";

/** How long after pause_publication a rate-limited WebSocket is closed ("soon after"). */
const RATE_CUT_CLOSE_DELAY_MS = 100;

export interface Agent {
  /** Called once, when the first WebSocket is attached. */
  start(): void;
  /** In-order stream data that no handshake step was waiting for. */
  onPayload(frame: Frame): void;
  stop(): void;
  openStreams(): number;
  mode?: "mux" | "basic";
}

export type AgentFactory = (session: DataSession) => Agent;

/** Why a session ended: the text for channel_closed.Output and for onSessionEnded. */
export interface SessionEnd {
  output: string;
  reason: string;
  /** Refused by the agent's remote-host denylist. */
  denied?: boolean;
}

export class DataSession {
  token: string;
  status: SessionState["status"] = "Connecting";
  bytesIn = 0;
  bytesOut = 0;
  /** Input messages thrown away before the handshake was complete. */
  discarded = 0;
  clientVersion: string | undefined;
  private ws: WebSocket | undefined;
  private outPipe: FaultyPipe | undefined;
  private inPipe: FaultyPipe | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly channel: ReliableChannel;
  private readonly agent: Agent;
  private started = false;
  private readonly waiters = new Map<number, (frame: Frame) => void>();
  private writableWaiters: (() => void)[] = [];
  private readonly drainingSinks = new Set<NodeJS.WritableStream>();
  private socket: Duplex | undefined;
  /** MGS's limit, per direction, for the life of the session (resuming does not refill it). */
  private limits: { in: MessageRateLimit; out: MessageRateLimit } | undefined;
  /** Set between a rate-limit cut's pause_publication and its close. */
  private cutting: WebSocket | undefined;

  constructor(
    readonly spec: SessionSpec,
    token: string,
    readonly opts: DataPlaneOptions,
    private readonly faults: () => DataChannelFaults,
    makeAgent: AgentFactory,
    private readonly onEnd: (session: DataSession, end: SessionEnd) => void,
    private readonly tally?: DataChannelTally,
  ) {
    this.token = token;
    this.channel = new ReliableChannel({
      outType: MessageType.OutputStreamData,
      transmit: (frame) => this.outPipe?.pass(frame),
      onMessage: (frame) => this.dispatch(frame),
      onControl: (frame) => {
        if (frame.messageType === MessageType.PausePublication) this.channel.setPaused(true);
        if (frame.messageType === MessageType.StartPublication) this.channel.setPaused(false);
      },
      ackRaceFraction: () => strictRules(this.faults()).agentDuplicates,
    });
    this.channel.on("ackRaced", () => {
      if (this.tally) this.tally.agentDuplicates++;
    });
    this.agent = makeAgent(this);
  }

  get sessionId(): string {
    return this.spec.sessionId;
  }

  /** Resolved when the session was opened (spec, faults.agentVersions, the data plane's default). */
  get agentVersion(): string {
    return this.spec.agentVersion!;
  }

  get stats(): ReliableChannel["stats"] {
    return this.channel.stats;
  }

  state(): SessionState {
    const { sessionId, target, kind } = this.spec;
    const state: SessionState = {
      sessionId,
      target,
      kind,
      status: this.status,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      openStreams: this.agent.openStreams(),
      agentVersion: this.agentVersion,
    };
    if (this.agent.mode) state.mode = this.agent.mode;
    if (this.clientVersion) state.clientVersion = this.clientVersion;
    return state;
  }

  /**
   * A client passed the OpenDataChannelInput check on `ws`: it replaces any earlier connection.
   * `socket` is its TCP socket, corked for a tick at a time so that the frames and acks of one
   * tick leave in one write (ws writes each frame on its own).
   */
  attach(ws: WebSocket, clientVersion: string | undefined, socket?: Duplex): void {
    if (this.status === "Terminated") return void ws.close(1000, "Session terminated");
    this.detach(1000, "Replaced by a new connection");
    this.ws = ws;
    this.socket = socket;
    this.clientVersion ??= clientVersion;
    this.status = "Connected";
    // A new connection is a new publication: the agent clears Pause on the first ack anyway.
    this.channel.setPaused(false);
    let corked = false;
    this.outPipe = new FaultyPipe(
      "out",
      this.faults,
      (frame) => {
        if (ws.readyState !== ws.OPEN) return;
        if (this.overLimit("out", frame)) return this.cutForRate(ws, "out");
        if (socket && !corked) {
          corked = true;
          socket.cork();
          process.nextTick(() => {
            corked = false;
            socket.uncork();
          });
        }
        ws.send(frame);
      },
      Math.random,
      this.tally,
    );
    const inPipe = new FaultyPipe("in", this.faults, (frame) => this.channel.receive(frame), Math.random, this.tally);
    this.inPipe = inPipe;
    ws.on("message", (data, isBinary) => {
      if (!isBinary || this.ws !== ws) return;
      if (this.overLimit("in", data as Buffer)) return this.cutForRate(ws, "in");
      inPipe.pass(data as Buffer);
    });
    ws.on("close", () => {
      if (this.ws !== ws) return;
      this.detach();
      if (this.status !== "Terminated") this.status = "Disconnected";
    });
    const closeAfter = this.faults().closeAfterSeconds;
    if (closeAfter !== undefined) {
      // MGS recycles connections about hourly with close 1000 "Bye" (§2.6, plugin issue #135).
      this.closeTimer = setTimeout(() => {
        if (this.tally) this.tally.closed++;
        this.detach(1000, "Bye");
        this.status = "Disconnected";
      }, closeAfter * 1000);
    }
    if (!this.started) {
      this.started = true;
      this.agent.start();
    } else {
      this.channel.resendAllUnacked();
    }
  }

  // --- used by the agents ---

  send(payloadType: number, payload: Buffer): void {
    if (this.status === "Terminated") return;
    if (payloadType === PayloadType.Output) this.bytesOut += payload.length;
    this.channel.send(payloadType, payload);
  }

  /**
   * undefined while the WebSocket can take more, else resolves when it can: the agent has no send
   * window, only a write that blocks on a full connection. Disconnected, output goes on into the
   * resend buffer (≤100 000 messages).
   */
  whenWritable(): Promise<void> | undefined {
    const socket = this.socket;
    if (!socket || socket.writableLength < SOCKET_HIGH_WATER_BYTES || this.status === "Terminated") return undefined;
    return new Promise((resolve) => {
      this.writableWaiters.push(resolve);
      if (this.writableWaiters.length === 1) {
        const wake = () => {
          socket.off("drain", wake);
          socket.off("close", wake);
          this.wakeWriters();
        };
        socket.on("drain", wake);
        socket.on("close", wake);
      }
    });
  }

  /** Where pumpToChannel puts a local source's bytes: Output payloads of this session. */
  pumpTarget(): PumpTarget {
    return {
      send: (chunk) => this.send(PayloadType.Output, chunk),
      whenWritable: () => this.whenWritable(),
      paced: () => this.paced(),
    };
  }

  paced(): boolean {
    return strictRules(this.faults()).agentPacing;
  }

  /** The AWS rules in force now (faults may switch each off). */
  rules(): ReturnType<typeof strictRules> {
    return strictRules(this.faults());
  }

  /** Resolves with the next in-order payload of `payloadType`, or rejects after `timeoutMs`. */
  expectPayload(payloadType: number, timeoutMs: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(payloadType);
        reject(new Error(`no payload type ${payloadType} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(payloadType, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  /**
   * Writes client input to a local sink; a full sink holds input back until it drains or
   * closes (a target dropped by DisconnectToPort never drains). One wait per sink; input moves
   * again once every full sink has drained or closed.
   */
  writeInput(sink: NodeJS.WritableStream, data: Buffer): void {
    if (sink.write(data) || this.drainingSinks.has(sink)) return;
    this.drainingSinks.add(sink);
    this.pauseInput();
    const release = () => {
      sink.off("drain", release);
      sink.off("close", release);
      this.drainingSinks.delete(sink);
      if (this.drainingSinks.size === 0) this.resumeInput();
    };
    sink.on("drain", release);
    sink.on("close", release);
  }

  /**
   * Holds the client's stream data back (kept unacked, so the client's send window pushes back),
   * while its acks are still read: our output window waits for them (ReliableChannel.holdDelivery).
   */
  pauseInput(): void {
    this.channel.holdDelivery(true);
  }

  resumeInput(): void {
    this.channel.holdDelivery(false);
  }

  /** Resolves once the client confirmed every sent message (a missed ack counts: it came), or after `timeoutMs`. */
  async allAcked(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.channel.unconfirmedCount > 0 && Date.now() < deadline && this.status !== "Terminated") {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Input the agent acked and threw away before its handshake was complete. */
  discardEarly(): void {
    this.discarded++;
    if (this.tally) this.tally.handshakeDiscarded++;
  }

  /** Ends the session: channel_closed with `output`, then the WebSocket closes (§2.3). */
  terminate(end: SessionEnd): void {
    if (this.status === "Terminated") return;
    this.status = "Terminated";
    if (end.denied && this.tally) this.tally.deniedHosts++;
    this.agent.stop();
    this.channel.close();
    this.outPipe?.flush();
    const ws = this.ws;
    if (ws && ws.readyState === ws.OPEN) {
      ws.send(encodeFrame({ messageType: MessageType.ChannelClosed, payload: buildChannelClosedPayload(this.sessionId, end.output) }));
    }
    this.detach(1000, "Session terminated");
    this.wakeWriters();
    this.onEnd(this, end);
  }

  private dispatch(frame: Frame): void {
    const waiter = this.waiters.get(frame.payloadType);
    if (waiter) {
      this.waiters.delete(frame.payloadType);
      return waiter(frame);
    }
    if (frame.payloadType === PayloadType.Output) this.bytesIn += frame.payload.length;
    this.agent.onPayload(frame);
  }

  /** Counts a stream-data frame against MGS's limit; true when its sender has been over it too long. */
  private overLimit(direction: "in" | "out", frame: Buffer): boolean {
    const perSecond = this.rules().mgsRateLimit;
    if (perSecond <= 0 || !isStreamDataFrame(frame)) return false;
    this.limits ??= { in: new MessageRateLimit(perSecond), out: new MessageRateLimit(perSecond) };
    return this.limits[direction].take();
  }

  /**
   * MGS's answer to a sender that stayed over the limit: pause_publication to that side, then the
   * WebSocket closed (1011). Frames in between are not passed on. The session stays resumable.
   */
  private cutForRate(ws: WebSocket, direction: "in" | "out"): void {
    if (this.cutting === ws) return;
    this.cutting = ws;
    if (this.tally) this.tally.rateLimited++;
    if (direction === "in") {
      if (ws.readyState === ws.OPEN) ws.send(encodeFrame({ messageType: MessageType.PausePublication, payload: Buffer.alloc(0) }));
    } else this.channel.setPaused(true);
    setTimeout(() => {
      if (this.ws !== ws) return;
      this.detach(1011, "Rate exceeded");
      if (this.status !== "Terminated") this.status = "Disconnected";
    }, RATE_CUT_CLOSE_DELAY_MS);
  }

  private detach(code?: number, reason?: string): void {
    clearTimeout(this.closeTimer);
    this.outPipe?.dispose();
    this.inPipe?.dispose();
    const ws = this.ws;
    this.ws = undefined;
    this.socket = undefined;
    this.outPipe = undefined;
    this.inPipe = undefined;
    if (ws && code !== undefined && ws.readyState !== ws.CLOSED) ws.close(code, reason);
  }

  private wakeWriters(): void {
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const wake of waiters) wake();
  }
}
