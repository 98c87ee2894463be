// The sending half of a data channel's reliability (docs/session-protocol.md §2.5–2.6):
// sequence numbers, unacknowledged messages kept for resending, the RTO estimate updated on acks,
// and a send window counted from the oldest unacknowledged message (what the agent may have to hold
// in its reorder buffer). Acks are per message, so we know exactly what is missing; a message is resent
// only when it is really presumed lost:
// - fast retransmit: DUP_THRESH messages put on the wire after it were acked and it was not;
// - timeout: the oldest message on the wire is older than the RTO; only that one is resent and the
//   timeout doubles until an ack brings a fresh RTT sample (RFC 6298 §5.5–5.7), instead of the
//   whole overdue window every tick (a flood that makes every ack late, and so more resends).
// And a pacer: every transmission, first or resent, takes a token from a bucket refilled at
// `messagesPerSecond`, because MGS cuts a session that stays above ≈1000 data messages a second
// (pause_publication, then the WebSocket closes: Cyberax/gimlet, alexbacchin/ssm-session-client).
// What waits for a token stays queued in order; the queue is short so that the pump, not this
// queue, holds what the local side has not been allowed to send yet.
const TICK_MS = 100;
const RTO_INIT_MS = 200;
const RTT_INIT_MS = 100;
const RTO_MAX_MS = 1000;
const RTO_MIN_VARIATION_MS = 10;
/** The longest a backed-off timeout grows to. */
const BACKOFF_MAX_MS = 4000;
/** Later transmissions acked before a message counts as lost (TCP's three duplicate acks). */
export const DUP_THRESH = 3;
/** Messages waiting for the pacer beyond which hasRoom() says no (≈70 ms at 900/s). */
export const PACED_QUEUE_LIMIT = 64;
/** The pacer's bucket holds this share of a second: a burst of keystrokes or a handshake goes at once. */
const PACER_BURST_SECONDS = 0.1;

interface Outgoing {
  seq: number;
  frame: Buffer;
  /** 0 = not on the wire (disconnected or paused). */
  sentAt: number;
  /** The transmission number of its latest copy. */
  tx: number;
  resent: boolean;
}

export interface RetransmitterOptions {
  window: number;
  /** Puts a frame on the wire; false when there is no connection right now. */
  transmit: (frame: Buffer) => boolean;
  onDrain: () => void;
  now?: () => number;
  /** How often the timeout is checked; default 100 ms (the plugin's and agent's scheduler). */
  tickMs?: number;
  /** Transmissions per second, resends included; undefined or Infinity = unpaced. */
  messagesPerSecond?: number;
}

export interface Retransmitter {
  readonly size: number;
  /** The current timeout: the RTO estimate times the backoff, capped. */
  readonly rto: number;
  /** True while the window has room; when false, "drain" follows once it has. */
  hasRoom(): boolean;
  /** Assigns the next sequence number; false when the window is now full. */
  send(build: (seq: number) => Buffer): boolean;
  acknowledge(seq: number): void;
  /** After a reconnect: every unacknowledged message again, in sequence order (the old socket's acks are lost). */
  retransmitAll(): void;
  /** pause_publication: nothing is sent or resent until resume(). */
  pause(): void;
  resume(): void;
  /** Runs the timeout check now (the timer does it every tick). */
  tick(): void;
  whenEmpty(timeoutMs: number): Promise<boolean>;
  stop(): void;
  readonly stats: { sent: number; resent: number; fastResent: number; timeouts: number; paced: number };
}

export function createRetransmitter(opts: RetransmitterOptions): Retransmitter {
  return new SendWindow(opts);
}

type Stats = Retransmitter["stats"];

/** The retransmission timeout: RFC 6298's smoothed estimate, times a backoff that doubles on each timeout. */
class RtoEstimate {
  private srtt = RTT_INIT_MS;
  private rttVar = 0;
  private rto = RTO_INIT_MS;
  private backoff = 1;

  /** The current timeout: the RTO estimate times the backoff, capped. */
  get timeout(): number {
    return Math.min(BACKOFF_MAX_MS, this.rto * this.backoff);
  }

