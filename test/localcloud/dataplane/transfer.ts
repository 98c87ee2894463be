// A bulk-transfer fixture: a TCP service that streams a fixed buffer to each client while hashing
// what the client sends, and a helper that pushes one buffer through a stream while hashing the reply.
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { startTcpService, type TcpService } from "./harness.ts";

export interface SourceSink extends TcpService {
  /** sha256 and length of what each finished connection received. */
  received: Promise<{ sha256: string; bytes: number }>[];
}

/**
 * `expectBytes`: report once that much arrived, and only then end the download: the agent closes
 * both sides when either one ends (port_mux.go), so a target that ended first would cut the upload.
 */
export async function startSourceSink(download: Buffer, expectBytes?: number): Promise<SourceSink> {
  const received: SourceSink["received"] = [];
  const service = await startTcpService((socket) => {
    received.push(
      new Promise((resolve) => {
        const hash = createHash("sha256");
        let bytes = 0;
        let digest: string | undefined;
        const report = () => resolve({ sha256: (digest ??= hash.digest("hex")), bytes });
        socket.on("data", (chunk: Buffer) => {
          if (digest) return;
          hash.update(chunk);
          bytes += chunk.length;
          if (bytes === expectBytes) {
            report();
            socket.end();
          }
        });
        socket.on("end", report);
      }),
    );
    if (expectBytes === undefined) socket.end(download);
    else socket.write(download);
  });
  return Object.assign(service, { received });
}

/**
 * Writes `upload`; resolves with the sha256 and length of everything read back, at EOF or once
 * `expectBytes` arrived, and only then ends its side (no half-close: the agent would close the target).
 */
export async function transfer(stream: Duplex, upload: Buffer, expectBytes?: number): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const done = new Promise<void>((resolve, reject) => {
    stream.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes === expectBytes) resolve();
    });
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  for (let offset = 0; offset < upload.length; offset += 1024 * 1024) {
    if (!stream.write(upload.subarray(offset, offset + 1024 * 1024))) await new Promise((r) => stream.once("drain", r));
  }
  await done;
  stream.end();
  return { sha256: hash.digest("hex"), bytes };
}
