// The data path of one port session once its handshake is done (docs/session-protocol.md §4):
// mux (smux v1, a stream per local connection) when the agent has it (versions.ts), otherwise
// basic (one connection at a time, DisconnectToPort between them). Backpressure both ways: a full
// send window pauses local sockets; a slow local reader pauses the WebSocket.
import type { Socket } from "node:net";
import type { Logger } from "../log.ts";
import type { DataChannel } from "./channel.ts";
import { buildFlagPayload, parseFlagPayload, PayloadType, PortFlag } from "./frames.ts";
import { hasMux, keepsSmuxKeepAlive } from "./versions.ts";
import { SmuxSession, type SmuxStream } from "./smux.ts";
import { startPump } from "./pump.ts";

export interface Tunnel {
  mode: "mux" | "basic";
  /** Carries one accepted local connection. */
  accept(socket: Socket): void;
  /** A payload of the channel after the handshake. */
  handle(type: number, payload: Buffer): void;
  /** Ends every connection (the session is over or being stopped). */
  close(): void;
  readonly connections: number;
}

export interface TunnelOptions {
  channel: DataChannel;
  agentVersion: string;
  properties: Record<string, string>;
  payloadSize?: number;
  paceMs?: number;
  log?: Logger;
  /** ConnectToPortError, once per failed connection. */
  onConnectError?: (message: string) => void;
}

export function isMuxAgent(agentVersion: string, type: string | undefined): boolean {
  return (type ?? "LocalPortForwarding") === "LocalPortForwarding" && hasMux(agentVersion);
}

export function createTunnel(opts: TunnelOptions): Tunnel {
  return isMuxAgent(opts.agentVersion, opts.properties.type) ? createMuxTunnel(opts) : createBasicTunnel(opts);
}

function connectErrorMessage(opts: TunnelOptions): string {
  const where = `${opts.properties.host ?? "localhost"}:${opts.properties.portNumber ?? "?"}`;
  return `Connection to ${where} failed on the target (ConnectToPortError): is it listening, and does the target's security group allow it?`;
}

function createMuxTunnel(opts: TunnelOptions): Tunnel {
  const { channel } = opts;
  const keepAlive = keepsSmuxKeepAlive(opts.agentVersion);
  const mux = new SmuxSession({ ...(keepAlive ? { keepAliveIntervalMs: 10_000, keepAliveTimeoutMs: 30_000 } : {}) });
  const stopPump = startPump(mux, channel, { payloadSize: opts.payloadSize, paceMs: opts.paceMs });
  mux.on("error", (error) => opts.log?.debug(`smux: ${error.message}`));
  mux.on("drain", () => channel.resumeInput());
  /** Streams that have not heard from the target yet: a ConnectToPortError is about the oldest. */
  const silent = new Set<SmuxStream>();
  const sockets = new Set<Socket>();

  return {
    mode: "mux",
    get connections() {
      return sockets.size;
    },
    accept(socket) {
      sockets.add(socket);
      const stream = mux.openStream();
      silent.add(stream);
      stream.once("data", () => silent.delete(stream));
      socket.pipe(stream);
      stream.pipe(socket);
      socket.on("error", () => stream.destroy());
      socket.on("close", () => {
        sockets.delete(socket);
        silent.delete(stream);
        stream.destroy();
      });
      stream.on("error", () => socket.destroy());
      stream.on("close", () => socket.end());
    },
    handle(type, payload) {
      if (type === PayloadType.Output) {
        if (!mux.write(payload)) channel.pauseInput();
      } else if (type === PayloadType.Flag && parseFlagPayload(payload) === PortFlag.ConnectToPortError) {
        const oldest = silent.values().next().value;
        if (oldest) silent.delete(oldest);
        opts.onConnectError?.(connectErrorMessage(opts));
      }
    },
    close() {
      stopPump();
      for (const socket of sockets) socket.destroy();
      mux.destroy();
    },
  };
}

function createBasicTunnel(opts: TunnelOptions): Tunnel {
  const { channel } = opts;
  const waiting: Socket[] = [];
  let active: { socket: Socket; stopPump: () => void } | undefined;
  let closed = false;

  const activate = (socket: Socket): void => {
    const stopPump = startPump(socket, channel, { payloadSize: opts.payloadSize, paceMs: opts.paceMs });
    active = { socket, stopPump };
    socket.on("drain", () => channel.resumeInput());
    socket.once("close", () => {
      stopPump();
      active = undefined;
      if (closed) return;
      channel.send(PayloadType.Flag, buildFlagPayload(PortFlag.DisconnectToPort));
      const next = waiting.shift();
      if (next) activate(next);
    });
    socket.once("end", () => socket.end());
  };

  return {
    mode: "basic",
    get connections() {
      return (active ? 1 : 0) + waiting.length;
    },
    accept(socket) {
      socket.on("error", () => socket.destroy());
      if (active) {
        socket.pause();
        waiting.push(socket);
        socket.once("close", () => waiting.splice(waiting.indexOf(socket) >>> 0, 1));
      } else activate(socket);
    },
    handle(type, payload) {
      if (type === PayloadType.Output && active) {
        if (!active.socket.write(payload)) channel.pauseInput();
      } else if (type === PayloadType.Flag && parseFlagPayload(payload) === PortFlag.ConnectToPortError) {
        opts.onConnectError?.(connectErrorMessage(opts));
        active?.socket.destroy();
      }
    },
    close() {
      closed = true;
      active?.stopPump();
      active?.socket.destroy();
      for (const socket of waiting.splice(0)) socket.destroy();
    },
  };
}
