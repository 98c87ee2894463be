// The sending half of a data channel's reliability (reference/session-protocol.md §2.5–2.6):
// sequence numbers, unacknowledged messages kept for resending, the RTO estimate updated on acks,
// and a send window. Every overdue message is resent on a 100 ms tick, not only the oldest
// (the plugin's head-of-line resend would crawl at 1 % loss).
const TICK_MS = 100;
const RTO_INIT_MS = 200;
const RTT_INIT_MS = 100;
const RTO_MAX_MS = 1000;
const RTO_MIN_VARIATION_MS = 10;

interface Outgoing {
  frame: Buffer;
  /** 0 = not on the wire yet (disconnected or paused). */
  sentAt: number;
  resent: boolean;
}

export interface RetransmitterOptions {
  window: number;
  /** Puts a frame on the wire; false when there is no connection right now. */
  transmit: (frame: Buffer) => boolean;
  onDrain: () => void;
  now?: () => number;
}

export interface Retransmitter {
  readonly size: number;
  readonly rto: number;
  /** Assigns the next sequence number; false when the window is full. */
  send(build: (seq: number) => Buffer): boolean;
  acknowledge(seq: number): void;
  /** After a reconnect: every unacknowledged message again, in order. */
  retransmitAll(): void;
  /** pause_publication: nothing is sent or resent until resume(). */
  pause(): void;
  resume(): void;
  whenEmpty(timeoutMs: number): Promise<boolean>;
  stop(): void;
  readonly stats: { sent: number; resent: number };
}

export function createRetransmitter(opts: RetransmitterOptions): Retransmitter {
  const now = opts.now ?? Date.now;
  const pending = new Map<number, Outgoing>();
  let nextSeq = 0;
  let srtt = RTT_INIT_MS;
  let rttVar = 0;
  let rto = RTO_INIT_MS;
  let paused = false;
  let needDrain = false;
  let emptyWaiters: Array<(empty: boolean) => void> = [];
  const stats = { sent: 0, resent: 0 };

  const put = (entry: Outgoing, isResend: boolean): void => {
    if (paused || !opts.transmit(entry.frame)) {
      entry.sentAt = 0;
      return;
    }
    if (isResend) {
      entry.resent = true;
      stats.resent++;
    } else stats.sent++;
    entry.sentAt = now();
  };

  const tick = (): void => {
    if (paused || pending.size === 0) return;
    const t = now();
    for (const entry of pending.values()) {
      if (entry.sentAt === 0 || t - entry.sentAt > rto) put(entry, entry.sentAt !== 0);
    }
  };
  const timer = setInterval(tick, TICK_MS).unref();

  const updateRto = (sample: number): void => {
    rttVar = 0.75 * rttVar + 0.25 * Math.abs(srtt - sample);
    srtt = 0.875 * srtt + 0.125 * sample;
    rto = Math.min(RTO_MAX_MS, srtt + Math.max(RTO_MIN_VARIATION_MS, 4 * rttVar));
  };

  return {
    get size() {
      return pending.size;
    },
    get rto() {
      return rto;
    },
    stats,
    send(build) {
      const seq = nextSeq++;
      const entry: Outgoing = { frame: build(seq), sentAt: 0, resent: false };
      pending.set(seq, entry);
      put(entry, false);
      if (pending.size >= opts.window) {
        needDrain = true;
        return false;
      }
      return true;
    },
    acknowledge(seq) {
      const entry = pending.get(seq);
      if (!entry) return;
      pending.delete(seq);
      // Karn: a resent message's ack does not say which copy it answers.
      if (!entry.resent && entry.sentAt !== 0) updateRto(now() - entry.sentAt);
      if (needDrain && pending.size < opts.window) {
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
      for (const entry of pending.values()) put(entry, entry.sentAt !== 0);
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      tick();
    },
    whenEmpty(timeoutMs) {
      if (pending.size === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timeout = setTimeout(() => {
          emptyWaiters = emptyWaiters.filter((w) => w !== done);
          resolve(false);
        }, timeoutMs).unref();
        const done = (empty: boolean) => {
          clearTimeout(timeout);
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
