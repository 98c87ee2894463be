// The reliability layer of one end of a data channel: sequence numbers, per-message acks, the
// reorder buffer, duplicate re-acks and retransmission with the RTO rules of
// docs/session-protocol.md §2.5–2.6 (agent/session/datachannel/datachannel.go). The emulator
// uses it as the agent end; the test driver as the client end.
import { EventEmitter } from "node:events";
import { decodeFrame, encodeAck, encodeFrame, type Frame, MessageType, parseAckPayload } from "../../../lib/session/frames.ts";

const RESEND_TICK_MS = 100;
const RTO_INIT_MS = 200;
const RTT_INIT_MS = 100;
const RTO_MAX_MS = 1000;
const RTO_MIN_VARIATION_MS = 10;
const REORDER_BUFFER_LIMIT = 100_000;
/** Payload bytes kept unacked while delivery is held; beyond, messages are left for the sender to resend. */
const HELD_BYTES_LIMIT = 16 * 1024 * 1024;
/** The agent's OutgoingMessageBufferCapacity: beyond it a message is sent once and not kept for resending. */
export const SEND_BUFFER_MESSAGES = 100_000;
/**
 * Our bound on the bytes kept for resending, the same rule applied by size: 100 000 of the agent's
 * 1 KiB messages is 100 MiB; unpaced 32 KiB messages would make it 3 GiB.
 */
export const SEND_BUFFER_BYTES = 64 * 1024 * 1024;

interface Unacked {
  frame: Buffer;
  payloadBytes: number;
  lastSentAt: number;
  resends: number;
  /** Its first ack is missed, as the agent misses an ack that beats the message into its buffer. */
  ackRaced: boolean;
}

export interface ReliableChannelOptions {
  /** What this end sends: the agent `output_stream_data`, the client `input_stream_data`. */
  outType: typeof MessageType.InputStreamData | typeof MessageType.OutputStreamData;
  /** Puts one frame on the wire (or nowhere while disconnected: unacked frames are kept). */
  transmit: (frame: Buffer) => void;
  /** Stream-data messages of the peer, exactly once and in sequence order. */
  onMessage: (frame: Frame) => void;
  /** channel_closed, start/pause_publication. */
  onControl?: (frame: Frame) => void;
  /** Resends of one message before giving up (the plugin: 3000; the agent: never). */
  maxResends?: number;
  onGiveUp?: () => void;
  now?: () => number;
  /** The share of sent messages whose first ack is missed (the agent's send-before-buffer race), so they are resent once. */
  ackRaceFraction?: () => number;
  random?: () => number;
}

/** Events: "acked" (after acks were applied), "ackRaced" (an ack missed), "giveUp". */
export class ReliableChannel extends EventEmitter {
  private nextOutSeq = 0;
  private expectedInSeq = 0;
  private readonly unacked = new Map<number, Unacked>();
  private readonly reorder = new Map<number, Frame>();
  /** Messages taken in while delivery was held back, not acked until delivered (or delivery resumes). */
  private readonly heldUnacked = new Set<number>();
  private heldBytes = 0;
  private deliveryHeld = false;
  private delivering = false;
  private unackedPayloadBytes = 0;
  private srtt = RTT_INIT_MS;
  private rttVar = 0;
  private rto = RTO_INIT_MS;
  private paused = false;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  /** Counters for tests and state reports. */
  readonly stats = { sent: 0, resent: 0, received: 0, duplicates: 0, reordered: 0, corrupt: 0, ackRaced: 0, unkept: 0 };
  /** Kept messages whose ack was missed: the peer has them. */
  private readonly racedSeqs = new Set<number>();

  constructor(private readonly opts: ReliableChannelOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.resendOldest(), RESEND_TICK_MS);
    this.timer.unref();
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  /** Kept messages the peer has not confirmed (one whose ack was missed was confirmed). */
  get unconfirmedCount(): number {
    return this.unacked.size - this.racedSeqs.size;
  }

  get unackedBytes(): number {
    return this.unackedPayloadBytes;
  }

  get rtoMs(): number {
    return this.rto;
  }

  /** Sends a stream-data message; returns its sequence number. */
  send(payloadType: number, payload: Buffer): number {
    const seq = this.nextOutSeq++;
    const frame = encodeFrame({
      messageType: this.opts.outType,
      sequenceNumber: seq,
      // The agent marks its first data message with Flags=1 (§2.5); the plugin always sends 0.
      flags: seq === 0 && this.opts.outType === MessageType.OutputStreamData ? 1 : 0,
      payloadType,
      payload,
    });
    if (this.unacked.size < SEND_BUFFER_MESSAGES && this.unackedPayloadBytes + payload.length <= SEND_BUFFER_BYTES) {
      const fraction = this.opts.ackRaceFraction?.() ?? 0;
      const ackRaced = fraction > 0 && (this.opts.random ?? Math.random)() < fraction;
      this.unacked.set(seq, { frame, payloadBytes: payload.length, lastSentAt: this.now(), resends: 0, ackRaced });
      this.unackedPayloadBytes += payload.length;
    } else this.stats.unkept++;
    this.stats.sent++;
    this.opts.transmit(frame);
    return seq;
  }

  /** Sends a frame outside the sequence (channel_closed); not retransmitted. */
  sendControl(frame: Buffer): void {
    this.opts.transmit(frame);
  }

  /** After a reconnect: everything the peer may not have, in order, at once. */
  resendAllUnacked(): void {
    const now = this.now();
    for (const entry of this.unacked.values()) {
      entry.lastSentAt = now;
      this.stats.resent++;
      this.opts.transmit(entry.frame);
    }
  }

