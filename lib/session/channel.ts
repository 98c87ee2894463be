// The data channel of one session (docs/session-protocol.md §2): the WebSocket and its
// OpenDataChannelInput, start/pause_publication, channel_closed, and ResumeSession reconnects that
// lose no byte. Its two halves of reliability are beside it: receive.ts (an ack for every message,
// the reorder buffer, in-order delivery) and retransmit.ts (sequence numbers, RTO-based resends, a
// send window instead of the plugin's sleeps, and a pacer under MGS's per-session message limit).
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import WebSocket from "ws";
import { isLoopbackHost } from "../address.ts";
import type { SessionGrant } from "../aws/sessions.ts";
import type { Logger } from "../log.ts";
import { decodeFrame, encodeAck, encodeFrame, type Frame, MessageType, parseAckPayload, parseChannelClosed } from "./frames.ts";
import { createReceiver, type Receiver } from "./receive.ts";
import { createRetransmitter, type Retransmitter } from "./retransmit.ts";
import { CLIENT_VERSION } from "./versions.ts";

export { REORDER_LIMIT_BYTES } from "./receive.ts";
/** The largest WebSocket message we take (the agent sends ≤1 KiB, the local cloud unpaced 32 KiB); a larger one closes the connection (1009). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Messages in flight from the oldest unacknowledged one: ≈2.3 MB of 1 KiB payloads, many round trips of loopback (a loss is resent within one). */
export const DEFAULT_SEND_WINDOW = 2048;
/**
 * Stream-data messages a second we send at most: MGS cuts a session that stays above about 1000
 * (pause_publication, then the WebSocket closes). Resends are counted inside this rate; the tenth
 * below the limit is a margin for the pacer's bursts and for timing between us and MGS.
 */
export const DEFAULT_MESSAGES_PER_SECOND = 900;
const PING_INTERVAL_MS = 5 * 60_000;
const RECONNECT_ATTEMPTS = 5;

export interface DataChannelOptions {
  grant: SessionGrant;
  /** ssm:ResumeSession: a fresh grant, or undefined when the session is gone. */
  resume: () => Promise<SessionGrant | undefined>;
  /** Headers for the upgrade request (SigV4), or {} to connect unsigned. */
  upgradeHeaders?: (streamUrl: string) => Promise<Record<string, string>>;
  clientVersion?: string;
  /** Messages in flight, from the oldest unacknowledged one on, before send() says to wait; default 2048. */
  sendWindow?: number;
  /** The pacer: stream-data messages per second, resends included; default 900; Infinity = unpaced (tests and benchmarks only). */
  messagesPerSecond?: number;
  log?: Logger;
}

/**
 * connecting: open() has not finished; open: a WebSocket carries the session; resuming: it was lost
 * and ResumeSession is being tried; closed: for good (close(), channel_closed, or resume failed).
 */
export type DataChannelState = "connecting" | "open" | "resuming" | "closed";

export interface DataChannelEvents {
  /** A stream-data message, in sequence order, exactly once. */
  payload: [payloadType: number, payload: Buffer];
  /** The agent sent channel_closed: the session ended on its side. */
  closed: [output: string];
  /** The connection is lost for good: the session is gone or could not be resumed. */
  gone: [reason: string];
  /** send() may continue. */
  drain: [];
  /** A lost WebSocket was replaced through ResumeSession. */
  reconnected: [];
}

export class DataChannel extends EventEmitter<DataChannelEvents> {
  readonly sessionId: string;
  private current: DataChannelState = "connecting";
  private ws: WebSocket | undefined;
  private grant: SessionGrant;
  private readonly in: Receiver;
  private readonly out: Retransmitter;
  private inputPaused = false;
  private pingTimer: NodeJS.Timeout | undefined;
  /** The current WebSocket's TCP socket, and whether it is corked until the end of this tick. */
  private socket: Socket | undefined;
  private corked = false;
  private readonly counts = { reconnects: 0, pausedPublication: 0 };

