// Moves bytes from a local source (a target socket, the smux session, a pty) into data-channel
// messages: the agent's ≤1 KiB reads with a 1 ms sleep when agentPacing is on (§2.6, §6),
// otherwise up to 32 KiB per message. Like the agent it has no send window: it waits only while
// the WebSocket cannot take more (the agent's write blocks on a full connection), so a client
// that stops reading pushes back through TCP, and a lost message does not stop output.
//
// Each session's agent keeps its own clock. On AWS every session is its own session-worker process,
// so one agent's 1 ms sleep ends on time whatever the other sessions do; here every agent shares one
// event loop with the others (and with MGS and the gateway), and a bare `sleep(1)` after each send
// ended only once the loop had done everyone's work: with 8 busy sessions each agent's message took
// 1.75 ms on an idle machine and 3.5–4.4 ms on a loaded one, against 1.2 ms for one session. So a
// message goes out at its time on the agent's own clock — AGENT_MESSAGE_INTERVAL_MS after the one
// before, or when its bytes arrived if the agent was waiting for them (a real agent is then blocked
// in its read, and sends at once), or when the WebSocket took writes again after a full connection
// // blocked it. A wake-up that comes late sends the messages whose time has passed at once, so an
// agent never sends faster than one message per interval on average (MGS's bucket of 1000 a
// second never empties); more than AGENT_CATCH_UP_MS of lateness is lost for good (a stalled
// emulator is slower than AWS, never faster).
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

export const AGENT_PAYLOAD_SIZE = 1024;
export const UNPACED_PAYLOAD_SIZE = 32 * 1024;
/** Bytes queued on the WebSocket above which sources are not read: a blocking write's stand-in. */
export const SOCKET_HIGH_WATER_BYTES = 1024 * 1024;
/**
 * One agent message per this many ms: its 1 ms sleep plus the read and write around it. 1.2 ms is
 * what `send; sleep(1)` gave one session on an idle loop here (0.85 MB/s; Go's 1 ms sleep returns after
 * 1.06–1.1 ms), so one session is exactly as fast as before; a real agent 3.3.1142.0 measured 1.5 ms.
 */
export const AGENT_MESSAGE_INTERVAL_MS = 1.2;
/**
 * How far the shared event loop may run behind an agent's clock and still catch up: a loaded 2-core
 * machine keeps a runnable thread off the CPU for tens of ms. At most 42 messages (42 KiB) at once.
 */
export const AGENT_CATCH_UP_MS = 50;

export interface PumpTarget {
  send(chunk: Buffer): void;
  /** undefined while output may continue; else resolves when it may (the WebSocket's queue under SOCKET_HIGH_WATER_BYTES). */
  whenWritable(): Promise<void> | undefined;
  paced(): boolean;
}

/** The agent's time: performance.now() and a timer, unless a test passes its own. */
export interface PumpClock {
  now(): number;
  sleep(ms: number): Promise<unknown>;
}

const realClock: PumpClock = { now: () => performance.now(), sleep };

/** Resolves when `source` ended or failed; never rejects. */
export async function pumpToChannel(source: Readable, target: PumpTarget, clock: PumpClock = realClock): Promise<void> {
  const { now } = clock;
  /** When the agent's next message is due on its own clock. */
  let due = -Infinity;
  try {
    // destroyOnReturn false: a target that finished sending may still be written to (half-close).
    for await (const chunk of source.iterator({ destroyOnReturn: false })) {
      const bytes = chunk as Buffer;
      let ready = now();
      const paced = target.paced();
      const size = paced ? AGENT_PAYLOAD_SIZE : UNPACED_PAYLOAD_SIZE;
      for (let offset = 0; offset < bytes.length; offset += size) {
        const blocked = target.whenWritable();
        if (blocked) {
          await blocked;
          ready = now();
        }
        if (paced) {
          const at = Math.max(due, ready, now() - AGENT_CATCH_UP_MS);
          while (now() < at) await clock.sleep(Math.max(1, Math.ceil(at - now())));
          due = at + AGENT_MESSAGE_INTERVAL_MS;
        }
        target.send(bytes.subarray(offset, offset + size));
      }
    }
  } catch {
    // A reset target or a killed pty ends the pump like EOF does.
  }
}
