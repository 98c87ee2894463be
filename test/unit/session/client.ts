// Local clients of a forwarded port used by the session tests and the benchmark.
import { connect } from "node:net";
import { createHash } from "node:crypto";
import { prngStream } from "./native-harness.ts";

/** Sends `total` PRNG bytes upstream; resolves with the target's "sha256 count" answer (announced length, no half-close). */
export function sendUp(port: number, seed: number, total: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let answer = "";
    socket.on("data", (d) => (answer += d));
    socket.on("end", () => resolve(answer.trim()));
    socket.on("error", reject);
    socket.write(`UP ${total}\n`);
    const gen = prngStream(seed, total);
    const pump = () => {
      for (let r = gen.next(); !r.done; r = gen.next()) if (!socket.write(r.value)) return void socket.once("drain", pump);
    };
    pump();
  });
}

/** Asks for `total` PRNG bytes; resolves with their sha256 and count. `pauseMs` stops reading first. */
export function receiveDown(port: number, seed: number, total: number, pauseMs = 0): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    const hash = createHash("sha256");
    let bytes = 0;
    socket.on("data", (d) => {
      hash.update(d);
      bytes += d.length;
    });
    socket.on("end", () => resolve({ sha256: hash.digest("hex"), bytes }));
    socket.on("error", reject);
    socket.write(`DOWN ${seed} ${total}\n`);
    if (pauseMs > 0) {
      socket.pause();
      setTimeout(() => socket.resume(), pauseMs);
    }
  });
}

/** Sends `text` to the echo target and resolves with what came back once all of it did, then closes (no half-close). */
export function echoOnce(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    const sent = `ECHO\n${text}`;
    let got = "";
    socket.on("data", (d) => {
      got += d;
      if (Buffer.byteLength(got) >= Buffer.byteLength(sent)) {
        socket.end();
        resolve(got);
      }
    });
    socket.on("end", () => resolve(got));
    socket.on("error", reject);
    socket.write(sent);
  });
}

/** Echo of `total` PRNG bytes, for basic mode (which cannot carry a half-close): resolves with the sha256 of what came back. */
export function echoBytes(port: number, seed: number, total: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    const hash = createHash("sha256");
    let skip = "ECHO\n".length;
    let bytes = 0;
    socket.on("data", (d: Buffer) => {
      const body = d.subarray(Math.min(skip, d.length));
      skip -= d.length - body.length;
      hash.update(body);
      bytes += body.length;
      if (bytes >= total) {
        socket.destroy();
        resolve(hash.digest("hex"));
      }
    });
    socket.on("error", reject);
    socket.write("ECHO\n");
    const gen = prngStream(seed, total);
    const pump = () => {
      for (let r = gen.next(); !r.done; r = gen.next()) if (!socket.write(r.value)) return void socket.once("drain", pump);
    };
    pump();
  });
}