  constructor(private readonly opts: DataChannelOptions) {
    super();
    this.grant = opts.grant;
    this.sessionId = opts.grant.sessionId;
    this.in = createReceiver({
      deliver: (frame) => this.emit("payload", frame.payloadType, frame.payload),
      acknowledge: (frame) => this.ack(frame),
      isOpen: () => this.current !== "closed",
    });
    this.out = createRetransmitter({
      window: opts.sendWindow ?? DEFAULT_SEND_WINDOW,
      messagesPerSecond: opts.messagesPerSecond ?? DEFAULT_MESSAGES_PER_SECOND,
      transmit: (frame) => this.transmit(frame),
      onDrain: () => this.emit("drain"),
    });
  }

  get state(): DataChannelState {
    return this.current;
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** received and duplicates (messages the agent sent again after we had them: acked again and dropped), reconnects, pause_publications. */
  get stats(): Receiver["stats"] & DataChannel["counts"] {
    return { ...this.in.stats, ...this.counts };
  }

  /** Connects and sends OpenDataChannelInput; rejects if the WebSocket cannot be opened. */
  async open(): Promise<void> {
    await this.connect(this.grant);
    if (this.current === "connecting") this.current = "open";
    this.pingTimer = setInterval(() => this.ws?.ping("keepalive"), PING_INTERVAL_MS).unref();
  }

  /** Queues a stream-data message; false when the send window is full (wait for "drain"). */
  send(payloadType: number, payload: Buffer): boolean {
    if (this.current === "closed") return false;
    return this.out.send((seq) => encodeFrame({ messageType: MessageType.InputStreamData, sequenceNumber: seq, payloadType, payload }));
  }

  /** True while the send window has room; when false, "drain" follows once it has. */
  get writable(): boolean {
    return this.current !== "closed" && this.out.hasRoom();
  }

  /** Messages sent and resent (fast retransmits and timeouts among them), for tests and the benchmark. */
  get sendStats(): Retransmitter["stats"] {
    return this.out.stats;
  }

  get unacknowledged(): number {
    return this.out.size;
  }

  /** Stops reading the WebSocket (TCP pushes back on the sender) until resumeInput(). */
  pauseInput(): void {
    this.inputPaused = true;
    this.ws?.pause();
  }

  resumeInput(): void {
    this.inputPaused = false;
    this.ws?.resume();
  }

  /** Resolves when every message sent so far is acknowledged (or after timeoutMs). */
  flush(timeoutMs: number): Promise<boolean> {
    return this.out.whenEmpty(timeoutMs);
  }

  /** Closes the WebSocket for good; the session itself is ended by the caller (flag or API). */
  close(): void {
    if (this.current === "closed") return;
    this.current = "closed";
    clearInterval(this.pingTimer);
    this.out.stop();
    const ws = this.ws;
    this.ws = undefined;
    this.socket = undefined;
    if (ws) {
      ws.removeAllListeners("message");
      ws.on("error", () => {});
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
      setTimeout(() => ws.terminate(), 2000).unref();
    }
  }

  private transmit(frame: Buffer): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    this.corkForTick();
    ws.send(frame, { binary: true });
    return true;
  }

