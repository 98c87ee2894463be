// The local side of a forward: listening sockets that outlive the sessions behind them. Two rules
// keep another local user from receiving a forward's connections (the password in them):
// - the default address holds the port on 127.0.0.1 *and* [::1]: clients that resolve "localhost"
//   to ::1 would otherwise reach whoever listens there; a port someone holds on [::1] is refused;
// - a listener is never closed and reopened while the tunnel lives (a squatter binds it in the gap):
//   the session behind it is swapped (attach/detach), and connections that arrive meanwhile wait.
// A Unix socket of mode 0600 (--socket) goes further: other local users cannot connect at all.
import { chmodSync, lstatSync, statSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { DEFAULT_ADDRESS } from "../address.ts";

export { DEFAULT_ADDRESS };
const IPV6_LOOPBACK = "::1";
/** An ephemeral port free on 127.0.0.1 may be taken on [::1]: try another this many times. */
const EPHEMERAL_TRIES = 20;

export interface LocalListener {
  /** The TCP port; 0 for a Unix socket. */
  readonly port: number;
  /** The Unix socket's path, when it is one. */
  readonly path?: string;
  /** The addresses it listens on: 127.0.0.1 and ::1 for the default (::1 only where the host has it); the path for a socket. */
  readonly addresses: string[];
  /** New connections (paused) go to `handler`; those that waited while detached first, in order. */
  attach(handler: (socket: Socket) => void): void;
  /** From now on connections wait until the next attach(). */
  detach(): void;
  /** Connections waiting right now, for tests. */
  readonly waiting: number;
  /** Stops listening and drops waiting connections; connections already handed on are the handler's. */
  close(): void;
}

/** Thrown when the port is taken on one of the addresses; `address` says which. */
export class PortBusyError extends Error {
  override name = "PortBusyError";
  constructor(
    readonly port: number,
    readonly address: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`Local port ${port} is busy on ${address.includes(":") ? `[${address}]` : address} (${code})`, options);
  }
}

/**
 * Listens on `address:port` (port 0 = a free one). For the default address also on [::1] at the same
 * port, or fails with PortBusyError when someone holds it there (a host without IPv6 loopback: skipped).
 */
export async function listenLocal(port: number, address: string = DEFAULT_ADDRESS): Promise<LocalListener> {
  const tries = port === 0 && address === DEFAULT_ADDRESS ? EPHEMERAL_TRIES : 1;
  for (let attempt = 1; ; attempt++) {
    const servers: Server[] = [];
    const listener = createListener(servers);
    try {
      const first = await listen(listener.onConnection, port, address);
      servers.push(first);
      const bound = (first.address() as { port: number }).port;
      if (address === DEFAULT_ADDRESS) {
        const second = await listen(listener.onConnection, bound, IPV6_LOOPBACK).catch((error: NodeJS.ErrnoException) => {
          if (error.code === "EADDRNOTAVAIL" || error.code === "EAFNOSUPPORT") return undefined;
          throw new PortBusyError(bound, IPV6_LOOPBACK, error.code ?? error.message, { cause: error });
        });
        if (second) servers.push(second);
      }
      return listener.handle(bound);
    } catch (error) {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      if (error instanceof PortBusyError && error.address === IPV6_LOOPBACK && attempt < tries) continue;
      if (error instanceof PortBusyError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE") throw new PortBusyError(port, address, code, { cause: error });
      throw error;
    }
  }
}

/**
 * A forward on a Unix socket that only this user can connect to: created mode 0600 (umask 0177 around
 * the bind, then chmod), in a directory nobody else can swap it out of, never over an existing file,
 * and removed on close. Other local users cannot use it, unlike a loopback port.
 */
export async function listenLocalSocket(path: string): Promise<LocalListener> {
  assertSocketPathUsable(path);
  const servers: Server[] = [];
  const listener = createListener(servers, () => {
    // Only the socket we made: never a file someone put there since.
    try {
      if (lstatSync(path).ino === made) unlinkSync(path);
    } catch {
      // already gone
    }
  });
  const umask = process.umask(0o177);
  let server: Server;
  try {
    server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, listener.onConnection);
    const bound = new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    await bound.finally(() => process.umask(umask));
  } catch (error) {
    process.umask(umask);
    throw new Error(`Could not listen on ${path}: ${(error as Error).message}`, { cause: error });
  }
  servers.push(server);
  chmodSync(path, 0o600);
  const made = lstatSync(path).ino;
  return listener.handle(0, path);
}

/** The path must not exist, and its directory must not let other users replace what is in it. */
export function assertSocketPathUsable(path: string): void {
  if (Buffer.byteLength(path) > 107) throw new Error(`The socket path ${path} is longer than 107 bytes: choose a shorter one.`);
  let exists = true;
  try {
    lstatSync(path);
  } catch {
    exists = false;
  }
  if (exists) throw new Error(`${path} already exists: remove it, or choose another path for the socket.`);
  const dir = dirname(path);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new Error(`The directory ${dir} of the socket does not exist: create it (mode 0700), or choose another path.`);
  }
  const mine = st.uid === process.getuid?.() || st.uid === 0;
  const othersMayWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
  if (!st.isDirectory() || !mine || othersMayWrite) {
    throw new Error(
      `The directory ${dir} lets other users replace the socket: use a directory of yours that only you can write to (mode 0700), such as $XDG_RUNTIME_DIR.`,
    );
  }
}

function listen(onConnection: (socket: Socket) => void, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
    server.once("error", reject);
    server.listen({ port, host, exclusive: true, ipv6Only: host === IPV6_LOOPBACK }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

function createListener(servers: Server[], onClose?: () => void) {
  let handler: ((socket: Socket) => void) | undefined;
  let closed = false;
  const waiting: Socket[] = [];
  const onConnection = (socket: Socket) => {
    if (closed) return void socket.destroy();
    if (handler) return handler(socket);
    waiting.push(socket);
    socket.once("close", () => {
      const i = waiting.indexOf(socket);
      if (i >= 0) waiting.splice(i, 1);
    });
    socket.on("error", () => socket.destroy());
  };
  const handle = (port: number, path?: string): LocalListener => ({
    port,
    path,
    addresses: path ? [path] : servers.map((s) => (s.address() as { address: string }).address),
    attach(next) {
      handler = next;
      for (const socket of waiting.splice(0)) if (!socket.destroyed) next(socket);
    },
    detach() {
      handler = undefined;
    },
    get waiting() {
      return waiting.length;
    },
    close() {
      closed = true;
      handler = undefined;
      for (const socket of waiting.splice(0)) socket.destroy();
      for (const server of servers) server.close();
      onClose?.();
    },
  });
  return { onConnection, handle };
}
