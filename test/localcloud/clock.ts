// Simulated time: real time plus an offset that only moves forward (POST /_localcloud/clock),
// so expiry and ping-age tests need not wait.
export interface Clock {
  now(): number;
  advance(ms: number): void;
}

export function createClock(): Clock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`clock can only move forward, got ${ms}`);
      offset += ms;
    },
  };
}

/** AWS JSON 1.1 timestamps are epoch seconds with fractions. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}