  /**
   * Every frame and ack written in one tick leaves in one socket write: one writev per message
   * (ws writes each frame on its own) was a third of the CPU time of an upload.
   */
  private corkForTick(): void {
    const socket = this.socket;
    if (this.corked || !socket) return;
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private async connect(grant: SessionGrant): Promise<void> {
    assertStreamUrl(grant.streamUrl, this.sessionId);
    const headers = (await this.opts.upgradeHeaders?.(grant.streamUrl)) ?? {};
    const ws = new WebSocket(grant.streamUrl, { headers, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES });
    let socket: Socket | undefined;
    ws.once("upgrade", (res) => (socket = res.socket as Socket));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`the data channel refused the connection: HTTP ${res.statusCode}`)));
    });
    if (this.current === "closed") {
      ws.terminate();
      return;
    }
    ws.removeAllListeners("error");
    ws.on("error", (error) => this.opts.log?.debug(`data channel ${this.sessionId}: ${error.message}`));
    ws.on("message", (data, isBinary) => {
      if (isBinary) this.receive(data as Buffer);
    });
    ws.on("close", (code, reason) => this.onClose(ws, code, reason.toString()));
    ws.send(
      JSON.stringify({
        MessageSchemaVersion: "1.0",
        RequestId: randomUUID(),
        TokenValue: grant.tokenValue,
        ClientId: randomUUID(),
        ClientVersion: this.opts.clientVersion ?? CLIENT_VERSION,
      }),
    );
    this.ws = ws;
    this.socket = socket;
    if (this.inputPaused) ws.pause();
    // A pause_publication belonged to the old connection.
    this.out.resume();
    // Whatever was unacknowledged on the old connection goes again, in order.
    this.out.retransmitAll();
  }

  private receive(data: Buffer): void {
    let frame: Frame;
    try {
      frame = decodeFrame(data);
    } catch (error) {
      // A corrupt frame is not acked: the agent resends it.
      this.opts.log?.debug(`data channel ${this.sessionId}: dropped a frame: ${(error as Error).message}`);
      return;
    }
    switch (frame.messageType) {
      case MessageType.OutputStreamData:
        return this.in.accept(frame);
      case MessageType.Acknowledge:
        // The agent's rule: any ack ends a pause_publication.
        this.out.resume();
        return this.out.acknowledge(parseAckPayload(frame.payload).AcknowledgedMessageSequenceNumber);
      case MessageType.ChannelClosed: {
        const { output } = parseChannelClosed(frame.payload);
        this.close();
        this.emit("closed", output);
        return;
      }
      case MessageType.PausePublication:
        this.counts.pausedPublication++;
        return this.out.pause();
      case MessageType.StartPublication:
        return this.out.resume();
    }
  }

  private ack(frame: Frame): void {
    if (!this.ws) return;
    this.corkForTick();
    this.ws.send(encodeAck(frame), { binary: true });
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws || this.current !== "open") return;
    this.ws = undefined;
    this.opts.log?.debug(`data channel ${this.sessionId} closed (${code} ${reason}); resuming the session`);
    this.current = "resuming";
    void this.reconnect();
  }

  /** ResumeSession, then a new WebSocket; up to 5 tries, 100–199 ms doubling to 5 s apart. */
  private async reconnect(): Promise<void> {
    let delay = 100 + Math.floor(Math.random() * 100);
    let lastError = "";
    for (let attempt = 1; attempt <= RECONNECT_ATTEMPTS && this.current === "resuming"; attempt++) {
      try {
        const grant = await this.opts.resume();
        if (!grant) return this.lose(`session ${this.sessionId} is gone (it timed out or was terminated)`);
        if (this.current !== "resuming") return;
        this.grant = grant;
        await this.connect(grant);
        if (this.current !== "resuming") return;
        this.current = "open";
        this.counts.reconnects++;
        this.emit("reconnected");
        return;
      } catch (error) {
        lastError = (error as Error).message;
        this.opts.log?.debug(`data channel ${this.sessionId}: reconnect attempt ${attempt} failed: ${lastError}`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
    this.lose(`could not reconnect to session ${this.sessionId}: ${lastError}`);
  }

  private lose(reason: string): void {
    if (this.current === "closed") return;
    this.close();
    this.emit("gone", reason);
  }
}

/**
 * The token travels in the first message on the WebSocket: never in clear text off this machine.
 * Session Manager's stream URLs are wss://; ws:// is accepted only for a loopback endpoint (a local cloud).
 */
export function assertStreamUrl(streamUrl: string, sessionId: string): void {
  let url: URL;
  try {
    url = new URL(streamUrl);
  } catch {
    throw new Error(`The stream URL of session ${sessionId} is not a URL; nothing was sent.`);
  }
  if (url.protocol === "wss:" || (url.protocol === "ws:" && isLoopbackHost(url.hostname))) return;
  throw new Error(
    `Refusing the stream URL of session ${sessionId} (${url.protocol}//${url.host}): the session token would travel in clear text; nothing was sent. ` +
      `Session Manager's stream URLs are wss://; check AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_SSM / _ECS.`,
  );
}
