// The data channel against a hostile or misconfigured far end: a stream URL that would carry the token
// in clear text is refused before anything is sent; an agent cannot make us hold more than
// REORDER_LIMIT_BYTES of out-of-order messages, nor send one message over MAX_MESSAGE_BYTES.
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { assertStreamUrl, DataChannel, MAX_MESSAGE_BYTES, REORDER_LIMIT_BYTES } from "../../../lib/session/channel.ts";
import { decodeFrame, encodeFrame, MessageType, PAYLOAD_OFFSET, parseAckPayload, PayloadType } from "../../../lib/session/frames.ts";

describe("assertStreamUrl", () => {
  it("accepts wss:// anywhere and ws:// only to this machine", () => {
    for (const url of [
      "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1?role=publish_subscribe",
      "wss://10.0.0.5/x",
      "ws://127.0.0.1:4566/v1/data-channel/s-1",
      "ws://127.9.9.9/x",
      "ws://[::1]:80/x",
      "ws://localhost:4566/x",
    ]) {
      expect(() => assertStreamUrl(url, "s-1"), url).not.toThrow();
    }
  });

  it("refuses ws:// off this machine and anything that is not a WebSocket URL", () => {
    const refused = (where: string) =>
      `Refusing the stream URL of session s-1 (${where}): the session token would travel in clear text; nothing was sent. ` +
      "Session Manager's stream URLs are wss://; check AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_SSM / _ECS.";
    expect(() => assertStreamUrl("ws://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1", "s-1")).toThrow(
      refused("ws://ssmmessages.eu-west-1.amazonaws.com"),
    );
    expect(() => assertStreamUrl("ws://10.0.0.5:8080/x", "s-1")).toThrow(refused("ws://10.0.0.5:8080"));
    expect(() => assertStreamUrl("ws://[::ffff:a00:5]/x", "s-1")).toThrow(refused("ws://[::ffff:a00:5]"));
    expect(() => assertStreamUrl("ws://localhost.evil.example/x", "s-1")).toThrow(refused("ws://localhost.evil.example"));
    expect(() => assertStreamUrl("https://ssmmessages.eu-west-1.amazonaws.com/x", "s-1")).toThrow(refused("https://ssmmessages.eu-west-1.amazonaws.com"));
    expect(() => assertStreamUrl("not a url", "s-1")).toThrow("The stream URL of session s-1 is not a URL; nothing was sent.");
  });
});

