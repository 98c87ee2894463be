// A frame-level Session Manager client for tests, until the native client exists: it acks
// everything, re-acks duplicates, reorders, retransmits (the same ReliableChannel as the emulator),
// answers the handshake (KMS included), reconnects through a ResumeSession callback, and exposes
// the session as a byte Duplex — or, in mux mode, as smux streams.
import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { Duplex } from "node:stream";
import { WebSocket } from "ws";
import {
  type EncChallenge,
  encodeFrame,
  type Frame,
  type HandshakeRequest,
  type HandshakeResponse,
  MessageType,
  parseChannelClosed,
  parseFlagPayload,
  PayloadType,
  buildFlagPayload,
  type ProcessedClientAction,
} from "../../../lib/session/frames.ts";
import { HANDSHAKE_SETTLE_MS } from "../../../lib/session/handshake.ts";
import { SmuxSession, type SmuxStream } from "../../../lib/session/smux.ts";
import { decryptGcm, encryptGcm, kmsContext, type SessionKeys, splitDataKey } from "./kms.ts";
import { ReliableChannel } from "./reliable.ts";
import { compareVersions, LOCAL_PORT_FORWARDING } from "./versions.ts";

/** The driver's own send window: unacked input bytes before it waits for acks. */
const SEND_WINDOW_BYTES = 8 * 1024 * 1024;
/** Like the native client's default: below MGS's 1000 messages/s. */
const DRIVER_MESSAGES_PER_SECOND = 900;

export interface DriverOptions {
  sessionId: string;
  streamUrl: string;
  tokenValue: string;
  /** Reported in OpenDataChannelInput and HandshakeResponse. */
  clientVersion?: string;
  /** Bytes per input_stream_data payload. */
  chunkSize?: number;
  /** Wait after HandshakeComplete before `ready` (default the native client's HANDSHAKE_SETTLE_MS). */
  settleMs?: number;
  /** Stream-data messages per second, paced below MGS's limit like the native client; Infinity = unpaced. Default 900. */
  messagesPerSecond?: number;
  /** ResumeSession: fresh credentials after the WebSocket closed without channel_closed. */
  resume?: () => { streamUrl: string; tokenValue: string } | undefined;
  /** kms:GenerateDataKey (64 bytes) for KMS sessions. */
  generateDataKey?: (keyId: string, context: Record<string, string>) => Promise<{ ciphertext: Buffer; plaintext: Buffer }>;
  target?: string;
}

export type DriverMode = "mux" | "basic" | "shell";

/** Events: "flag" (number), "closed" (output), "reconnected". */
export class SessionDriver extends EventEmitter {
  readonly channel: ReliableChannel;
  readonly bytes: Duplex;
  mode: DriverMode | undefined;
  handshakeRequest: HandshakeRequest | undefined;
  customerMessage: string | undefined;
  readonly flags: number[] = [];
  /** Output payloads as they arrived (before decryption). */
  readonly outputStats = { payloads: 0, maxPayload: 0 };
  readonly ready: Promise<DriverMode>;
  readonly closed: Promise<string>;
  reconnects = 0;
  /** Close code and reason of every WebSocket that closed under us. */
  readonly closes: { code: number; reason: string }[] = [];
  /** pause_publication messages from MGS. */
  pausePublications = 0;
  private ws: WebSocket | undefined;
  private mux: SmuxSession | undefined;
  private keys: SessionKeys | undefined;
  private markReady!: (mode: DriverMode) => void;
  private markClosed!: (output: string) => void;
  private ended = false;
  private readerPaused = false;
  private readonly clientVersion: string;

  private constructor(private readonly opts: DriverOptions) {
    super();
    this.clientVersion = opts.clientVersion ?? "1.2.677.0";
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.channel = new ReliableChannel({
      outType: MessageType.InputStreamData,
      transmit: (frame) => {
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
      },
      onMessage: (frame) => this.onMessage(frame),
      onControl: (frame) => {
        if (frame.messageType === MessageType.ChannelClosed) this.onChannelClosed(parseChannelClosed(frame.payload).output);
        if (frame.messageType === MessageType.PausePublication) this.pausePublications++;
      },
      maxResends: 3000,
    });
    this.bytes = this.makeByteStream(opts.chunkSize ?? 32 * 1024);
  }

  static async connect(opts: DriverOptions): Promise<SessionDriver> {
    const driver = new SessionDriver(opts);
    await driver.open(opts.streamUrl, opts.tokenValue);
    return driver;
  }

