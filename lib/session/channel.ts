// The data channel of one session (reference/session-protocol.md §2): the WebSocket and its
// OpenDataChannelInput, per-direction sequence numbers, an ack for every message, the reorder
// buffer, RTO-based retransmission, start/pause_publication, channel_closed, and ResumeSession
// reconnects that lose no byte. Unlike the plugin it keeps a send window instead of sleeping.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import WebSocket from "ws";
import { isLoopbackHost } from "../address.ts";
import type { SessionGrant } from "../aws/sessions.ts";
import type { Logger } from "../log.ts";
import { decodeFrame, encodeAck, PAYLOAD_OFFSET, encodeFrame, type Frame, MessageType, parseAckPayload, parseChannelClosed } from "./frames.ts";
import { createRetransmitter, type Retransmitter } from "./retransmit.ts";

/** Reported to the agent: > 1.2.331.0 so it disables smux keepalive, as a current plugin would. */
export const CLIENT_VERSION = "1.2.764.0";
/**
 * What an agent may make us hold: out-of-order messages up to 16 MiB, headers counted (the plugin holds
 * 10 000 messages of ≤1 KiB), each WebSocket message up to 1 MiB (the agent sends ≤1 KiB, the local
 * cloud unpaced 32 KiB). Beyond the budget a message is not acknowledged, so the agent resends it.
 */
export const REORDER_LIMIT_BYTES = 16 * 1024 * 1024;
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Messages in flight from the oldest unacknowledged one: ≈2.3 MB of 1 KiB payloads, many round trips of loopback (a loss is resent within one). */
export const DEFAULT_SEND_WINDOW = 2048;
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
  log?: Logger;
}

/**
 * Events: "payload" (payloadType, payload) in sequence order, exactly once; "closed" (output) on
 * channel_closed; "gone" (reason) when the connection is lost for good; "drain" when send() may
 * continue; "reconnected".
 */
export class DataChannel extends EventEmitter {
  readonly sessionId: string;
  private ws: WebSocket | undefined;
  private grant: SessionGrant;
  private expectedSeq = 0;
  private readonly reorder = new Map<number, Frame>();
  private reorderBytes = 0;
  private readonly out: Retransmitter;
  private ended = false;
  private inputPaused = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnecting = false;
  /** The current WebSocket's TCP socket, and whether it is corked until the end of this tick. */
  private socket: Socket | undefined;
  private corked = false;
  readonly stats = { received: 0, duplicates: 0, reconnects: 0 };

  constructor(private readonly opts: DataChannelOptions) {
    super();
    this.grant = opts.grant;
    this.sessionId = opts.grant.sessionId;
    this.out = createRetransmitter({
      window: opts.sendWindow ?? DEFAULT_SEND_WINDOW,
      transmit: (frame) => this.transmit(frame),
      onDrain: () => this.emit("drain"),
    });
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Connects and sends OpenDataChannelInput; rejects if the WebSocket cannot be opened. */
  async open(): Promise<void> {
    await this.connect(this.grant);
    this.pingTimer = setInterval(() => this.ws?.ping("keepalive"), PING_INTERVAL_MS).unref();
  }

  /** Queues a stream-data message; false when the send window is full (wait for "drain"). */
  send(payloadType: number, payload: Buffer): boolean {
    if (this.ended) return false;
    return this.out.send((seq) => encodeFrame({ messageType: MessageType.InputStreamData, sequenceNumber: seq, payloadType, payload }));
  }

  /** True while the send window has room; when false, "drain" follows once it has. */
  get writable(): boolean {
    return !this.ended && this.out.hasRoom();
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
    if (this.ended) return;
    this.ended = true;
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
    if (this.ended) {
      ws.terminate();
      return;
    }
    ws.removeAllListeners("error");
    ws.on("error", (error) => this.opts.log?.debug(`data channel ${this.sessionId}: ${error.message}`));
    ws.on("message", (data, isBinary) => {
      if (isBinary) this.receive(data as Buffer);
    });
    ws.on("close", (code, reason) => this.onClose(ws, code, reason.toString()));
    ws.send(JSON.stringify({
      MessageSchemaVersion: "1.0",
      RequestId: randomUUID(),
      TokenValue: grant.tokenValue,
      ClientId: randomUUID(),
      ClientVersion: this.opts.clientVersion ?? CLIENT_VERSION,
    }));
    this.ws = ws;
    this.socket = socket;
    if (this.inputPaused) ws.pause();
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
        return this.receiveData(frame);
      case MessageType.Acknowledge:
        return this.out.acknowledge(parseAckPayload(frame.payload).AcknowledgedMessageSequenceNumber);
      case MessageType.ChannelClosed: {
        const { output } = parseChannelClosed(frame.payload);
        this.close();
        this.emit("closed", output);
        return;
      }
      case MessageType.PausePublication:
        return this.out.pause();
      case MessageType.StartPublication:
        return this.out.resume();
    }
  }

  private receiveData(frame: Frame): void {
    const seq = frame.sequenceNumber;
    if (seq < this.expectedSeq) {
      // Our ack was lost: say it again (the agent does; the plugin would not).
      this.stats.duplicates++;
      this.ack(frame);
      return;
    }
    if (seq > this.expectedSeq) {
      if (!this.reorder.has(seq)) {
        if (this.reorderBytes + heldBytes(frame) > REORDER_LIMIT_BYTES) return;
        this.reorder.set(seq, frame);
        this.reorderBytes += heldBytes(frame);
      }
      this.ack(frame);
      return;
    }
    this.deliver(frame);
    this.ack(frame);
    for (let next = this.reorder.get(this.expectedSeq); next && !this.ended; next = this.reorder.get(this.expectedSeq)) {
      this.reorder.delete(this.expectedSeq);
      this.reorderBytes -= heldBytes(next);
      this.deliver(next);
    }
  }

  private deliver(frame: Frame): void {
    this.expectedSeq++;
    this.stats.received++;
    this.emit("payload", frame.payloadType, frame.payload);
  }

  private ack(frame: Frame): void {
    if (!this.ws) return;
    this.corkForTick();
    this.ws.send(encodeAck(frame), { binary: true });
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws || this.ended) return;
    this.ws = undefined;
    this.opts.log?.debug(`data channel ${this.sessionId} closed (${code} ${reason}); resuming the session`);
    void this.reconnect();
  }

  /** ResumeSession, then a new WebSocket; up to 5 tries, 100–199 ms doubling to 5 s apart. */
  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    let delay = 100 + Math.floor(Math.random() * 100);
    let lastError = "";
    try {
      for (let attempt = 1; attempt <= RECONNECT_ATTEMPTS && !this.ended; attempt++) {
        try {
          const grant = await this.opts.resume();
          if (!grant) return this.lose(`session ${this.sessionId} is gone (it timed out or was terminated)`);
          if (this.ended) return;
          this.grant = grant;
          await this.connect(grant);
          this.stats.reconnects++;
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
    } finally {
      this.reconnecting = false;
    }
  }

  private lose(reason: string): void {
    if (this.ended) return;
    this.close();
    this.emit("gone", reason);
  }
}

/** A held message's share of the reorder budget: its payload and its header, so empty ones count too. */
function heldBytes(frame: Frame): number {
  return PAYLOAD_OFFSET + frame.payload.length;
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
