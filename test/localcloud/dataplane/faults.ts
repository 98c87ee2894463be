// Data-channel fault injection for one direction of one WebSocket: drop, duplicate, reorder and
// delay binary frames, reading the live fault settings on every frame so setFaults applies at once.
import type { DataChannelFaults, DataChannelTally } from "./types.ts";
import { MGS_MESSAGES_PER_SECOND } from "./mgs.ts";

export type Direction = "in" | "out";

/** How long a frame held back for reordering waits for a successor before it goes out anyway. */
const REORDER_HOLD_MS = 20;

export class FaultyPipe {
  private held: Buffer[] | undefined;
  private heldTimer: NodeJS.Timeout | undefined;
  readonly counts = { passed: 0, dropped: 0, duplicated: 0, reordered: 0 };

  constructor(
    private readonly direction: Direction,
    private readonly faults: () => DataChannelFaults,
    private readonly deliver: (frame: Buffer) => void,
    private readonly random: () => number = Math.random,
    /** The plane-wide count of injected faults, beside this pipe's own. */
    private readonly tally?: DataChannelTally,
  ) {}

  pass(frame: Buffer): void {
    const f = this.faults();
    if (chance(this.random, f.drop?.[this.direction])) {
      this.counts.dropped++;
      if (this.tally) this.tally.dropped++;
      return;
    }
    const copies = chance(this.random, f.duplicate?.[this.direction]) ? [frame, frame] : [frame];
    if (copies.length === 2) {
      this.counts.duplicated++;
      if (this.tally) this.tally.duplicated++;
    }
    if (!this.held && chance(this.random, f.reorder?.[this.direction])) {
      // Hold this one back so that the next frame overtakes it.
      this.counts.reordered++;
      if (this.tally) this.tally.reordered++;
      this.held = copies;
      this.heldTimer = setTimeout(() => this.releaseHeld(), REORDER_HOLD_MS);
      return;
    }
    for (const copy of copies) this.emit(copy);
    this.releaseHeld();
  }

  /** Sends what is held at once (before a close, so that nothing is stranded). */
  flush(): void {
    this.releaseHeld();
  }

  dispose(): void {
    clearTimeout(this.heldTimer);
    this.held = undefined;
  }

  private releaseHeld(): void {
    clearTimeout(this.heldTimer);
    const held = this.held;
    this.held = undefined;
    for (const copy of held ?? []) this.emit(copy);
  }

  private emit(frame: Buffer): void {
    this.counts.passed++;
    const delayMs = this.faults().delayMs ?? 0;
    // Equal delays fire in insertion order, so delaying keeps the order.
    if (delayMs > 0) setTimeout(() => this.deliver(frame), delayMs);
    else this.deliver(frame);
  }
}

function chance(random: () => number, fraction: number | undefined): boolean {
  return fraction !== undefined && fraction > 0 && random() < fraction;
}

/** Target patterns are exact targets or prefixes ending in "*". */
function matchesTarget(pattern: string, target: string): boolean {
  return pattern.endsWith("*") ? target.startsWith(pattern.slice(0, -1)) : target === pattern;
}

export function isTargetRefused(faults: DataChannelFaults, target: string): boolean {
  return (faults.refuseTargets ?? []).some((pattern) => matchesTarget(pattern, target));
}

/** The agentVersions entry for a target: an exact key wins over the longest matching prefix. */
export function findAgentVersion(faults: DataChannelFaults, target: string): string | undefined {
  const entries = Object.entries(faults.agentVersions ?? {}).filter(([pattern]) => matchesTarget(pattern, target));
  entries.sort(([a], [b]) => Number(b === target) - Number(a === target) || b.length - a.length);
  return entries[0]?.[1];
}

/** The rules that model AWS's limits, switched off: for a benchmark of our own ceiling only. */
export const UNPACED: DataChannelFaults = { agentPacing: false, mgsRateLimit: false };

/** The measured share of the agent's messages resent once (1.7–6.5 % on loopback). */
export const DEFAULT_AGENT_DUPLICATES = 0.03;

/** The AWS rules in force: each on unless the faults switch it off. */
export function strictRules(f: DataChannelFaults) {
  return {
    agentPacing: f.agentPacing !== false,
    mgsRateLimit: f.mgsRateLimit === false ? 0 : (f.mgsRateLimit ?? MGS_MESSAGES_PER_SECOND),
    handshakeDiscard: f.handshakeDiscard !== false,
    agentDuplicates: f.agentDuplicates ?? DEFAULT_AGENT_DUPLICATES,
    halfClose: f.halfClose === true,
    denyRemoteHosts: f.denyRemoteHosts !== false,
    newStreamUrlOnResume: f.newStreamUrlOnResume ?? 1,
  };
}
