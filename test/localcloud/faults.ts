// Per-operation faults: latency, a token-bucket throttle, a 5xx error rate and "fail the next N".
// Keys are "<service>:<Operation>" ("ssm:DeregisterManagedInstance"), "<service>:*" or "*:*";
// the most specific key wins.
import { AwsError } from "./aws-errors.ts";
import type { DataChannelFaults } from "./dataplane/types.ts";

export interface OperationFaults {
  /** Added before the call is answered (success or error). */
  latencyMs?: number;
  /** Token bucket: `tps` tokens per second, capacity `burst` (default = tps), starting full. */
  throttle?: { tps: number; burst?: number };
  /** Fraction 0..1 of calls answered with a server error. */
  errorRate?: number;
  /** Fraction 0..1 of calls answered with the service's throttling error (a random throttle, no bucket). */
  throttleRate?: number;
  /** One-shot: the next N calls fail (default: the service's 5xx; `code`/`status` override). */
  failNext?: number | { count: number; code?: string; status?: number; message?: string };
}

export type FaultSpec = {
  dataChannel?: DataChannelFaults;
  /** Seeds the random choices of errorRate and throttleRate, so a run can be replayed. */
  seed?: number;
} & { [operation: `${string}:${string}`]: OperationFaults };

/** What was injected since the cloud started, by kind. */
export interface InjectedCounts {
  latency: number;
  throttled: number;
  serverErrors: number;
  failNext: number;
}

interface Bucket {
  tokens: number;
  capacity: number;
  tps: number;
  refilledAt: number;
}

export interface Faults {
  set(spec: FaultSpec): void;
  spec(): FaultSpec;
  /** Waits the latency, then throws the fault's AwsError if this call must fail. */
  apply(service: string, operation: string): Promise<void>;
  injected(): InjectedCounts;
}

const QUERY_SERVICES = new Set(["rds", "ec2", "iam", "sts"]);

export function throttlingError(service: string): AwsError {
  if (service === "ec2") return new AwsError("RequestLimitExceeded", "Request limit exceeded.", 503);
  if (QUERY_SERVICES.has(service)) return new AwsError("Throttling", "Rate exceeded", 400);
  return new AwsError("ThrottlingException", "Rate exceeded", 400);
}

export function serverError(service: string): AwsError {
  if (service === "ecs") return new AwsError("ServerException", "Service unavailable (injected fault)", 500);
  if (QUERY_SERVICES.has(service)) return new AwsError("InternalFailure", "We encountered an internal error (injected fault)", 500);
  return new AwsError("InternalServerError", "An internal error occurred (injected fault)", 500);
}

export function validateFaultSpec(spec: unknown): FaultSpec {
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new Error("faults must be a JSON object");
  for (const [key, value] of Object.entries(spec)) {
    if (key === "dataChannel") continue;
    if (key === "seed") {
      if (!Number.isSafeInteger(value)) throw new Error("seed must be an integer");
      continue;
    }
    if (!/^[a-z0-9*-]+:[A-Za-z0-9*]+$/.test(key)) throw new Error(`fault key "${key}" is not "<service>:<Operation>"`);
    const f = value as OperationFaults;
    if (f.throttle && !(f.throttle.tps > 0)) throw new Error(`${key}: throttle.tps must be > 0`);
    for (const rate of ["errorRate", "throttleRate"] as const) {
      if (f[rate] !== undefined && !(f[rate] >= 0 && f[rate] <= 1)) throw new Error(`${key}: ${rate} must be 0..1`);
    }
  }
  return spec as FaultSpec;
}

export function createFaults(now: () => number = Date.now): Faults {
  let current: FaultSpec = {};
  let buckets = new Map<string, Bucket>();
  let failNextLeft = new Map<string, number>();
  let random: () => number = Math.random;
  const counts: InjectedCounts = { latency: 0, throttled: 0, serverErrors: 0, failNext: 0 };

  function find(service: string, operation: string): [string, OperationFaults] | undefined {
    const spec = current as Record<string, OperationFaults>;
    for (const key of [`${service}:${operation}`, `${service}:*`, "*:*"]) if (spec[key]) return [key, spec[key]];
    return undefined;
  }

  function takeToken(key: string, throttle: { tps: number; burst?: number }): boolean {
    const t = now();
    let b = buckets.get(key);
    if (!b) {
      const capacity = throttle.burst ?? throttle.tps;
      b = { tokens: capacity, capacity, tps: throttle.tps, refilledAt: t };
      buckets.set(key, b);
    }
    b.tokens = Math.min(b.capacity, b.tokens + ((t - b.refilledAt) / 1000) * b.tps);
    b.refilledAt = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  return {
    set(spec) {
      current = validateFaultSpec(spec);
      buckets = new Map();
      failNextLeft = new Map();
      random = current.seed === undefined ? Math.random : seededRandom(current.seed);
      for (const [key, f] of Object.entries(current)) {
        if (key === "dataChannel" || key === "seed") continue;
        const fn = (f as OperationFaults).failNext;
        if (fn !== undefined) failNextLeft.set(key, typeof fn === "number" ? fn : fn.count);
      }
    },
    spec: () => current,
    injected: () => ({ ...counts }),
    async apply(service, operation) {
      const found = find(service, operation);
      if (!found) return;
      const [key, f] = found;
      if (f.latencyMs) {
        counts.latency++;
        await new Promise((r) => setTimeout(r, f.latencyMs));
      }
      const left = failNextLeft.get(key) ?? 0;
      if (left > 0) {
        failNextLeft.set(key, left - 1);
        counts.failNext++;
        const fn = f.failNext;
        if (typeof fn === "object" && fn.code) throw new AwsError(fn.code, fn.message ?? "Injected failure", fn.status ?? 400);
        if (typeof fn === "object" && fn.status && fn.status < 500) throw new AwsError("InjectedFault", fn.message ?? "Injected failure", fn.status);
        throw serverError(service);
      }
      if ((f.throttle && !takeToken(key, f.throttle)) || (f.throttleRate && random() < f.throttleRate)) {
        counts.throttled++;
        throw throttlingError(service);
      }
      if (f.errorRate && random() < f.errorRate) {
        counts.serverErrors++;
        throw serverError(service);
      }
    },
  };
}

/** mulberry32: a small, well-mixed 32-bit generator; the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