  /** A fresh RTT sample: the estimate moves toward it and the backoff ends. */
  sample(rttMs: number): void {
    this.rttVar = 0.75 * this.rttVar + 0.25 * Math.abs(this.srtt - rttMs);
    this.srtt = 0.875 * this.srtt + 0.125 * rttMs;
    this.rto = Math.min(RTO_MAX_MS, this.srtt + Math.max(RTO_MIN_VARIATION_MS, 4 * this.rttVar));
    this.backoff = 1;
  }

  backOff(): void {
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS / RTO_INIT_MS);
  }
}

/** A token bucket refilled at `rate` a second; without a rate every transmission may go. */
class Pacer {
  readonly rate: number | undefined;
  private readonly burst: number;
  private tokens: number;
  private refilledAt: number;
  private wakeTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    messagesPerSecond: number | undefined,
    private readonly now: () => number,
    private readonly stats: Stats,
    /** Called when a token is due again after one was refused. */
    private readonly onWake: () => void,
  ) {
    this.rate = messagesPerSecond !== undefined && Number.isFinite(messagesPerSecond) && messagesPerSecond > 0 ? messagesPerSecond : undefined;
    this.burst = this.rate ? Math.max(1, this.rate * PACER_BURST_SECONDS) : 0;
    this.tokens = this.burst;
    this.refilledAt = now();
  }

  /** One transmission's token; without one, a wake-up is set for when the next is due. */
  take(): boolean {
    const { rate } = this;
    if (!rate) return true;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.refilledAt) * rate) / 1000);
    this.refilledAt = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.stats.paced++;
    if (!this.wakeTimer && !this.stopped) {
      this.wakeTimer = setTimeout(
        () => {
          this.wakeTimer = undefined;
          this.onWake();
        },
        Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / rate)),
      );
    }
    return false;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
  }
}

