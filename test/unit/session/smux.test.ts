import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { encodeSmuxFrame, SmuxCmd, SmuxFrameParser, SmuxProtocolError, SmuxSession, type SmuxFrame, type SmuxStream } from "../../../lib/session/smux.ts";

// [ver=1][cmd][len u16 LE][sid u32 LE][data], written by hand from reference §4.3.
const GOLDEN_PSH = Buffer.from("01" + "02" + "0300" + "05000000" + "616263", "hex"); // PSH sid 5 "abc"
const GOLDEN_SYN = Buffer.from("01" + "00" + "0000" + "03000000", "hex"); // SYN sid 3

function parseAll(chunks: Buffer[]): SmuxFrame[] {
  const parser = new SmuxFrameParser();
  const frames: SmuxFrame[] = [];
  for (const chunk of chunks) parser.push(chunk, (f) => frames.push({ ...f, data: Buffer.from(f.data) }));
  return frames;
}

function connectPair(): { client: SmuxSession; server: SmuxSession } {
  const client = new SmuxSession();
  const server = new SmuxSession();
  client.pipe(server).pipe(client);
  return { client, server };
}

async function readAll(stream: SmuxStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe("smux v1 frames", () => {
  it("encodes the exact header layout", () => {
    expect(encodeSmuxFrame(SmuxCmd.PSH, 5, Buffer.from("abc"))).toEqual(GOLDEN_PSH);
    expect(encodeSmuxFrame(SmuxCmd.SYN, 3)).toEqual(GOLDEN_SYN);
  });

  it("reassembles frames split at every possible byte boundary", () => {
    const wire = Buffer.concat([GOLDEN_SYN, GOLDEN_PSH, encodeSmuxFrame(SmuxCmd.FIN, 5)]);
    const expected = [
      { cmd: 0, sid: 3, data: Buffer.alloc(0) },
      { cmd: 2, sid: 5, data: Buffer.from("abc") },
      { cmd: 1, sid: 5, data: Buffer.alloc(0) },
    ];
    for (let cut = 1; cut < wire.length; cut++) {
      expect(parseAll([wire.subarray(0, cut), wire.subarray(cut)])).toEqual(expected);
    }
    expect(parseAll([...wire].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  it("rejects another protocol version", () => {
    const v2 = Buffer.from(GOLDEN_PSH);
    v2[0] = 2;
    expect(() => parseAll([v2])).toThrow(SmuxProtocolError);
  });
});

describe("smux sessions", () => {
  it("client opens odd ids from 3 and the server accepts them", async () => {
    const { client, server } = connectPair();
    const accepted: number[] = [];
    server.on("stream", (s: SmuxStream) => accepted.push(s.id));
    const ids = [client.openStream().id, client.openStream().id, client.openStream().id];
    await new Promise((r) => setTimeout(r, 20));
    expect(ids).toEqual([3, 5, 7]);
    expect(accepted).toEqual([3, 5, 7]);
    client.destroy();
    server.destroy();
  });

  it("echoes on many streams with half-close, and splits writes at MaxFrameSize", async () => {
    const { client, server } = connectPair();
    const wire: Buffer[] = [];
    client.on("data", (b: Buffer) => wire.push(b));
    server.on("stream", (s: SmuxStream) => s.pipe(s));
    const payloads = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 7000));
    const results = await Promise.all(
      payloads.map(async (payload) => {
        const stream = client.openStream();
        stream.end(payload);
        return readAll(stream);
      }),
    );
    results.forEach((r, i) => expect(r.equals(payloads[i])).toBe(true));
    const frames = parseAll(wire);
    expect(Math.max(...frames.map((f) => f.data.length))).toBe(32768);
    expect(frames.filter((f) => f.cmd === SmuxCmd.FIN).length).toBe(20);
    await new Promise((r) => setTimeout(r, 20));
    expect(client.streamCount).toBe(0);
    expect(server.streamCount).toBe(0);
    client.destroy();
    server.destroy();
  });

  it("stops consuming the transport while a local reader is not reading", async () => {
    const transport = new PassThrough();
    const client = new SmuxSession({ streamHighWaterMark: 64 * 1024 });
    transport.pipe(client);
    const stream = client.openStream();
    const frame = encodeSmuxFrame(SmuxCmd.PSH, stream.id, randomBytes(32768));
    let accepted = 0;
    for (let i = 0; i < 200 && transport.write(frame); i++) accepted++;
    await new Promise((r) => setTimeout(r, 50));
    // Nobody reads `stream`: bounded buffering, the transport is told to wait.
    expect(stream.readableLength).toBeLessThanOrEqual(64 * 1024 + 32768);
    expect(accepted).toBeLessThan(40);
    expect(transport.writableNeedDrain).toBe(true);
    const drained = once(transport, "drain");
    const hash = createHash("sha256");
    stream.on("data", (b: Buffer) => hash.update(b));
    await drained;
    client.destroy();
  });

  it("ignores NOP and data for unknown streams; FIN ends the reader", async () => {
    const client = new SmuxSession();
    const stream = client.openStream();
    client.write(
      Buffer.concat([
        encodeSmuxFrame(SmuxCmd.NOP, 0),
        encodeSmuxFrame(SmuxCmd.PSH, 99, Buffer.from("lost")),
        encodeSmuxFrame(SmuxCmd.PSH, stream.id, Buffer.from("kept")),
        encodeSmuxFrame(SmuxCmd.FIN, stream.id),
      ]),
    );
    expect((await readAll(stream)).toString()).toBe("kept");
    client.destroy();
  });

  it("sends NOP keepalives and dies when the peer is silent", async () => {
    const session = new SmuxSession({ keepAliveIntervalMs: 20, keepAliveTimeoutMs: 120 });
    const out: Buffer[] = [];
    session.on("data", (b: Buffer) => out.push(b));
    const [err] = (await once(session, "error")) as [Error];
    expect(err.message).toMatch(/keepalive timeout/);
    expect(parseAll(out).every((f) => f.cmd === SmuxCmd.NOP && f.sid === 0)).toBe(true);
    expect(out.length).toBeGreaterThanOrEqual(2);
  });
});
