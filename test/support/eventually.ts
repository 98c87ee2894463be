// Polling for tests: wait until a condition holds, with the last error in the timeout message.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check`, every `everyMs`, until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = "condition", everyMs = 50): Promise<T> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
    await sleep(everyMs);
  }
}
