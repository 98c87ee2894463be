// The options and handles shared by the native client and the plugin launcher (lib/session/index.ts).
import type { AwsClients } from "../aws/clients.ts";
import type { ClientChoice } from "../config-schema.ts";
import type { Logger } from "../log.ts";
import type { LocalListener } from "./listeners.ts";

export type { ClientChoice };

/** One local listener leading to host:remotePort as seen from the target. */
export interface Forward {
  /** 0 = a free port, reported back in `ports`. */
  localPort: number;
  /** Omitted: the target itself (AWS-StartPortForwardingSession). */
  host?: string;
  remotePort: number;
}

export interface SessionContext {
  clients: Pick<AwsClients, "ssm" | "ecs" | "kms">;
  region: string;
  /** Only a profile the user chose explicitly; it is passed on to the plugin (awscli's rule). */
  profile?: string;
  client?: ClientChoice;
  /** Where session-manager-plugin lives; default: found on PATH. */
  pluginPath?: string;
  log?: Logger;
}

export interface PortForwardOptions extends SessionContext {
  /** `mi-…`, `i-…` or `ecs:<cluster>_<taskId>_<runtimeId>`. */
  target: string;
  forwards: Forward[];
  /** Default 127.0.0.1 (loopback only; [::1] is held too). */
  bindAddress?: string;
  /**
   * The caller's listeners, one per forward (lib/session/listeners.ts): they stay open when this
   * forward stops, so sessions can be swapped behind them. Without them each forward listens itself.
   */
  listeners?: LocalListener[];
  /**
   * Native: up to this many sessions per forward (lib/session/pool.ts), opened as concurrent
   * connections need them; default 1 (one session, replaced for the next connection when it ends).
   */
  sessions?: number;
  /** Native: how long an extra session may carry no connection before it closes; default 5 min. */
  sessionIdleMs?: number;
  /** How long to wait for each session to be usable; default 30 s. */
  readyTimeoutMs?: number;
  /** Native: data-channel payload size; default INPUT_PAYLOAD_SIZE (1024, what AWS's own clients send). */
  payloadSize?: number;
  /** Native: stream-data messages per second per session; default 900 (MGS cuts a session above ≈1000). */
  messagesPerSecond?: number;
  /** Native: the ClientVersion reported to the agent; default CLIENT_VERSION (1.2.764.0). */
  clientVersion?: string;
  /** Native: messages in flight per session, counted from the oldest unacknowledged one; default 2048. */
  sendWindow?: number;
  /** Native, benchmark only: sleep this long after each message sent, as the plugin does (1). */
  paceMs?: number;
  /** Native, tests only: the wait after HandshakeComplete before the first data (default HANDSHAKE_SETTLE_MS). */
  handshakeSettleMs?: number;
}

export interface PortForward {
  client: "native" | "plugin";
  /** The local port of each forward, in order. */
  ports: number[];
  /** Resolves when every forward is usable; rejects with the first that failed. */
  ready: Promise<void>;
  /** Resolves when a forward ends by itself (its session gone and not renewable); never on stop(). */
  ended: Promise<string>;
  /** Per forward, in order: the sessions open now and how many it may open. */
  sessions(): Array<{ open: number; max: number }>;
  /** Closes listeners and connections and ends the sessions (TerminateSession flag / SIGINT to the plugin). */
  stop(): Promise<void>;
}

export type ShellVia =
  /** ssm:StartSession with the default shell document, or a command document. */
  | { kind: "ssm"; target: string; documentName?: string; parameters?: Record<string, string[]> }
  /** ecs:ExecuteCommand; `target` is `ecs:<cluster>_<taskId>_<runtimeId>` (for the plugin's argv). */
  | { kind: "ecs"; cluster: string; task: string; container?: string; command: string; target: string };

export interface ShellOptions extends SessionContext {
  via: ShellVia;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  /** Native, tests only: the wait after HandshakeComplete before input is sent (default HANDSHAKE_SETTLE_MS). */
  handshakeSettleMs?: number;
}

export interface Shell {
  client: "native" | "plugin";
  sessionId: string;
  /** The exit code: 0 when the session ended normally (no remote exit code reaches the client). */
  exit: Promise<number>;
  stop(): Promise<void>;
}
