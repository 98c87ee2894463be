// The sending half of a data channel's reliability (reference/session-protocol.md §2.5–2.6):
// sequence numbers, unacknowledged messages kept for resending, the RTO estimate updated on acks,
// and a send window counted from the oldest unacknowledged message (what the agent may have to hold
// in its reorder buffer). Acks are per message, so we know exactly what is missing; a message is resent
// only when it is really presumed lost:
// - fast retransmit: DUP_THRESH messages put on the wire after it were acked and it was not;
// - timeout: the oldest message on the wire is older than the RTO; only that one is resent and the
//   timeout doubles until an ack brings a fresh RTT sample (RFC 6298 §5.5–5.7), instead of the
//   whole overdue window every tick (a flood that makes every ack late, and so more resends).
const TICK_MS = 100;
const RTO_INIT_MS = 200;
const RTT_INIT_MS = 100;
const RTO_MAX_MS = 1000;
const RTO_MIN_VARIATION_MS = 10;
/** The longest a backed-off timeout grows to. */
const BACKOFF_MAX_MS = 4000;
/** Later transmissions acked before a message counts as lost (TCP's three duplicate acks). */
export const DUP_THRESH = 3;

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
  readonly stats: { sent: number; resent: number; fastResent: number; timeouts: number };
}

export function createRetransmitter(opts: RetransmitterOptions): Retransmitter {
  const now = opts.now ?? Date.now;
  /** Every unacknowledged message, in sequence order. */
  const pending = new Map<number, Outgoing>();
  /** The unacknowledged messages on the wire, in transmission order (oldest copy first). */
  const flight = new Map<number, Outgoing>();
  let unsent = 0;
  let nextSeq = 0;
  let txCount = 0;
  /** The newest transmission known to have arrived (acks of resent messages are ambiguous: not counted). */
  let highestAckedTx = 0;
  let srtt = RTT_INIT_MS;
  let rttVar = 0;
  let rto = RTO_INIT_MS;
  let backoff = 1;
  /** The retransmission timer restarts on every fresh ack and every timeout (RFC 6298 §5.3, §5.6). */
  let timerStart = 0;
  let paused = false;
  let needDrain = false;
  let emptyWaiters: Array<(empty: boolean) => void> = [];
  const stats = { sent: 0, resent: 0, fastResent: 0, timeouts: 0 };

  const timeout = () => Math.min(BACKOFF_MAX_MS, rto * backoff);

  const put = (entry: Outgoing): void => {
    const wasOnWire = entry.sentAt !== 0;
    if (paused || !opts.transmit(entry.frame)) {
      if (wasOnWire) {
        flight.delete(entry.seq);
        entry.sentAt = 0;
        unsent++;
      }
      return;
    }
    if (entry.tx === 0) stats.sent++;
    else {
      entry.resent = true;
      stats.resent++;
    }
    if (!wasOnWire) unsent--;
    entry.tx = ++txCount;
    entry.sentAt = now();
    flight.delete(entry.seq);
    flight.set(entry.seq, entry);
  };

  const sendUnsent = (): void => {
    if (unsent === 0) return;
    for (const entry of pending.values()) {
      if (entry.sentAt !== 0) continue;
      put(entry);
      if (entry.sentAt === 0) return;
    }
  };

  const tick = (): void => {
    if (paused) return;
    sendUnsent();
    const oldest = flight.values().next().value;
    if (!oldest || now() - Math.max(oldest.sentAt, timerStart) <= timeout()) return;
    stats.timeouts++;
    put(oldest);
    if (oldest.sentAt === 0) return;
    timerStart = oldest.sentAt;
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS / RTO_INIT_MS);
  };
  const timer = setInterval(tick, opts.tickMs ?? TICK_MS).unref();

  /** Resends what DUP_THRESH later transmissions overtook. */
  const fastRetransmit = (): void => {
    const lost: Outgoing[] = [];
    for (const entry of flight.values()) {
      if (entry.tx + DUP_THRESH > highestAckedTx) break;
      lost.push(entry);
    }
    for (const entry of lost) {
      stats.fastResent++;
      put(entry);
    }
  };

  const updateRto = (sample: number): void => {
    rttVar = 0.75 * rttVar + 0.25 * Math.abs(srtt - sample);
    srtt = 0.875 * srtt + 0.125 * sample;
    rto = Math.min(RTO_MAX_MS, srtt + Math.max(RTO_MIN_VARIATION_MS, 4 * rttVar));
  };

  /** Messages from the oldest unacknowledged one on: what the agent may hold in its reorder buffer. */
  const span = (): number => {
    const oldest = pending.keys().next();
    return oldest.done ? 0 : nextSeq - oldest.value;
  };

  const hasRoom = (): boolean => {
    if (span() < opts.window) return true;
    needDrain = true;
    return false;
  };

  return {
    get size() {
      return pending.size;
    },
    get rto() {
      return timeout();
    },
    stats,
    hasRoom,
    send(build) {
      const seq = nextSeq++;
      const entry: Outgoing = { seq, frame: build(seq), sentAt: 0, tx: 0, resent: false };
      pending.set(seq, entry);
      unsent++;
      // Behind earlier messages still waiting for a connection, this one waits too (order on the wire).
      if (unsent === 1) put(entry);
      return hasRoom();
    },
    acknowledge(seq) {
      const entry = pending.get(seq);
      if (!entry) return;
      pending.delete(seq);
      if (entry.sentAt === 0) unsent--;
      flight.delete(seq);
      // Karn: a resent message's ack does not say which copy it answers.
      if (!entry.resent && entry.sentAt !== 0) {
        updateRto(now() - entry.sentAt);
        backoff = 1;
        timerStart = now();
        if (entry.tx > highestAckedTx) {
          highestAckedTx = entry.tx;
          fastRetransmit();
        }
      }
      if (needDrain && span() < opts.window) {
        needDrain = false;
        opts.onDrain();
      }
      if (pending.size === 0 && emptyWaiters.length) {
        const waiters = emptyWaiters;
        emptyWaiters = [];
        for (const w of waiters) w(true);
      }
    },
    retransmitAll() {
      for (const entry of pending.values()) {
        put(entry);
        if (entry.sentAt === 0) return;
      }
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      tick();
    },
    tick,
    whenEmpty(timeoutMs) {
      if (pending.size === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          emptyWaiters = emptyWaiters.filter((w) => w !== done);
          resolve(false);
        }, timeoutMs).unref();
        const done = (empty: boolean) => {
          clearTimeout(timer);
          resolve(empty);
        };
        emptyWaiters.push(done);
      });
    },
    stop() {
      clearInterval(timer);
      const waiters = emptyWaiters;
      emptyWaiters = [];
      for (const w of waiters) w(false);
    },
  };
}
