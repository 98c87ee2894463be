// Moves bytes from a local source (a target socket, the smux session, a pty) into data-channel
// messages: the agent's ≤1 KiB reads with a 1 ms sleep when agentPacing is on (§2.6, §6),
// otherwise up to 32 KiB per message; and it stops reading while too much output is unacked,
// counted from the oldest unacked message on, so that neither the emulator nor a client's reorder
// buffer grows without bound when a client stalls, disconnects or waits for a lost message.
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

export const AGENT_PAYLOAD_SIZE = 1024;
export const UNPACED_PAYLOAD_SIZE = 32 * 1024;
/** Output from the oldest unacked message on above which sources are not read (the agent's limit is 100000 messages). */
export const UNACKED_HIGH_WATER_BYTES = 8 * 1024 * 1024;

export interface PumpTarget {
  send(chunk: Buffer): void;
  /** Resolves when output may continue (unacked bytes under the high water mark). */
  whenWritable(): Promise<void>;
  paced(): boolean;
}

/** Resolves when `source` ended or failed; never rejects. */
export async function pumpToChannel(source: Readable, target: PumpTarget): Promise<void> {
  try {
    // destroyOnReturn false: a target that finished sending may still be written to (half-close).
    for await (const chunk of source.iterator({ destroyOnReturn: false })) {
      const bytes = chunk as Buffer;
      const paced = target.paced();
      const size = paced ? AGENT_PAYLOAD_SIZE : UNPACED_PAYLOAD_SIZE;
      for (let offset = 0; offset < bytes.length; offset += size) {
        await target.whenWritable();
        target.send(bytes.subarray(offset, offset + size));
        if (paced) await sleep(1);
      }
    }
  } catch {
    // A reset target or a killed pty ends the pump like EOF does.
  }
}
