// smux protocol version 1 (xtaci/smux v1.5.x, as vendored by session-manager-plugin and
// amazon-ssm-agent; docs/session-protocol.md §4.3): frames, a reassembling parser, and a
// session engine for either end. A SmuxSession is a Duplex whose writable side takes the transport's
// bytes and whose readable side yields the bytes to send; each stream is a Duplex of its own.
import { Duplex } from "node:stream";

export const SMUX_VERSION = 1;
export const SmuxCmd = { SYN: 0, FIN: 1, PSH: 2, NOP: 3 } as const;
export const SMUX_HEADER_SIZE = 8;
/** smux.DefaultConfig().MaxFrameSize */
export const SMUX_MAX_FRAME_SIZE = 32768;
/** smux.Client opens 3, 5, 7… (stream ids are odd on the client; the server never opens streams). */
export const SMUX_FIRST_CLIENT_STREAM_ID = 3;

export interface SmuxFrame {
  cmd: number;
  sid: number;
  /** A view into the transport's buffers when it fits in one chunk. */
  data: Buffer;
}

export class SmuxProtocolError extends Error {}

const EMPTY = Buffer.alloc(0);

/** `[ver u8][cmd u8][len u16 LE][sid u32 LE][data]` */
export function encodeSmuxFrame(cmd: number, sid: number, data: Buffer = EMPTY): Buffer {
  if (data.length > 0xffff) throw new RangeError(`smux frame of ${data.length} bytes exceeds 65535`);
  const buf = Buffer.allocUnsafe(SMUX_HEADER_SIZE + data.length);
  buf[0] = SMUX_VERSION;
  buf[1] = cmd;
  buf.writeUInt16LE(data.length, 2);
  buf.writeUInt32LE(sid, 4);
  data.copy(buf, SMUX_HEADER_SIZE);
  return buf;
}

/** Reassembles frames from transport chunks cut anywhere; copies only frames that span chunks. */
export class SmuxFrameParser {
  private chunks: Buffer[] = [];
  private total = 0;

  push(chunk: Buffer, onFrame: (frame: SmuxFrame) => void): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
    while (this.total >= SMUX_HEADER_SIZE) {
      const header = this.peek(SMUX_HEADER_SIZE);
      if (header[0] !== SMUX_VERSION) throw new SmuxProtocolError(`smux: invalid protocol version ${header[0]}`);
      const length = header.readUInt16LE(2);
      if (this.total < SMUX_HEADER_SIZE + length) return;
      const frame = this.take(SMUX_HEADER_SIZE + length);
      onFrame({ cmd: frame[1], sid: frame.readUInt32LE(4), data: frame.subarray(SMUX_HEADER_SIZE) });
    }
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    return first.length >= n ? first : Buffer.concat(this.chunks, n);
  }

  private take(n: number): Buffer {
    this.total -= n;
    const first = this.chunks[0];
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(used);
    }
    return out;
  }
}

export interface SmuxSessionOptions {
  maxFrameSize?: number;
  /** Send NOP on stream 0 this often (smux KeepAliveInterval, 10 s when enabled). */
  keepAliveIntervalMs?: number;
  /** Destroy the session when nothing arrived for this long (smux KeepAliveTimeout, 30 s). */
  keepAliveTimeoutMs?: number;
  /** Bytes a stream buffers for a slow reader before the session stops consuming its transport. */
  streamHighWaterMark?: number;
}

export class SmuxStream extends Duplex {
  finSent = false;
  finReceived = false;

  constructor(
    readonly id: number,
    private readonly session: SmuxSession,
    highWaterMark: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
  }

  override _read(): void {
    this.session.streamWantsData(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.session.sendData(this.id, chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sendFin();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // smux v1 has no reset: closing a stream early is a FIN.
    this.sendFin();
    this.session.forgetStream(this);
    cb(err);
  }

  /** Data from the peer; false when this stream's reader is behind. */
  deliver(data: Buffer): boolean {
    if (this.finReceived || this.destroyed) return true;
    return this.push(data);
  }

  deliverFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.push(null);
  }

  private sendFin(): void {
    if (this.finSent) return;
    this.finSent = true;
    this.session.sendFrame(SmuxCmd.FIN, this.id);
  }
}

/** Either end of a mux connection: streams it opens (openStream) take the client's odd ids, as the plugin's do. */
export class SmuxSession extends Duplex {
  private readonly parser = new SmuxFrameParser();
  private readonly streams = new Map<number, SmuxStream>();
  private readonly maxFrameSize: number;
  private readonly streamHighWaterMark: number;
  private nextStreamId = SMUX_FIRST_CLIENT_STREAM_ID;
  /** Streams whose readers are full; the transport write callback waits until they drain. */
  private readonly fullStreams = new Set<SmuxStream>();
  private pendingInput: (() => void) | undefined;
  /** Stream writes waiting for the transport to read what we produced. */
  private outputWaiters: (() => void)[] = [];
  private timers: NodeJS.Timeout[] = [];
  private receivedSinceCheck = false;

