// AWS clients built once per run from { profile, region } and passed down, never made per call.
// The SDK itself reads the standard credential chain and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>.
import { SSMClient } from "@aws-sdk/client-ssm";
import { ECSClient } from "@aws-sdk/client-ecs";
import { RDSClient } from "@aws-sdk/client-rds";
import { KMSClient } from "@aws-sdk/client-kms";
import { IAMClient } from "@aws-sdk/client-iam";
import { STSClient } from "@aws-sdk/client-sts";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { S3Client } from "@aws-sdk/client-s3";
import { UsageError } from "../errors.ts";
import { escapeControl } from "../log.ts";
import { withClientProfile } from "./errors.ts";

export interface AwsOptions {
  profile?: string;
  region?: string;
  /** "standard" (default) or "adaptive" (client-side rate limiting, for bulk work like the sweeper). */
  retryMode?: "standard" | "adaptive";
  /** Total attempts per call, first included. Default 3 (the SDK's), AWS_MAX_ATTEMPTS still wins when set. */
  maxAttempts?: number;
  /** Per-attempt socket timeout; short on the entrypoint's shutdown path. */
  requestTimeoutMs?: number;
}

export interface ClientConfig {
  profile?: string;
  region?: string;
  retryMode: string;
  maxAttempts: number;
  requestHandler?: { requestTimeout: number; connectionTimeout: number };
}

export function clientConfig(options: AwsOptions = {}, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const fromEnv = Number(env.AWS_MAX_ATTEMPTS);
  return {
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.region ? { region: options.region } : {}),
    retryMode: options.retryMode ?? env.AWS_RETRY_MODE ?? "standard",
    maxAttempts: Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (options.maxAttempts ?? 3),
    ...(options.requestTimeoutMs
      ? { requestHandler: { requestTimeout: options.requestTimeoutMs, connectionTimeout: Math.min(options.requestTimeoutMs, 3000) } }
      : {}),
  };
}

export interface AwsClients {
  ssm: SSMClient;
  ecs: ECSClient;
  rds: RDSClient;
  kms: KMSClient;
  iam: IAMClient;
  sts: STSClient;
  logs: CloudWatchLogsClient;
  s3: S3Client;
  destroy(): void;
}

/** Clients are created on first use, so a script pays only for the services it calls. */
export function createClients(options: AwsOptions = {}): AwsClients {
  const config = clientConfig(options);
  // The SDK warns, as each client is made under Node 20, that releases after January 2027 need Node 22;
  // the versions pinned here run on Node 20, so the warning is noise for operators and cron logs.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  // An expired-credentials line then names the profile to log in again with.
  const profile = options.profile ?? process.env.AWS_PROFILE;
  const made = new Map<string, { destroy(): void }>();
  const lazy = <T extends { destroy(): void; middlewareStack: MiddlewareStackLike }>(key: string, make: () => T): T => {
    if (!made.has(key)) made.set(key, withProfileNoted(withControlsEscaped(make()), profile));
    return made.get(key) as T;
  };
  return {
    get ssm() {
      return lazy("ssm", () => new SSMClient(config));
    },
    get ecs() {
      return lazy("ecs", () => new ECSClient(config));
    },
    get rds() {
      return lazy("rds", () => new RDSClient(config));
    },
    get kms() {
      return lazy("kms", () => new KMSClient(config));
    },
    get iam() {
      return lazy("iam", () => new IAMClient(config));
    },
    get sts() {
      return lazy("sts", () => new STSClient(config));
    },
    get logs() {
      return lazy("logs", () => new CloudWatchLogsClient(config));
    },
    get s3() {
      return lazy("s3", () => new S3Client(config));
    },
    destroy() {
      for (const client of made.values()) client.destroy();
      made.clear();
    },
  };
}

interface MiddlewareStackLike {
  add(middleware: unknown, options: { step: "initialize"; name: string }): void;
}

/**
 * Every string in the client's answers, and in its errors' messages, with control characters
 * escaped (escapeControl) before any of it can be printed: a task's stoppedReason, an instance's
 * computer name or an error message is anyone's text, and a terminal obeys the escapes in it.
 */
export function withControlsEscaped<T extends { middlewareStack: MiddlewareStackLike }>(client: T): T {
  const middleware = (next: (args: unknown) => Promise<{ output: unknown }>) => async (args: unknown) => {
    try {
      const result = await next(args);
      escapeStrings(result.output);
      return result;
    } catch (error) {
      if (error instanceof Error) error.message = escapeControl(error.message);
      throw error;
    }
  };
  client.middlewareStack.add(middleware, { step: "initialize", name: "bastionlessEscapeControl" });
  return client;
}

/** Every failure of the client's calls carries `profile` (withClientProfile), so that explainAwsError can name it. */
function withProfileNoted<T extends { middlewareStack: MiddlewareStackLike }>(client: T, profile: string | undefined): T {
  const middleware = (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
    try {
      return await next(args);
    } catch (error) {
      throw withClientProfile(error, profile);
    }
  };
  client.middlewareStack.add(middleware, { step: "initialize", name: "bastionlessClientProfile" });
  return client;
}

/** Rewrites, in place, every string held by `value`'s plain objects and arrays. */
function escapeStrings(value: unknown, seen = new WeakSet<object>()): void {
  if (value === null || typeof value !== "object" || seen.has(value) || ArrayBuffer.isView(value) || value instanceof Date) return;
  seen.add(value);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const v = record[key];
    if (typeof v === "string") record[key] = escapeControl(v);
    else escapeStrings(v, seen);
  }
}

/** The region the clients will use, resolved the SDK's way (flag, env, profile), or undefined. */
export async function resolveRegion(clients: Pick<AwsClients, "ssm">): Promise<string | undefined> {
  try {
    return await clients.ssm.config.region();
  } catch {
    return undefined;
  }
}

/** The region given, else the clients' (flag, env, profile); a usage error naming every way to set one when there is none. */
export async function requireRegion(clients: Pick<AwsClients, "ssm">, given?: string): Promise<string> {
  const region = given || (await resolveRegion(clients));
  if (!region) throw new UsageError("No AWS region is set: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or give the profile a region.");
  return region;
}

/**
 * The time according to AWS: the SDK learns the clock skew from each answer's Date header, so ages
 * (last ping, task start) are judged on AWS's clock even on a cron host whose clock drifted.
 */
export function awsNow(client: { config: { systemClockOffset?: number } }): Date {
  return new Date(Date.now() + (client.config.systemClockOffset ?? 0));
}