describe("DataChannel", () => {
  let server: WebSocketServer | undefined;
  let channel: DataChannel | undefined;
  afterEach(async () => {
    channel?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  /** A far end on 127.0.0.1 that plays the agent; resolves with its side of the first connection. */
  async function agent(): Promise<{ url: string; connected: Promise<WebSocket> }> {
    server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((r) => server!.once("listening", r));
    const connected = new Promise<WebSocket>((resolve) => server!.once("connection", (ws) => ws.once("message", () => resolve(ws))));
    return { url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/data-channel/s-1`, connected };
  }

  it("refuses a ws:// stream URL off this machine before connecting or signing", async () => {
    let signed = 0;
    channel = new DataChannel({
      grant: { sessionId: "s-1", streamUrl: "ws://ssmmessages.example.invalid/v1/data-channel/s-1", tokenValue: "tok-SECRET" },
      resume: async () => undefined,
      upgradeHeaders: async () => (signed++, {}),
    });
    await expect(channel.open()).rejects.toThrow(
      /^Refusing the stream URL of session s-1 \(ws:\/\/ssmmessages\.example\.invalid\): the session token would travel in clear text; nothing was sent\./,
    );
    expect(signed).toBe(0);
  });

  it("holds out-of-order messages up to REORDER_LIMIT_BYTES, headers counted; beyond that it does not ack them, so they come again", async () => {
    const { url, connected } = await agent();
    channel = new DataChannel({ grant: { sessionId: "s-1", streamUrl: url, tokenValue: "tok" }, resume: async () => undefined });
    const delivered: number[] = [];
    channel.on("payload", (_type: number, payload: Buffer) => delivered.push(payload[0]));
    await channel.open();
    const ws = await connected;
    const acks: number[] = [];
    let onAck: (() => void) | undefined;
    ws.on("message", (data: Buffer) => {
      acks.push(parseAckPayload(decodeFrame(data).payload).AcknowledgedMessageSequenceNumber);
      onAck?.();
    });
    const ackOf = (seq: number) => new Promise<void>((resolve) => (onAck = () => acks.includes(seq) && resolve()));
    const size = 512 * 1024; // with its header, 32 of these fill the budget exactly
    expect(REORDER_LIMIT_BYTES % size).toBe(0);
    const perBudget = REORDER_LIMIT_BYTES / size;
    const send = (seq: number) =>
      ws.send(
        encodeFrame({
          messageType: MessageType.OutputStreamData,
          sequenceNumber: seq,
          payloadType: PayloadType.Output,
          payload: Buffer.alloc(size - PAYLOAD_OFFSET, seq),
        }),
      );

    for (let seq = 1; seq <= perBudget + 8; seq++) send(seq);
    const first = ackOf(0);
    send(0); // messages are handled in order: once 0 is acked, 1..40 were seen
    await first;
    expect(acks).toEqual([...Array.from({ length: perBudget }, (_, i) => i + 1), 0]);
    expect(delivered).toEqual(Array.from({ length: perBudget + 1 }, (_, i) => i));

    const last = ackOf(perBudget + 8);
    for (let seq = perBudget + 1; seq <= perBudget + 8; seq++) send(seq);
    await last;
    expect(delivered).toEqual(Array.from({ length: perBudget + 9 }, (_, i) => i));
  });

  it("goes connecting → open → resuming (WebSocket lost) → open (ResumeSession, new WebSocket) → closed, and the stats carry across", async () => {
    const { url, connected } = await agent();
    let resumed = 0;
    channel = new DataChannel({
      grant: { sessionId: "s-1", streamUrl: url, tokenValue: "tok" },
      resume: async () => (resumed++, { sessionId: "s-1", streamUrl: url, tokenValue: "tok-2" }),
    });
    const states: string[] = [channel.state];
    await channel.open();
    states.push(channel.state);
    const first = await connected;
    const second = new Promise<WebSocket>((resolve) => server!.once("connection", (ws) => ws.once("message", () => resolve(ws))));
    const reconnected = new Promise<void>((resolve) => channel!.once("reconnected", resolve));
    first.send(encodeFrame({ messageType: MessageType.OutputStreamData, sequenceNumber: 0, payloadType: PayloadType.Output, payload: Buffer.from("a") }));
    await new Promise<void>((resolve) => first.once("message", () => resolve())); // its ack
    first.terminate();
    await new Promise<void>((resolve) => {
      const check = () => (channel!.state === "resuming" ? resolve() : setTimeout(check, 1));
      check();
    });
    states.push(channel.state);
    await reconnected;
    states.push(channel.state);
    const ws = await second;
    const delivered: string[] = [];
    channel.on("payload", (_t, payload) => delivered.push(payload.toString()));
    const acked = new Promise<void>((resolve) => ws.once("message", () => resolve()));
    ws.send(encodeFrame({ messageType: MessageType.OutputStreamData, sequenceNumber: 1, payloadType: PayloadType.Output, payload: Buffer.from("b") }));
    await acked;
    channel.close();
    states.push(channel.state);
    expect(states).toEqual(["connecting", "open", "resuming", "open", "closed"]);
    expect(resumed).toBe(1);
    expect(delivered).toEqual(["b"]);
    expect(channel.stats).toMatchObject({ received: 2, duplicates: 0, reconnects: 1 });
    expect(channel.send(PayloadType.Output, Buffer.from("late"))).toBe(false);
  });

  it("closes a WebSocket whose message exceeds MAX_MESSAGE_BYTES (1009) and, without a session to resume, is gone", async () => {
    const { url, connected } = await agent();
    channel = new DataChannel({ grant: { sessionId: "s-1", streamUrl: url, tokenValue: "tok" }, resume: async () => undefined });
    const gone = new Promise<string>((resolve) => channel!.once("gone", resolve));
    let delivered = 0;
    channel.on("payload", () => delivered++);
    await channel.open();
    const ws = await connected;
    const closed = new Promise<number>((resolve) => ws.once("close", resolve));
    ws.send(
      encodeFrame({ messageType: MessageType.OutputStreamData, sequenceNumber: 0, payloadType: PayloadType.Output, payload: Buffer.alloc(MAX_MESSAGE_BYTES) }),
    );
    expect(await closed).toBe(1009);
    expect(await gone).toBe("session s-1 is gone (it timed out or was terminated)");
    expect(delivered).toBe(0);
    expect(channel.state).toBe("closed");
  });
});