  /** Mux mode: a new smux stream (SYN), like the plugin does per accepted local connection. */
  openStream(): SmuxStream {
    if (!this.mux) throw new Error(`openStream in ${this.mode ?? "unknown"} mode`);
    return this.mux.openStream();
  }

  sendFlag(flag: number): void {
    this.channel.send(PayloadType.Flag, buildFlagPayload(flag));
  }

  sendSize(cols: number, rows: number): void {
    this.channel.send(PayloadType.Size, Buffer.from(JSON.stringify({ cols, rows })));
  }

  /** Drops the connection as a network failure would (no close handshake); resume follows. */
  breakConnection(): void {
    this.ws?.terminate();
  }

  async close(): Promise<void> {
    this.ended = true;
    this.channel.close();
    this.mux?.destroy();
    this.bytes.destroy();
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      ws.close();
      await Promise.race([once(ws, "close"), new Promise((r) => setTimeout(r, 2000))]);
    }
  }

  private async open(streamUrl: string, tokenValue: string): Promise<void> {
    const ws = new WebSocket(streamUrl, { perMessageDeflate: false });
    this.ws = ws;
    ws.on("message", (data, isBinary) => {
      if (isBinary && this.ws === ws) this.channel.receive(data as Buffer);
    });
    ws.on("error", () => {});
    ws.on("close", (code, reason) => {
      this.closes.push({ code, reason: reason.toString() });
      if (this.ws === ws && !this.ended) void this.reconnect();
    });
    await once(ws, "open");
    if (this.readerPaused) ws.pause();
    ws.send(
      JSON.stringify({
        MessageSchemaVersion: "1.0",
        RequestId: randomUUID(),
        TokenValue: tokenValue,
        ClientId: randomUUID(),
        ClientVersion: this.clientVersion,
      }),
    );
  }

  private async reconnect(): Promise<void> {
    const fresh = this.opts.resume?.();
    if (!fresh) return this.onChannelClosed("");
    this.reconnects++;
    await new Promise((r) => setTimeout(r, 100));
    try {
      await this.open(fresh.streamUrl, fresh.tokenValue);
    } catch {
      return void this.reconnect();
    }
    this.channel.resendAllUnacked();
    this.emit("reconnected");
  }

  private onChannelClosed(output: string): void {
    if (this.ended) return;
    this.ended = true;
    this.channel.close();
    this.bytes.push(null);
    this.markClosed(output);
    this.emit("closed", output);
    this.ws?.close();
  }

  private onMessage(frame: Frame): void {
    switch (frame.payloadType) {
      case PayloadType.HandshakeRequest:
        return void this.answerHandshake(JSON.parse(frame.payload.toString("utf8")) as HandshakeRequest);
      case PayloadType.EncChallengeRequest:
        return this.answerChallenge(JSON.parse(frame.payload.toString("utf8")) as EncChallenge);
      case PayloadType.HandshakeComplete:
        this.customerMessage = (JSON.parse(frame.payload.toString("utf8")) as { CustomerMessage?: string }).CustomerMessage;
        // Like the native client: input that beats the agent's own "handshake complete" is thrown away.
        return void setTimeout(() => this.startMode(), this.opts.settleMs ?? HANDSHAKE_SETTLE_MS);
      case PayloadType.Flag: {
        const flag = parseFlagPayload(frame.payload);
        this.flags.push(flag);
        this.emit("flag", flag);
        return;
      }
      case PayloadType.Output:
      case PayloadType.StdErr:
      case PayloadType.ExitCode: {
        // No handshake and an Output: a Standard_Stream shell session (plugin ProcessFirstMessage).
        if (!this.mode) this.startMode();
        this.outputStats.payloads++;
        this.outputStats.maxPayload = Math.max(this.outputStats.maxPayload, frame.payload.length);
        const data = this.keys ? decryptGcm(this.keys.agentKey, frame.payload) : frame.payload;
        if (!this.bytes.push(data)) this.pauseReader();
        return;
      }
    }
  }

  private async answerHandshake(request: HandshakeRequest): Promise<void> {
    this.handshakeRequest = request;
    const processed: ProcessedClientAction[] = [];
    for (const action of request.RequestedClientActions) {
      if (action.ActionType === "SessionType") {
        processed.push({ ActionType: action.ActionType, ActionStatus: 1, ActionResult: null, Error: "" });
      } else if (action.ActionType === "KMSEncryption" && this.opts.generateDataKey) {
        const context = kmsContext(this.opts.sessionId, this.opts.target ?? "");
        const key = await this.opts.generateDataKey(action.ActionParameters.KMSKeyId, context);
        this.keys = splitDataKey(key.plaintext);
        processed.push({ ActionType: action.ActionType, ActionStatus: 1, ActionResult: { KMSCipherTextKey: key.ciphertext.toString("base64") }, Error: "" });
      } else {
        processed.push({
          ActionType: action.ActionType,
          ActionStatus: 2,
          ActionResult: null,
          Error: `${action.ActionType} is not supported by the test driver`,
        });
      }
    }
    const response: HandshakeResponse = { ClientVersion: this.clientVersion, ProcessedClientActions: processed, Errors: null };
    this.channel.send(PayloadType.HandshakeResponse, Buffer.from(JSON.stringify(response)));
  }

  private answerChallenge(request: EncChallenge): void {
    const keys = this.keys!;
    const secret = decryptGcm(keys.agentKey, Buffer.from(request.Challenge, "base64"));
    const answer: EncChallenge = { Challenge: encryptGcm(keys.clientKey, secret).toString("base64") };
    this.channel.send(PayloadType.EncChallengeResponse, Buffer.from(JSON.stringify(answer)));
  }

  /** The plugin's choice (src/version/versionvalidator.go, §4.2): mux iff LocalPortForwarding and AgentVersion > 3.0.196.0. */
  private startMode(): void {
    if (this.mode) return;
    const action = this.handshakeRequest?.RequestedClientActions.find((a) => a.ActionType === "SessionType");
    const sessionType = action?.ActionType === "SessionType" ? action.ActionParameters : undefined;
    if (!sessionType || sessionType.SessionType !== "Port") this.mode = "shell";
    else {
      const type = (sessionType.Properties as { type?: string }).type;
      const agentVersion = this.handshakeRequest!.AgentVersion;
      const sameShape = agentVersion.split(".").length === "3.0.196.0".split(".").length;
      this.mode = type === LOCAL_PORT_FORWARDING && sameShape && compareVersions(agentVersion, "3.0.196.0") > 0 ? "mux" : "basic";
    }
    if (this.mode === "mux") {
      const mux = new SmuxSession();
      this.mux = mux;
      this.bytes.pipe(mux).pipe(this.bytes);
    }
    this.markReady(this.mode);
  }

  private pauseReader(): void {
    this.readerPaused = true;
    this.ws?.pause();
  }

  private makeByteStream(chunkSize: number): Duplex {
    return new Duplex({
      readableHighWaterMark: 1024 * 1024,
      read: () => {
        this.readerPaused = false;
        this.ws?.resume();
      },
      write: (chunk: Buffer, _enc, cb) => {
        void this.sendChunks(chunk, chunkSize).then(() => cb(), cb);
      },
    });
  }

  private sendTokens = DRIVER_MESSAGES_PER_SECOND / 10;
  private tokensAt = Date.now();

  /** Waits for the pacer's next token (a token bucket holding a tenth of a second). */
  private async paceOne(): Promise<void> {
    const rate = this.opts.messagesPerSecond ?? DRIVER_MESSAGES_PER_SECOND;
    if (!Number.isFinite(rate)) return;
    for (;;) {
      const t = Date.now();
      this.sendTokens = Math.min(rate / 10, this.sendTokens + ((t - this.tokensAt) * rate) / 1000);
      this.tokensAt = t;
      if (this.sendTokens >= 1) return void this.sendTokens--;
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.sendTokens) * 1000) / rate)));
    }
  }

  private async sendChunks(chunk: Buffer, chunkSize: number): Promise<void> {
    for (let offset = 0; offset < chunk.length; offset += chunkSize) {
      while (this.channel.unackedBytes >= SEND_WINDOW_BYTES && !this.ended) await once(this.channel, "acked");
      await this.paceOne();
      if (this.ended) throw new Error("session closed");
      const slice = chunk.subarray(offset, offset + chunkSize);
      this.channel.send(PayloadType.Output, this.keys ? encryptGcm(this.keys.clientKey, slice) : slice);
    }
  }
}

/** Encodes one stream-data frame by hand, for tests that speak below the driver. */
export function rawInputFrame(seq: number, payloadType: number, payload: Buffer): Buffer {
  return encodeFrame({ messageType: MessageType.InputStreamData, sequenceNumber: seq, payloadType, payload });
}
