// What a tunnel leads to: `--target` (an RDS id, an endpoint, host:port), `--forward L:HOST:R`, the
// default local port (remote + 10000, like the seed's 13306 for 3306), where the local ports listen
// (`--address`, default 127.0.0.1), and the line printed per forward.
import { isIP } from "node:net";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import type { DatabaseTarget } from "../aws/rds.ts";
import { DEFAULT_ADDRESS, isLoopbackAddress } from "../address.ts";

export { DEFAULT_ADDRESS, isLoopbackAddress };

export interface PlannedForward {
  /** 0 = any free port. */
  localPort: number;
  host: string;
  remotePort: number;
  /** What the user named: "stg-db", "cache.internal:6379". */
  label: string;
  /** The flag that chose the local port, for error messages. */
  flag: string;
  /** `--socket`: listens on this Unix socket (mode 0600) instead of a TCP port. */
  socketPath?: string;
}

const PORT = /^\d{1,5}$/;

/** `--address`: an IPv4 or IPv6 literal, or "localhost" (= 127.0.0.1), like kubectl port-forward's. */
export function parseBindAddress(text: string | undefined): string {
  if (text === undefined) return DEFAULT_ADDRESS;
  const address = text.trim();
  if (address.toLowerCase() === "localhost") return DEFAULT_ADDRESS;
  if (isIP(address) === 0) {
    throw new UsageError(
      `--address ${JSON.stringify(text)} is not an IP address: use 127.0.0.1 (the default, this machine only), 0.0.0.0 (every interface) or one of this machine's addresses.`,
    );
  }
  return address;
}

/** The one line telling that --address opened the forwards to the network. */
export function networkWarning(address: string): string | undefined {
  if (isLoopbackAddress(address)) return undefined;
  return `--address ${address}: the forwarded ports accept connections from the network, not only from this machine.`;
}

export function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!PORT.test(text) || n > 65535) throw new UsageError(`${what} ${text} is not a port: use a number from 0 to 65535.`);
  return n;
}

/** The seed's rule (3306 → 13306); ports above 55535 have no such neighbour, so any free port. */
export function defaultLocalPort(remotePort: number): number {
  return remotePort + 10000 <= 65535 ? remotePort + 10000 : 0;
}

/** `--forward LOCAL:HOST:REMOTE`, e.g. `16379:cache.internal:6379`. */
export function parseForward(text: string): PlannedForward {
  const m = /^(\d{1,5}):([^:\s]+):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new UsageError(`--forward ${text} is not LOCAL:HOST:REMOTE: write it like 16379:cache.internal:6379 (LOCAL 0 = any free port).`);
  const remotePort = parsePort(m[3], `--forward ${text}: remote port`);
  if (remotePort === 0) throw new UsageError(`--forward ${text}: the remote port cannot be 0.`);
  return { localPort: parsePort(m[1], `--forward ${text}: local port`), host: m[2], remotePort, label: `${m[2]}:${m[3]}`, flag: "--forward" };
}

/** `host:port`, or a bare ElastiCache endpoint (its port is 6379); undefined for anything else. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(text.trim());
  if (m) {
    const port = parsePort(m[2], `--target ${text}: port`);
    if (port === 0) throw new UsageError(`--target ${text}: the port cannot be 0.`);
    return { host: m[1], port };
  }
  if (/\.cache\.amazonaws\.com$/i.test(text.trim())) return { host: text.trim(), port: 6379 };
  return undefined;
}

/** A database by id (cluster first, then instance) or by endpoint; undefined when none matches. */
export function findDatabase(targets: DatabaseTarget[], name: string): DatabaseTarget | undefined {
  const lower = name.toLowerCase();
  return (
    targets.find((t) => t.kind === "cluster" && t.id.toLowerCase() === lower) ??
    targets.find((t) => t.kind === "instance" && t.id.toLowerCase() === lower) ??
    targets.find((t) => t.host.toLowerCase() === lower || t.readerHost?.toLowerCase() === lower)
  );
}

/** The forward of the main target with `--local-port` (or its default) applied. */
export function targetForward(target: { host: string; port: number; label: string }, localPort: number | undefined): PlannedForward {
  return { localPort: localPort ?? defaultLocalPort(target.port), host: target.host, remotePort: target.port, label: target.label, flag: "--local-port" };
}

/** Two forwards on one fixed local port cannot both listen. */
export function assertDistinctPorts(forwards: PlannedForward[]): void {
  const seen = new Set<number>();
  for (const f of forwards) {
    if (f.localPort !== 0 && seen.has(f.localPort)) {
      throw new UsageError(`Local port ${f.localPort} is given to two forwards: give each --forward its own LOCAL port (or 0 for any free port).`);
    }
    seen.add(f.localPort);
  }
}

/** `--socket PATH`: the --target forward (first in the list) listens on a Unix socket instead of a TCP port. */
export function applySocket(forwards: PlannedForward[], path: string | undefined, localPortFlag: string | undefined): PlannedForward[] {
  if (path === undefined) return forwards;
  if (!path.trim()) throw new UsageError("--socket needs a path: --socket ~/.bastionless/db.sock, for example.");
  if (localPortFlag !== undefined) throw new UsageError("--socket and --local-port both say where --target's forward listens: pass only one of them.");
  const [first, ...rest] = forwards;
  if (first?.flag !== "--local-port") throw new UsageError("--socket is for --target's forward: pass --target as well (each --forward keeps its TCP port).");
  return [{ ...first, localPort: 0, socketPath: resolve(path), flag: "--socket" }, ...rest];
}

/** `127.0.0.1:15432`, `[::]:15432`: the address clients must use, never "localhost" (it may resolve to ::1). */
export function formatLocalAddress(address: string, port: number): string {
  return `${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

/** `127.0.0.1:15432 → stg-db.cluster-….rds.amazonaws.com:5432 via ecs:stg-main_5f2e…` (`0.0.0.0:15432`, `[::]:15432` with --address, `unix:/path` with --socket). */
export function formatForwardLine(
  localPort: number,
  forward: { host: string; remotePort: number; socketPath?: string },
  target: string,
  address: string = DEFAULT_ADDRESS,
): string {
  return `${formatLocalEnd(forward, localPort, address)} → ${forward.host}:${forward.remotePort} via ${target}`;
}

/** Where a forward's clients connect: `127.0.0.1:15432`, or `unix:/path` with --socket. */
export function formatLocalEnd(forward: { socketPath?: string }, localPort: number, address: string = DEFAULT_ADDRESS): string {
  return forward.socketPath ? `unix:${forward.socketPath}` : formatLocalAddress(address, localPort);
}

/**
 * The line under the forwards saying how many sessions carry each (none with one session: today's
 * output): `Up to 4 Session Manager sessions per forward (1 open now; …)`.
 */
export function formatSessionsLine(sessions: Array<{ open: number; max: number }>): string | undefined {
  const max = Math.max(0, ...sessions.map((s) => s.max));
  if (max <= 1) return undefined;
  const open = sessions.map((s) => s.open);
  const now = open.every((n) => n === open[0]) ? `${open[0]} open now` : `${open.join(", ")} open now`;
  return `Up to ${max} Session Manager sessions per forward (${now}; another opens when every one carries a connection, each about 0.65 MB/s).`;
}
