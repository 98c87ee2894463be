// Retries with exponential backoff and jitter, bounded by attempts and by a deadline, for the calls
// that must not give up after the SDK's three tries: the entrypoint's (its clients run with
// maxAttempts 1, so this loop alone decides how long a call may take: long enough at start, never
// past the grace period at shutdown) and portforward's StopTask, which is what stops the billing.

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Epoch ms: no attempt starts after it, and the attempt running at it is aborted. */
  deadline?: number;
  /** Aborts the attempt in flight and stops the retries. */
  signal?: AbortSignal;
  /** Stops the retries but lets the attempt in flight finish. */
  stop?: AbortSignal;
}

export interface Attempt {
  attempt: number;
  /** Aborts at the deadline or with the policy's signal: pass it to the SDK call. */
  abortSignal: AbortSignal;
}

/** Runs `run` until it succeeds, or until a failure `retryable` refuses (lib/aws/errors.ts: isRetryable for AWS calls). */
export async function withRetries<T>(
  run: (attempt: Attempt) => Promise<T>,
  policy: RetryPolicy,
  options: { retryable: (error: unknown) => boolean; onRetry?: (error: unknown, attempt: number, delayMs: number) => void },
): Promise<T> {
  const { retryable } = options;
  for (let attempt = 1; ; attempt++) {
    const abortSignal = attemptSignal(policy);
    try {
      return await run({ attempt, abortSignal });
    } catch (error) {
      const delay = backoffDelay(attempt, policy);
      const tooLate = policy.deadline !== undefined && Date.now() + delay >= policy.deadline;
      const stopped = () => Boolean(policy.signal?.aborted || policy.stop?.aborted);
      if (attempt >= policy.attempts || tooLate || stopped() || !retryable(error)) throw error;
      options.onRetry?.(error, attempt, delay);
      const wake = [policy.signal, policy.stop].filter((s): s is AbortSignal => s !== undefined);
      await sleep(delay, wake.length ? AbortSignal.any(wake) : undefined);
      if (stopped()) throw error;
    }
  }
}

/** Equal jitter: half the exponential delay, plus up to the other half at random. */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, "baseMs" | "capMs">, random: () => number = Math.random): number {
  const full = Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.round(full / 2 + (random() * full) / 2);
}

function attemptSignal(policy: RetryPolicy): AbortSignal {
  const signals: AbortSignal[] = [];
  if (policy.signal) signals.push(policy.signal);
  if (policy.deadline !== undefined) signals.push(AbortSignal.timeout(Math.max(1, policy.deadline - Date.now())));
  if (signals.length === 0) return new AbortController().signal;
  return signals.length === 1 ? signals[0] : AbortSignal.any(signals);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
