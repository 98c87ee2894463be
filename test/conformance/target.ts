// The service on the target that the port cases talk to, and the client side of its protocol. One
// line says what a connection is for:
//   `DOWN <n> <seed>\n`  the server sends n bytes of the seed's stream, then closes;
//   `UP <n>\n` + n bytes  the server answers `<sha256 hex> <n>\n` once it has the n bytes, then closes;
//   `EOF\n` + bytes + EOF  the server answers `<sha256 hex> <n>\n` after the client's EOF (a half-close).
// The bytes are AES-256-CTR of zeros keyed by the seed: deterministic on both ends, incompressible.
import { createCipheriv, createHash } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";

const CHUNK = 64 * 1024;

/** n bytes of the seed's stream, chunk by chunk. */
export function* streamOf(seed: string, n: number): Generator<Buffer> {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  for (let left = n; left > 0; left -= CHUNK) yield cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
}

export function sha256Of(seed: string, n: number): string {
  const hash = createHash("sha256");
  for (const chunk of streamOf(seed, n)) hash.update(chunk);
  return hash.digest("hex");
}

export interface Target {
  port: number;
  close(): Promise<void>;
}

export async function startTarget(): Promise<Target> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    serve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serve(socket: Socket): void {
  let head = Buffer.alloc(0);
  const onHead = (data: Buffer) => {
    head = Buffer.concat([head, data]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    socket.off("data", onHead);
    const [verb, a, b] = head.subarray(0, nl).toString().split(" ");
    const rest = head.subarray(nl + 1);
    if (verb === "DOWN") return void sendDown(socket, b ?? "", Number(a));
    if (verb === "UP" || verb === "EOF") return void hashUp(socket, rest, verb === "UP" ? Number(a) : undefined);
    socket.destroy();
  };
  socket.on("data", onHead);
}

async function sendDown(socket: Socket, seed: string, n: number): Promise<void> {
  for (const chunk of streamOf(seed, n)) {
    if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
    if (socket.destroyed) return;
  }
  socket.end();
}

function hashUp(socket: Socket, first: Buffer, expected: number | undefined): void {
  const hash = createHash("sha256");
  let count = 0;
  let answered = false;
  const answer = () => {
    if (answered) return;
    answered = true;
    socket.end(`${hash.digest("hex")} ${count}\n`);
  };
  const take = (data: Buffer) => {
    const part = expected === undefined ? data : data.subarray(0, expected - count);
    hash.update(part);
    count += part.length;
    if (expected !== undefined && count >= expected) answer();
  };
  take(first);
  socket.on("data", take);
  socket.on("end", () => (expected === undefined ? answer() : undefined));
}

/** Receives n bytes of `seed` through localhost:port; the sha256 and count it got, in ms. */
export function download(port: number, seed: string, n: number, timeoutMs: number): Promise<{ sha: string; bytes: number; ms: number }> {
  return talk(port, timeoutMs, (socket, done) => {
    const started = Date.now();
    const hash = createHash("sha256");
    let bytes = 0;
    socket.write(`DOWN ${n} ${seed}\n`);
    const finish = () => done({ sha: hash.digest("hex"), bytes, ms: Date.now() - started });
    // In basic mode the target's close never reaches the client (the agent does not signal it): n bytes are the end.
    socket.on("data", (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      if (bytes >= n) finish();
    });
    socket.on("end", () => (bytes < n ? finish() : undefined));
  });
}

/**
 * Sends n bytes of `seed` through localhost:port; the target's answer (`<sha> <n>`) and the ms until it
 * came. With halfClose, the client ends its side after the bytes and waits for the answer after that.
 */
export function upload(port: number, seed: string, n: number, timeoutMs: number, halfClose = false): Promise<{ answer: string; ms: number }> {
  return talk(port, timeoutMs, (socket, done) => {
    const started = Date.now();
    let answer = "";
    const finish = () => done({ answer: answer.trim(), ms: Date.now() - started });
    socket.on("data", (d: Buffer) => {
      answer += d.toString();
      if (answer.endsWith("\n")) finish();
    });
    socket.on("end", () => (answer.endsWith("\n") ? undefined : finish()));
    void (async () => {
      socket.write(halfClose ? "EOF\n" : `UP ${n}\n`);
      for (const chunk of streamOf(seed, n)) {
        if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
        if (socket.destroyed) return;
      }
      if (halfClose) socket.end();
    })();
  });
}

function talk<T>(port: number, timeoutMs: number, run: (socket: Socket, done: (value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      reject(new Error("closed before the end"));
    });
    run(socket, (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    });
  });
}