  constructor(private readonly opts: SmuxSessionOptions = {}) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.maxFrameSize = opts.maxFrameSize ?? SMUX_MAX_FRAME_SIZE;
    this.streamHighWaterMark = opts.streamHighWaterMark ?? 256 * 1024;
    if (opts.keepAliveIntervalMs) {
      this.timers.push(setInterval(() => this.sendFrame(SmuxCmd.NOP, 0), opts.keepAliveIntervalMs).unref());
    }
    if (opts.keepAliveTimeoutMs) {
      const check = () => {
        if (!this.receivedSinceCheck) this.destroy(new SmuxProtocolError("smux: keepalive timeout"));
        this.receivedSinceCheck = false;
      };
      this.timers.push(setInterval(check, opts.keepAliveTimeoutMs).unref());
    }
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Client side: SYN a new stream. */
  openStream(): SmuxStream {
    if (this.destroyed) throw new SmuxProtocolError("smux: session closed");
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new SmuxStream(id, this, this.streamHighWaterMark);
    this.streams.set(id, stream);
    this.sendFrame(SmuxCmd.SYN, id);
    return stream;
  }

  // --- transport input ---

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.receivedSinceCheck = true;
    try {
      this.parser.push(chunk, (frame) => this.handleFrame(frame));
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (this.fullStreams.size === 0) cb();
    else this.pendingInput = () => cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    // The transport ended: every stream's peer is gone.
    for (const stream of [...this.streams.values()]) stream.deliverFin();
    this.push(null);
    cb();
  }

  private handleFrame(frame: SmuxFrame): void {
    const stream = this.streams.get(frame.sid);
    switch (frame.cmd) {
      case SmuxCmd.SYN: {
        if (stream) return;
        const accepted = new SmuxStream(frame.sid, this, this.streamHighWaterMark);
        this.streams.set(frame.sid, accepted);
        this.emit("stream", accepted);
        return;
      }
      case SmuxCmd.PSH:
        // Data for an unknown or closed stream is dropped, as smux does.
        if (stream && !stream.deliver(frame.data)) this.fullStreams.add(stream);
        return;
      case SmuxCmd.FIN:
        stream?.deliverFin();
        return;
      case SmuxCmd.NOP:
        return;
      default:
        throw new SmuxProtocolError(`smux: unknown command ${frame.cmd}`);
    }
  }

  streamWantsData(stream: SmuxStream): void {
    if (!this.fullStreams.delete(stream) || this.fullStreams.size > 0) return;
    const resume = this.pendingInput;
    this.pendingInput = undefined;
    resume?.();
  }

  forgetStream(stream: SmuxStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.streamWantsData(stream);
    this.emit("streamClosed", stream);
  }

  // --- transport output ---

  override _read(): void {
    const waiters = this.outputWaiters;
    this.outputWaiters = [];
    for (const resume of waiters) resume();
  }

  sendFrame(cmd: number, sid: number, data?: Buffer): boolean {
    if (this.destroyed || this.readableEnded) return true;
    return this.push(encodeSmuxFrame(cmd, sid, data));
  }

  sendData(sid: number, chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.destroyed) return cb(new SmuxProtocolError("smux: session closed"));
    let open = true;
    for (let offset = 0; offset < chunk.length; offset += this.maxFrameSize) {
      open = this.sendFrame(SmuxCmd.PSH, sid, chunk.subarray(offset, offset + this.maxFrameSize));
    }
    if (open) cb();
    else this.outputWaiters.push(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const stream of [...this.streams.values()]) stream.destroy();
    this.streams.clear();
    const waiters = this.outputWaiters;
    this.outputWaiters = [];
    for (const resume of waiters) resume();
    this.pendingInput?.();
    this.pendingInput = undefined;
    cb(err);
  }
}