class SendWindow implements Retransmitter {
  readonly stats: Stats = { sent: 0, resent: 0, fastResent: 0, timeouts: 0, paced: 0 };
  private readonly now: () => number;
  /** Every unacknowledged message, in sequence order. */
  private readonly pending = new Map<number, Outgoing>();
  /** The unacknowledged messages on the wire, in transmission order (oldest copy first). */
  private readonly flight = new Map<number, Outgoing>();
  private unsent = 0;
  private nextSeq = 0;
  private txCount = 0;
  /** The newest transmission known to have arrived (acks of resent messages are ambiguous: not counted). */
  private highestAckedTx = 0;
  private readonly estimate = new RtoEstimate();
  /** The retransmission timer restarts on every fresh ack and every timeout (RFC 6298 §5.3, §5.6). */
  private timerStart = 0;
  private paused = false;
  private needDrain = false;
  private emptyWaiters: Array<(empty: boolean) => void> = [];
  private readonly pacer: Pacer;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: RetransmitterOptions) {
    this.now = opts.now ?? Date.now;
    this.pacer = new Pacer(opts.messagesPerSecond, this.now, this.stats, () => {
      if (!this.paused) this.sendUnsent();
    });
    this.timer = setInterval(() => this.tick(), opts.tickMs ?? TICK_MS).unref();
  }

  get size(): number {
    return this.pending.size;
  }

  get rto(): number {
    return this.estimate.timeout;
  }

  hasRoom(): boolean {
    if (this.roomNow()) return true;
    this.needDrain = true;
    return false;
  }

  send(build: (seq: number) => Buffer): boolean {
    const seq = this.nextSeq++;
    const entry: Outgoing = { seq, frame: build(seq), sentAt: 0, tx: 0, resent: false };
    this.pending.set(seq, entry);
    this.unsent++;
    // Behind earlier messages still waiting for a connection, this one waits too (order on the wire).
    if (this.unsent === 1) this.put(entry);
    return this.hasRoom();
  }

  acknowledge(seq: number): void {
    const entry = this.pending.get(seq);
    if (!entry) return;
    this.pending.delete(seq);
    if (entry.sentAt === 0) this.unsent--;
    this.flight.delete(seq);
    // Karn: a resent message's ack does not say which copy it answers.
    if (!entry.resent && entry.sentAt !== 0) this.freshAck(entry);
    this.maybeDrain();
    if (this.pending.size === 0 && this.emptyWaiters.length) this.settleWaiters(true);
  }

  retransmitAll(): void {
    // What the pacer (or the new socket) refuses now is no longer on any wire: it waits in order
    // for sendUnsent, instead of for a timeout per message while it still looks in flight.
    let refused = false;
    for (const entry of this.pending.values()) {
      if (!refused) {
        this.put(entry);
        refused = entry.sentAt === 0;
      } else if (entry.sentAt !== 0) {
        this.takeOffWire(entry);
      }
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.tick();
  }

  tick(): void {
    if (this.paused) return;
    this.sendUnsent();
    const oldest = this.flight.values().next().value;
    if (!oldest || this.now() - Math.max(oldest.sentAt, this.timerStart) <= this.estimate.timeout) return;
    this.stats.timeouts++;
    this.put(oldest);
    if (oldest.sentAt === 0) return;
    this.timerStart = oldest.sentAt;
    this.estimate.backOff();
  }

  whenEmpty(timeoutMs: number): Promise<boolean> {
    if (this.pending.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.emptyWaiters = this.emptyWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs).unref();
      const done = (empty: boolean) => {
        clearTimeout(timer);
        resolve(empty);
      };
      this.emptyWaiters.push(done);
    });
  }

  stop(): void {
    this.pacer.stop();
    clearInterval(this.timer);
    this.settleWaiters(false);
  }

  /** Transmits `entry` (first copy or resend) if nothing holds it back; if something does, it is no longer on the wire. */
  private put(entry: Outgoing): void {
    const wasOnWire = entry.sentAt !== 0;
    if (this.paused || !this.pacer.take() || !this.opts.transmit(entry.frame)) {
      if (wasOnWire) this.takeOffWire(entry);
      return;
    }
    if (entry.tx === 0) this.stats.sent++;
    else {
      entry.resent = true;
      this.stats.resent++;
    }
    if (!wasOnWire) this.unsent--;
    entry.tx = ++this.txCount;
    entry.sentAt = this.now();
    this.flight.delete(entry.seq);
    this.flight.set(entry.seq, entry);
  }

  private takeOffWire(entry: Outgoing): void {
    this.flight.delete(entry.seq);
    entry.sentAt = 0;
    this.unsent++;
  }

  private sendUnsent(): void {
    if (this.unsent === 0) return;
    for (const entry of this.pending.values()) {
      if (entry.sentAt !== 0) continue;
      this.put(entry);
      if (entry.sentAt === 0) break;
    }
    this.maybeDrain();
  }

  /** The ack of a message sent once: an RTT sample, the timer restarts, and what it overtook may be lost. */
  private freshAck(entry: Outgoing): void {
    this.estimate.sample(this.now() - entry.sentAt);
    this.timerStart = this.now();
    if (entry.tx > this.highestAckedTx) {
      this.highestAckedTx = entry.tx;
      this.fastRetransmit();
    }
  }

  /** Resends what DUP_THRESH later transmissions overtook. */
  private fastRetransmit(): void {
    const lost: Outgoing[] = [];
    for (const entry of this.flight.values()) {
      if (entry.tx + DUP_THRESH > this.highestAckedTx) break;
      lost.push(entry);
    }
    for (const entry of lost) {
      this.stats.fastResent++;
      this.put(entry);
    }
  }

  private maybeDrain(): void {
    if (this.needDrain && this.roomNow()) {
      this.needDrain = false;
      this.opts.onDrain();
    }
  }

  /** Messages from the oldest unacknowledged one on: what the agent may hold in its reorder buffer. */
  private span(): number {
    const oldest = this.pending.keys().next();
    return oldest.done ? 0 : this.nextSeq - oldest.value;
  }

  private roomNow(): boolean {
    return this.span() < this.opts.window && (!this.pacer.rate || this.unsent < PACED_QUEUE_LIMIT);
  }

  private settleWaiters(empty: boolean): void {
    const waiters = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const w of waiters) w(empty);
  }
}
