// What every operation handler is given: the cloud's state and services, and the call itself.
import type { IncomingHttpHeaders } from "node:http";
import type { Clock } from "./clock.ts";
import type { Faults } from "./faults.ts";
import type { Moto } from "./moto.ts";
import type { SecretLog } from "./secrets.ts";
import type { CloudState } from "./state.ts";
import type { DataPlane } from "./dataplane/types.ts";
import type { Principals } from "./iam/principals.ts";

export interface CloudOptions {
  defaultRegion: string;
  /** http://127.0.0.1:<gateway port> */
  endpoint: string;
  connectionLostAfterMs: number;
  taskDelays: { provisioningMs: number; pendingMs: number };
  /** Overrides every container's stopTimeout when set (tests). */
  stopTimeoutMs?: number;
  /** The cloud's own temp dir; every container dir lives under it. */
  tmpRoot: string;
  repoRoot: string;
}

export interface MotoReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A moto error relayed to the client verbatim. */
export class MotoReplyError extends Error {
  constructor(readonly reply: MotoReply) {
    super(`moto answered ${reply.status}`);
  }
}

export interface Call {
  region: string;
  service: string;
  operation: string;
  body: any;
  headers: IncomingHttpHeaders;
  /** Sends the original request to moto; for JSON, parses the answer (throws MotoReplyError on 4xx/5xx). */
  forwardJson(body?: unknown): Promise<any>;
}

export interface CloudContext {
  state: CloudState;
  clock: Clock;
  moto: Moto;
  faults: Faults;
  dataPlane: DataPlane;
  options: CloudOptions;
  /** Maps Aurora endpoints to the local PostgreSQL (filled by the world). */
  hostMap: Map<string, { host: string; port: number }>;
  /** Every secret handed out (activation codes, session tokens, data keys, credentials). */
  secrets: SecretLog;
  /** Who each access key is, and their identity policies (moto's IAM). */
  principals: Principals;
  /** AWS calls received and not yet answered, and when the last one came or went (GET /_localcloud/inflight). */
  inFlight: { calls: number; lastMs: number };
  /** Tells the watchdog about a process group to kill if our process dies without stop(). */
  trackProcessGroup(pgid: number): void;
  /** The group is dead (killed whole after its leader exited): the watchdog forgets it, its id may be reused. */
  untrackProcessGroup(pgid: number): void;
  /** Tells the watchdog about a command that removes something no process group holds (a real container). */
  trackCleanupCommand(argv: string[], env?: Record<string, string>): void;
  /** Moves task lifecycles to the current simulated time (starts/stops processes). */
  tick(): void;
}

export type Handler = (ctx: CloudContext, call: Call) => Promise<unknown>;
