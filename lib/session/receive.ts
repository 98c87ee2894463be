// The receiving half of a data channel's reliability (docs/session-protocol.md §2.5): every
// stream-data message from the agent is acknowledged and delivered exactly once, in sequence order.
// - one that comes early waits in a reorder buffer bounded in bytes, headers counted; beyond the
//   budget it is neither kept nor acknowledged, so the agent sends it again later;
// - one that comes again (our ack was lost) is acknowledged again and dropped: the agent keeps
//   resending until it sees an ack, where AWS's plugin would stay silent.
import { PAYLOAD_OFFSET, type Frame } from "./frames.ts";

/**
 * What an agent may make us hold: out-of-order messages up to 16 MiB, headers counted (the plugin holds
 * 10 000 messages of ≤1 KiB). Empty messages count too, so a hostile agent cannot grow the buffer for free.
 */
export const REORDER_LIMIT_BYTES = 16 * 1024 * 1024;

export interface ReceiverOptions {
  /** Called once per message, in sequence order. */
  deliver: (frame: Frame) => void;
  /** Acknowledges one message (sent, or sent again). */
  acknowledge: (frame: Frame) => void;
  /** False once the channel has ended: what the buffer still holds is not delivered. */
  isOpen: () => boolean;
  limitBytes?: number;
}

export interface Receiver {
  /** Takes one stream-data message off the wire. */
  accept(frame: Frame): void;
  /** received: messages delivered; duplicates: messages the agent sent again after we had them. */
  readonly stats: { received: number; duplicates: number };
  /** Bytes the reorder buffer holds now. */
  readonly heldBytes: number;
}

export function createReceiver(opts: ReceiverOptions): Receiver {
  const limit = opts.limitBytes ?? REORDER_LIMIT_BYTES;
  const held = new Map<number, Frame>();
  const stats = { received: 0, duplicates: 0 };
  let expected = 0;
  let heldBytes = 0;

  const deliver = (frame: Frame) => {
    expected++;
    stats.received++;
    opts.deliver(frame);
  };

  return {
    stats,
    get heldBytes() {
      return heldBytes;
    },
    accept(frame) {
      const seq = frame.sequenceNumber;
      if (seq < expected) {
        stats.duplicates++;
        return opts.acknowledge(frame);
      }
      if (seq > expected) {
        if (!held.has(seq)) {
          if (heldBytes + sizeOf(frame) > limit) return;
          held.set(seq, frame);
          heldBytes += sizeOf(frame);
        }
        return opts.acknowledge(frame);
      }
      deliver(frame);
      opts.acknowledge(frame);
      for (let next = held.get(expected); next && opts.isOpen(); next = held.get(expected)) {
        held.delete(expected);
        heldBytes -= sizeOf(next);
        deliver(next);
      }
    },
  };
}

/** A held message's share of the reorder budget: its payload and its header. */
function sizeOf(frame: Frame): number {
  return PAYLOAD_OFFSET + frame.payload.length;
}