  /**
   * Input backpressure that still hears acks: while held, stream data is kept but neither
   * delivered nor acked (a sender's window bounds it, HELD_BYTES_LIMIT a sender without one; its
   * resends find it kept), and acks and control frames are applied as ever. Pausing the WebSocket instead also stops the acks that
   * our own output window waits for: a target that stops reading while it cannot write (an echo)
   * then waits on itself for good. Releasing delivers what is next in order and acks the rest.
   */
  holdDelivery(held: boolean): void {
    this.deliveryHeld = held;
    if (!held) this.drain();
  }

  /** pause_publication stops resending until start_publication (§2.3). */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  receive(raw: Buffer): void {
    let frame: Frame;
    try {
      frame = decodeFrame(raw);
    } catch {
      // A frame that fails validation is as good as lost: the sender will resend it.
      this.stats.corrupt++;
      return;
    }
    switch (frame.messageType) {
      case MessageType.Acknowledge:
        return this.handleAck(frame);
      case MessageType.InputStreamData:
      case MessageType.OutputStreamData:
        if (frame.messageType === this.opts.outType) return;
        return this.handleData(frame);
      default:
        this.opts.onControl?.(frame);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private handleData(frame: Frame): void {
    const seq = frame.sequenceNumber;
    if (seq < this.expectedInSeq || this.reorder.has(seq)) {
      // A copy of a message kept unacked is acked with it, once delivered.
      if (this.heldUnacked.has(seq)) return;
      // The agent re-acks duplicates (the plugin does not, §2.5); both ends here do.
      this.stats.duplicates++;
      this.opts.transmit(encodeAck(frame));
      return;
    }
    if (seq === this.expectedInSeq && !this.deliveryHeld) {
      this.deliver(frame);
      this.opts.transmit(encodeAck(frame));
      return this.drain();
    }
    if (this.reorder.size >= REORDER_BUFFER_LIMIT) return;
    if (this.deliveryHeld && this.heldBytes + frame.payload.length > HELD_BYTES_LIMIT) return;
    if (seq > this.expectedInSeq) this.stats.reordered++;
    this.reorder.set(seq, frame);
    if (this.deliveryHeld) {
      this.heldUnacked.add(seq);
      this.heldBytes += frame.payload.length;
    } else this.opts.transmit(encodeAck(frame));
  }

  /** Delivers what is next in order from the reorder buffer; unless held again, acks what was kept unacked. */
  private drain(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.reorder.get(this.expectedInSeq); next && !this.deliveryHeld; next = this.reorder.get(this.expectedInSeq)) {
        this.reorder.delete(this.expectedInSeq);
        this.deliver(next);
        // Ack only after processing (§2.5).
        if (this.heldUnacked.delete(next.sequenceNumber)) {
          this.heldBytes -= next.payload.length;
          this.opts.transmit(encodeAck(next));
        }
      }
      if (this.deliveryHeld) return;
      // Kept while held but ahead of a gap: acked now, as ahead-of-order messages are on arrival.
      for (const seq of this.heldUnacked) this.opts.transmit(encodeAck(this.reorder.get(seq)!));
      this.heldUnacked.clear();
      this.heldBytes = 0;
    } finally {
      this.delivering = false;
    }
  }

  private deliver(frame: Frame): void {
    this.expectedInSeq++;
    this.stats.received++;
    this.opts.onMessage(frame);
  }

  private handleAck(frame: Frame): void {
    let seq: number;
    try {
      seq = parseAckPayload(frame.payload).AcknowledgedMessageSequenceNumber;
    } catch {
      this.stats.corrupt++;
      return;
    }
    // Matched by sequence number only (§2.5).
    const entry = this.unacked.get(seq);
    if (!entry) return;
    if (entry.ackRaced) {
      // The ack came before the message was buffered: it finds nothing, and the message is resent after the RTO.
      entry.ackRaced = false;
      this.racedSeqs.add(seq);
      this.stats.ackRaced++;
      this.emit("ackRaced");
      return;
    }
    this.racedSeqs.delete(seq);
    this.unacked.delete(seq);
    this.unackedPayloadBytes -= entry.payloadBytes;
    this.updateRto(this.now() - entry.lastSentAt);
    this.emit("acked");
  }

  /** RFC 6298-style smoothing with the agent's constants (§2.6). */
  private updateRto(sampleMs: number): void {
    this.rttVar = 0.75 * this.rttVar + 0.25 * Math.abs(this.srtt - sampleMs);
    this.srtt = 0.875 * this.srtt + 0.125 * sampleMs;
    this.rto = Math.min(RTO_MAX_MS, this.srtt + Math.max(RTO_MIN_VARIATION_MS, 4 * this.rttVar));
  }

  /** Every 100 ms, only the oldest unacked message, if older than the RTO (§2.6). */
  private resendOldest(): void {
    if (this.paused) return;
    const first = this.unacked.entries().next();
    if (first.done) return;
    const [, entry] = first.value;
    const now = this.now();
    if (now - entry.lastSentAt <= this.rto) return;
    if (this.opts.maxResends !== undefined && entry.resends >= this.opts.maxResends) {
      this.close();
      this.emit("giveUp");
      this.opts.onGiveUp?.();
      return;
    }
    entry.resends++;
    entry.lastSentAt = now;
    this.stats.resent++;
    this.opts.transmit(entry.frame);
  }
}
