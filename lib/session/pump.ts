// Bytes from a local source into type-1 (Output) messages of at most `payloadSize` bytes: no
// per-message sleep (the plugin's 1 ms is what caps it at ≈0.63 MB/s), reading paused while the
// data channel's send window is full, so a fast local writer is pushed back instead of buffered.
import type { Readable } from "node:stream";
import type { DataChannel } from "./channel.ts";
import { PayloadType } from "./frames.ts";

/**
 * Bytes per input message. 1024 is what AWS's plugin sends (StreamDataPayloadSize), so it is what
 * MGS is known to take; ssm-session-client sends up to 1536, and nothing larger has been seen to
 * work against MGS (the agent itself accepted 32 KiB). With the pacer's 900 messages/s it makes
 * ≈0.92 MB/s upstream per session.
 */
export const INPUT_PAYLOAD_SIZE = 1024;

export interface PumpOptions {
  payloadSize?: number;
  /** KMS shells encrypt each payload. */
  transform?: (payload: Buffer) => Buffer;
  /** Sleep this long after each message: the plugin's design (1 ms), for the benchmark's comparison only. */
  paceMs?: number;
}

/** Starts moving bytes; returns a function that stops (the source is left as it is). */
export function startPump(source: Readable, channel: DataChannel, opts: PumpOptions = {}): () => void {
  if (opts.paceMs) return startPacedPump(source, channel, opts.paceMs, opts);
  const size = opts.payloadSize ?? INPUT_PAYLOAD_SIZE;
  const transform = opts.transform ?? ((b: Buffer) => b);
  const move = (): void => {
    let chunk: Buffer | null;
    // Nothing is read while the window is full: 'readable' alone must not reopen it.
    while (channel.writable && (chunk = source.read() as Buffer | null) !== null) {
      for (let offset = 0; offset < chunk.length; offset += size) {
        // A chunk is sent whole even past the window: at most one read's worth of overshoot.
        channel.send(PayloadType.Output, transform(chunk.subarray(offset, offset + size)));
      }
    }
  };
  source.on("readable", move);
  channel.on("drain", move);
  move();
  return () => {
    source.off("readable", move);
    channel.off("drain", move);
  };
}

/**
 * The same in flowing mode, for a TTY stdin: a TTY that was read in paused ('readable') mode keeps
 * the process alive after pause(); one read through 'data' lets it exit once paused.
 */
export function startFlowingPump(source: Readable, channel: DataChannel, opts: PumpOptions = {}): () => void {
  const size = opts.payloadSize ?? INPUT_PAYLOAD_SIZE;
  const transform = opts.transform ?? ((b: Buffer) => b);
  const onData = (chunk: Buffer): void => {
    let open = true;
    for (let offset = 0; offset < chunk.length; offset += size) {
      open = channel.send(PayloadType.Output, transform(chunk.subarray(offset, offset + size))) && open;
    }
    if (!open) source.pause();
  };
  const onDrain = (): void => void source.resume();
  source.on("data", onData);
  channel.on("drain", onDrain);
  source.resume();
  return () => {
    source.off("data", onData);
    channel.off("drain", onDrain);
    source.pause();
  };
}

function startPacedPump(source: Readable, channel: DataChannel, paceMs: number, opts: PumpOptions): () => void {
  const size = opts.payloadSize ?? INPUT_PAYLOAD_SIZE;
  let stopped = false;
  let busy = false;
  const move = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    let chunk: Buffer | null;
    while (!stopped && (chunk = source.read() as Buffer | null) !== null) {
      for (let offset = 0; offset < chunk.length && !stopped; offset += size) {
        channel.send(PayloadType.Output, chunk.subarray(offset, offset + size));
        await new Promise((r) => setTimeout(r, paceMs));
      }
    }
    busy = false;
  };
  const onReadable = () => void move();
  source.on("readable", onReadable);
  void move();
  return () => {
    stopped = true;
    source.off("readable", onReadable);
  };
}
