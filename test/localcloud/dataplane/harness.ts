// Test fixtures for the data plane: a plain HTTP server on port 0 that forwards upgrades to it
// (no gateway), local TCP services to forward to, and session helpers.
import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { Duplex, Readable } from "node:stream";
import { SessionDriver, type DriverOptions } from "./driver.ts";
import { createDataPlane } from "./index.ts";
import type { DataPlane, DataPlaneOptions, SessionSpec } from "./types.ts";

export interface Harness {
  plane: DataPlane;
  url: string;
  /** openSession + connect a driver with ResumeSession wired to the plane. */
  connect(spec: SessionSpec, driver?: Partial<DriverOptions>): Promise<SessionDriver>;
  close(): Promise<void>;
}

export async function startHarness(opts: Partial<DataPlaneOptions> = {}): Promise<Harness> {
  const http = createHttpServer((_req, res) => res.writeHead(404).end());
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const plane = createDataPlane({ publicUrl: url, ...opts });
  http.on("upgrade", (req, socket, head) => plane.handleUpgrade(req, socket, head));
  const drivers: SessionDriver[] = [];
  return {
    plane,
    url,
    async connect(spec, driver = {}) {
      const issued = plane.openSession(spec);
      const connected = await SessionDriver.connect({
        sessionId: spec.sessionId,
        target: spec.target,
        ...issued,
        resume: () => plane.resumeSession(spec.sessionId),
        ...driver,
      });
      drivers.push(connected);
      return connected;
    },
    async close() {
      await Promise.all(drivers.map((d) => d.close()));
      await plane.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export function portSpec(port: number, extra: Partial<Extract<SessionSpec, { kind: "port" }>> = {}): SessionSpec {
  return {
    kind: "port",
    sessionId: `test-${randomUUID()}`,
    target: "mi-0123456789abcdef0",
    documentName: "AWS-StartPortForwardingSession",
    host: "localhost",
    port,
    ...extra,
  };
}

export interface TcpService {
  server: Server;
  port: number;
  connections: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0 (or `port`) and runs `handle` for each connection. */
export async function startTcpService(handle: (socket: Socket) => void, port = 0): Promise<TcpService> {
  const sockets = new Set<Socket>();
  const service: TcpService = {
    server: createServer({ allowHalfOpen: true }, (socket) => {
      service.connections++;
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      handle(socket);
    }),
    port: 0,
    connections: 0,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => service.server.close(() => resolve()));
    },
  };
  service.server.listen(port, "127.0.0.1");
  await once(service.server, "listening");
  service.port = (service.server.address() as AddressInfo).port;
  return service;
}

/**
 * Writes `data` on a stream to an echo target, reads until all of it came back, then ends: no
 * half-close, which a real agent turns into a full close of the target (port_mux.go).
 */
export async function echoRoundTrip(stream: Duplex, data: Buffer | string): Promise<Buffer> {
  const want = Buffer.byteLength(data);
  const parts: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      got += chunk.length;
      if (got >= want) {
        stream.off("data", onData);
        resolve();
      }
    };
    stream.on("data", onData);
    stream.once("end", () => resolve());
    stream.once("error", reject);
  });
  stream.write(data);
  await done;
  stream.end();
  return Buffer.concat(parts);
}

/** Echo: what a client sends comes back; a client's EOF ends the reply once everything is echoed (where half-close is carried). */
export function startEchoServer(port = 0): Promise<TcpService> {
  return startTcpService((socket) => socket.pipe(socket), port);
}

/** A port nothing listens on (listened on once, then closed). */
export async function findClosedPort(): Promise<number> {
  const probe = await startTcpService(() => {});
  await probe.close();
  return probe.port;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Reads until `pattern` appears in the accumulated text; returns the text so far. */
export async function readUntil(stream: Readable, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  let text = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${pattern}; got ${JSON.stringify(text)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      if (pattern.test(text)) finish();
    };
    const finish = (err?: Error) => {
      clearTimeout(timer);
      stream.off("data", onData);
      stream.pause();
      if (err) reject(err);
      else resolve(text);
    };
    stream.on("data", onData);
    stream.resume();
  });
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
